// The backend registry: what is chosen, why, and the typed errors when nothing fits.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { isWasmChordError } from '../../src/errors.js';
import { encodeGGUF, kv, MemorySource, readGGUF, type GGUFFile, type GGUFKeyValue } from '../../src/gguf/index.js';
import { WasmChord } from '../../src/index.js';
import { GGMLType, typeInfo, type GGMLTypeId } from '../../src/quant/types.js';
import { readJson, SHARED } from '../helpers/shared.js';
import { webgpuUnavailable } from '../backends/backends.js';
import { acquireGpu } from '../../src/backends/webgpu/gpu.js';

/** Why this host has no WebGPU (CI requires it), or undefined. */
const noWebGPU = await webgpuUnavailable();
/** lavapipe in CI: a software adapter, which only a demand uses. */
const gpu = noWebGPU ? undefined : await acquireGpu();
const softwareGpu = typeof gpu === 'object' && gpu.info.fallback;

const STORIES = join(SHARED, 'models/stories260K.gguf');
/** The same model with 256-wide rows, so that any block size fits. */
const STORIES_256 = join(SHARED, 'models/derived/pad256/stories260K-pad256-q4_K.gguf');

/** A model rewritten with another architecture name or one tensor of another type. */
async function variant(path: string, change: { arch?: string; tensor?: { name: string; type: GGMLTypeId } }): Promise<Uint8Array> {
  const f: GGUFFile = await readGGUF(new MemorySource(new Uint8Array(readFileSync(path))));
  const rename = (key: string) => (change.arch && key.startsWith('llama.') ? `${change.arch}.${key.slice(6)}` : key);
  const metadata = [...f.metadata.entries()].map(([key, value]): [string, GGUFKeyValue] =>
    key === 'general.architecture' && change.arch ? [key, kv.string(change.arch)] : [rename(key), value],
  );
  return encodeGGUF({
    metadata,
    tensors: f.tensors.map((t) => {
      if (t.name !== change.tensor?.name) return { name: t.name, type: t.type, shape: t.shape, data: () => f.readTensor(t) };
      const info = typeInfo(change.tensor.type);
      const bytes = (t.elementCount / info.blockSize) * info.typeSize;
      return { name: t.name, type: change.tensor.type, shape: t.shape, data: new Uint8Array(bytes) };
    }),
  });
}

test('the default is the CPU backend, and model.info says why', async () => {
  const runtime = await WasmChord.init();
  try {
    const model = await runtime.loadModel(STORIES);
    assert.match(model.info.backend, /^cpu \(wasm-simd128/);
    assert.match(model.info.backendReason, /^cpu: the default$/);
  } finally {
    await runtime.dispose();
  }
});

test(`gpuEnabled ${noWebGPU ? 'without a usable WebGPU falls back to the CPU' : softwareGpu ? 'passes a software adapter over for the CPU' : 'runs on WebGPU'} and says so`, async () => {
  const runtime = await WasmChord.init({ gpuEnabled: true });
  try {
    const model = await runtime.loadModel(STORIES);
    if (noWebGPU || softwareGpu) {
      assert.match(model.info.backend, /^cpu /);
      assert.match(model.info.backendReason, noWebGPU ? /^cpu: gpuEnabled; webgpu passed over: / : /^cpu: gpuEnabled; webgpu passed over: the only WebGPU adapter is a software one/);
    } else {
      assert.match(model.info.backend, /^webgpu \(webgpu: .* via /);
      assert.equal(model.info.backendReason, 'webgpu: gpuEnabled');
    }
  } finally {
    await runtime.dispose();
  }
});

test(`backend: 'webgpu' demands it: ${noWebGPU ? 'BACKEND_UNAVAILABLE when it cannot run' : 'it runs'}`, async () => {
  const runtime = await WasmChord.init({ backend: 'webgpu' });
  try {
    if (noWebGPU) await assert.rejects(runtime.loadModel(STORIES), (e) => isWasmChordError(e, 'BACKEND_UNAVAILABLE') && /webgpu/.test(e.message));
    else assert.match((await runtime.loadModel(STORIES)).info.backend, /^webgpu /);
  } finally {
    await runtime.dispose();
  }
});

test("backend: 'reference' runs the plain TypeScript oracle, and it generates llama.cpp's tokens", async () => {
  const runtime = await WasmChord.init({ backend: 'reference' });
  try {
    const model = await runtime.loadModel(STORIES, { kvType: 'f32' });
    assert.match(model.info.backend, /^reference /);
    assert.match(model.info.backendReason, /^reference: backend: 'reference'$/);
    const ref = readJson<{ prompt: string; generated_tokens: number[] }>('reference/models/stories260K/once_upon_a_time.json');
    const { tokens } = await model.generate(ref.prompt, { temperature: 0, maxTokens: 16, ignoreEos: true });
    assert.deepEqual(tokens, ref.generated_tokens.slice(0, 16));
  } finally {
    await runtime.dispose();
  }
});

test('an unknown backend name is an INVALID_ARGUMENT at init', async () => {
  await assert.rejects(WasmChord.init({ backend: 'tpu' as never }), (e) => isWasmChordError(e, 'INVALID_ARGUMENT') && /backend/.test(e.message));
});

test('a tensor type no backend computes is refused before loading, naming the tensor and type', async () => {
  const runtime = await WasmChord.init();
  try {
    const bytes = await variant(STORIES_256, { tensor: { name: 'blk.0.attn_q.weight', type: GGMLType.IQ2_XXS } });
    await assert.rejects(
      runtime.loadModel(bytes),
      (e) => isWasmChordError(e, 'UNSUPPORTED_TENSOR_TYPE') && /blk\.0\.attn_q\.weight/.test(e.message) && /IQ2_XXS/.test(e.message),
    );
  } finally {
    await runtime.dispose();
  }
});

test('an unknown architecture is MODEL_UNSUPPORTED, naming it and listing the supported ones', async () => {
  const runtime = await WasmChord.init();
  try {
    await assert.rejects(
      runtime.loadModel(await variant(STORIES, { arch: 'mamba' })),
      (e) => isWasmChordError(e, 'MODEL_UNSUPPORTED') && /"mamba"/.test(e.message) && /llama/.test(e.message),
    );
  } finally {
    await runtime.dispose();
  }
});
