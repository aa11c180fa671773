// The CPU backend's worker threads: logits that do not depend on the thread count (DESIGN
// principle 5), a caller whose event loop stays free (principle 9), aborts within one step, a
// pool that leaves nothing behind, the single-thread fallback without SharedArrayBuffer, and a
// memory created once at the model's size.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { WasmChord, argmax, isWasmChordError, type InitOptions, type Model } from '../../src/index.js';
import { CpuBackend } from '../../src/backends/cpu/backend.js';
import { loadModel } from '../../src/runtime/load-model.js';
import { KERNEL_VARIANTS, sharedKernels, withSharedMemory, type KernelExports } from '../../src/backends/cpu/kernel-module.js';
import { PlanRunner, type RunParams } from '../../src/backends/cpu/plan-runner.js';
import type { KernelCall, Plan } from '../../src/backends/cpu/planner.js';
import { SHARED } from '../helpers/shared.js';
import { withoutSharedArrayBuffer } from './backends.js';

const STORIES = join(SHARED, 'models/stories260K.gguf');
const MODELS = [
  'models/stories260K.gguf', // F32
  'models/TinyStories-656K-Q8_0.gguf',
  'models/derived/pad256/stories260K-pad256-q4_K.gguf', // K-quants
  'models/derived/pad256/stories260K-pad256-Q4_K_M-mix.gguf',
  'models/archs/qwen3moe-tiny-Q8_0.gguf', // mixture of experts: routing inside the workers
  'models/archs/gemma2-tiny-Q8_0.gguf', // GELU table, soft-capping, sliding window
];

const PROMPT = 'Once upon a time, there was a';

/** One way of running the CPU backend. */
interface Way {
  readonly name: string;
  load(path: string): Promise<Model>;
}

const LOAD = { batchSize: 3 } as const; // prompts in several steps: pos0 > 0 within the prompt

const runtime = (name: string, init: InitOptions, host: <T>(body: () => Promise<T>) => Promise<T> = (body) => body()): Way => ({
  name,
  load: (path) => host(async () => (await WasmChord.init(init)).loadModel(path, LOAD)),
});

/** Every splittable step shared out, however small: these tiny models then use every lane. */
const everyStepShared = (threads: number): Way => ({
  name: `${threads} workers, every step shared`,
  load: async (path) => {
    const backend = await CpuBackend.create({ threads, splitWork: 0 });
    return loadModel(async () => ({ backend, reason: 'test' }), path, LOAD, { adopt: () => {}, release: () => {} });
  },
});

/** Prompt logits (every position, in steps of 3 tokens) and 12 greedy steps with their logits. */
async function trace(file: string, way: Way) {
  const model = await way.load(join(SHARED, file));
  try {
    const promptLogits = await model.evaluate(model.tokenize(PROMPT), { allLogits: true });
    await model.resetContext();
    const steps: Float32Array[] = [];
    const { tokens } = await model.generate(PROMPT, {
      maxTokens: 12,
      ignoreEos: true,
      sampler: (logits) => {
        steps.push(logits.slice());
        return argmax(logits);
      },
    });
    return { way: way.name, backend: model.info.backend, promptLogits, steps, tokens };
  } finally {
    await model.dispose();
  }
}

function sameBits(a: Float32Array, b: Float32Array, what: string): void {
  assert.equal(a.length, b.length, what);
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  const i = x.findIndex((v, j) => v !== y[j]);
  assert.equal(i, -1, `${what}: element ${i} differs (${a[i]} vs ${b[i]})`);
}

function assertSameTrace(runs: Awaited<ReturnType<typeof trace>>[]): void {
  for (const r of runs.slice(1)) {
    assert.deepEqual(r.tokens, runs[0]!.tokens, r.way);
    sameBits(r.promptLogits, runs[0]!.promptLogits, `${r.way}: prompt logits`);
    r.steps.forEach((s, i) => sameBits(s, runs[0]!.steps[i]!, `${r.way}: step ${i}`));
  }
}

