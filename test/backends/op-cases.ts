/**
 * The conformance cases: for every op of the graph IR, small graphs over the shapes models use.
 * Activations come from `embed` of F32 tables (token ids pick rows), so both backends start from
 * the same exact values and only the op under test can differ. Weight tensors are quantized by the
 * TS quantizers from seeded PRNG data and written into an in-memory GGUF file.
 */
import { encodeGGUF } from '../../src/gguf/writer.js';
import { readGGUF, type GGUFFile } from '../../src/gguf/reader.js';
import { MemorySource } from '../../src/gguf/byte-source.js';
import { kv } from '../../src/gguf/metadata.js';
import { GGMLType, quantize, typeInfo, typeName, type GGMLTypeId } from '../../src/quant/index.js';
import { GraphBuilder, type Graph, type GraphNode, type OpName, type RopeMode, type RopeParams, type WeightHandle } from '../../src/backends/graph.js';
import type { KVCacheSpec, KVCacheType, KVLayerSpec } from '../../src/backends/backend.js';
import { prng } from '../helpers/prng.js';

/** Rows of every activation table: token ids are drawn below this. */
export const VOCAB = 16;

export interface TensorSpec {
  readonly name: string;
  readonly type: GGMLTypeId;
  readonly shape: readonly number[];
  /** Values are uniform in offset ± scale. */
  readonly scale?: number;
  readonly offset?: number;
}

export interface Step {
  readonly pos0: number;
  readonly nTokens: number;
}

export interface OpCase {
  readonly op: OpName;
  /** Unique; says what varies ("matmul Q4_K k=256 m=7"). */
  readonly label: string;
  /** The weight type under test, for the per-type coverage check and the report. */
  readonly weightType?: GGMLTypeId;
  readonly tensors: readonly TensorSpec[];
  readonly steps: readonly Step[];
  readonly kvType: KVCacheType;
  /** KV layers (attention cases); `w` resolves tensors of the case's file. */
  kvLayers?(w: (name: string) => WeightHandle): KVLayerSpec[];
  build(g: GraphBuilder, w: (name: string) => WeightHandle): GraphNode;
}

const F32 = GGMLType.F32;
const input = (name: string, cols: number, scale = 1, offset = 0): TensorSpec => ({ name: `in.${name}`, type: F32, shape: [cols, VOCAB], scale, offset });
const x = (g: GraphBuilder, w: (name: string) => WeightHandle, name: string) => g.embed(name, w(`in.${name}`));
const SINGLE_THEN_BATCH: readonly Step[] = [{ pos0: 0, nTokens: 1 }, { pos0: 1, nTokens: 5 }];

/** Row widths that suit a type's block size: odd ones for plain floats, 1-2 blocks otherwise. */
function widths(t: GGMLTypeId): [number, number] {
  const b = typeInfo(t).blockSize;
  return b === 1 ? [13, 72] : b === 32 ? [64, 160] : [256, 512];
}

function simple<K extends OpName>(op: K, label: string, tensors: TensorSpec[], build: OpCase['build'], steps = SINGLE_THEN_BATCH): OpCase {
  return { op, label: `${op} ${label}`, tensors, steps, kvType: 'f32', build };
}

/**
 * All cases, by op: the mapped type makes an op without cases a type error, and the suite checks
 * at run time that every op of the op table has cases that contain it.
 */
