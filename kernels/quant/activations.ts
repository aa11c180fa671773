// Activation quantizers: f32 rows -> the vec_dot types ggml's CPU matmul pairs with each weight
// type, byte-exact with ggml's reference quantizers. Rows are contiguous on both sides and every
// row is a whole number of blocks, so a call simply walks n_rows·row_len/QK blocks in order;
// q8_K (quantize_q8_k_x8) and the f16/bf16 values (quantize_f16w, quantize_bf16w, kept as f32)
// are laid out as their kernels read them.
import { F16_REBIAS, f32_to_half, f32x4_to_bf16x4, f32x4_to_halfx4, half_to_f32, halfx4_to_f32x4, max4 } from '../shared/half';
import { hsum_i32x4 } from './common';

/** C roundf (halves away from zero) of four f32 lanes, as i32. */
@inline function round_away_i32x4(p: v128): v128 {
  const t = f32x4.trunc(p);
  const half = f32x4.ge(f32x4.abs(f32x4.sub(p, t)), f32x4.splat(0.5));
  const step = v128.or(f32x4.splat(1), v128.and(p, i32x4.splat(0x80000000)));
  return i32x4.trunc_sat_f32x4_s(f32x4.add(t, v128.and(half, step)));
}

/** One block of 32 f32 at src: writes qs = roundf(x·(1/d)) and returns d = amax/127 (as ggml). */
@inline function q8_32(src: usize, qs: usize): f32 {
  const v0 = v128.load(src), v1 = v128.load(src, 16), v2 = v128.load(src, 32), v3 = v128.load(src, 48);
  const v4 = v128.load(src, 64), v5 = v128.load(src, 80), v6 = v128.load(src, 96), v7 = v128.load(src, 112);
  const m = f32x4.max(
    f32x4.max(f32x4.max(f32x4.abs(v0), f32x4.abs(v1)), f32x4.max(f32x4.abs(v2), f32x4.abs(v3))),
    f32x4.max(f32x4.max(f32x4.abs(v4), f32x4.abs(v5)), f32x4.max(f32x4.abs(v6), f32x4.abs(v7))),
  );
  const d: f32 = max4(m) / 127;
  const idv = f32x4.splat(d != 0 ? <f32>1 / d : 0);
  const q0 = round_away_i32x4(f32x4.mul(v0, idv)), q1 = round_away_i32x4(f32x4.mul(v1, idv));
  const q2 = round_away_i32x4(f32x4.mul(v2, idv)), q3 = round_away_i32x4(f32x4.mul(v3, idv));
  const q4 = round_away_i32x4(f32x4.mul(v4, idv)), q5 = round_away_i32x4(f32x4.mul(v5, idv));
  const q6 = round_away_i32x4(f32x4.mul(v6, idv)), q7 = round_away_i32x4(f32x4.mul(v7, idv));
  v128.store(qs, i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(q0, q1), i16x8.narrow_i32x4_s(q2, q3)));
  v128.store(qs, i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(q4, q5), i16x8.narrow_i32x4_s(q6, q7)), 16);
  return d;
}

/** Σ of the 32 i8 quants at qs (q8_1's `s` needs it). */
@inline function sum32_i8(qs: usize): i32 {
  const a = i16x8.add(i16x8.extadd_pairwise_i8x16_s(v128.load(qs)), i16x8.extadd_pairwise_i8x16_s(v128.load(qs, 16)));
  return hsum_i32x4(i32x4.extadd_pairwise_i16x8_s(a));
}

/** q8_0 block (34 B): f16 d, i8 qs[32]; x ≈ d·q. `out` receives n_rows·row_len/32 blocks. */
export function quantize_q8_0(x: usize, out: usize, n_rows: i32, row_len: i32): void {
  const n = n_rows * (row_len >> 5);
  for (let i = 0; i < n; i++) {
    const src = x + (<usize>i << 7), dst = out + <usize>i * 34;
    store<u16>(dst, f32_to_half(q8_32(src, dst + 2)));
  }
}

