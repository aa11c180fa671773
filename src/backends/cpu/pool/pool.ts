/**
 * The main thread's side of the worker pool. The main thread computes nothing: per run it posts
 * one message to each worker (one wake per step; to worker 0 alone when no step is worth
 * sharing, as in tiny models) and awaits the last worker's report, so its event loop keeps
 * turning while the step runs. Plans go to the workers once, before their first run. An error
 * in a worker fails the run (the other lanes bail out at their next barrier) and leaves the pool
 * usable; a worker that dies takes the pool with it.
 */
import { WasmChordError } from '../../../errors.js';
import { PlanRunner, type PlanExecutor, type RunParams } from '../plan-runner.js';
import type { Plan } from '../planner.js';
import { Control, createControlBlock } from './control.js';
import { spawnCpuWorker, type WorkerHandle, type WorkerReply } from './host.js';
import type { WorkerRequest } from './worker.js';

interface Pending {
  resolve(): void;
  reject(error: Error): void;
}

export class WorkerPool implements PlanExecutor {
  readonly #workers: readonly WorkerHandle[];
  readonly #control: Control;
  /** Ids of the plans the workers hold. */
  readonly #sent = new Set<number>();
  #pending: Pending | undefined;
  /** Set once the pool cannot run any more (a worker died, or dispose). */
  #stopped: Error | undefined;

  private constructor(workers: readonly WorkerHandle[], control: Control) {
    this.#workers = workers;
    this.#control = control;
  }

  get threads(): number {
    return this.#workers.length;
  }

  /** Starts `lanes` workers over `memories`, each with its own instance of `module` per memory. */
  static async start(lanes: number, module: WebAssembly.Module, memories: readonly WebAssembly.Memory[]): Promise<WorkerPool> {
    const buffer = createControlBlock();
    let pool: WorkerPool | undefined;
    const ready: Promise<void>[] = [];
    const handles = await Promise.allSettled(
      Array.from({ length: lanes }, (_, lane) => {
        let started!: Pending;
        ready.push(new Promise<void>((resolve, reject) => (started = { resolve, reject })));
        const message = (reply: WorkerReply) => {
          if (reply.kind === 'ready') started.resolve();
          else if (reply.kind === 'failed') started.reject(new Error(reply.message));
          else pool!.#pending?.resolve();
        };
        const lost = (error: Error) => (pool ? pool.#lose(error) : started.reject(error));
        return spawnCpuWorker({ message, lost }).then((w) => {
          w.post({ kind: 'init', module, memories, control: buffer, lane, lanes } satisfies WorkerRequest);
          return w;
        });
      }),
    );
    const workers = handles.flatMap((h) => (h.status === 'fulfilled' ? [h.value] : []));
    try {
      const failed = handles.find((h) => h.status === 'rejected');
      if (failed) throw failed.reason;
      await Promise.all(ready);
    } catch (err) {
      await Promise.all(workers.map((w) => w.terminate()));
      throw err;
    }
    workers.forEach((w) => w.hold(false));
    return (pool = new WorkerPool(workers, new Control(buffer, lanes)));
  }

  /** Runs `params` on every worker (one run at a time). */
  async run(params: RunParams, plan: Plan): Promise<void> {
    if (this.#stopped) throw this.#stopped;
    if (!this.#sent.has(params.plan)) {
      for (const w of this.#workers) w.post({ kind: 'plan', id: params.plan, shard: params.shard, plan } satisfies WorkerRequest);
      this.#sent.add(params.plan);
    }
    this.#control.reset();
    const done = new Promise<void>((resolve, reject) => (this.#pending = { resolve, reject }));
    // One held worker keeps a Node process alive until the step is done.
    this.#workers[0]!.hold(true);
    // A run with nothing worth sharing wakes worker 0 alone.
    const lanes = PlanRunner.lanesFor(plan, params, this.#workers.length);
    for (const w of this.#workers.slice(0, lanes)) w.post({ kind: 'run', params, lanes } satisfies WorkerRequest);
    try {
      await done;
    } finally {
      this.#pending = undefined;
      this.#workers[0]!.hold(false);
    }
    const failure = this.#control.failure();
    if (failure !== undefined) throw new Error(failure);
  }

  #lose(error: Error): void {
    this.#stop(new WasmChordError('BACKEND_UNAVAILABLE', `the CPU worker threads stopped: ${error.message}`, { cause: error }));
    void Promise.all(this.#workers.map((w) => w.terminate()));
  }

  /** Fails the run in flight and every later one with `error`; lanes waiting at a barrier bail out. */
  #stop(error: Error): void {
    if (this.#stopped) return;
    this.#stopped = error;
    this.#control.fail(error.message);
    this.#pending?.reject(error);
  }

  /** Stops the workers; a run in flight is abandoned (it rejects with DISPOSED). */
  async dispose(): Promise<void> {
    this.#stop(new WasmChordError('DISPOSED', 'the CPU backend was disposed'));
    await Promise.all(this.#workers.map((w) => w.terminate()));
  }
}