export function opCases(weightTypes: readonly GGMLTypeId[], kvTypes: readonly KVCacheType[]): { [K in OpName]: OpCase[] } {
  const perType = <T>(f: (t: GGMLTypeId, name: string) => T[]) => weightTypes.flatMap((t) => f(t, typeName(t)));
  return {
    embed: perType((t, name) => {
      const width = widths(t)[0];
      return [{ ...simple('embed', `${name} width=${width}`, [{ name: 'table', type: t, shape: [width, VOCAB] }], (g, w) => g.embed('embd', w('table'))), weightType: t }];
    }),

    position_embed: perType((t, name) => {
      const width = widths(t)[0];
      const steps = [{ pos0: 0, nTokens: 3 }, { pos0: 3, nTokens: 1 }, { pos0: 57, nTokens: 7 }]; // up to the table's last row
      return [{ ...simple('position_embed', `${name} width=${width}`, [{ name: 'pos', type: t, shape: [width, 64] }], (g, w) => g.positionEmbed('pos_embd', w('pos')), steps), weightType: t }];
    }),

    rms_norm: [
      simple('rms_norm', 'width=7 no weight', [input('x', 7, 3)], (g, w) => g.rmsNorm('norm', x(g, w, 'x'), undefined, 1e-5)),
      simple('rms_norm', 'width=64', [input('x', 64, 3), { name: 'w', type: F32, shape: [64] }], (g, w) => g.rmsNorm('norm', x(g, w, 'x'), w('w'), 1e-5)),
      simple('rms_norm', 'width=257 eps=1e-6', [input('x', 257, 0.01), { name: 'w', type: F32, shape: [257] }], (g, w) => g.rmsNorm('norm', x(g, w, 'x'), w('w'), 1e-6)),
      // Per-head Q/K norms: groups of headDim values share one weight.
      simple('rms_norm', 'per-head group=16 of 64', [input('x', 64, 3), { name: 'w', type: F32, shape: [16] }], (g, w) => g.rmsNorm('norm', x(g, w, 'x'), w('w'), 1e-6, 16)),
    ],

    layer_norm: [
      simple('layer_norm', 'width=7 weight+bias', [input('x', 7, 2, 5), { name: 'w', type: F32, shape: [7] }, { name: 'b', type: F32, shape: [7] }], (g, w) =>
        g.layerNorm('norm', x(g, w, 'x'), w('w'), w('b'), 1e-5)),
      simple('layer_norm', 'width=64 weight', [input('x', 64, 2, -3), { name: 'w', type: F32, shape: [64] }], (g, w) => g.layerNorm('norm', x(g, w, 'x'), w('w'), undefined, 1e-5)),
      simple('layer_norm', 'width=257 plain', [input('x', 257)], (g, w) => g.layerNorm('norm', x(g, w, 'x'), undefined, undefined, 1e-6)),
    ],

    matmul: perType((t, name) => {
      const [k0, k1] = widths(t);
      return ([[k0, 1], [k0, 7], [k1, 33]] as const).map(([k, m]) => ({
        ...simple('matmul', `${name} k=${k} m=${m}`, [input('x', k), { name: 'w', type: t, shape: [k, m] }], (g, w) => g.matmul('mm', x(g, w, 'x'), w('w'))),
        weightType: t,
      }));
    }),

    add: [7, 100].map((c) =>
      simple('add', `width=${c}`, [input('a', c), input('b', c, 10)], (g, w) => g.add('sum', x(g, w, 'a'), x(g, w, 'b')))),
    add_bias: [7, 100].map((c) =>
      simple('add_bias', `width=${c}`, [input('x', c), { name: 'bias', type: F32, shape: [c] }], (g, w) => g.addBias('biased', x(g, w, 'x'), w('bias')))),
    scale: [0.125, -3].map((f) => simple('scale', `factor=${f}`, [input('x', 33)], (g, w) => g.scale('scaled', x(g, w, 'x'), f))),
    // Inputs reach several times the cap, where tanh saturates.
    softcap: [[30, 60], [5, 10]].map(([cap, range]) =>
      simple('softcap', `cap=${cap}`, [input('x', 33, range)], (g, w) => g.softcap('capped', x(g, w, 'x'), cap!))),
    // ±12 covers ggml's cut-offs at ±10.
    gelu: [7, 257].map((c) => simple('gelu', `width=${c}`, [input('x', c, 12)], (g, w) => g.gelu('act', x(g, w, 'x')))),
    glu: (['silu', 'gelu'] as const).flatMap((act) =>
      [7, 100].map((c) => simple('glu', `${act} width=${c}`, [input('gate', c, 6), input('up', c)], (g, w) => g.glu('act', x(g, w, 'gate'), x(g, w, 'up'), act)))),

    cols: [[0, 7], [13, 20], [33, 7]].map(([start, count]) =>
      simple('cols', `${start}+${count} of 40`, [input('x', 40)], (g, w) => g.cols('view', x(g, w, 'x'), start!, count!))),
    rows: [
      simple('rows', 'last', [input('x', 9)], (g, w) => g.rows('last', x(g, w, 'x'), g.nTokens - 1, 1)),
      simple('rows', 'second half', [input('x', 9)], (g, w) => g.rows('half', x(g, w, 'x'), g.nTokens >> 1, g.nTokens - (g.nTokens >> 1))),
    ],

    rope: [
      ropeCase('norm', 2, 8, 8, {}),
      ropeCase('neox', 3, 64, 64, { freqBase: 1e6 }),
      ropeCase('norm', 2, 64, 32, { freqScale: 0.25 }), // partial rotation, linear scaling
      ropeCase('neox', 2, 10, 6, {}), // odd sizes: the pair loop's scalar tail
      ropeCase('norm', 2, 32, 32, { factors: true }),
      ropeCase('neox', 2, 64, 64, { factors: true, pos0: 37 }),
      ropeCase('norm', 2, 64, 64, { pos0: 4000 }),
      ropeCase('neox', 1, 128, 128, { freqBase: 5e5, pos0: 4090 }),
    ],

    attention: kvTypes.flatMap((kvType) => [
      attentionCase(kvType, { nHead: 4, nKvHead: 4, headDim: 8 }),
      attentionCase(kvType, { nHead: 4, nKvHead: 2, headDim: 64 }),
      attentionCase(kvType, { nHead: 6, nKvHead: 1, headDim: 10 }),
      attentionCase(kvType, { nHead: 4, nKvHead: 2, headDim: 16, window: 3 }),
      attentionCase(kvType, { nHead: 4, nKvHead: 2, headDim: 32, softcap: 20, qScale: 4 }),
      attentionCase(kvType, { nHead: 2, nKvHead: 2, headDim: 12, scale: 1 }),
      attentionCase(kvType, { nHead: 2, nKvHead: 1, headDim: 64, window: 16, steps: [{ pos0: 0, nTokens: 40 }, { pos0: 40, nTokens: 1 }] }),
      attentionCase(kvType, { nHead: 8, nKvHead: 2, headDim: 16, layer: 1 }),
    ]),

    moe_ffn: [
      ...perType((t, name) => [moeCase(t, `${name}`, { nUsed: 2, normalize: true, act: 'silu' })]),
      moeCase(F32, 'F32 gelu unnormalized', { nUsed: 2, normalize: false, act: 'gelu' }),
      moeCase(F32, 'F32 one expert', { nUsed: 1, normalize: true, act: 'silu' }),
      moeCase(F32, 'F32 all experts', { nUsed: 4, normalize: false, act: 'silu' }),
    ],
  };
}

