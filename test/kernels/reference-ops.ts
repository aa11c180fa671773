/**
 * Plain TypeScript references of the non-quantized ops, written from llama.cpp's CPU semantics
 * (ggml at c392e50; see ../shared/reference/README.md section 4): f32 steps rounded with
 * Math.fround, f64 where ggml accumulates in double. Transcendentals are the f64 Math functions
 * rounded to f32, i.e. (almost always) correctly rounded f32 results.
 */
import { f16BitsToF32, f32ToF16Bits, roundToF16 } from '../../src/quant/half.js';

const fr = Math.fround;

export const expf = (x: number): number => fr(Math.exp(x));
export const tanhf = (x: number): number => fr(Math.tanh(x));
export const cosf = (x: number): number => fr(Math.cos(x));
export const sinf = (x: number): number => fr(Math.sin(x));
export const powf = (x: number, y: number): number => fr(Math.pow(x, y));

/** RMSNorm of each row of length n, then * w when given (two separately rounded ops, as ggml). */
export function rmsNorm(x: Float32Array, n: number, eps: number, w?: Float32Array): Float32Array {
  const y = new Float32Array(x.length);
  for (let r = 0; r * n < x.length; r++) {
    let sum = 0; // f64
    for (let i = 0; i < n; i++) sum += fr(x[r * n + i]! * x[r * n + i]!);
    const mean = fr(sum / n);
    const scale = fr(1 / fr(Math.sqrt(fr(mean + fr(eps)))));
    for (let i = 0; i < n; i++) {
      const v = fr(x[r * n + i]! * scale);
      y[r * n + i] = w ? fr(v * w[i]!) : v;
    }
  }
  return y;
}

/** LayerNorm of each row: (x - mean) * 1/sqrt(var + eps), then * w, then + b (biased variance). */
export function layerNorm(x: Float32Array, n: number, eps: number, w?: Float32Array, b?: Float32Array): Float32Array {
  const y = new Float32Array(x.length);
  for (let r = 0; r * n < x.length; r++) {
    let sum = 0;
    for (let i = 0; i < n; i++) sum += x[r * n + i]!;
    const mean = fr(sum / n);
    let sum2 = 0;
    for (let i = 0; i < n; i++) {
      const v = fr(x[r * n + i]! - mean);
      sum2 += fr(v * v);
    }
    const variance = fr(sum2 / n);
    const scale = fr(1 / fr(Math.sqrt(fr(variance + fr(eps)))));
    for (let i = 0; i < n; i++) {
      let v = fr(fr(x[r * n + i]! - mean) * scale);
      if (w) v = fr(v * w[i]!);
      if (b) v = fr(v + b[i]!);
      y[r * n + i] = v;
    }
  }
  return y;
}

export interface RopeParams {
  neox: boolean;
  nHeads: number;
  headDim: number;
  nRot: number;
  freqBase: number;
  freqScale: number;
  freqFactors?: Float32Array;
}

/** The (cos, sin) ggml uses for pair i of a token at position pos. */
export function ropeAngles(pos: number, p: RopeParams): { cos: Float32Array; sin: Float32Array } {
  const half = p.nRot / 2;
  const thetaScale = powf(p.freqBase, fr(-2 / p.nRot));
  const cos = new Float32Array(half);
  const sin = new Float32Array(half);
  let theta = fr(pos);
  for (let i = 0; i < half; i++) {
    const ff = p.freqFactors ? p.freqFactors[i]! : 1;
    const angle = fr(fr(p.freqScale) * fr(theta / ff));
    cos[i] = cosf(angle);
    sin[i] = sinf(angle);
    theta = fr(theta * thetaScale);
  }
  return { cos, sin };
}

/** RoPE over contiguous [token][head][headDim] rows. */
export function rope(x: Float32Array, positions: ArrayLike<number>, p: RopeParams): Float32Array {
  const y = Float32Array.from(x);
  const half = p.nRot / 2;
  for (let t = 0; t < positions.length; t++) {
    const { cos, sin } = ropeAngles(positions[t]!, p);
    for (let h = 0; h < p.nHeads; h++) {
      const base = (t * p.nHeads + h) * p.headDim;
      for (let i = 0; i < half; i++) {
        const i0 = base + (p.neox ? i : 2 * i);
        const i1 = p.neox ? i0 + half : i0 + 1;
        const x0 = x[i0]!;
        const x1 = x[i1]!;
        y[i0] = fr(fr(x0 * cos[i]!) - fr(x1 * sin[i]!));
        y[i1] = fr(fr(x0 * sin[i]!) + fr(x1 * cos[i]!));
      }
    }
  }
  return y;
}

