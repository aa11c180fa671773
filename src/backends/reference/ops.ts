/**
 * The reference ops: what every node of the graph means, in plain TypeScript, one small function
 * per op. "Exact math": weights are decoded by the TS codecs (src/quant), activations are never
 * quantized, every product, dot product and sum is carried in f64 (JS numbers), and results are
 * stored as f32. The only roundings beyond that are part of an op's meaning: an f16 KV cache holds
 * f16 values, and ggml's f16 attention path rounds q and the softmax weights to f16.
 */
import { WasmChordError } from '../../errors.js';
import { roundToF16 } from '../../quant/half.js';
import type { GluActivation, GraphNode, MoeParams, NodeOf, OpName, RopeParams, WeightHandle } from '../graph.js';

/** One layer of a KV cache as the reference holds it: [kvHead][position][headDim] values. */
export interface ReferenceKVLayer {
  readonly keys: Float32Array;
  readonly values: Float32Array;
  readonly nKvHead: number;
  readonly headDim: number;
  readonly contextSize: number;
  /** Values are f16 (stored rounded). */
  readonly f16: boolean;
}

/** What an op reads besides its node. */
export interface OpContext {
  /** The value of an input node, [rows][cols]. */
  value(node: GraphNode): Float32Array;
  /** Rows [first, first + count) of a weight (rows of shape[0] values), decoded to f32. */
  weightRows(w: WeightHandle, first: number, count: number): Float32Array;
  readonly tokens: Int32Array;
  readonly pos0: number;
  /**
   * The activations a matmul over `w` reads: `x` itself; or, when the divergence tool asks what
   * ggml's activation quantization alone does, `x` through w's vec_dot format.
   */
  activations(w: WeightHandle, x: Float32Array): Float32Array;
  /** The KV cache layer an attention node appends to and reads. */
  kvLayer(layer: number, nKvHead: number, headDim: number): ReferenceKVLayer;
}

export type OpFunction<K extends OpName> = (node: NodeOf<K>, c: OpContext) => Float32Array;

/** Σ a[ai+i]·b[bi+i] for i < n, in f64. */
function dot(a: ArrayLike<number>, ai: number, b: ArrayLike<number>, bi: number, n: number): number {
  let s = 0;
  for (let i = 0; i < n; i++) s += a[ai + i]! * b[bi + i]!;
  return s;
}

const map = (x: Float32Array, f: (v: number, i: number) => number) => Float32Array.from(x, f);
const vector = (c: OpContext, w: WeightHandle | undefined) => (w ? c.weightRows(w, 0, 1) : undefined);

const silu = (x: number) => x / (1 + Math.exp(-x));
/** GELU, tanh form (what ggml tabulates in f16). */
const gelu = (x: number) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * x * (1 + 0.044715 * x * x)));
const activation = (act: GluActivation) => (act === 'silu' ? silu : gelu);

/** Rows `ids` of a table (one row per id). */
function gather(table: WeightHandle, ids: ArrayLike<number>, c: OpContext, outOfRange: (id: number) => WasmChordError): Float32Array {
  const width = table.shape[0]!;
  const rows = table.shape[1] ?? 1;
  const out = new Float32Array(ids.length * width);
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i]!;
    if (!(Number.isInteger(id) && id >= 0 && id < rows)) throw outOfRange(id);
    out.set(c.weightRows(table, id, 1), i * width);
  }
  return out;
}

/**
 * Rotates one head vector (at `at` in x, into y) for position p: pair i turns by
 * θ_i = p·freqScale·base^(−2i/nRot) / factor_i. NORM pairs (2i, 2i+1), NEOX (i, i + nRot/2).
 */
export function rotateHead(x: ArrayLike<number>, y: Float32Array, at: number, p: number, r: RopeParams, factors?: Float32Array): void {
  const half = r.nRot / 2;
  for (let i = 0; i < half; i++) {
    const theta = (p * r.freqScale * Math.pow(r.freqBase, (-2 * i) / r.nRot)) / (factors ? factors[i]! : 1);
    const [a, b] = r.mode === 'neox' ? [at + i, at + i + half] : [at + 2 * i, at + 2 * i + 1];
    const x0 = x[a]!;
    const x1 = x[b]!;
    y[a] = x0 * Math.cos(theta) - x1 * Math.sin(theta);
    y[b] = x0 * Math.sin(theta) + x1 * Math.cos(theta);
  }
}