function ropeCase(mode: RopeMode, nHead: number, headDim: number, nRot: number, o: { freqBase?: number; freqScale?: number; factors?: boolean; pos0?: number }): OpCase {
  const pos0 = o.pos0 ?? 0;
  const params = (w: (name: string) => WeightHandle): RopeParams => ({
    nHead, headDim, nRot, mode, freqBase: o.freqBase ?? 10000, freqScale: o.freqScale ?? 1, freqFactors: o.factors ? w('rope_freqs') : undefined,
  });
  const tensors = [input('x', nHead * headDim), ...(o.factors ? [{ name: 'rope_freqs', type: F32, shape: [nRot / 2], scale: 3.5, offset: 4.5 }] : [])];
  const what = [mode, `${nHead}x${headDim}`, nRot < headDim ? `nRot=${nRot}` : '', o.freqBase ? `base=${o.freqBase}` : '', o.freqScale ? `scale=${o.freqScale}` : '', o.factors ? 'freq factors' : '', pos0 ? `pos0=${pos0}` : ''];
  return {
    ...simple('rope', what.filter(Boolean).join(' '), tensors, (g, w) => g.rope('rot', x(g, w, 'x'), params(w)), [{ pos0, nTokens: 1 }, { pos0: pos0 + 1, nTokens: 4 }]),
  };
}

interface AttentionShape {
  nHead: number;
  nKvHead: number;
  headDim: number;
  window?: number;
  softcap?: number;
  /** Spread of q: larger values make the softmax peakier. */
  qScale?: number;
  /** Multiplies Q·K; default 1/sqrt(headDim). */
  scale?: number;
  /** The cache layer (a second, differently shaped layer 0 sits below it). */
  layer?: number;
  steps?: Step[];
}

