// Float weights: F32 (f32 activations), F16 (f16 activations) and BF16 (bf16 activations), as
// ggml's vec_dot pairs them. Products are summed in two f32x4 accumulators over chunks of 8
// elements, reduced as ((l0+l1)+(l2+l3)) of their sum, then the tail (k % 8) is added in order.
// Any k is accepted. Tokens go in tiles of 4 so each weight chunk is loaded and converted once
// per tile; the per-element float order does not depend on the tiling.
import { half_to_f32, halfx4_to_f32x4 } from '../shared/half';

@inline function reduce(a: v128, b: v128): f32 {
  const s = f32x4.add(a, b);
  return (f32x4.extract_lane(s, 0) + f32x4.extract_lane(s, 1)) + (f32x4.extract_lane(s, 2) + f32x4.extract_lane(s, 3));
}

/** Element `i` of a row of type `kind` (0 f32, 1 f16, 2 bf16) at p, as f32. */
@inline function elem(kind: i32, p: usize, i: i32): f32 {
  if (kind == 0) return load<f32>(p + (<usize>i << 2));
  if (kind == 1) return half_to_f32(load<i16>(p + (<usize>i << 1)));
  return reinterpret<f32>(<u32>load<u16>(p + (<usize>i << 1)) << 16);
}

/** Elements 8c..8c+3 (half 0) or 8c+4..8c+7 (half 1) of a row of type `kind`, as f32x4. */
@inline function chunk(kind: i32, p: usize, c: i32, half: i32): v128 {
  if (kind == 0) return v128.load(p + (<usize>c << 5) + (<usize>half << 4));
  const v = v128.load(p + (<usize>c << 4));
  if (kind == 1) return halfx4_to_f32x4(half == 0 ? i32x4.extend_low_i16x8_s(v) : i32x4.extend_high_i16x8_s(v));
  return i32x4.shl(half == 0 ? i32x4.extend_low_i16x8_u(v) : i32x4.extend_high_i16x8_u(v), 16);
}

@inline function float_tile(kind: i32, wr: usize, xt: usize, xs: usize, k: i32, yt: usize, ys: usize, nt: i32): void {
  const z = f32x4.splat(0);
  let a0 = z, b0 = z, a1 = z, b1 = z, a2 = z, b2 = z, a3 = z, b3 = z;
  const nc = k >> 3;
  for (let c = 0; c < nc; c++) {
    const w0 = chunk(kind, wr, c, 0), w1 = chunk(kind, wr, c, 1);
    a0 = f32x4.add(a0, f32x4.mul(w0, chunk(kind, xt, c, 0)));
    b0 = f32x4.add(b0, f32x4.mul(w1, chunk(kind, xt, c, 1)));
    if (nt > 1) {
      a1 = f32x4.add(a1, f32x4.mul(w0, chunk(kind, xt + xs, c, 0)));
      b1 = f32x4.add(b1, f32x4.mul(w1, chunk(kind, xt + xs, c, 1)));
      a2 = f32x4.add(a2, f32x4.mul(w0, chunk(kind, xt + 2 * xs, c, 0)));
      b2 = f32x4.add(b2, f32x4.mul(w1, chunk(kind, xt + 2 * xs, c, 1)));
      a3 = f32x4.add(a3, f32x4.mul(w0, chunk(kind, xt + 3 * xs, c, 0)));
      b3 = f32x4.add(b3, f32x4.mul(w1, chunk(kind, xt + 3 * xs, c, 1)));
    }
  }
  let s0 = reduce(a0, b0), s1 = reduce(a1, b1), s2 = reduce(a2, b2), s3 = reduce(a3, b3);
  for (let i = nc << 3; i < k; i++) {
    const wv = elem(kind, wr, i);
    s0 += wv * elem(kind, xt, i);
    if (nt > 1) {
      s1 += wv * elem(kind, xt + xs, i);
      s2 += wv * elem(kind, xt + 2 * xs, i);
      s3 += wv * elem(kind, xt + 3 * xs, i);
    }
  }
  store<f32>(yt, s0);
  if (nt > 1) {
    store<f32>(yt + ys, s1);
    store<f32>(yt + 2 * ys, s2);
    store<f32>(yt + 3 * ys, s3);
  }
}