describe('thread-count invariance: identical bits for 1, 2 and 3 workers and on the calling thread', () => {
  const ways = [
    runtime('1 worker', { threads: 1 }),
    runtime('2 workers', { threads: 2 }),
    runtime('3 workers', { threads: 3 }),
    everyStepShared(2),
    everyStepShared(3),
    runtime('the calling thread', { threads: 3 }, withoutSharedArrayBuffer),
  ];
  for (const file of MODELS) {
    test(file, async () => {
      const runs = [];
      for (const way of ways) runs.push(await trace(file, way));
      assert.match(runs[2]!.backend, /3 worker threads\)$/);
      assert.match(runs[5]!.backend, /1 thread: the calling thread \(SharedArrayBuffer is unavailable/);
      assertSameTrace(runs);
    });
  }

  test('the baseline build too', async () => {
    const file = 'models/derived/pad256/stories260K-pad256-q4_K.gguf';
    const baseline = (threads: number): Way => ({
      name: `baseline, ${threads} workers, every step shared`,
      load: async (path) => {
        const backend = await CpuBackend.create({ kernels: 'baseline', threads, splitWork: 0 });
        return loadModel(async () => ({ backend, reason: 'test' }), path, LOAD, { adopt: () => {}, release: () => {} });
      },
    });
    assertSameTrace([await trace(file, runtime('baseline, 1 worker', { cpuKernels: 'baseline', threads: 1 })), await trace(file, baseline(3))]);
  });
});

/** A model with a prompt long enough that one step takes a while. */
async function withModel(threads: number | undefined, body: (model: Model) => Promise<void>): Promise<void> {
  const runtime = await WasmChord.init(threads === undefined ? {} : { threads });
  try {
    await body(await runtime.loadModel(STORIES, { contextSize: 512 }));
  } finally {
    await runtime.dispose();
  }
}

describe('the calling thread stays free', () => {
  test('timers fire during a single long step', async (t) => {
    await withModel(2, async (model) => {
      const tokens = Array.from({ length: 400 }, (_, i) => 1 + ((i * 37) % 500));
      const ticks: number[] = [];
      const timer = setInterval(() => ticks.push(performance.now()), 1);
      const t0 = performance.now();
      try {
        await model.evaluate(tokens); // one backend step (batchSize 512)
      } finally {
        clearInterval(timer);
      }
      const ms = performance.now() - t0;
      t.diagnostic(`${ticks.length} timer ticks during one ${ms.toFixed(1)} ms step`);
      // Computing on this thread, the step would let no timer in until it ends. (The step takes
      // hundreds of ms here; were it ever under 30 ms, fewer ticks would be due.)
      assert.ok(ticks.length >= Math.min(3, Math.floor(ms / 10)), `${ticks.length} ticks in a ${ms.toFixed(1)} ms step`);
    });
  });

  test('an abort from a timer stops generation within one step, and nothing runs after it', async (t) => {
    await withModel(2, async (model) => {
      const controller = new AbortController();
      const sampled: number[] = [];
      let abortedAt = Infinity;
      // The timer is armed once generation runs (a fixed delay from the start may not see three
      // steps on a loaded machine, where the first step compiles the graphs).
      const armAbort = () =>
        setTimeout(() => {
          abortedAt = performance.now();
          controller.abort();
        }, 10);
      const generation = model.generate('Once upon a time', {
        maxTokens: 100000,
        ignoreEos: true,
        signal: controller.signal,
        sampler: (logits) => {
          if (sampled.push(performance.now()) === 3) armAbort();
          return argmax(logits);
        },
      });
      await assert.rejects(generation, (e) => isWasmChordError(e, 'ABORTED'));
      const stoppedAt = performance.now();
      const late = sampled.filter((t) => t > abortedAt).length;
      const step = (sampled.at(-1)! - sampled[0]!) / Math.max(1, sampled.length - 1);
      t.diagnostic(`${sampled.length} steps of ${step.toFixed(2)} ms; stopped ${(stoppedAt - abortedAt).toFixed(2)} ms after the abort, ${late} steps sampled after it`);
      assert.ok(sampled.length > 2, `${sampled.length} steps before the abort`);
      assert.ok(late <= 1, `${late} steps sampled after the abort`);
      assert.ok(stoppedAt - abortedAt < 50 + 5 * step, `stopped ${(stoppedAt - abortedAt).toFixed(1)} ms after the abort (steps of ${step.toFixed(2)} ms)`);
      // No step left running: the process (workers included) is idle.
      const cpu = process.cpuUsage();
      await new Promise((r) => setTimeout(r, 300));
      const used = process.cpuUsage(cpu);
      t.diagnostic(`${((used.user + used.system) / 1000).toFixed(1)} ms of CPU in the 300 ms after it`);
      assert.ok((used.user + used.system) / 1000 < 100, `${((used.user + used.system) / 1000).toFixed(0)} ms of CPU in 300 ms after the abort`);
    });
  });

  test('without SharedArrayBuffer the calling thread computes, yielding to timers between steps', async () => {
    const { runtime, model } = await withoutSharedArrayBuffer(async () => {
      const runtime = await WasmChord.init({ threads: 4 });
      return { runtime, model: await runtime.loadModel(STORIES) };
    });
    try {
      assert.match(model.info.backend, /1 thread: the calling thread \(SharedArrayBuffer is unavailable/);
      let ticks = 0;
      const timer = setInterval(() => ticks++, 0);
      try {
        await model.generate('Once upon a time', { maxTokens: 40, ignoreEos: true });
      } finally {
        clearInterval(timer);
      }
      assert.ok(ticks >= 10, `${ticks} timer ticks during 40 steps`);
    } finally {
      await runtime.dispose();
    }
  });
});

/** Threads of this process (Linux). */
function osThreads(): number {
  return Number(/Threads:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))![1]);
}

