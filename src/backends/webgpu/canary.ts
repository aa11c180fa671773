/**
 * The load-time canary (DESIGN principle 6, issue: "a broken driver never produces silent
 * garbage"). Before a model runs on a GPU:
 * - for every weight type of the model, its first matrix multiplies a fixed input on the GPU, as
 *   a prefill step and as a decode step (different kernels), and the first rows of the results
 *   are checked against exact math on the same weights read back from the file;
 * - a small attention block (RMS norm, RoPE, attention over both KV cache types, SwiGLU) runs on
 *   the GPU beside the reference backend, every node within its op's bound (compare.ts).
 * Any disagreement refuses the GPU for this model, with the node and the error in the reason.
 */
import type { GGUFFile, GGUFTensorInfo } from '../../gguf/reader.js';
import { readGGUF } from '../../gguf/reader.js';
import { MemorySource, readBytes } from '../../gguf/byte-source.js';
import { encodeGGUF } from '../../gguf/writer.js';
import { kv } from '../../gguf/metadata.js';
import { dequantize, GGMLType, rowByteSize, typeName } from '../../quant/index.js';
import type { Backend, KVCacheType } from '../backend.js';
import { BackendComparison } from '../compare.js';
import { GraphBuilder } from '../graph.js';
import { boundFor, measureError } from '../op-tolerances.js';
import { ReferenceBackend } from '../reference/backend.js';

/** Output rows checked per weight (exact math on the host costs rows × k multiply-adds). */
const CHECKED_ROWS = 32;
const TOKENS = 3;

/** A fixed pseudo-random sequence in [-1, 1) (the canary must be the same on every run). */
function values(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  });
}

/** Loads tensors into the backend without running the canary again. */
export type CanaryLoad = (file: GGUFFile, tensors: readonly GGUFTensorInfo[]) => Promise<void>;

/** Why the backend disagrees with exact math, or undefined when it agrees. */
export async function runCanary(backend: Backend, load: CanaryLoad, model: GGUFFile, tensors: readonly GGUFTensorInfo[]): Promise<string | undefined> {
  const matrices = new Map<number, GGUFTensorInfo>();
  for (const t of tensors) if (t.shape.length === 2 && t.shape[1]! > 1 && !matrices.has(t.type)) matrices.set(t.type, t);
  const widths = [...new Set([...matrices.values()].map((t) => t.shape[0]!))];
  const file = await readGGUF(
    new MemorySource(
      await encodeGGUF({
        metadata: [['general.architecture', kv.string('canary')]],
        tensors: [
          ...widths.map((k) => ({ name: `canary.x${k}`, type: GGMLType.F32, shape: [k, TOKENS], data: new Uint8Array(values(k * TOKENS, k).buffer) })),
          ...attentionBlockTensors(),
        ],
      }),
      'the WebGPU canary',
    ),
  );
  await load(file, file.tensors);
  for (const w of matrices.values()) {
    const why = await checkMatmul(backend, model, file, w);
    if (why) return why;
  }
  for (const kvType of ['f32', 'f16'] as const) {
    const why = await checkBlock(backend, file, kvType);
    if (why) return why;
  }
  return undefined;
}

