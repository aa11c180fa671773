// Float weights: F32 (f32 activations), F16 and BF16 (activations rounded to f16 / bf16, as ggml's
// vec_dot pairs them, and handed over widened to f32 by quantize_f16w / quantize_bf16w). Each
// (row, token) sums its products in eight chains, chain j taking elements 8c+j (c = 0, 1, ...),
// held in two f32x4 accumulators and reduced as ((c0+c4)+(c1+c5))+((c2+c6)+(c3+c7)); then the tail
// (k % 8) is added in order. Any k is accepted. F32 keeps elements 8c..8c+3 in one accumulator
// and 8c+4..8c+7 in the other. F16/BF16 rows are widened eight at a time without unpacking: each
// i32 lane of a loaded vector holds an even element in its low half and the next one in its high
// half, so one accumulator takes the even elements, the other the odd ones, and the activations
// are stored in that order; the chains and their sums are the same. An F16 weight is widened by
// shifting its bits into f32 place (its value times 2^-112, exact, subnormals included) and, in
// prefill, one exact multiplication by 2^112. Decode skips the multiplication: a single row of
// activations carries the 2^112 instead (quantize_f16w), so each product is the same real number
// and rounds to the same f32 (×1.15 from cache). Prefill cannot: it would multiply every token by
// a denormal wherever a weight is subnormal, and x86 takes a microcode assist for each. Inf/NaN
// weights (exponent 31) survive neither, so a row holding one is computed again exactly.
// Decode takes four rows at a time, each activation chunk loaded once for them; prefill takes
// one row and 4 tokens at a time, so each weight chunk is converted once per 4 tokens, over
// blocks of 16 rows that stay in cache while every token tile passes (a tile of two rows
// measured no faster). The per-element float order does not depend on any of it.
import { F16_REBIAS, half_to_f32, halfx4_s_to_f32x4 } from '../shared/half';
import { F16_EXPONENT_X8, F16_HIGH_BITS, F16_REBIAS_X4, HIGH_HALF, pooled } from '../shared/lanes';

/** 2^-112: a single row of F16 activations (quantize_f16w) back to its f16 values. */
const F16_UNSCALE: f32 = reinterpret<f32>(0x07800000);

/** The eight chains' sum (see above): F32 lanes hold chains 0-3 and 4-7, F16/BF16 0, 2, 4, 6 and 1, 3, 5, 7. */
@inline function reduce(kind: i32, a: v128, b: v128): f32 {
  if (kind == 0) {
    const s = f32x4.add(a, b);
    return (f32x4.extract_lane(s, 0) + f32x4.extract_lane(s, 1)) + (f32x4.extract_lane(s, 2) + f32x4.extract_lane(s, 3));
  }
  return ((f32x4.extract_lane(a, 0) + f32x4.extract_lane(a, 2)) + (f32x4.extract_lane(b, 0) + f32x4.extract_lane(b, 2))) +
    ((f32x4.extract_lane(a, 1) + f32x4.extract_lane(a, 3)) + (f32x4.extract_lane(b, 1) + f32x4.extract_lane(b, 3)));
}

/**
 * Weight `i` of a row of type `kind` (0 f32, 1 f16, 2 bf16) at p, widened (F16: inf/NaN not kept;
 * `scaled`, against activations that carry 2^112: the value times 2^-112).
 */
@inline function welem(kind: i32, scaled: bool, p: usize, i: i32): f32 {
  if (kind == 0) return load<f32>(p + (<usize>i << 2));
  if (kind == 1) {
    const raw = reinterpret<f32>((<i32>load<i16>(p + (<usize>i << 1)) << 13) & 0x8fffe000);
    return scaled ? raw : raw * F16_REBIAS;
  }
  return reinterpret<f32>(<u32>load<u16>(p + (<usize>i << 1)) << 16);
}

/**
 * Weights 8c..8c+7 of a row at p as f32x4: F32 elements 8c..8c+3 (half 0) or 8c+4..8c+7 (half
 * 1); F16 (as welem) and BF16 the even (half 0) or odd elements.
 */