function attentionCase(kvType: KVCacheType, a: AttentionShape): OpCase {
  const layer = a.layer ?? 0;
  const kvw = a.nKvHead * a.headDim;
  const steps = a.steps ?? [{ pos0: 0, nTokens: 5 }, { pos0: 5, nTokens: 1 }, { pos0: 6, nTokens: 3 }];
  const what = [`${a.nHead}/${a.nKvHead} heads x${a.headDim}`, a.window ? `window=${a.window}` : '', a.softcap ? `softcap=${a.softcap}` : '', a.scale ? `scale=${a.scale}` : '', layer ? `layer=${layer}` : '', `${steps.map((s) => s.nTokens).join('+')} tokens`, `${kvType} KV`];
  return {
    op: 'attention',
    label: `attention ${what.filter(Boolean).join(' ')}`,
    tensors: [input('q', a.nHead * a.headDim, a.qScale ?? 1), input('k', kvw), input('v', kvw)],
    steps,
    kvType,
    kvLayers: () => [...(layer ? [{ nKvHead: 1, headDim: 4 }] : []), { nKvHead: a.nKvHead, headDim: a.headDim }],
    build: (g, w) =>
      g.attention('kqv_out', x(g, w, 'q'), x(g, w, 'k'), x(g, w, 'v'), {
        layer, nHead: a.nHead, nKvHead: a.nKvHead, headDim: a.headDim, scale: a.scale ?? 1 / Math.sqrt(a.headDim), window: a.window ?? 0, softcap: a.softcap ?? 0,
      }),
  };
}

function moeCase(t: GGMLTypeId, label: string, params: { nUsed: number; normalize: boolean; act: 'silu' | 'gelu' }): OpCase {
  const nExpert = 4;
  // The wider of the type's widths: K-quant rows of two blocks, which q8_k_x8 interleaves.
  const nIn = widths(t)[1];
  const nFf = nIn;
  return {
    ...simple('moe_ffn', `${label} ${params.nUsed} of ${nExpert} experts ${params.act} in=${nIn}`, [
      input('x', nIn),
      input('logits', nExpert, 2),
      { name: 'gate', type: t, shape: [nIn, nFf, nExpert] },
      { name: 'up', type: t, shape: [nIn, nFf, nExpert] },
      { name: 'down', type: t, shape: [nFf, nIn, nExpert] },
    ], (g, w) => g.moeFfn('moe_out', x(g, w, 'x'), x(g, w, 'logits'), { gate: w('gate'), up: w('up'), down: w('down') }, params),
    // Nine tokens: an octet and one more, whose rows q8_k_x8 interleaves.
    [{ pos0: 0, nTokens: 1 }, { pos0: 1, nTokens: 4 }, { pos0: 5, nTokens: 9 }]),
    weightType: t,
  };
}

function seedOf(text: string): number {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
  return h >>> 0;
}

/** The case's tensors as an in-memory GGUF file, parsed. */
export async function caseFile(c: OpCase): Promise<GGUFFile> {
  const tensors = c.tensors.map((t) => {
    const r = prng(seedOf(`${c.label}/${t.name}`));
    const n = t.shape.reduce((a, b) => a * b, 1);
    const values = Float32Array.from({ length: n }, () => (t.offset ?? 0) + (t.scale ?? 1) * (2 * r() - 1));
    return { name: t.name, type: t.type, shape: t.shape, data: quantize(t.type, values) };
  });
  const bytes = await encodeGGUF({ metadata: [['general.architecture', kv.string('conformance')]], tensors });
  return readGGUF(new MemorySource(bytes, c.label));
}

/** The case's graph for one step shape. */
export function caseGraph(c: OpCase, nTokens: number, w: (name: string) => WeightHandle): Graph {
  const g = new GraphBuilder(nTokens);
  return g.finish(c.build(g, w));
}

/** The KV cache a case runs with: exactly as many positions as its steps reach (no layers without attention). */
export function caseKVSpec(c: OpCase, w: (name: string) => WeightHandle): KVCacheSpec {
  return { contextSize: Math.max(...c.steps.map((s) => s.pos0 + s.nTokens)), type: c.kvType, layers: c.kvLayers?.(w) ?? [] };
}

/** Token ids of one step (seeded by the case and step). */
export function caseTokens(c: OpCase, step: number): Int32Array {
  const r = prng(seedOf(`${c.label}#${step}`));
  return Int32Array.from({ length: c.steps[step]!.nTokens }, () => Math.floor(r() * VOCAB));
}