/**
 * q8_0s block (42 B), Q4_0's activations: a q8_0 block (f16 d, i8 qs[32]), then Σq as i32 and
 * d·2^112 as f32 (the f16 d, exact: its largest value stays below f32's maximum), the two values
 * per block that the repacked Q4_0 kernels would otherwise derive for every group of rows.
 */
export function quantize_q8_0s(x: usize, out: usize, n_rows: i32, row_len: i32): void {
  const n = n_rows * (row_len >> 5);
  for (let i = 0; i < n; i++) {
    const src = x + (<usize>i << 7), dst = out + <usize>i * 42;
    const h = f32_to_half(q8_32(src, dst + 2));
    store<u16>(dst, h);
    store<i32>(dst, sum32_i8(dst + 2), 34);
    store<f32>(dst, half_to_f32(<i16>h) * F16_REBIAS, 38);
  }
}

/** q8_1 block (36 B): f16 d, f16 s = fp16(d·Σq), i8 qs[32]. */
export function quantize_q8_1(x: usize, out: usize, n_rows: i32, row_len: i32): void {
  const n = n_rows * (row_len >> 5);
  for (let i = 0; i < n; i++) {
    const src = x + (<usize>i << 7), dst = out + <usize>i * 36;
    const d = q8_32(src, dst + 4);
    store<u16>(dst, f32_to_half(d));
    store<u16>(dst, f32_to_half(<f32>sum32_i8(dst + 4) * d), 2);
  }
}

/**
 * q8_K block (292 B): f32 d, i8 qs[256], i16 bsums[16] (sums of each 16 quants). As ggml:
 * the element of largest magnitude (first one on ties) maps to -127·sign, q = nearest-even
 * of x·(-127/max) capped at 127, d = 1/iscale. An all-zero block gets d = 0 and zero sums.
 *
 * Layout q8_k_x8: the blocks of each whole octet of rows (rows 8o..8o+7) interleaved, block b of
 * row 8o+i at 8o·row_bytes + (8b+i)·292, so that the K-quant prefill, which takes eight tokens
 * at a time, finds the eight blocks it needs side by side (kquants.ts, k_row8). The rows after
 * the last whole octet, and so a single row, are stored plainly. Every row keeps the bytes it
 * would have on its own; only their order differs.
 */
export function quantize_q8_k_x8(x: usize, out: usize, n_rows: i32, row_len: i32): void {
  const nb = row_len >> 8, rb = <usize>nb * 292, octets = n_rows & ~7;
  for (let r = 0; r < n_rows; r++) {
    const src = x + <usize>r * (<usize>row_len << 2);
    const dst = r < octets ? out + <usize>(r & ~7) * rb + <usize>(r & 7) * 292 : out + <usize>r * rb;
    const step: usize = r < octets ? 8 * 292 : 292;
    for (let b = 0; b < nb; b++) q8_k_block(src + (<usize>b << 10), dst + <usize>b * step);
  }
}

/**
 * ggml's q8_K quant of four lanes, as the int8 it stores: nearest_int(x) (x + 1.5·2^23 rounds x
 * to the nearest integer, ties to even, into the low mantissa bits, read back as
 * (bits & 0x7fffff) − 0x400000: exact for |x| < 2^22, 0 for a NaN, −2^22 for ±inf), capped at
 * 127, then cut to its low byte as C's int8 store does (0 for the inf an underflowing scale
 * gives; |q| <= 127 otherwise, so never −128, which the kernels' dots rely on). Cheaper than
 * nearest plus trunc_sat, which V8 widens into a fix-up sequence.
 */
@inline function q8_k_quant4(x: v128): v128 {
  const v = i32x4.sub(v128.and(f32x4.add(x, f32x4.splat(12582912)), i32x4.splat(0x7fffff)), i32x4.splat(0x400000));
  return i32x4.shr_s(i32x4.shl(i32x4.min_s(v, i32x4.splat(127)), 24), 24);
}

