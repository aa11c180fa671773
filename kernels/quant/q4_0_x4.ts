// Q4_0 over weights repacked four rows at a time (repack_q4_0_x4), the layout its decode loop
// reads with no transposition: in a group of four rows, block b (72 B, the four rows' blocks)
// holds the four f16 scales (bytes 0-7, row order), then four vectors of 16 B, vector i holding
// quant bytes 4i..4i+3 of rows 0, 1, 2 and 3. A relaxed dot of a vector's nibbles with four
// activation bytes in every lane (a splat load) leaves each row's pair sums in that row's own
// lanes, so a block's four row sums need one widening dot where row-major blocks need a
// transposition of nine instructions (decode ×1.36 from cache on the Intel Xeon VM). Prefill
// puts each block back in row order (eight shuffles, once for all tokens) and runs legacy.ts's
// eight-row loop, which shares each activation block's preparation between the eight rows.
//
// Rows past the last whole group (m mod 4) keep the file's layout, where the plain kernels
// (matmul_q4_0, dequantize_rows_q4_0) find them at the same addresses. A matrix with an inf or
// NaN scale is not repacked (repack_q4_0_x4 says so), so these loops take every scale as finite:
// the weights' scales keep their bits in f32 position unbiased (×2^-112) and the activation's
// rebiased copy carries the 2^112, one exact product as in legacy.ts.
//
// Activations: q8_0s blocks (activations.ts): q8_0's 34 bytes, then Σq (i32) and d·2^112 (f32).
// Results are bit-identical to matmul_q4_0 (exact integer sums; the same f32 operations per
// output element in the same order).

import { f16x4_to_f32x4, f16x4_unbiased, high_nibbles, memory_last, rdot16_u, store16_mul, TOKEN_TILE, TOUCH_DISTANCE } from './common';
import { clear_rows8, wide8_tokens, Q4_0 } from './legacy';
import { dequantize_rows_q4_0, matmul_q4_0 } from './legacy-kernels';
import { half_to_f32 } from '../shared/half';
import { I16_ONES, I8_8, NIBBLE_MASK, pooled } from '../shared/lanes';

// Literals (legacy.ts's block_bytes(Q4_0) and act_bytes(Q4_0)): a constant initialised by a call
// compiles to a mutable global, set by a start function and read inside the loops.
const BLOCK: usize = 18;
const GROUP_BLOCK: usize = 72;
const ACT: usize = 42;
/** Offsets in a q8_0s block: the quants, Σq, d·2^112. */
const ACT_QS: usize = 2, ACT_SUM: usize = 34, ACT_D: usize = 38;

/**
 * Repacks the first m − m mod 4 rows (row_bytes each) in place, four at a time; tmp: scratch for
 * four rows. Returns 0 and leaves the rows as they were when a scale is inf or NaN (the kernels
 * here assume finite scales: the groups already repacked are put back), else 1.
 */
export function repack_q4_0_x4(w: usize, tmp: usize, m: i32, row_bytes: i32): i32 {
  const rb = <usize>row_bytes, nb = row_bytes / <i32>BLOCK, m4 = m & ~3;
  for (let g = 0; g < m4; g += 4) {
    const gw = w + <usize>g * rb;
    memory.copy(tmp, gw, 4 * rb);
    let special = false;
    for (let i: usize = 0; i < 4 * rb; i += BLOCK) special |= (load<u16>(tmp + i) & 0x7c00) == 0x7c00;
    if (special) {
      for (let h = 0; h < g; h += 4) unpack_group(w + <usize>h * rb, tmp, rb, nb);
      return 0;
    }
    for (let b = 0; b < nb; b++) {
      const src = tmp + <usize>b * BLOCK, dst = gw + <usize>b * GROUP_BLOCK;
      for (let r: usize = 0; r < 4; r++) store<u16>(dst + (r << 1), load<u16>(src + r * rb));
      const q0 = v128.load(src, 2), q1 = v128.load(src + rb, 2), q2 = v128.load(src + 2 * rb, 2), q3 = v128.load(src + 3 * rb, 2);
      v128.store(dst, lane_column(q0, q1, q2, q3, 0), 8);
      v128.store(dst, lane_column(q0, q1, q2, q3, 1), 24);
      v128.store(dst, lane_column(q0, q1, q2, q3, 2), 40);
      v128.store(dst, lane_column(q0, q1, q2, q3, 3), 56);
    }
  }
  return 1;
}

