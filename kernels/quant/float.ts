// Float weights: F32 (f32 activations), F16 (f16 activations) and BF16 (bf16 activations), as
// ggml's vec_dot pairs them. Products are summed in two f32x4 accumulators over chunks of 8
// elements, reduced as ((l0+l1)+(l2+l3)) of their sum, then the tail (k % 8) is added in order.
// Any k is accepted. Decode takes four rows at a time, each activation chunk loaded and
// converted once for them; prefill takes tiles of 4 tokens and, for F16/BF16, two rows, so each
// weight chunk is converted once per 4 tokens and each activation chunk once per 2 rows. The
// per-element float order does not depend on any of it.
import { half_to_f32, halfx4_s_to_f32x4 } from '../shared/half';

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
  if (kind == 1) return halfx4_s_to_f32x4(half == 0 ? i32x4.extend_low_i16x8_s(v) : i32x4.extend_high_i16x8_s(v));
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

/** The fixed-order dot of one row: reduce(a, b) of its lane accumulators, then the scalar tail. */
@inline function row_finish(kind: i32, a: v128, b: v128, wr: usize, xt: usize, k: i32, nc: i32): f32 {
  let s = reduce(a, b);
  for (let i = nc << 3; i < k; i++) s += elem(kind, wr, i) * elem(kind, xt, i);
  return s;
}

/**
 * Decode: rows w0..w3 (nr valid; the others repeat a valid row and are not stored) times the
 * token at xt. Each activation chunk is loaded and converted once for the four rows, whose
 * accumulators are float_tile's.
 */
@inline function float_rows4(kind: i32, w0: usize, w1: usize, w2: usize, w3: usize, nr: i32, xt: usize, k: i32, yt: usize): void {
  const z = f32x4.splat(0);
  let a0 = z, b0 = z, a1 = z, b1 = z, a2 = z, b2 = z, a3 = z, b3 = z;
  const nc = k >> 3;
  for (let c = 0; c < nc; c++) {
    const x0 = chunk(kind, xt, c, 0), x1 = chunk(kind, xt, c, 1);
    a0 = f32x4.add(a0, f32x4.mul(chunk(kind, w0, c, 0), x0));
    b0 = f32x4.add(b0, f32x4.mul(chunk(kind, w0, c, 1), x1));
    a1 = f32x4.add(a1, f32x4.mul(chunk(kind, w1, c, 0), x0));
    b1 = f32x4.add(b1, f32x4.mul(chunk(kind, w1, c, 1), x1));
    a2 = f32x4.add(a2, f32x4.mul(chunk(kind, w2, c, 0), x0));
    b2 = f32x4.add(b2, f32x4.mul(chunk(kind, w2, c, 1), x1));
    a3 = f32x4.add(a3, f32x4.mul(chunk(kind, w3, c, 0), x0));
    b3 = f32x4.add(b3, f32x4.mul(chunk(kind, w3, c, 1), x1));
  }
  store<f32>(yt, row_finish(kind, a0, b0, w0, xt, k, nc));
  if (nr > 1) store<f32>(yt, row_finish(kind, a1, b1, w1, xt, k, nc), 4);
  if (nr > 2) store<f32>(yt, row_finish(kind, a2, b2, w2, xt, k, nc), 8);
  if (nr > 3) store<f32>(yt, row_finish(kind, a3, b3, w3, xt, k, nc), 12);
}

/**
 * Prefill: two rows (w1 may repeat w0, then only row 0 is stored) times four tokens: each chunk
 * of the rows is converted once for the four tokens and each chunk of the tokens once for the
 * two rows; every (row, token) keeps float_tile's two accumulators and order.
 */