/** Row softmax of x*scale (+ mask row r*maskStride), ggml's soft_max_ext without ALiBi. */
export function softmax(x: Float32Array, n: number, scale: number, mask?: Float32Array, maskStride = 0): Float32Array {
  const y = new Float32Array(x.length);
  for (let r = 0; r * n < x.length; r++) {
    const v = new Float32Array(n);
    let max = -Infinity;
    for (let i = 0; i < n; i++) {
      v[i] = fr(x[r * n + i]! * fr(scale));
      if (mask) v[i] = fr(v[i]! + mask[r * maskStride + i]!);
      if (v[i]! > max) max = v[i]!;
    }
    let sum = 0; // f64
    for (let i = 0; i < n; i++) {
      v[i] = expf(fr(v[i]! - max));
      sum += v[i]!;
    }
    const inv = fr(1 / sum);
    for (let i = 0; i < n; i++) y[r * n + i] = fr(v[i]! * inv);
  }
  return y;
}

export interface AttentionParams {
  nTokens: number;
  pos0: number;
  nHead: number;
  nKvHead: number;
  headDim: number;
  /** Positions per KV head in the cache layout [kvHead][kvStride][headDim]. */
  kvStride: number;
  scale: number;
  nSwa: number;
  softcap: number;
  /** Mirror ggml's f16 cache path: q rounded to f16 for the K dot, weights rounded to f16 for V. */
  f16: boolean;
}

/** Keys [j0, p] visible from position p. */
export function visibleKeys(p: number, nSwa: number): { j0: number; p: number } {
  return { j0: nSwa > 0 ? Math.max(0, p - nSwa + 1) : 0, p };
}

/**
 * Exact (f64) causal GQA attention; the f16 roundings ggml's f16 path applies to q and to the
 * softmax weights are applied here too (to the exact weights). k and v hold the cache values as
 * numbers (already f16 values for an f16 cache). Returns [token][head][headDim].
 */
export function attention(q: Float32Array, k: ArrayLike<number>, v: ArrayLike<number>, a: AttentionParams): Float64Array {
  const out = new Float64Array(a.nTokens * a.nHead * a.headDim);
  const group = a.nHead / a.nKvHead;
  for (let t = 0; t < a.nTokens; t++) {
    const { j0, p } = visibleKeys(a.pos0 + t, a.nSwa);
    for (let h = 0; h < a.nHead; h++) {
      const kvh = Math.floor(h / group);
      const qrow = Array.from(q.subarray((t * a.nHead + h) * a.headDim, (t * a.nHead + h + 1) * a.headDim), (x) =>
        a.f16 ? roundToF16(x) : x,
      );
      const s: number[] = [];
      for (let j = j0; j <= p; j++) {
        let d = 0;
        for (let i = 0; i < a.headDim; i++) d += qrow[i]! * k[(kvh * a.kvStride + j) * a.headDim + i]!;
        if (a.softcap > 0) d = a.softcap * Math.tanh(d / a.softcap);
        s.push(d * a.scale);
      }
      const m = Math.max(...s);
      const e = s.map((x) => Math.exp(x - m));
      const sum = e.reduce((acc, x) => acc + x, 0);
      for (let jj = 0; jj < e.length; jj++) {
        const w = a.f16 ? f16BitsToF32(f32ToF16Bits(e[jj]! / sum)) : e[jj]! / sum;
        for (let i = 0; i < a.headDim; i++) {
          out[(t * a.nHead + h) * a.headDim + i] += w * v[(kvh * a.kvStride + j0 + jj) * a.headDim + i]!;
        }
      }
    }
  }
  return out;
}

export function silu(x: number): number {
  return fr(x / fr(1 + expf(-x)));
}

const SQRT_2_OVER_PI = fr(0.7978845608028654);
const GELU_COEF_A = fr(0.044715);

/** ggml_gelu_f32: 0.5*x*(1 + tanh(sqrt(2/pi)*x*(1 + 0.044715*x*x))), f32 products left to right. */
export function gelu(x: number): number {
  const inner = fr(fr(SQRT_2_OVER_PI * x) * fr(1 + fr(fr(GELU_COEF_A * x) * x)));
  return fr(fr(0.5 * x) * fr(1 + tanhf(inner)));
}

/** ggml's CPU GELU: through its f16 table, with the +-10 cut-offs. */
export function geluGgml(x: number): number {
  if (x <= -10) return 0;
  if (x >= 10) return x;
  return roundToF16(gelu(roundToF16(x)));
}

export function softcap(x: number, cap: number): number {
  return fr(tanhf(fr(x * fr(1 / cap))) * cap);
}

/** ggml_vec_argmax_f32: first index of the maximum under strict >, from -Infinity; 0 if none. */
export function argmax(x: ArrayLike<number>): number {
  let best = -Infinity;
  let idx = 0;
  for (let i = 0; i < x.length; i++) {
    if (x[i]! > best) {
      best = x[i]!;
      idx = i;
    }
  }
  return idx;
}