/** Puts a repacked group (gw, four rows of rb bytes) back in row order; tmp: scratch for it. */
function unpack_group(gw: usize, tmp: usize, rb: usize, nb: i32): void {
  memory.copy(tmp, gw, 4 * rb);
  for (let b = 0; b < nb; b++) {
    const src = tmp + <usize>b * GROUP_BLOCK, dst = gw + <usize>b * BLOCK;
    for (let r: usize = 0; r < 4; r++) store<u16>(dst + r * rb, load<u16>(src + (r << 1)));
    const v0 = v128.load(src, 8), v1 = v128.load(src, 24), v2 = v128.load(src, 40), v3 = v128.load(src, 56);
    v128.store(dst, lane_column(v0, v1, v2, v3, 0), 2);
    v128.store(dst + rb, lane_column(v0, v1, v2, v3, 1), 2);
    v128.store(dst + 2 * rb, lane_column(v0, v1, v2, v3, 2), 2);
    v128.store(dst + 3 * rb, lane_column(v0, v1, v2, v3, 3), 2);
  }
}

/**
 * Lane j of a, b, c and d (i32 lanes; j a constant): column j of the 4×4 matrix whose rows they
 * are. Taking the four columns transposes it, which is its own inverse: four rows' quant bytes
 * become a group block's vectors (vector i: bytes 4i..4i+3 of each row) and back.
 */
@inline function lane_column(a: v128, b: v128, c: v128, d: v128, j: i32): v128 {
  if (j < 2) {
    const ab = i32x4.shuffle(a, b, 0, 4, 1, 5), cd = i32x4.shuffle(c, d, 0, 4, 1, 5);
    return j == 0 ? i32x4.shuffle(ab, cd, 0, 1, 4, 5) : i32x4.shuffle(ab, cd, 2, 3, 6, 7);
  }
  const ab = i32x4.shuffle(a, b, 2, 6, 3, 7), cd = i32x4.shuffle(c, d, 2, 6, 3, 7);
  return j == 2 ? i32x4.shuffle(ab, cd, 0, 1, 4, 5) : i32x4.shuffle(ab, cd, 2, 3, 6, 7);
}

/** The four rows' scales of group block gb, unbiased (see halves4_unbiased in common.ts). */
@inline function scales(gb: usize): v128 {
  return f16x4_unbiased(v128.load64_zero(gb));
}

/** The codes (0-15) of vector i of group block gb: its low (high = false) or high nibbles. */
@inline function codes(gb: usize, i: usize, high: bool): v128 {
  const v = v128.load(gb + 8 + (i << 4));
  return high ? v128.and(i16x8.shr_u(v, 4), pooled(NIBBLE_MASK)) : v128.and(v, pooled(NIBBLE_MASK));
}

/**
 * Σ code·a of a group block's four rows, given its codes (c<i><h>: vector i, low or high
 * nibbles, as codes()), against the activation block whose quants start at q, as i32x4 (lane r:
 * row r), before Q4_0's offset. Relaxed: each i16 lane sums 16 products of a code (0-15) and an
 * activation (|a| <= 127): at most 30480, no wrap. Baseline: both sides widened to i16 and
 * dotted into i32 (rows 0-1 and 2-3 apart), then paired.
 */