describe('the pool shuts down', { skip: process.platform !== 'linux' && 'counts threads in /proc' }, () => {
  test('dispose ends every worker thread, also with a generation in flight', async () => {
    await withModel(3, async () => {}); // warm-up: thread pools Node starts on first use
    const before = osThreads();
    const runtime = await WasmChord.init({ threads: 3 });
    const model = await runtime.loadModel(STORIES);
    assert.equal(osThreads(), before + 3);
    const outcome = model.generate('Once upon a time', { maxTokens: 100000, ignoreEos: true }).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 30));
    await runtime.dispose();
    assert.ok(isWasmChordError(await outcome, 'DISPOSED'), String(await outcome));
    assert.equal(osThreads(), before);
  });
});

describe('options and building blocks', () => {
  test('lanes share a range in fixed contiguous parts; small steps run on lane 0 with no barrier between', () => {
    const call = (fn: string, args: number[], split?: KernelCall['split']): KernelCall => ({ kind: 'kernel', fn, args, relative: [], patches: [], split });
    const plan = {
      steps: [
        call('big', [0, 1000], { at: [0, 1], work: 1e9 }),
        call('unsplit', []),
        call('small', [0, 10], { at: [0, 1], work: 10 }),
        call('attention', [0, 8], { at: [0, 1], work: 0, workPerPosition: 1000 }),
      ],
    } as unknown as Plan;
    const params: RunParams = { plan: 0, shard: 0, begin: 0, end: 4, scratch: 0, pos0: 0, kvStride: 0, attention: 0, attentionStride: 0, keys: [], values: [], splitWork: 1 << 17 };
    const calls: string[] = [];
    let barriers = 0;
    const kernels = Object.fromEntries(['big', 'unsplit', 'small', 'attention'].map((fn) => [fn, (...a: number[]) => calls.push(`${fn} ${a.join(',')}`)]));
    const runner = new PlanRunner(plan, kernels as unknown as KernelExports, new WebAssembly.Memory({ initial: 1 }));
    for (const pos0 of [0, 1000]) {
      calls.length = 0;
      barriers = 0;
      for (let index = 0; index < 3; index++) runner.run({ ...params, pos0 }, { index, count: 3, barrier: () => barriers++ });
      // Attention shares its heads once enough positions are cached.
      const attention = pos0 === 0 ? ['attention 0,8'] : ['attention 0,2', 'attention 2,5', 'attention 5,8'];
      assert.deepEqual(calls.sort(), ['big 0,333', 'big 333,666', 'big 666,1000', 'small 0,10', 'unsplit ', ...attention].sort());
      // Each lane meets the others after `big`, and before and after a shared attention.
      assert.equal(barriers, 3 * (pos0 === 0 ? 1 : 2));
      assert.equal(PlanRunner.lanesFor(plan, { ...params, pos0, begin: 1 }, 3), pos0 === 0 ? 1 : 3);
    }
  });

  test('threads is validated', async () => {
    for (const threads of [0, 1.5, -2, 257, Number.NaN, '2']) {
      await assert.rejects(WasmChord.init({ threads: threads as number }), (e) => isWasmChordError(e, 'INVALID_ARGUMENT') && /threads/.test(e.message));
    }
  });

  test('the default is one worker per core', async () => {
    const { availableParallelism } = await import('node:os');
    await withModel(undefined, async (model) => {
      const n = availableParallelism();
      assert.match(model.info.backend, new RegExp(`, ${n} worker threads?\\)$`));
    });
  });

  test('the shared form of each kernel build needs a shared memory', async () => {
    for (const variant of KERNEL_VARIANTS) {
      const module = await sharedKernels(variant);
      const shared = new WebAssembly.Memory({ initial: 16, maximum: 65536, shared: true });
      await WebAssembly.instantiate(module, { env: { memory: shared } });
      await assert.rejects(WebAssembly.instantiate(module, { env: { memory: new WebAssembly.Memory({ initial: 16 }) } }));
    }
    assert.throws(() => withSharedMemory(withSharedMemory(readFileSync(new URL('../../src/backends/cpu/wasm/kernels-baseline.wasm', import.meta.url)))), /already shared/);
  });
});

