/**
 * Walks a compiled plan: the one loop that every worker of the pool runs over the whole step
 * (ggml's graph_compute_thread shape: one wake per step, not per op), and that the main thread
 * runs alone when there are no workers.
 *
 * Each lane (worker) takes a fixed, contiguous share of every splittable call's range (rows,
 * heads, tokens); a call without one runs on lane 0. The kernels compute each output element
 * within one call in a fixed order, so any split gives the same bits: results do not depend on
 * the number of lanes. Lanes meet at a barrier between steps, except between two steps that
 * lane 0 runs alone (it already runs them in order).
 */
import { WasmChordError } from '../../errors.js';
import type { KernelExports } from './kernel-module.js';
import { runMoe, type Kernel } from './moe.js';
import type { HostCall, KernelCall, Patch, Plan, PlanStep } from './planner.js';

/** Where everything a plan refers to lives in this run, and which steps to run. */
export interface RunParams {
  /** The plan's id within its backend. */
  readonly plan: number;
  /** The memory (and kernel instance) the plan runs in. */
  readonly shard: number;
  /** Steps [begin, end) of the plan. */
  readonly begin: number;
  readonly end: number;
  /** The scratch block the plan's relative offsets start from. */
  readonly scratch: number;
  readonly pos0: number;
  /** Positions each KV cache row holds (the cache's context size). */
  readonly kvStride: number;
  /** Lane i's attention scratch is at attention + i * attentionStride. */
  readonly attention: number;
  readonly attentionStride: number;
  /** The KV cache's key and value blocks, by layer. */
  readonly keys: readonly number[];
  readonly values: readonly number[];
  /** Work below which a step runs on lane 0 alone (SPLIT_WORK; 0 shares every range). */
  readonly splitWork: number;
}

/** One thread's place in a run. */
export interface Lane {
  readonly index: number;
  readonly count: number;
  /** Returns once every lane has arrived. */
  barrier(): void;
}

/** The lane that runs alone. */
export const SOLO: Lane = { index: 0, count: 1, barrier: () => {} };

/** Lane's share of [start, end): contiguous, with boundaries fixed by the lane count. */
export function laneRange(start: number, end: number, lane: Lane, align = 1): [number, number] {
  const n = end - start;
  const cut = (i: number) => (i === lane.count ? end : start + align * Math.floor((n * i) / lane.count / align));
  return [cut(lane.index), cut(lane.index + 1)];
}

/**
 * Work (about: multiply-adds) below which a step is not shared out: such a step takes some
 * 10-30 us on one thread, so splitting it would save less than the lanes' meeting costs (a few
 * microseconds each, tens when cores are busy).
 */
export const SPLIT_WORK = 1 << 17;

/**
 * Whether lane 0 runs a step alone: a call without a range worth sharing, or a small MoE step.
 * Every lane decides alike (from the plan and the run's position), so all meet at the same
 * barriers; and a run whose steps all run alone needs one lane only (tiny models).
 */
export function runsAlone(step: PlanStep, p: RunParams, lanes: number): boolean {
  if (lanes === 1) return true;
  if (step.kind === 'host') {
    const m = step.moe;
    return m.rows * m.params.nUsed * 3 * m.nFf * m.nEmbd < p.splitWork;
  }
  const { split, args } = step;
  if (!split || args[split.at[1]]! - args[split.at[0]]! < 2) return true;
  return split.work + (split.workPerPosition ?? 0) * p.pos0 < p.splitWork;
}

/** A kernel call made ready to run: resolved function and reusable arguments. */
interface ReadyCall {
  readonly kind: 'kernel';
  readonly call: KernelCall;
  readonly kernel: Kernel;
  /** Arguments with scratch offsets made absolute (patches and the range filled per call). */
  readonly args: number[];
}

export class PlanRunner {
  readonly #steps: readonly (ReadyCall | HostCall)[];
  #scratch = -1;

  constructor(
    plan: Plan,
    readonly kernels: KernelExports,
    readonly memory: WebAssembly.Memory,
  ) {
    this.#steps = plan.steps.map((step) =>
      step.kind === 'kernel' ? { kind: 'kernel', call: step, kernel: this.#kernel(step.fn), args: step.args.slice() } : step,
    );
  }