@inline function codes_dot(
  c00: v128, c01: v128, c10: v128, c11: v128, c20: v128, c21: v128, c30: v128, c31: v128, q: usize,
): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) {
    let s = rdot16_u(v128.load32_splat(q, 0), c00);
    s = i16x8.add(s, rdot16_u(v128.load32_splat(q, 16), c01));
    s = i16x8.add(s, rdot16_u(v128.load32_splat(q, 4), c10));
    s = i16x8.add(s, rdot16_u(v128.load32_splat(q, 20), c11));
    s = i16x8.add(s, rdot16_u(v128.load32_splat(q, 8), c20));
    s = i16x8.add(s, rdot16_u(v128.load32_splat(q, 24), c21));
    s = i16x8.add(s, rdot16_u(v128.load32_splat(q, 12), c30));
    s = i16x8.add(s, rdot16_u(v128.load32_splat(q, 28), c31));
    return i32x4.dot_i16x8_s(s, pooled(I16_ONES));
  }
  const lo = i32x4.add(
    i32x4.add(dot_rows(c00, v128.load32_splat(q, 0), false), dot_rows(c01, v128.load32_splat(q, 16), false)),
    i32x4.add(i32x4.add(dot_rows(c10, v128.load32_splat(q, 4), false), dot_rows(c11, v128.load32_splat(q, 20), false)),
      i32x4.add(i32x4.add(dot_rows(c20, v128.load32_splat(q, 8), false), dot_rows(c21, v128.load32_splat(q, 24), false)),
        i32x4.add(dot_rows(c30, v128.load32_splat(q, 12), false), dot_rows(c31, v128.load32_splat(q, 28), false)))),
  );
  const hi = i32x4.add(
    i32x4.add(dot_rows(c00, v128.load32_splat(q, 0), true), dot_rows(c01, v128.load32_splat(q, 16), true)),
    i32x4.add(i32x4.add(dot_rows(c10, v128.load32_splat(q, 4), true), dot_rows(c11, v128.load32_splat(q, 20), true)),
      i32x4.add(i32x4.add(dot_rows(c20, v128.load32_splat(q, 8), true), dot_rows(c21, v128.load32_splat(q, 24), true)),
        i32x4.add(dot_rows(c30, v128.load32_splat(q, 12), true), dot_rows(c31, v128.load32_splat(q, 28), true)))),
  );
  return i32x4.add(i32x4.shuffle(lo, hi, 0, 2, 4, 6), i32x4.shuffle(lo, hi, 1, 3, 5, 7));
}

/** Baseline: codes of rows 0-1 (high = false) or 2-3 times a 4-byte activation splat, as i32 pair sums. */
@inline function dot_rows(c: v128, a: v128, high: bool): v128 {
  const wide = high ? i16x8.extend_high_i8x16_u(c) : i16x8.extend_low_i8x16_u(c);
  return i32x4.dot_i16x8_s(wide, i16x8.extend_low_i8x16_s(a));
}

/** Σ (code − 8)·a: the exact integer sums, from codes_dot and activation block xb's Σa. */
@inline function offset_isum(dot: v128, xb: usize): v128 {
  return i32x4.sub(dot, i32x4.shl(v128.load32_splat(xb, ACT_SUM), 3));
}

/** f32(isum)·(d_w·d_x) per row: ggml's per-block term (d: unbiased scales; the activation's d·2^112). */
@inline function block_term(isum: v128, d: v128, xb: usize): v128 {
  return f32x4.mul(f32x4.convert_i32x4_s(isum), f32x4.mul(d, v128.load32_splat(xb, ACT_D)));
}

/** Stores lanes [lo, hi) of v at p + 4·lane: the rows of a group that a row range covers. */
@inline function store_rows(p: usize, v: v128, lo: i32, hi: i32): void {
  if (lo == 0 && hi == 4) {
    v128.store(p, v);
    return;
  }
  if (lo <= 0 && hi > 0) store<f32>(p, f32x4.extract_lane(v, 0));
  if (lo <= 1 && hi > 1) store<f32>(p, f32x4.extract_lane(v, 1), 4);
  if (lo <= 2 && hi > 2) store<f32>(p, f32x4.extract_lane(v, 2), 8);
  if (lo <= 3 && hi > 3) store<f32>(p, f32x4.extract_lane(v, 3), 12);
}

/** The four rows' terms of group block gb against activation block xb. */
@inline function group_block(gb: usize, xb: usize): v128 {
  const dot = codes_dot(
    codes(gb, 0, false), codes(gb, 0, true), codes(gb, 1, false), codes(gb, 1, true),
    codes(gb, 2, false), codes(gb, 2, true), codes(gb, 3, false), codes(gb, 3, true), xb + ACT_QS,
  );
  return block_term(offset_isum(dot, xb), scales(gb), xb);
}