@inline function float_tile2(kind: i32, w0: usize, w1: usize, two: bool, xt: usize, xs: usize, k: i32, yt: usize, ys: usize): void {
  const z = f32x4.splat(0);
  let a00 = z, b00 = z, a01 = z, b01 = z, a02 = z, b02 = z, a03 = z, b03 = z, a10 = z, b10 = z, a11 = z, b11 = z, a12 = z, b12 = z, a13 = z, b13 = z;
  const x1 = xt + xs, x2 = xt + 2 * xs, x3 = xt + 3 * xs;
  const nc = k >> 3;
  for (let c = 0; c < nc; c++) {
    const p0 = chunk(kind, w0, c, 0), p1 = chunk(kind, w0, c, 1), q0 = chunk(kind, w1, c, 0), q1 = chunk(kind, w1, c, 1);
    const u0 = chunk(kind, xt, c, 0), v0 = chunk(kind, xt, c, 1);
    a00 = f32x4.add(a00, f32x4.mul(p0, u0));
    b00 = f32x4.add(b00, f32x4.mul(p1, v0));
    a10 = f32x4.add(a10, f32x4.mul(q0, u0));
    b10 = f32x4.add(b10, f32x4.mul(q1, v0));
    const u1 = chunk(kind, x1, c, 0), v1 = chunk(kind, x1, c, 1);
    a01 = f32x4.add(a01, f32x4.mul(p0, u1));
    b01 = f32x4.add(b01, f32x4.mul(p1, v1));
    a11 = f32x4.add(a11, f32x4.mul(q0, u1));
    b11 = f32x4.add(b11, f32x4.mul(q1, v1));
    const u2 = chunk(kind, x2, c, 0), v2 = chunk(kind, x2, c, 1);
    a02 = f32x4.add(a02, f32x4.mul(p0, u2));
    b02 = f32x4.add(b02, f32x4.mul(p1, v2));
    a12 = f32x4.add(a12, f32x4.mul(q0, u2));
    b12 = f32x4.add(b12, f32x4.mul(q1, v2));
    const u3 = chunk(kind, x3, c, 0), v3 = chunk(kind, x3, c, 1);
    a03 = f32x4.add(a03, f32x4.mul(p0, u3));
    b03 = f32x4.add(b03, f32x4.mul(p1, v3));
    a13 = f32x4.add(a13, f32x4.mul(q0, u3));
    b13 = f32x4.add(b13, f32x4.mul(q1, v3));
  }
  store<f32>(yt, row_finish(kind, a00, b00, w0, xt, k, nc));
  if (two) store<f32>(yt, row_finish(kind, a10, b10, w1, xt, k, nc), 4);
  store<f32>(yt + 1 * ys, row_finish(kind, a01, b01, w0, x1, k, nc));
  if (two) store<f32>(yt + 1 * ys, row_finish(kind, a11, b11, w1, x1, k, nc), 4);
  store<f32>(yt + 2 * ys, row_finish(kind, a02, b02, w0, x2, k, nc));
  if (two) store<f32>(yt + 2 * ys, row_finish(kind, a12, b12, w1, x2, k, nc), 4);
  store<f32>(yt + 3 * ys, row_finish(kind, a03, b03, w0, x3, k, nc));
  if (two) store<f32>(yt + 3 * ys, row_finish(kind, a13, b13, w1, x3, k, nc), 4);
}

@inline function float_matmul(kind: i32, w: usize, x: usize, y: usize, k: i32, m: i32, row0: i32, row1: i32, n_tokens: i32): void {
  const rb = <usize>k << (kind == 0 ? 2 : 1), ys = <usize>m << 2;
  if (n_tokens == 1) {
    for (let r = row0; r < row1; r += 4) {
      const nr = min(4, row1 - r);
      const w0 = w + <usize>r * rb;
      const w1 = nr > 1 ? w0 + rb : w0, w2 = nr > 2 ? w0 + 2 * rb : w0, w3 = nr > 3 ? w0 + 3 * rb : w0;
      float_rows4(kind, w0, w1, w2, w3, nr, x, k, y + (<usize>r << 2));
    }
    return;
  }
  if (kind == 0) {
    // F32: nothing to convert, and the two-row tile measured no faster.
    for (let r = row0; r < row1; r++) {
      const wr = w + <usize>r * rb, yr = y + (<usize>r << 2);
      let t = 0;
      for (; t + 4 <= n_tokens; t += 4) float_tile(kind, wr, x + <usize>t * rb, rb, k, yr + <usize>t * ys, ys, 4);
      for (; t < n_tokens; t++) float_tile(kind, wr, x + <usize>t * rb, rb, k, yr + <usize>t * ys, ys, 1);
    }
    return;
  }
  for (let r = row0; r < row1; r += 2) {
    const two = r + 1 < row1;
    const wr = w + <usize>r * rb, yr = y + (<usize>r << 2);
    let t = 0;
    for (; t + 4 <= n_tokens; t += 4) float_tile2(kind, wr, two ? wr + rb : wr, two, x + <usize>t * rb, rb, k, yr + <usize>t * ys, ys);
    for (; t < n_tokens; t++) {
      float_tile(kind, wr, x + <usize>t * rb, rb, k, yr + <usize>t * ys, ys, 1);
      if (two) float_tile(kind, wr + rb, x + <usize>t * rb, rb, k, yr + <usize>t * ys + 4, ys, 1);
    }
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