  #kernel(name: string): Kernel {
    return (this.kernels as unknown as Record<string, Kernel>)[name]!;
  }

  /** Runs steps [begin, end) as `lane`. */
  run(p: RunParams, lane: Lane): void {
    if (p.scratch !== this.#scratch) {
      for (const s of this.#steps) {
        if (s.kind === 'kernel') for (const r of s.call.relative) s.args[r] = s.call.args[r]! + p.scratch;
      }
      this.#scratch = p.scratch;
    }
    const patch = (q: Patch): number => {
      switch (q.kind) {
        case 'pos0':
          return p.pos0;
        case 'kvStride':
          return p.kvStride;
        case 'attentionScratch':
          return p.attention + lane.index * p.attentionStride;
        case 'keys':
          return p.keys[q.layer]!;
        case 'values':
          return p.values[q.layer]!;
      }
    };
    let previousAlone = true;
    for (let i = p.begin; i < p.end; i++) {
      const s = this.#steps[i]!;
      const alone = runsAlone(s.kind === 'kernel' ? s.call : s, p, lane.count);
      // Lane 0 runs consecutive solo steps in order; anything else needs the lanes to meet.
      if (i > p.begin && !(alone && previousAlone)) lane.barrier();
      previousAlone = alone;
      if (alone && lane.index !== 0) continue;
      const share = alone ? SOLO : lane;
      if (s.kind === 'host') {
        runMoe(s.moe, p.scratch, share, (name) => this.#kernel(name), this.memory);
        continue;
      }
      const { call, args } = s;
      if (call.split) {
        const [lo, hi] = laneRange(call.args[call.split.at[0]]!, call.args[call.split.at[1]]!, share, call.split.align);
        if (lo >= hi) continue;
        args[call.split.at[0]] = lo;
        args[call.split.at[1]] = hi;
      }
      for (const [at, q] of call.patches) args[at] = patch(q);
      s.kernel(...args);
    }
  }

  /** Lanes a run needs: all `lanes`, or 1 when every step runs alone (no worker need wake). */
  static lanesFor(plan: Plan, p: RunParams, lanes: number): number {
    for (let i = p.begin; i < p.end; i++) if (!runsAlone(plan.steps[i]!, p, lanes)) return lanes;
    return 1;
  }
}

/** Where a backend's plans run: a worker pool, or the calling thread when threads are unavailable. */
export interface PlanExecutor {
  /** Lanes of each run (each needs its own attention scratch). */
  readonly threads: number;
  /** Runs `params` (whose plan id names `plan`); one run at a time. */
  run(params: RunParams, plan: Plan): Promise<void>;
  dispose(): Promise<void>;
}

/**
 * The fallback without worker threads: plans run on the calling thread, which blocks for the
 * step, but each step first yields to the event loop, so timers and aborts get their turn
 * between steps.
 */
export class InThreadExecutor implements PlanExecutor {
  readonly threads = 1;
  readonly #runners = new Map<number, PlanRunner>();
  #disposed = false;

  /** `instances`: each memory's kernels, by shard. */
  constructor(readonly instances: readonly { readonly k: KernelExports; readonly arena: { readonly memory: WebAssembly.Memory } }[]) {}

  async run(params: RunParams, plan: Plan): Promise<void> {
    await yieldToEventLoop();
    if (this.#disposed) throw new WasmChordError('DISPOSED', 'the CPU backend was disposed');
    let runner = this.#runners.get(params.plan);
    if (!runner) {
      const { k, arena } = this.instances[params.shard]!;
      this.#runners.set(params.plan, (runner = new PlanRunner(plan, k, arena.memory)));
    }
    runner.run(params, SOLO);
  }

  async dispose(): Promise<void> {
    this.#disposed = true;
  }
}

/** One macrotask turn (setImmediate in Node; a message elsewhere: timers clamp to 4 ms). */
function yieldToEventLoop(): Promise<void> {
  if (typeof setImmediate === 'function') return new Promise((resolve) => setImmediate(resolve));
  return new Promise((resolve) => {
    const { port1, port2 } = new MessageChannel();
    port1.onmessage = () => {
      port1.close();
      resolve();
    };
    port2.postMessage(null);
  });
}