/** x · Wᵀ for the first rows of a real weight, on the GPU (prefill and decode) and exactly. */
async function checkMatmul(backend: Backend, model: GGUFFile, file: GGUFFile, w: GGUFTensorInfo): Promise<string | undefined> {
  const [k, m] = w.shape as [number, number];
  const x = file.tensor(`canary.x${k}`)!;
  const rows = Math.min(CHECKED_ROWS, m);
  const weights = dequantize(w.type, await readBytes(model.source, model.dataOffset + w.offset, rows * rowByteSize(w.type, k)), rows * k);
  const input = values(k * TOKENS, k);
  const cache = backend.createKVCache({ contextSize: TOKENS, type: 'f32', layers: [] });
  try {
    for (const nTokens of [TOKENS, 1]) {
      const g = new GraphBuilder(nTokens);
      const graph = g.finish(g.matmul('canary', g.embed('x', x), w));
      const y = await backend.run(backend.compile(graph), { tokens: Int32Array.from({ length: nTokens }, (_, i) => i), pos0: 0 }, cache);
      const expected = new Float32Array(nTokens * rows);
      const actual = new Float32Array(nTokens * rows);
      for (let t = 0; t < nTokens; t++) {
        for (let r = 0; r < rows; r++) {
          let s = 0;
          for (let i = 0; i < k; i++) s += input[t * k + i]! * weights[r * k + i]!;
          expected[t * rows + r] = s;
          actual[t * rows + r] = y[t * m + r]!;
        }
      }
      const e = measureError(expected, actual);
      // The GPU does not quantize activations: the bound of f32 dot products alone.
      const bound = boundFor(graph.output, { maxPosition: 0, activationQuantization: () => 0 });
      if (!(e.nmse <= bound.nmse)) return `the GPU's ${typeName(w.type)} matmul (${w.name}, ${nTokens} token${nTokens > 1 ? 's' : ''}) is off: NMSE ${e.nmse.toExponential(2)} > ${bound.nmse}`;
    }
    return undefined;
  } finally {
    backend.releaseKVCache(cache);
  }
}

const [N_HEAD, N_KV, HEAD_DIM] = [4, 2, 32];

/** The block's inputs: q, k, v rows for 8 token ids, and a norm weight. */
function attentionBlockTensors() {
  const table = (name: string, width: number, seed: number) => ({ name, type: GGMLType.F32, shape: [width, 8], data: new Uint8Array(values(width * 8, seed).buffer) });
  return [
    table('canary.q', N_HEAD * HEAD_DIM, 1),
    table('canary.k', N_KV * HEAD_DIM, 2),
    table('canary.v', N_KV * HEAD_DIM, 3),
    { name: 'canary.norm', type: GGMLType.F32, shape: [N_HEAD * HEAD_DIM], data: new Uint8Array(values(N_HEAD * HEAD_DIM, 4).buffer) },
  ];
}

/** The attention block on the GPU beside the reference backend, two steps (prefill, decode). */
async function checkBlock(backend: Backend, file: GGUFFile, kvType: KVCacheType): Promise<string | undefined> {
  const t = (name: string) => file.tensor(name)!;
  const rope = (nHead: number) => ({ nHead, headDim: HEAD_DIM, nRot: HEAD_DIM, mode: 'neox' as const, freqBase: 10000, freqScale: 1 });
  const graph = (nTokens: number) => {
    const g = new GraphBuilder(nTokens);
    const q = g.rope('q_rope', g.rmsNorm('q_norm', g.embed('q', t('canary.q')), t('canary.norm'), 1e-5), rope(N_HEAD));
    const k = g.rope('k_rope', g.embed('k', t('canary.k')), rope(N_KV));
    const att = g.attention('kqv_out', q, k, g.embed('v', t('canary.v')), { layer: 0, nHead: N_HEAD, nKvHead: N_KV, headDim: HEAD_DIM, scale: 1 / Math.sqrt(HEAD_DIM), window: 0, softcap: 0 });
    return g.finish(g.glu('ffn', att, q, 'silu'));
  };
  const spec = { contextSize: 8, type: kvType, layers: [{ nKvHead: N_KV, headDim: HEAD_DIM }] };
  const reference = ReferenceBackend.create();
  await reference.loadWeights(file, file.tensors);
  const cache = backend.createKVCache(spec);
  const comparison = new BackendComparison(
    [
      { name: 'webgpu', backend, cache },
      { name: 'reference', backend: reference, cache: reference.createKVCache(spec) },
    ],
    reference,
  );
  try {
    for (const [pos0, tokens] of [[0, [3, 1, 4, 1, 5]], [5, [2]]] as const) {
      const r = await comparison.step(graph(tokens.length), { tokens: Int32Array.from(tokens), pos0 });
      const d = r.divergence;
      if (d) return `the GPU's ${d.op} (${kvType} KV cache) is off at node ${d.label}: NMSE ${d.local.nmse.toExponential(2)} > ${d.bound.nmse}`;
    }
    return undefined;
  } finally {
    comparison.dispose();
    backend.releaseKVCache(cache);
    await reference.dispose();
  }
}