/** One token: rows [lo, hi) of the group at gw (nb blocks) into y at yg (the group's first row). */
@inline function group_decode(gw: usize, xt: usize, nb: i32, yg: usize, lo: i32, hi: i32, last: usize): void {
  let s = f32x4.splat(0);
  for (let b = 0; b < nb; b++) {
    const gb = gw + <usize>b * GROUP_BLOCK, xb = xt + <usize>b * ACT;
    // Software prefetch: one byte 4 KiB ahead per step (72 B), so most lines are read early.
    load<u8>(min(gb + TOUCH_DISTANCE, last));
    s = f32x4.add(s, group_block(gb, xb));
  }
  store_rows(yg, s, lo, hi);
}

/**
 * One token, eight whole groups `step` bytes apart (the first at g, its rows' y at yg, the
 * others ystep bytes on), walked side by side. A decode step streams its matrix from DRAM, and
 * one stream, even touched 4 KiB ahead, kept too few lines in flight: eight streams give the
 * hardware prefetchers eight pages to follow (TinyLlama, one thread: 12.1 -> 19.5 t/s; four
 * streams 18.2, two 13.8). Each row's sum is formed as in group_decode.
 */
@inline function groups_decode8(g: usize, step: usize, xt: usize, nb: i32, yg: usize, ystep: usize, last: usize): void {
  let s0 = f32x4.splat(0), s1 = s0, s2 = s0, s3 = s0, s4 = s0, s5 = s0, s6 = s0, s7 = s0;
  for (let b = 0; b < nb; b++) {
    const o = g + <usize>b * GROUP_BLOCK, xb = xt + <usize>b * ACT;
    load<u8>(min(o + TOUCH_DISTANCE, last));
    load<u8>(min(o + step + TOUCH_DISTANCE, last));
    load<u8>(min(o + 2 * step + TOUCH_DISTANCE, last));
    load<u8>(min(o + 3 * step + TOUCH_DISTANCE, last));
    load<u8>(min(o + 4 * step + TOUCH_DISTANCE, last));
    load<u8>(min(o + 5 * step + TOUCH_DISTANCE, last));
    load<u8>(min(o + 6 * step + TOUCH_DISTANCE, last));
    load<u8>(min(o + 7 * step + TOUCH_DISTANCE, last));
    s0 = f32x4.add(s0, group_block(o, xb));
    s1 = f32x4.add(s1, group_block(o + step, xb));
    s2 = f32x4.add(s2, group_block(o + 2 * step, xb));
    s3 = f32x4.add(s3, group_block(o + 3 * step, xb));
    s4 = f32x4.add(s4, group_block(o + 4 * step, xb));
    s5 = f32x4.add(s5, group_block(o + 5 * step, xb));
    s6 = f32x4.add(s6, group_block(o + 6 * step, xb));
    s7 = f32x4.add(s7, group_block(o + 7 * step, xb));
  }
  v128.store(yg, s0);
  v128.store(yg + ystep, s1);
  v128.store(yg + 2 * ystep, s2);
  v128.store(yg + 3 * ystep, s3);
  v128.store(yg + 4 * ystep, s4);
  v128.store(yg + 5 * ystep, s5);
  v128.store(yg + 6 * ystep, s6);
  v128.store(yg + 7 * ystep, s7);
}

/**
 * One token, rows [row0, row1) below m4: a group the range cuts, alone; the whole groups as
 * eight parts walked side by side (groups_decode8); the groups left over, alone.
 */