/** Causal attention of one step; appends the step's K and V to the layer's cache first. */
function attention(n: NodeOf<'attention'>, c: OpContext): Float32Array {
  const { nHead, nKvHead, headDim: hd, scale, window, softcap, layer } = n.params;
  const kv = c.kvLayer(layer, nKvHead, hd);
  const store = kv.f16 ? roundToF16 : Math.fround;
  const k = c.value(n.k);
  const v = c.value(n.v);
  for (let t = 0; t < n.rows; t++) {
    for (let h = 0; h < nKvHead; h++) {
      const at = (h * kv.contextSize + c.pos0 + t) * hd;
      for (let d = 0; d < hd; d++) {
        kv.keys[at + d] = store(k[(t * nKvHead + h) * hd + d]!);
        kv.values[at + d] = store(v[(t * nKvHead + h) * hd + d]!);
      }
    }
  }
  const q = c.value(n.q);
  const out = new Float32Array(n.rows * n.cols);
  for (let t = 0; t < n.rows; t++) {
    const p = c.pos0 + t;
    const first = window > 0 ? Math.max(0, p - window + 1) : 0;
    for (let h = 0; h < nHead; h++) {
      const base = ((h / (nHead / nKvHead)) | 0) * kv.contextSize * hd;
      // ggml's f16 path converts q to f16 for the dot with f16 keys.
      const qh = Array.from(q.subarray((t * nHead + h) * hd, (t * nHead + h + 1) * hd), (x) => (kv.f16 ? roundToF16(x) : x));
      const s: number[] = [];
      for (let j = first; j <= p; j++) {
        let score = dot(qh, 0, kv.keys, base + j * hd, hd);
        if (softcap > 0) score = softcap * Math.tanh(score / softcap);
        s.push(score * scale);
      }
      const max = Math.max(...s);
      const e = s.map((x) => Math.exp(x - max));
      const sum = e.reduce((a, b) => a + b, 0);
      const o = new Float64Array(hd);
      e.forEach((ej, jj) => {
        // ...and the softmax weights to f16 for the product with f16 values.
        const w = kv.f16 ? roundToF16(ej / sum) : ej / sum;
        const at = base + (first + jj) * hd;
        for (let d = 0; d < hd; d++) o[d] = o[d]! + w * kv.values[at + d]!;
      });
      out.set(o, (t * nHead + h) * hd);
    }
  }
  return out;
}

/** Softmax over all experts, the nUsed most probable (ties: lower index), optionally renormalised. */
export function route(logits: ArrayLike<number>, params: MoeParams): { experts: number[]; weights: number[] } {
  const max = Math.max(...Array.from(logits));
  const e = Array.from(logits, (l) => Math.exp(l - max));
  const sum = e.reduce((a, b) => a + b, 0);
  const p = e.map((x) => x / sum);
  const experts = p
    .map((_, i) => i)
    .sort((a, b) => p[b]! - p[a]! || a - b)
    .slice(0, params.nUsed);
  const chosen = experts.map((i) => p[i]!);
  const total = chosen.reduce((a, b) => a + b, 0);
  return { experts, weights: params.normalize ? chosen.map((w) => w / total) : chosen };
}

/** Σ over the chosen experts e (in selection order) of w_e · down_e(act(gate_e x) * up_e x). */
function moeFfn(n: NodeOf<'moe_ffn'>, c: OpContext): Float32Array {
  const [nIn, nFf] = n.gate.shape as [number, number, number];
  const x = c.value(n.x);
  const logits = c.value(n.logits);
  const nExpert = n.logits.cols;
  const act = activation(n.params.act);
  const out = new Float32Array(n.rows * nIn);
  for (let t = 0; t < n.rows; t++) {
    const { experts, weights } = route(logits.subarray(t * nExpert, (t + 1) * nExpert), n.params);
    const xt = x.subarray(t * nIn, (t + 1) * nIn);
    const [xGate, xUp] = [c.activations(n.gate, xt), c.activations(n.up, xt)];
    const acc = new Float64Array(nIn);
    experts.forEach((e, j) => {
      // Expert e is slice e of the 3-D tensors: rows e·out .. (e+1)·out.
      const gate = c.weightRows(n.gate, e * nFf, nFf);
      const up = c.weightRows(n.up, e * nFf, nFf);
      const down = c.weightRows(n.down, e * nIn, nIn);
      const h = Float32Array.from({ length: nFf }, (_, f) => act(dot(gate, f * nIn, xGate, 0, nIn)) * dot(up, f * nIn, xUp, 0, nIn));
      const hDown = c.activations(n.down, h);
      for (let i = 0; i < nIn; i++) acc[i] = acc[i]! + weights[j]! * dot(down, i * nFf, hDown, 0, nFf);
    });
    out.set(acc, t * nIn);
  }
  return out;
}

