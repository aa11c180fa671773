/**
 * How far a backend's output of each op may lie from the reference backend's "exact math", in
 * one table shared by the conformance suite (test/backends) and the divergence tool (compare.ts).
 *
 * The measure is llama.cpp's tests/test-backend-ops.cpp: NMSE = Σ(a−b)² / Σa², a = the reference.
 * An op is judged on its own error only: both are given the same inputs (the suite feeds exact
 * f32 activations; the tool re-evaluates each node of the backend on that backend's inputs).
 * Bounds come from the numerics a backend is allowed to have, never from what happened to pass.
 */
import type { GraphNode, NodeOf, OpName } from './graph.js';
import type { KVCacheType } from './backend.js';

export interface OpBound {
  /** Largest accepted NMSE. */
  readonly nmse: number;
  /** Why this much error is legitimate. */
  readonly why: string;
}

export interface ErrorFigures {
  readonly nmse: number;
  readonly maxAbs: number;
}

/** f32 results of (near-)exact math: a few roundings of 2^-24, NMSE ~1e-14; test-backend-ops' default. */
const F32: OpBound = { nmse: 1e-7, why: 'f32 rounding of exact math' };

/**
 * ggml's CPU GELU reads a 65536-entry f16 table: x is rounded to f16 and so is gelu(x). Each
 * rounding has relative error ≤ 2^-11, mean square ≤ 2^-22/3 ≈ 8e-8, so two give NMSE ≈ 2e-7
 * (measured: 3e-8..5e-8 on uniform inputs, up to 2.6e-7 in the tiny gemma/gpt2 models); 1e-6
 * leaves a factor 5 for the input rounding's amplification.
 */
const GELU: OpBound = { nmse: 1e-6, why: "ggml's f16 GELU table: input and output rounded to f16" };

/** What a bound may depend on besides the node: facts about this run. */
export interface BoundContext {
  /** The largest position of the step. */
  readonly maxPosition: number;
  /**
   * The NMSE that quantizing this node's matmul inputs to their weights' vec_dot formats causes
   * by itself (the reference evaluated with and without it, on the same inputs); 0 for f32.
   */
  activationQuantization(): number;
}

/**
 * test-backend-ops allows 5e-4 for mul_mat / mul_mat_id between two backends, on uniform random
 * inputs, where ggml's 8-bit activation formats (Q8_0/Q8_1 per 32 values, Q8_K per 256) cost
 * NMSE ~1e-5. Against exact math the quantization's own error on *these* inputs comes on top:
 * real activations are heavy-tailed (one outlier sets the scale of its block), and with Q8_K
 * blocks a trained model's FFN input loses 6e-4..8e-4 (stories260K-pad256, K-quants) to it.
 */
function quantizedMatmul(why: string): (_: unknown, c: BoundContext) => OpBound {
  return (_, c) => {
    const q = c.activationQuantization();
    return { nmse: 5e-4 + q, why: q > 0 ? `${why}; plus ${q.toExponential(1)}, what quantizing the activations alone costs on this input` : why };
  };
}

type BoundRule<K extends OpName> = OpBound | ((node: NodeOf<K>, c: BoundContext) => OpBound);

/** One bound per op (a new op is a type error until it has one). */
export const OP_BOUNDS: { readonly [K in OpName]: BoundRule<K> } = {
  // Rows of the table decoded by the same codecs: bit-exact unless the decoder is wrong.
  embed: F32,
  position_embed: F32,
  rms_norm: F32,
  layer_norm: F32,
  matmul: quantizedMatmul('f32 dot products (mul_mat bound)'),
  add: F32,
  add_bias: F32,
  scale: F32,
  // f32 tanh (2 ulp in AssemblyScript's Mathf): still f32 noise.
  softcap: F32,
  gelu: GELU,
  glu: (n) => (n.act === 'gelu' ? GELU : F32),
  cols: F32,
  rows: F32,
  rope: (n, c) => {
    // ggml forms θ_i = p·s^i (s = base^(-2/nRot)) by repeated f32 multiplication, then
    // freqScale·θ_i/factor_i: pair i's f32 angle is off by at most 2(i+1)·2^-24 of itself (one
    // rounding of s per power, one per product, two for the scaling). The rotated values move by
    // that angle times their size, so NMSE ≤ the mean over the pairs of (2(i+1)·2^-24·θ_i)²
    // (factors ≥ 1 only shrink it): 1.3e-7 at p = 4000 for 64-dim heads (measured 2e-9..7e-9).
    const { nRot, freqBase, freqScale } = n.params;
    const s = Math.pow(freqBase, -2 / nRot);
    let sum = 0;
    for (let i = 0; i < nRot / 2; i++) sum += (2 * (i + 1) * s ** i) ** 2;
    const angle = (sum / (nRot / 2)) * (c.maxPosition * freqScale * 2 ** -24) ** 2;
    return angle > F32.nmse ? { nmse: angle, why: `f32 angles at position ${c.maxPosition} (ggml's θ recurrence)` } : F32;
  },
  // Exact math needs no more; test-backend-ops allows 5e-4 for attention, which leaves room for
  // an f16 or fused kernel. (An f16 cache's roundings of q and of the weights are part of the
  // semantics: the reference applies them too.)
  attention: { nmse: 5e-4, why: 'dot products and softmax in f32 (test-backend-ops bound for attention)' },
  // Three matmuls per expert, as a matmul (the estimate quantizes both the input and the hidden layer).
  moe_ffn: quantizedMatmul('expert matmuls (mul_mat_id bound)'),
};

export function boundFor(node: GraphNode, c: BoundContext): OpBound {
  const rule = OP_BOUNDS[node.op] as BoundRule<OpName>;
  return typeof rule === 'function' ? rule(node as never, c) : rule;
}

/**
 * A context shift rotates keys by -discard after they were rotated at their old position; a
 * fresh run rotates once at the new position. In f32 that is a few f32 roundings (f32 noise). An
 * f16 cache rounds the shifted keys twice and the fresh ones once: three roundings apart, each
 * of relative error ≤ 2^-11 and mean square ≤ 2^-22/3 ≈ 8e-8, so NMSE ≈ 2.4e-7 at most; 1e-6.
 */
export const KV_SHIFT_BOUNDS: { readonly [T in KVCacheType]: OpBound } = {
  f32: { nmse: 1e-7, why: 'two f32 rotations instead of one' },
  f16: { nmse: 1e-6, why: 'the rotated keys are rounded to f16 a second time' },
};

/** NMSE of `actual` against `expected`, and the largest absolute difference. NaN where the other is a number: Infinity. */
export function measureError(expected: ArrayLike<number>, actual: ArrayLike<number>): ErrorFigures {
  if (expected.length !== actual.length) return { nmse: Infinity, maxAbs: Infinity };
  let num = 0;
  let den = 0;
  let maxAbs = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = expected[i]!;
    const b = actual[i]!;
    if (Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b))) {
      if (Number.isFinite(a)) den += a * a;
      continue;
    }
    const d = a - b;
    if (!Number.isFinite(d)) return { nmse: Infinity, maxAbs: Infinity };
    num += d * d;
    den += a * a;
    maxAbs = Math.max(maxAbs, Math.abs(d));
  }
  return { nmse: num === 0 ? 0 : den === 0 ? Infinity : num / den, maxAbs };
}

/** Whether figures are within a bound (NaN figures are not). */
export function withinBound(e: ErrorFigures, bound: OpBound): boolean {
  return e.nmse <= bound.nmse;
}