@inline function decode_rows(w: usize, gbytes: usize, x: usize, nb: i32, y: usize, row0: i32, row1: i32, m4: i32, last: usize): void {
  const end = min(row1, m4);
  const g0 = (row0 + 3) & ~3, g1 = end & ~3;
  if (g0 > row0 && g0 - 4 < end) {
    const g = g0 - 4;
    group_decode(w + <usize>(g >> 2) * gbytes, x, nb, y + (<usize>g << 2), row0 - g, min(end - g, 4), last);
  }
  if (g1 < g0) return;
  const part = ((g1 - g0) >> 5) << 2; // rows, a multiple of 4
  for (let g = g0; g < g0 + part; g += 4) {
    groups_decode8(w + <usize>(g >> 2) * gbytes, <usize>(part >> 2) * gbytes, x, nb, y + (<usize>g << 2), <usize>part << 2, last);
  }
  for (let g = g0 + 8 * part; g < g1; g += 4) group_decode(w + <usize>(g >> 2) * gbytes, x, nb, y + (<usize>g << 2), 0, 4, last);
  if (g1 < end) group_decode(w + <usize>(g1 >> 2) * gbytes, x, nb, y + (<usize>g1 << 2), 0, end - g1, last);
}

/**
 * n tokens (xt: the first, xs bytes apart; y rows ys bytes apart) times two whole groups (eight
 * rows: the group at gw and the next): each block's quant bytes are put back in row order (a
 * transposition of 4-byte lanes) and applied to every token by legacy.ts's prefill loop, which
 * shares each activation block's preparation between the eight rows. Its scales are converted
 * exactly (no 2^112 carried by the activation).
 */
@inline function groups_prefill(gw: usize, gbytes: usize, xt: usize, xs: usize, nb: i32, yg: usize, ys: usize, n: i32): void {
  const z = f32x4.splat(0), M = pooled(NIBBLE_MASK);
  clear_rows8(yg, ys, n);
  for (let b = 0; b < nb; b++) {
    const ga = gw + <usize>b * GROUP_BLOCK, gb = ga + gbytes;
    const a0 = v128.load(ga, 8), a1 = v128.load(ga, 24), a2 = v128.load(ga, 40), a3 = v128.load(ga, 56);
    const b0 = v128.load(gb, 8), b1 = v128.load(gb, 24), b2 = v128.load(gb, 40), b3 = v128.load(gb, 56);
    const ra0 = lane_column(a0, a1, a2, a3, 0), ra1 = lane_column(a0, a1, a2, a3, 1);
    const ra2 = lane_column(a0, a1, a2, a3, 2), ra3 = lane_column(a0, a1, a2, a3, 3);
    const rb0 = lane_column(b0, b1, b2, b3, 0), rb1 = lane_column(b0, b1, b2, b3, 1);
    const rb2 = lane_column(b0, b1, b2, b3, 2), rb3 = lane_column(b0, b1, b2, b3, 3);
    wide8_tokens(
      Q4_0, xt + <usize>b * ACT, xs, yg, ys, n, f16x4_to_f32x4(v128.load64_zero(ga)), z, f16x4_to_f32x4(v128.load64_zero(gb)), z,
      v128.and(ra0, M), high_nibbles(ra0), v128.and(ra1, M), high_nibbles(ra1),
      v128.and(ra2, M), high_nibbles(ra2), v128.and(ra3, M), high_nibbles(ra3),
      v128.and(rb0, M), high_nibbles(rb0), v128.and(rb1, M), high_nibbles(rb1),
      v128.and(rb2, M), high_nibbles(rb2), v128.and(rb3, M), high_nibbles(rb3),
    );
  }
}


/**
 * As groups_prefill for one group (a row range with an odd number of groups): the activation
 * bytes splatted per token, four rows only (80 GFLOP/s from cache against 58 token by token).
 */
@inline function group_prefill(gw: usize, xt: usize, xs: usize, nb: i32, yg: usize, ys: usize, n: i32): void {
  const z = f32x4.splat(0);
  for (let t = 0; t < n; t++) v128.store(yg + <usize>t * ys, z);
  for (let b = 0; b < nb; b++) {
    const gb = gw + <usize>b * GROUP_BLOCK;
    const d = scales(gb);
    const c00 = codes(gb, 0, false), c01 = codes(gb, 0, true), c10 = codes(gb, 1, false), c11 = codes(gb, 1, true);
    const c20 = codes(gb, 2, false), c21 = codes(gb, 2, true), c30 = codes(gb, 3, false), c31 = codes(gb, 3, true);
    let xb = xt + <usize>b * ACT, yp = yg;
    for (let t = 0; t < n; t++) {
      const dot = codes_dot(c00, c01, c10, c11, c20, c21, c30, c31, xb + ACT_QS);
      v128.store(yp, f32x4.add(v128.load(yp), block_term(offset_isum(dot, xb), d, xb)));
      xb += xs;
      yp += ys;
    }
  }
}

