// A model spread over several Wasm memories (the CPU backend's way past wasm32's 4 GiB) computes
// exactly what it computes in one: the same bits at every step, whatever the layout. Small
// models are forced to shard with a small per-memory limit (by layers, as a 7B model is), or
// with their nodes spread round-robin over three memories (every op's inputs then cross).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { CpuBackend, cpuMemoryParts, type CpuBackendOptions } from '../../src/backends/cpu/backend.js';
import { cpuMemoryPlan } from '../../src/runtime/backend-registry.js';
import { loadModel } from '../../src/runtime/load-model.js';
import type { Model } from '../../src/runtime/api.js';
import { isWasmChordError } from '../../src/errors.js';
import { SHARED } from '../helpers/shared.js';
import { withoutSharedArrayBuffer } from './backends.js';

const MODELS = [
  'stories260K.gguf',
  // Llama-3 rope factors: one vector every layer reads (copied into each memory).
  'archs/llama3-ropefreqs-256-Q4_K_M.gguf',
  // Tied embeddings: the table lives with the output head; the lookup runs there.
  'archs/gemma-tiny-Q8_0.gguf',
  // Learned positions, layer norms with biases.
  'archs/gpt2-tiny-Q8_0.gguf',
  // Experts, routed on the host.
  'archs/qwen3moe-tiny-Q8_0.gguf',
];

const CONTEXT = 32;
const THREADS = 2;

type Layout = Pick<CpuBackendOptions, 'maxMemoryBytes' | 'interleaveMemories'> | ((plan: Parameters<typeof cpuMemoryParts>[0]) => Promise<Pick<CpuBackendOptions, 'maxMemoryBytes'>>);

async function load(file: string, layout: Layout = {}, where: 'workers' | 'calling thread' = 'workers'): Promise<{ model: Model; backend: CpuBackend }> {
  let backend: CpuBackend | undefined;
  const model = await loadModel(
    async (definition, session) => {
      const memory = cpuMemoryPlan(definition, session);
      const options = typeof layout === 'function' ? await layout(memory) : layout;
      const create = () => CpuBackend.create({ threads: THREADS, memory, ...options });
      backend = await (where === 'workers' ? create() : withoutSharedArrayBuffer(create));
      return { backend, reason: 'test' };
    },
    join(SHARED, 'models', file),
    { contextSize: CONTEXT },
    { adopt: () => {}, release: () => {} },
  );
  return { model, backend: backend! };
}

/** A limit per memory that leaves room for half the weights and KV cache in each (whole layers: 2 or 3 memories). */
const halves: Layout = async (plan) => {
  const one = await cpuMemoryParts(plan, { threads: THREADS });
  return { maxMemoryBytes: one.kernels + one.scratch + Math.ceil((one.weights + one.kv) / 2) };
};

/** Prompt logits at every position, then greedy decode steps: every value, as bits. */
async function trace(model: Model): Promise<Uint8Array[]> {
  const prompt = [1, 5, 9, 13, 17, 21, 25, 29, 33, 37];
  const out: Uint8Array[] = [];
  let logits = await model.evaluate(prompt, { allLogits: true });
  out.push(new Uint8Array(logits.buffer.slice(0)));
  const vocab = logits.length / prompt.length;
  for (let step = 0; step < 6; step++) {
    const last = logits.subarray(logits.length - vocab);
    let best = 0;
    for (let i = 1; i < vocab; i++) if (last[i]! > last[best]!) best = i;
    logits = await model.evaluate([best]);
    out.push(new Uint8Array(logits.buffer.slice(0)));
  }
  return out;
}

function assertSameBits(a: Uint8Array[], b: Uint8Array[], what: string): void {
  assert.equal(a.length, b.length);
  a.forEach((x, i) => assert.ok(Buffer.from(x).equals(Buffer.from(b[i]!)), `${what}: step ${i} differs`));
}

describe('a model over several Wasm memories', () => {
  for (const file of MODELS) {
    test(`${file}: by layers and interleaved, bit-identical to one memory`, async () => {
      const one = await load(file);
      const expected = await trace(one.model);
      // The state saved from one memory continues in the others (KV cache read and written by layer).
      const state = await one.model.saveState();
      const continued = await one.model.evaluate([3]);
      await one.model.dispose();
      const layouts = [
        ['by layers', halves, 'workers'],
        ['interleaved', { interleaveMemories: 3 }, 'workers'],
        ['interleaved, on the calling thread', { interleaveMemories: 3 }, 'calling thread'],
      ] as const;
      for (const [name, layout, where] of layouts) {
        const { model, backend } = await load(file, layout, where);
        try {
          assert.ok(backend.memories >= 2, `${name}: ${backend.memories} memories`);
          assert.match(model.info.backend, new RegExp(`${backend.memories} memories`));
          assertSameBits(await trace(model), expected, `${file} ${name}`);
          await model.loadState(state);
          assertSameBits([new Uint8Array((await model.evaluate([3])).buffer)], [new Uint8Array(continued.buffer)], `${file} ${name} after loadState`);
        } finally {
          await model.dispose();
        }
      }
    });
  }

  test('a context shift moves the keys of every memory', async () => {
    const file = MODELS[0]!;
    const run = async (layout: Layout) => {
      const { model } = await load(file, layout);
      try {
        const r = await model.generate('Once upon a time', { maxTokens: 2 * CONTEXT, temperature: 0, ignoreEos: true, contextShift: true });
        assert.equal(r.tokens.length, 2 * CONTEXT, 'generation went past the context');
        return r.tokens;
      } finally {
        await model.dispose();
      }
    };
    assert.deepEqual(await run(halves), await run({}));
  });

  test('memory is planned exactly: the memories are created at what cpuMemoryParts says, and never grow', async () => {
    let planned: Awaited<ReturnType<typeof cpuMemoryParts>> | undefined;
    const { model, backend } = await load(MODELS[1]!, async (plan) => {
      const options = await halves(plan);
      planned = await cpuMemoryParts(plan, { threads: THREADS, ...options });
      return options;
    });
    try {
      await trace(model);
      assert.equal(backend.memories, planned!.memories);
      // Each memory rounds its size up to whole 64 KiB pages.
      assert.ok(backend.memoryBytes >= planned!.total && backend.memoryBytes < planned!.total + planned!.memories * 65536, `${backend.memoryBytes} vs ${planned!.total}`);
    } finally {
      await model.dispose();
    }
  });

  test('a layer larger than one memory is refused with OUT_OF_MEMORY naming it', async () => {
    await assert.rejects(
      load(MODELS[0]!, async (plan) => {
        const one = await cpuMemoryParts(plan, { threads: THREADS });
        return { maxMemoryBytes: one.kernels + one.scratch + 1024 };
      }),
      (e: unknown) => isWasmChordError(e, 'OUT_OF_MEMORY') && /layer 0|input embeddings/.test((e as Error).message),
    );
  });
});