@inline function float_matmul(kind: i32, w: usize, x: usize, y: usize, k: i32, m: i32, row0: i32, row1: i32, n_tokens: i32): void {
  const rb = <usize>k << (kind == 0 ? 2 : 1), ys = <usize>m << 2;
  for (let r = row0; r < row1; r++) {
    const wr = w + <usize>r * rb, yr = y + (<usize>r << 2);
    let t = 0;
    for (; t + 4 <= n_tokens; t += 4) float_tile(kind, wr, x + <usize>t * rb, rb, k, yr + <usize>t * ys, ys, 4);
    for (; t < n_tokens; t++) float_tile(kind, wr, x + <usize>t * rb, rb, k, yr + <usize>t * ys, ys, 1);
  }
}

/**
 * y[t][r] = Σ_i W[r][i]·x[t][i] for r in [row0,row1), t < n_tokens. W: m rows of k f32;
 * x: n_tokens rows of k f32; y: f32 [n_tokens][m].
 */
export function matmul_f32(w: usize, x: usize, y: usize, k: i32, m: i32, row0: i32, row1: i32, n_tokens: i32): void {
  float_matmul(0, w, x, y, k, m, row0, row1, n_tokens);
}

/** As matmul_f32 with f16 weights and f16 activations (both widened exactly to f32). */
export function matmul_f16(w: usize, x: usize, y: usize, k: i32, m: i32, row0: i32, row1: i32, n_tokens: i32): void {
  float_matmul(1, w, x, y, k, m, row0, row1, n_tokens);
}

/** As matmul_f32 with bf16 weights and bf16 activations. */
export function matmul_bf16(w: usize, x: usize, y: usize, k: i32, m: i32, row0: i32, row1: i32, n_tokens: i32): void {
  float_matmul(2, w, x, y, k, m, row0, row1, n_tokens);
}

/** out[i][:] = W[ids[i]][:] for i < n_ids (ids: i32, each in [0, rows)); W rows of k f32. */
export function dequantize_rows_f32(w: usize, ids: usize, n_ids: i32, k: i32, out: usize): void {
  const rb = <usize>k << 2;
  for (let i = 0; i < n_ids; i++) {
    memory.copy(out + <usize>i * rb, w + <usize>load<i32>(ids + (<usize>i << 2)) * rb, rb);
  }
}

@inline function dequantize_half_rows(kind: i32, w: usize, ids: usize, n_ids: i32, k: i32, out: usize): void {
  const rb = <usize>k << 1, nc = k >> 3;
  for (let i = 0; i < n_ids; i++) {
    const src = w + <usize>load<i32>(ids + (<usize>i << 2)) * rb, dst = out + <usize>i * (rb << 1);
    for (let c = 0; c < nc; c++) {
      v128.store(dst + (<usize>c << 5), chunk(kind, src, c, 0));
      v128.store(dst + (<usize>c << 5), chunk(kind, src, c, 1), 16);
    }
    for (let j = nc << 3; j < k; j++) store<f32>(dst + (<usize>j << 2), elem(kind, src, j));
  }
}

/** out[i][:] = W[ids[i]][:] widened to f32 (exact); W rows of k f16. */
export function dequantize_rows_f16(w: usize, ids: usize, n_ids: i32, k: i32, out: usize): void {
  dequantize_half_rows(1, w, ids, n_ids, k, out);
}

/** out[i][:] = W[ids[i]][:] widened to f32 (exact); W rows of k bf16. */
export function dequantize_rows_bf16(w: usize, ids: usize, n_ids: i32, k: i32, out: usize): void {
  dequantize_half_rows(2, w, ids, n_ids, k, out);
}