export function matmul_q4_0_x4(w: usize, x: usize, y: usize, k: i32, m: i32, row0: i32, row1: i32, n_tokens: i32): void {
  const nb = k >> 5, m4 = m & ~3;
  const gbytes = <usize>nb * GROUP_BLOCK, xs = <usize>nb * ACT, ys = <usize>m << 2;
  const last = memory_last();
  if (n_tokens == 1) {
    decode_rows(w, gbytes, x, nb, y, row0, row1, m4, last);
    if (row1 > m4) matmul_q4_0(w, x, y, k, m, max(row0, m4), row1, 1);
    return;
  }
  for (let g = row0 & ~3; g < min(row1, m4); g += 4) {
    const gw = w + <usize>(g >> 2) * gbytes, yg = y + (<usize>g << 2);
    const lo = max(row0 - g, 0), hi = min(row1 - g, 4);
    if (lo == 0 && hi == 4) {
      const pair = g + 8 <= min(row1, m4);
      for (let t = 0; t < n_tokens; t += TOKEN_TILE) {
        const xt = x + <usize>t * xs, yt = yg + <usize>t * ys, n = min(TOKEN_TILE, n_tokens - t);
        if (pair) groups_prefill(gw, gbytes, xt, xs, nb, yt, ys, n);
        else group_prefill(gw, xt, xs, nb, yt, ys, n);
      }
      if (pair) g += 4;
    } else {
      // A group the row range cuts (the planner's splits keep groups whole): token by token.
      for (let t = 0; t < n_tokens; t++) group_decode(gw, x + <usize>t * xs, nb, yg + <usize>t * ys, lo, hi, last);
    }
  }
  if (row1 > m4) matmul_q4_0(w, x, y, k, m, max(row0, m4), row1, n_tokens);
}

export function dequantize_rows_q4_0_x4(w: usize, ids: usize, n_ids: i32, k: i32, out: usize, m: i32): void {
  const nb = k >> 5, m4 = m & ~3, gbytes = <usize>nb * GROUP_BLOCK;
  for (let i = 0; i < n_ids; i++) {
    const id = load<i32>(ids + (<usize>i << 2)), dst = out + <usize>i * (<usize>k << 2);
    if (id >= m4) {
      dequantize_rows_q4_0(w, ids + (<usize>i << 2), 1, k, dst);
      continue;
    }
    const gw = w + <usize>(id >> 2) * gbytes, r = <usize>(id & 3);
    for (let b = 0; b < nb; b++) {
      const gb = gw + <usize>b * GROUP_BLOCK;
      // The row's block as the file has it (scale, then 16 quant bytes), dequantized as there.
      let qs = i32x4.splat(load<i32>(gb + 8 + (r << 2)));
      qs = i32x4.replace_lane(qs, 1, load<i32>(gb + 24 + (r << 2)));
      qs = i32x4.replace_lane(qs, 2, load<i32>(gb + 40 + (r << 2)));
      qs = i32x4.replace_lane(qs, 3, load<i32>(gb + 56 + (r << 2)));
      dequantize_block(load<i16>(gb + (r << 1)), qs, dst + (<usize>b << 7));
    }
  }
}

/** A Q4_0 block given its scale bits and 16 quant bytes, as f32 at dst (as legacy_dequantize). */
@inline function dequantize_block(h: i16, qs: v128, dst: usize): void {
  const d = half_to_f32(h), o = pooled(I8_8);
  store16_mul(dst, i8x16.sub(v128.and(qs, pooled(NIBBLE_MASK)), o), d);
  store16_mul(dst + 64, i8x16.sub(high_nibbles(qs), o), d);
}