describe('memory sized from the model', () => {
  test('created once at weights + KV + scratch; it grows only for what comes later', async () => {
    const created: WebAssembly.MemoryDescriptor[] = [];
    let grows = 0;
    const { Memory } = WebAssembly;
    const grow = Memory.prototype.grow;
    WebAssembly.Memory = class extends Memory {
      constructor(d: WebAssembly.MemoryDescriptor) {
        super(d);
        created.push(d);
      }
    };
    Memory.prototype.grow = function (this: WebAssembly.Memory, pages: number) {
      grows++;
      return grow.call(this, pages);
    };
    try {
      const runtime = await WasmChord.init({ threads: 2 });
      try {
        const model = await runtime.loadModel(STORIES, { contextSize: 512, kvType: 'f32' });
        const memory = created.filter((d) => d.shared).at(-1)!;
        assert.equal(memory.maximum, 65536);
        const weights = readFileSync(STORIES).length; // a bound: the file holds the weights and more
        const kv = 5 * 2 * 512 * 4 * 8 * 4; // layers x (K, V) x positions x kv heads x head size x f32
        assert.ok(memory.initial * 65536 >= kv && memory.initial * 65536 < weights + kv + (4 << 20), `${memory.initial} pages`);
        const logits = await model.evaluate(model.tokenize('Once upon a time'));
        await model.generate('Once upon a time', { maxTokens: 20 });
        assert.equal(grows, 0, 'the memory grew while loading and generating');
        // A second session's cache does not fit: the shared memory grows, and the workers see it.
        const big = await model.createSession({ contextSize: 100000 });
        assert.ok(grows > 0);
        sameBits(await big.evaluate(model.tokenize('Once upon a time')), logits, 'logits in the grown memory');
      } finally {
        await runtime.dispose();
      }
    } finally {
      WebAssembly.Memory = Memory;
      Memory.prototype.grow = grow;
    }
  });
});