@inline function wchunk(kind: i32, scaled: bool, p: usize, c: i32, half: i32): v128 {
  if (kind == 0) return v128.load(p + (<usize>c << 5) + (<usize>half << 4));
  const v = v128.load(p + (<usize>c << 4));
  if (kind == 1) {
    const raw = v128.and(i32x4.shr_s(half == 0 ? i32x4.shl(v, 16) : v, 3), pooled(F16_HIGH_BITS));
    return scaled ? raw : f32x4.mul(raw, pooled(F16_REBIAS_X4));
  }
  return half == 0 ? i32x4.shl(v, 16) : v128.and(v, pooled(HIGH_HALF));
}

/** Activations 8c..8c+7 of a row at p, in its weights' lane order (half 0, half 1). */
@inline function xchunk(p: usize, c: i32, half: i32): v128 {
  return v128.load(p + (<usize>c << 5) + (<usize>half << 4));
}

/** F16: m with the exponent fields of weights 8c..8c+7 of the row at p folded in (lane-wise max). */
@inline function exps(kind: i32, m: v128, p: usize, c: i32): v128 {
  return kind == 1 ? i16x8.max_u(m, v128.and(v128.load(p + (<usize>c << 4)), pooled(F16_EXPONENT_X8))) : m;
}

/** Whether exponents folded by exps, or the F16 tail weights 8nc..k-1 of rows w0/w1, include inf/NaN. */
@inline function special(kind: i32, m: v128, w0: usize, w1: usize, k: i32, nc: i32): bool {
  if (kind != 1) return false;
  if (v128.any_true(i16x8.eq(m, pooled(F16_EXPONENT_X8)))) return true;
  for (let i = nc << 3; i < k; i++) {
    if (((load<u16>(w0 + (<usize>i << 1)) | load<u16>(w1 + (<usize>i << 1))) & 0x7c00) == 0x7c00) return true;
  }
  return false;
}

/**
 * One F16 row against one token with every weight widened exactly (inf/NaN kept) and every
 * activation taken to its f16 value (times `unscale`: 2^-112 for a row that carries 2^112, else
 * 1), in the same chains as the fast path, whose result it equals wherever the row is finite.
 */
function f16_row_exact(wr: usize, xt: usize, k: i32, unscale: f32): f32 {
  const u = f32x4.splat(unscale);
  let a = f32x4.splat(0), b = a;
  const nc = k >> 3;
  for (let c = 0; c < nc; c++) {
    const v = v128.load(wr + (<usize>c << 4));
    a = f32x4.add(a, f32x4.mul(halfx4_s_to_f32x4(i32x4.shr_s(i32x4.shl(v, 16), 16)), f32x4.mul(xchunk(xt, c, 0), u)));
    b = f32x4.add(b, f32x4.mul(halfx4_s_to_f32x4(i32x4.shr_s(v, 16)), f32x4.mul(xchunk(xt, c, 1), u)));
  }
  let s = reduce(1, a, b);
  for (let i = nc << 3; i < k; i++) s += half_to_f32(load<i16>(wr + (<usize>i << 1))) * (load<f32>(xt + (<usize>i << 2)) * unscale);
  return s;
}

/** The fixed-order dot of one row: its accumulators reduced, then the scalar tail (exact: f16_row_exact instead). */
@inline function row_finish(kind: i32, scaled: bool, exact: bool, a: v128, b: v128, wr: usize, xt: usize, k: i32, nc: i32): f32 {
  if (exact) return f16_row_exact(wr, xt, k, scaled ? F16_UNSCALE : 1);
  let s = reduce(kind, a, b);
  for (let i = nc << 3; i < k; i++) s += welem(kind, scaled, wr, i) * load<f32>(xt + (<usize>i << 2));
  return s;
}

/**
 * One row times nt tokens (4, or 1: then only token 0), xs bytes apart, starting at xt: the row's
 * chunks converted once for the tokens.
 */