/** The meaning of every op (a new op is a type error until it has one). */
export const REFERENCE_OPS: { readonly [K in OpName]: OpFunction<K> } = {
  embed: (n, c) => gather(n.table, c.tokens, c, (id) => new WasmChordError('INVALID_ARGUMENT', `token id ${id} is outside ${n.table.name}`)),

  position_embed: (n, c) =>
    gather(n.table, Array.from({ length: n.rows }, (_, i) => c.pos0 + i), c, (p) =>
      new WasmChordError('CONTEXT_FULL', `position ${p} is past the ${n.table.shape[1]} positions of ${n.table.name}`)),

  rms_norm: (n, c) => {
    const x = c.value(n.x);
    const w = vector(c, n.weight);
    const y = new Float32Array(x.length);
    for (let at = 0; at < x.length; at += n.group) {
      const r = 1 / Math.sqrt(dot(x, at, x, at, n.group) / n.group + n.eps);
      for (let i = 0; i < n.group; i++) y[at + i] = x[at + i]! * r * (w ? w[i]! : 1);
    }
    return y;
  },

  layer_norm: (n, c) => {
    const x = c.value(n.x);
    const w = vector(c, n.weight);
    const b = vector(c, n.bias);
    const m = n.cols;
    const y = new Float32Array(x.length);
    for (let at = 0; at < x.length; at += m) {
      let mean = 0;
      for (let i = 0; i < m; i++) mean += x[at + i]!;
      mean /= m;
      let variance = 0; // biased, as ggml
      for (let i = 0; i < m; i++) variance += (x[at + i]! - mean) ** 2;
      const r = 1 / Math.sqrt(variance / m + n.eps);
      for (let i = 0; i < m; i++) y[at + i] = (x[at + i]! - mean) * r * (w ? w[i]! : 1) + (b ? b[i]! : 0);
    }
    return y;
  },

  // y[t][j] = x[t] · W[j], W in ggml order: row j of the weight is output j.
  matmul: (n, c) => {
    const x = c.activations(n.weight, c.value(n.x));
    const k = n.x.cols;
    const y = new Float32Array(n.rows * n.cols);
    for (let j = 0; j < n.cols; j++) {
      const w = c.weightRows(n.weight, j, 1);
      for (let t = 0; t < n.rows; t++) y[t * n.cols + j] = dot(x, t * k, w, 0, k);
    }
    return y;
  },

  add: (n, c) => {
    const b = c.value(n.b);
    return map(c.value(n.a), (v, i) => v + b[i]!);
  },
  add_bias: (n, c) => {
    const b = c.weightRows(n.bias, 0, 1);
    return map(c.value(n.x), (v, i) => v + b[i % n.cols]!);
  },
  scale: (n, c) => map(c.value(n.x), (v) => v * n.factor),
  softcap: (n, c) => map(c.value(n.x), (v) => n.cap * Math.tanh(v / n.cap)),
  gelu: (n, c) => map(c.value(n.x), gelu),
  glu: (n, c) => {
    const act = activation(n.act);
    const up = c.value(n.up);
    return map(c.value(n.gate), (g, i) => act(g) * up[i]!);
  },

  cols: (n, c) => {
    const x = c.value(n.x);
    const y = new Float32Array(n.rows * n.cols);
    for (let t = 0; t < n.rows; t++) y.set(x.subarray(t * n.x.cols + n.start, t * n.x.cols + n.start + n.cols), t * n.cols);
    return y;
  },
  rows: (n, c) => c.value(n.x).slice(n.start * n.cols, (n.start + n.rows) * n.cols),

  rope: (n, c) => {
    const r = n.params;
    const x = c.value(n.x);
    const y = x.slice(); // dims ≥ nRot pass through
    const factors = vector(c, r.freqFactors);
    for (let t = 0; t < n.rows; t++) {
      for (let h = 0; h < r.nHead; h++) rotateHead(x, y, (t * r.nHead + h) * r.headDim, c.pos0 + t, r, factors);
    }
    return y;
  },

  attention,
  moe_ffn: moeFfn,
};