@inline function q8_k_block(src: usize, dst: usize): void {
  let m = f32x4.splat(0);
  for (let j = 0; j < 1024; j += 16) m = f32x4.max(m, f32x4.abs(v128.load(src + j)));
  const amax = max4(m);
  if (amax == 0) {
    memory.fill(dst, 0, 292);
    return;
  }
  // The first element of largest magnitude, four at a time (the last one if none compares
  // equal, as with a NaN).
  const mv = f32x4.splat(amax);
  let j: usize = 1020;
  for (let i: usize = 0; i < 1024; i += 16) {
    const hit = i32x4.bitmask(f32x4.eq(f32x4.abs(v128.load(src + i)), mv));
    if (hit != 0) {
      j = i + (<usize>ctz(hit) << 2);
      break;
    }
  }
  const iscale: f32 = -127 / load<f32>(src + j);
  const sv = f32x4.splat(iscale);
  for (let g: usize = 0; g < 16; g++) {
    const p = src + (g << 6);
    const q0 = q8_k_quant4(f32x4.mul(v128.load(p), sv));
    const q1 = q8_k_quant4(f32x4.mul(v128.load(p, 16), sv));
    const q2 = q8_k_quant4(f32x4.mul(v128.load(p, 32), sv));
    const q3 = q8_k_quant4(f32x4.mul(v128.load(p, 48), sv));
    v128.store(dst + 4 + (g << 4), i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(q0, q1), i16x8.narrow_i32x4_s(q2, q3)));
    store<i16>(dst + 260 + (g << 1), <i16>hsum_i32x4(i32x4.add(i32x4.add(q0, q1), i32x4.add(q2, q3))));
  }
  store<f32>(dst, <f32>1 / iscale);
}

/** Four f32 lanes rounded to f16 (kind 1; `scaled`: times 2^112, NaNs as they are) or bf16 (kind 2), as f32. */
@inline function rounded_wide(kind: i32, scaled: bool, v: v128): v128 {
  if (kind == 2) return i32x4.shl(f32x4_to_bf16x4(v), 16);
  const e = halfx4_to_f32x4(f32x4_to_halfx4(v));
  return scaled ? v128.bitselect(f32x4.mul(e, f32x4.splat(F16_REBIAS)), e, f32x4.eq(e, e)) : e;
}

/**
 * The input rows of matmul_f16 (kind 1) and matmul_bf16 (kind 2): each value rounded to f16 / bf16
 * as ggml's reference conversions round it (to nearest even, NaNs quiet), kept as f32, each whole
 * chunk of eight of a row stored with its even elements first: the lane order in which those
 * kernels widen their weights. A single F16 row (decode) carries 2^112, which its weights then
 * need not (kernels/quant/float.ts).
 */
@inline function wide_rows(kind: i32, x: usize, out: usize, n_rows: i32, row_len: i32): void {
  const rb = <usize>row_len << 2, nc = row_len >> 3, scaled = kind == 1 && n_rows == 1;
  for (let r = 0; r < n_rows; r++) {
    const src = x + <usize>r * rb, dst = out + <usize>r * rb;
    for (let c = 0; c < nc; c++) {
      const o = <usize>c << 5;
      const lo = rounded_wide(kind, scaled, v128.load(src + o)), hi = rounded_wide(kind, scaled, v128.load(src + o, 16));
      v128.store(dst + o, i32x4.shuffle(lo, hi, 0, 2, 4, 6));
      v128.store(dst + o, i32x4.shuffle(lo, hi, 1, 3, 5, 7), 16);
    }
    for (let i = nc << 3; i < row_len; i++) {
      store<f32>(dst + (<usize>i << 2), f32x4.extract_lane(rounded_wide(kind, scaled, f32x4.splat(load<f32>(src + (<usize>i << 2)))), 0));
    }
  }
}

/** f32 rows -> matmul_f16's input (wide_rows). */
export function quantize_f16w(x: usize, out: usize, n_rows: i32, row_len: i32): void {
  wide_rows(1, x, out, n_rows, row_len);
}

/** f32 rows -> matmul_bf16's input (wide_rows). */
export function quantize_bf16w(x: usize, out: usize, n_rows: i32, row_len: i32): void {
  wide_rows(2, x, out, n_rows, row_len);
}