@inline function float_tile(kind: i32, wr: usize, xt: usize, xs: usize, k: i32, yt: usize, ys: usize, nt: i32): void {
  const z = f32x4.splat(0);
  let a0 = z, b0 = z, a1 = z, b1 = z, a2 = z, b2 = z, a3 = z, b3 = z, m = z;
  const nc = k >> 3;
  for (let c = 0; c < nc; c++) {
    const w0 = wchunk(kind, false, wr, c, 0), w1 = wchunk(kind, false, wr, c, 1);
    m = exps(kind, m, wr, c);
    a0 = f32x4.add(a0, f32x4.mul(w0, xchunk(xt, c, 0)));
    b0 = f32x4.add(b0, f32x4.mul(w1, xchunk(xt, c, 1)));
    if (nt > 1) {
      a1 = f32x4.add(a1, f32x4.mul(w0, xchunk(xt + xs, c, 0)));
      b1 = f32x4.add(b1, f32x4.mul(w1, xchunk(xt + xs, c, 1)));
      a2 = f32x4.add(a2, f32x4.mul(w0, xchunk(xt + 2 * xs, c, 0)));
      b2 = f32x4.add(b2, f32x4.mul(w1, xchunk(xt + 2 * xs, c, 1)));
      a3 = f32x4.add(a3, f32x4.mul(w0, xchunk(xt + 3 * xs, c, 0)));
      b3 = f32x4.add(b3, f32x4.mul(w1, xchunk(xt + 3 * xs, c, 1)));
    }
  }
  const exact = special(kind, m, wr, wr, k, nc);
  store<f32>(yt, row_finish(kind, false, exact, a0, b0, wr, xt, k, nc));
  if (nt > 1) {
    store<f32>(yt + ys, row_finish(kind, false, exact, a1, b1, wr, xt + xs, k, nc));
    store<f32>(yt + 2 * ys, row_finish(kind, false, exact, a2, b2, wr, xt + 2 * xs, k, nc));
    store<f32>(yt + 3 * ys, row_finish(kind, false, exact, a3, b3, wr, xt + 3 * xs, k, nc));
  }
}

/**
 * Decode: rows w0..w3 (nr valid; the others repeat a valid row and are not stored) times the
 * token at xt. Each activation chunk is loaded once for the four rows, whose accumulators are
 * float_tile's.
 */
@inline function float_rows4(kind: i32, w0: usize, w1: usize, w2: usize, w3: usize, nr: i32, xt: usize, k: i32, yt: usize): void {
  const z = f32x4.splat(0);
  let a0 = z, b0 = z, a1 = z, b1 = z, a2 = z, b2 = z, a3 = z, b3 = z, m = z;
  const nc = k >> 3, sc = kind == 1; // a single F16 row carries 2^112 (quantize_f16w)
  for (let c = 0; c < nc; c++) {
    const x0 = xchunk(xt, c, 0), x1 = xchunk(xt, c, 1);
    a0 = f32x4.add(a0, f32x4.mul(wchunk(kind, sc, w0, c, 0), x0));
    b0 = f32x4.add(b0, f32x4.mul(wchunk(kind, sc, w0, c, 1), x1));
    a1 = f32x4.add(a1, f32x4.mul(wchunk(kind, sc, w1, c, 0), x0));
    b1 = f32x4.add(b1, f32x4.mul(wchunk(kind, sc, w1, c, 1), x1));
    a2 = f32x4.add(a2, f32x4.mul(wchunk(kind, sc, w2, c, 0), x0));
    b2 = f32x4.add(b2, f32x4.mul(wchunk(kind, sc, w2, c, 1), x1));
    a3 = f32x4.add(a3, f32x4.mul(wchunk(kind, sc, w3, c, 0), x0));
    b3 = f32x4.add(b3, f32x4.mul(wchunk(kind, sc, w3, c, 1), x1));
    m = exps(kind, exps(kind, m, w0, c), w1, c);
    m = exps(kind, exps(kind, m, w2, c), w3, c);
  }
  const exact = special(kind, m, w0, w1, k, nc) || special(kind, z, w2, w3, k, nc);
  store<f32>(yt, row_finish(kind, sc, exact, a0, b0, w0, xt, k, nc));
  if (nr > 1) store<f32>(yt, row_finish(kind, sc, exact, a1, b1, w1, xt, k, nc), 4);
  if (nr > 2) store<f32>(yt, row_finish(kind, sc, exact, a2, b2, w2, xt, k, nc), 8);
  if (nr > 3) store<f32>(yt, row_finish(kind, sc, exact, a3, b3, w3, xt, k, nc), 12);
}

const ROW_BLOCK = 16;

@inline function float_matmul(kind: i32, w: usize, x: usize, y: usize, k: i32, m: i32, row0: i32, row1: i32, n_tokens: i32): void {
  // Weight rows of k f32/f16/bf16; activation rows of k f32 (quantize_f16w / quantize_bf16w for F16/BF16).
  const rb = <usize>k << (kind == 0 ? 2 : 1), xrb = <usize>k << 2, ys = <usize>m << 2;
  if (n_tokens == 1) {
    for (let r = row0; r < row1; r += 4) {
      const nr = min(4, row1 - r);
      const w0 = w + <usize>r * rb;
      const w1 = nr > 1 ? w0 + rb : w0, w2 = nr > 2 ? w0 + 2 * rb : w0, w3 = nr > 3 ? w0 + 3 * rb : w0;
      float_rows4(kind, w0, w1, w2, w3, nr, x, k, y + (<usize>r << 2));
    }
    return;
  }
  // Rows in blocks of ROW_BLOCK, each block's rows staying in cache while every token tile passes.
  for (let b0 = row0; b0 < row1; b0 += ROW_BLOCK) {
    const b1 = min(b0 + ROW_BLOCK, row1);
    let t = 0;
    for (; t + 4 <= n_tokens; t += 4) {
      for (let r = b0; r < b1; r++) float_tile(kind, w + <usize>r * rb, x + <usize>t * xrb, xrb, k, y + (<usize>r << 2) + <usize>t * ys, ys, 4);
    }
    for (; t < n_tokens; t++) {
      for (let r = b0; r < b1; r++) float_tile(kind, w + <usize>r * rb, x + <usize>t * xrb, xrb, k, y + (<usize>r << 2) + <usize>t * ys, ys, 1);
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

/** As matmul_f32 with f16 weights and activations rounded to f16 (quantize_f16w's rows). */
export function matmul_f16(w: usize, x: usize, y: usize, k: i32, m: i32, row0: i32, row1: i32, n_tokens: i32): void {
  float_matmul(1, w, x, y, k, m, row0, row1, n_tokens);
}

/** As matmul_f32 with bf16 weights and activations rounded to bf16 (quantize_bf16w's rows). */
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

/** Elements 8c..8c+3 (half 0) or 8c+4..8c+7 of an f16 (kind 1) or bf16 row at p, widened exactly. */
@inline function half_chunk(kind: i32, p: usize, c: i32, half: i32): v128 {
  const v = v128.load(p + (<usize>c << 4));
  if (kind == 1) return halfx4_s_to_f32x4(half == 0 ? i32x4.extend_low_i16x8_s(v) : i32x4.extend_high_i16x8_s(v));
  return i32x4.shl(half == 0 ? i32x4.extend_low_i16x8_u(v) : i32x4.extend_high_i16x8_u(v), 16);
}

@inline function dequantize_half_rows(kind: i32, w: usize, ids: usize, n_ids: i32, k: i32, out: usize): void {
  const rb = <usize>k << 1, nc = k >> 3;
  for (let i = 0; i < n_ids; i++) {
    const src = w + <usize>load<i32>(ids + (<usize>i << 2)) * rb, dst = out + <usize>i * (rb << 1);
    for (let c = 0; c < nc; c++) {
      v128.store(dst + (<usize>c << 5), half_chunk(kind, src, c, 0));
      v128.store(dst + (<usize>c << 5), half_chunk(kind, src, c, 1), 16);
    }
    for (let j = nc << 3; j < k; j++) {
      const h = load<i16>(src + (<usize>j << 1));
      store<f32>(dst + (<usize>j << 2), kind == 1 ? half_to_f32(h) : reinterpret<f32>(<u32><u16>h << 16));
    }
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
