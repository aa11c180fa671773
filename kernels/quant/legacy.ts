// The loops of the 32-element block types' kernels (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 and IQ4_NL),
// generic over the type; legacy-kernels.ts exports them per type.
//
// matmul_<type>(w, x, y, k, m, row0, row1, n_tokens): W has m rows of k elements (k a multiple of
// 32); x holds n_tokens activation rows quantized to the type's vec_dot type (q8_0, or q8_1 for
// Q4_1/Q5_1, q8_0s for Q4_0: activations.ts); y is f32 [n_tokens][m]. Computes y[t][r] for r in [row0,row1) and every t, as
// ggml's vec_dot: an exact integer sum per block, then y += (d_w·d_x)·isum (+ m_w·s_x for the
// types with a min).
//
// Rows go in groups of four held in the lanes of one f32x4: the four rows' integer block sums
// (one i32x4 of partial sums each) are reduced together by one transposition, and the float
// part runs lane-wise, the same f32 operations in the same order as for one row, so results do
// not depend on how rows are grouped. Decode (one token) takes eight rows at a time sharing each
// activation block; prefill takes eight rows and every token, decoding each weight block once
// and adding its term to y[t] for every token in turn (y holds the running sums, in the order
// a register would). Rows left over (fewer than eight) use four-row register tiles of up to four
// tokens; missing rows of a partial group repeat a valid row and are not stored.
//
// dequantize_rows_<type>(w, ids, n_ids, k, out): out[i] = to_float(W[ids[i]]), bit-exact with
// ggml (every element is one rounding of an exact product, plus the min where there is one).
import {
  half_splat, halves4, halves4_unbiased, has_special, high_nibbles, hsum4_i16x8, hsum4_i32x4, hsum_i32x4, i16_pair_sums, iq4_levels, levels,
  memory_last, q5_high_hi, q5_high_lo, rdot16_u, rebiased_splat, scale_specials, store_lanes, touch_ahead,
} from './common';
import { I16_ONES, I8_16, I8_8, NIBBLE_MASK, pooled } from '../shared/lanes';

const Q8_0_BYTES: usize = 34;
const Q8_0S_BYTES: usize = 42;
const Q8_1_BYTES: usize = 36;

// Generic per-type plumbing: `kind` selects the block layout below; it is a constant at every
// call site, so each exported kernel compiles to its own specialised loop.
export const Q4_0: i32 = 0, Q4_1: i32 = 1, Q5_0: i32 = 2, Q5_1: i32 = 3, Q8_0: i32 = 4, IQ4_NL: i32 = 5;

@inline export function block_bytes(kind: i32): usize {
  return kind == Q4_0 || kind == IQ4_NL ? 18 : kind == Q4_1 ? 20 : kind == Q5_0 ? 22 : kind == Q5_1 ? 24 : 34;
}

@inline export function act_bytes(kind: i32): usize {
  return kind == Q4_1 || kind == Q5_1 ? Q8_1_BYTES : kind == Q4_0 ? Q8_0S_BYTES : Q8_0_BYTES;
}

/** Bytes 0-15 of a Q4_x / Q5_x block as unsigned quants (elements 0-15), before any offset. */
@inline export function unsigned_lo(kind: i32, wb: usize): v128 {
  if (kind == Q4_0) return v128.and(v128.load(wb, 2), pooled(NIBBLE_MASK));
  if (kind == Q4_1) return v128.and(v128.load(wb, 4), pooled(NIBBLE_MASK));
  if (kind == Q5_0) return v128.or(v128.and(v128.load(wb, 6), pooled(NIBBLE_MASK)), q5_high_lo(load<u32>(wb, 2)));
  return v128.or(v128.and(v128.load(wb, 8), pooled(NIBBLE_MASK)), q5_high_lo(load<u32>(wb, 4)));
}

/** Elements 16-31 of a Q4_x / Q5_x block as unsigned quants. */
@inline export function unsigned_hi(kind: i32, wb: usize): v128 {
  if (kind == Q4_0) return high_nibbles(v128.load(wb, 2));
  if (kind == Q4_1) return high_nibbles(v128.load(wb, 4));
  if (kind == Q5_0) return v128.or(high_nibbles(v128.load(wb, 6)), q5_high_hi(load<u32>(wb, 2)));
  return v128.or(high_nibbles(v128.load(wb, 8)), q5_high_hi(load<u32>(wb, 4)));
}

/** Offset subtracted from the unsigned quants: 8 (Q4_0), 16 (Q5_0), 0 for the types with a min. */
@inline export function offset(kind: i32): i8 {
  return kind == Q4_0 ? 8 : kind == Q5_0 ? 16 : 0;
}

/** Signed values of an IQ4_NL (levels) or Q8_0 block: elements 0-15 and 16-31 as i8x16. */
@inline export function signed_lo(kind: i32, wb: usize): v128 {
  if (kind == IQ4_NL) return levels(v128.and(v128.load(wb, 2), pooled(NIBBLE_MASK)));
  return v128.load(wb, 2);
}

@inline export function signed_hi(kind: i32, wb: usize): v128 {
  if (kind == IQ4_NL) return levels(high_nibbles(v128.load(wb, 2)));
  return v128.load(wb, 18);
}

@inline function has_min(kind: i32): bool {
  return kind == Q4_1 || kind == Q5_1;
}

/** Whether the weights' codes are unsigned (Q4_x/Q5_x: the relaxed build dots them as i7). */
@inline function unsigned_codes(kind: i32): bool {
  return kind != Q8_0 && kind != IQ4_NL;
}

/** Codes of elements 0-15 of a block as i8x16: unsigned (Q4_x/Q5_x, before the offset) or signed values (Q8_0, IQ4_NL). */
@inline function codes_lo(kind: i32, wb: usize): v128 {
  return unsigned_codes(kind) ? unsigned_lo(kind, wb) : signed_lo(kind, wb);
}

/** Codes of elements 16-31. */
@inline function codes_hi(kind: i32, wb: usize): v128 {
  return unsigned_codes(kind) ? unsigned_hi(kind, wb) : signed_hi(kind, wb);
}

/**
 * Σ code·a of one row's block (codes c0: elements 0-15, c1: 16-31) against the block's 32
 * activations, as i32x4 partial sums. Relaxed build, unsigned codes: i8×i7 pair sums of a0/a1
 * with the codes, minus `corr` = off·(pair sums of a), in i16 (each lane's true value, a sum of
 * four (q−off)·a, stays within ±4·16·128), widened once. Relaxed build, signed codes: the codes
 * are the dot's signed operand against a⁺ and a⁻ (A0..A3, act_part), and the two pair sums'
 * difference is each pair's true sum (|.| <= 2·128·127, so exact in i16). Otherwise both sides
 * widened to i16 (A0..A3: elements 0-7, 8-15, 16-23, 24-31; the caller removes the offset).
 */
@inline function row_dot(kind: i32, split: bool, c0: v128, c1: v128, a0: v128, a1: v128, corr: v128, A0: v128, A1: v128, A2: v128, A3: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD && unsigned_codes(kind)) {
    const s = i16x8.add(rdot16_u(a0, c0), rdot16_u(a1, c1));
    // Widened by a dot with ones (from the pool) rather than extadd_pairwise, for which V8
    // reloads a ones constant at every use.
    return i32x4.dot_i16x8_s(offset(kind) == 0 ? s : i16x8.sub(s, corr), pooled(I16_ONES));
  }
  if (split) {
    const lo = i16x8.sub(rdot16_u(c0, A0), rdot16_u(c0, A1)), hi = i16x8.sub(rdot16_u(c1, A2), rdot16_u(c1, A3));
    return i32x4.add(i32x4.dot_i16x8_s(lo, pooled(I16_ONES)), i32x4.dot_i16x8_s(hi, pooled(I16_ONES)));
  }
  let e0: v128, e1: v128, e2: v128, e3: v128;
  if (unsigned_codes(kind)) {
    e0 = i16x8.extend_low_i8x16_u(c0); e1 = i16x8.extend_high_i8x16_u(c0);
    e2 = i16x8.extend_low_i8x16_u(c1); e3 = i16x8.extend_high_i8x16_u(c1);
  } else {
    e0 = i16x8.extend_low_i8x16_s(c0); e1 = i16x8.extend_high_i8x16_s(c0);
    e2 = i16x8.extend_low_i8x16_s(c1); e3 = i16x8.extend_high_i8x16_s(c1);
  }
  return i32x4.add(
    i32x4.add(i32x4.dot_i16x8_s(e0, A0), i32x4.dot_i16x8_s(e1, A1)),
    i32x4.add(i32x4.dot_i16x8_s(e2, A2), i32x4.dot_i16x8_s(e3, A3)),
  );
}

/** Whether the relaxed build's i8×i7 dot applies (unsigned codes). */
@inline function relaxed_path(kind: i32): bool {
  return ASC_FEATURE_RELAXED_SIMD && unsigned_codes(kind);
}

/**
 * Whether the relaxed build can dot signed codes (Q8_0, IQ4_NL) against the activations split as
 * a = a⁺ − a⁻ (a⁺ = max(a, 0), a⁻ = max(−a, 0), both 0..127: the q8 quantizers never write
 * −128): two i8×i7 dots per 16 elements where the i16 path widens both sides. Decode only
 * (`split`): a prompt step widens each block's codes once for all its tokens, and there the
 * split lost (2048×2048 × 128 tokens, ×0.93); one token pays for the widening itself.
 */
@inline function signed_split(kind: i32): bool {
  return ASC_FEATURE_RELAXED_SIMD && !unsigned_codes(kind);
}

/**
 * Part i (0..3) of the activation block a0/a1 as row_dot takes it: the i16 path's elements 0-7,
 * 8-15, 16-23, 24-31 widened; signed_split's a0⁺, a0⁻, a1⁺, a1⁻; unused (a0) where unsigned
 * codes take the relaxed dot.
 */
@inline function act_part(kind: i32, split: bool, a0: v128, a1: v128, i: i32): v128 {
  if (relaxed_path(kind)) return a0;
  const a = i < 2 ? a0 : a1;
  if (split) return i8x16.max_s((i & 1) == 0 ? a : i8x16.neg(a), i8x16.splat(0));
  return (i & 1) == 0 ? i16x8.extend_low_i8x16_s(a) : i16x8.extend_high_i8x16_s(a);
}

/**
 * Relaxed path: whether hsum4_i16x8's tree is exact for this type. Each i16 it ends with is a
 * sum of 16 products (code − off)·a, within 16·16·127 = 32512 when |code − off| <= 16 and
 * |a| <= 127 (ggml's q8 quantizers, and ours, never write −128). Q5_1 (codes to 31, no offset)
 * could reach 16·31·127.
 */
@inline function i16_tree(kind: i32): bool {
  return relaxed_path(kind) && kind != Q5_1;
}

/**
 * Relaxed path: off·(pair sums of a), as the same relaxed dot with every code equal to off
 * (for the i16 tree, already summed into i16_pair_sums form).
 */
@inline function act_corr(kind: i32, a0: v128, a1: v128): v128 {
  if (offset(kind) == 0 || !relaxed_path(kind)) return a0;
  const o = pooled(offset(kind) == 8 ? I8_8 : I8_16);
  const corr = i16x8.add(rdot16_u(a0, o), rdot16_u(a1, o));
  return i16_tree(kind) ? i16_pair_sums(corr) : corr;
}

/** i16 path: off·Σa in every lane (i32), removed from every row's sum. */
@inline function act_offset_sum(kind: i32, A0: v128, A1: v128, A2: v128, A3: v128): v128 {
  if (offset(kind) == 0 || relaxed_path(kind)) return A0;
  const sa = i32x4.dot_i16x8_s(i16x8.add(i16x8.add(A0, A1), i16x8.add(A2, A3)), i16x8.splat(offset(kind)));
  return i32x4.splat(hsum_i32x4(sa));
}

/**
 * The exact integer sums isum of four rows' blocks, given by their codes (c00, c01: row 0, ...),
 * against one activation block (a0/a1: its quants; corr from act_corr; A0..A3 the quants
 * widened to i16 and osum from act_offset_sum, for the i16 path), as i32x4 (lane r: row r).
 */
@inline function group_isum(
  kind: i32, split: bool, c00: v128, c01: v128, c10: v128, c11: v128, c20: v128, c21: v128, c30: v128, c31: v128,
  a0: v128, a1: v128, corr: v128, A0: v128, A1: v128, A2: v128, A3: v128, osum: v128,
): v128 {
  if (i16_tree(kind)) {
    const c = hsum4_i16x8(
      i16x8.add(rdot16_u(a0, c00), rdot16_u(a1, c01)), i16x8.add(rdot16_u(a0, c10), rdot16_u(a1, c11)),
      i16x8.add(rdot16_u(a0, c20), rdot16_u(a1, c21)), i16x8.add(rdot16_u(a0, c30), rdot16_u(a1, c31)),
    );
    return i32x4.dot_i16x8_s(offset(kind) == 0 ? c : i16x8.sub(c, corr), pooled(I16_ONES));
  }
  const isum = hsum4_i32x4(
    row_dot(kind, split, c00, c01, a0, a1, corr, A0, A1, A2, A3), row_dot(kind, split, c10, c11, a0, a1, corr, A0, A1, A2, A3),
    row_dot(kind, split, c20, c21, a0, a1, corr, A0, A1, A2, A3), row_dot(kind, split, c30, c31, a0, a1, corr, A0, A1, A2, A3),
  );
  return offset(kind) == 0 || relaxed_path(kind) ? isum : i32x4.sub(isum, osum);
}

/** f32(isum)·(d_w·d_x) (+ m_w·s_x): the per-block term, lane-wise (dx, sx: the activation's d and s in every lane). */
@inline function block_term(kind: i32, isum: v128, d: v128, mn: v128, dx: v128, sx: v128): v128 {
  const t = f32x4.mul(f32x4.convert_i32x4_s(isum), f32x4.mul(d, dx));
  if (!has_min(kind)) return t;
  return f32x4.add(t, f32x4.mul(mn, sx));
}

/** The unbiased scales (halves4_unbiased) of four rows' blocks at wb0, wrb bytes apart. */
@inline function scales4(wb0: usize, wrb: usize): v128 {
  return halves4_unbiased(wb0, wb0 + wrb, wb0 + 2 * wrb, wb0 + 3 * wrb, 0);
}

/**
 * Four rows' term of weight block wb0 (rows wrb bytes apart) against a prepared activation
 * block, d their scales (halves4_unbiased; the caller checks them for inf and NaN).
 */
@inline function rows4_term(
  kind: i32, split: bool, wb0: usize, wrb: usize, d: v128, a0: v128, a1: v128, corr: v128, A0: v128, A1: v128, A2: v128, A3: v128, osum: v128, dx: v128, sx: v128,
): v128 {
  const wb1 = wb0 + wrb, wb2 = wb1 + wrb, wb3 = wb2 + wrb;
  const isum = group_isum(
    kind, split, codes_lo(kind, wb0), codes_hi(kind, wb0), codes_lo(kind, wb1), codes_hi(kind, wb1),
    codes_lo(kind, wb2), codes_hi(kind, wb2), codes_lo(kind, wb3), codes_hi(kind, wb3), a0, a1, corr, A0, A1, A2, A3, osum,
  );
  return block_term(kind, isum, d, has_min(kind) ? halves4(wb0, wb1, wb2, wb3, 2) : f32x4.splat(0), dx, sx);
}

/**
 * Decode over rows interleaved eight at a time: `parts` whole groups (1, or 4 walked side by
 * side as four streams through memory: walk_side_by_side in interleave.ts says why) `step` bytes
 * apart, their y ystep bytes apart, times one token. Each activation block is prepared once for
 * all of them, its scale carrying the 2^112 that the weights' scales then need not
 * (halves4_unbiased). Rows whose scales hold an inf or NaN come out wrong that way, so the
 * groups are then computed again by legacy_group, exactly. Eight parts made a function binaryen
 * took over ten minutes to optimise.
 */
@inline export function legacy_groups8(kind: i32, parts: i32, w0: usize, step: usize, wrb: usize, wbs: usize, xt: usize, nb: i32, yt: usize, ystep: usize): void {
  const xbytes = act_bytes(kind), qoff: usize = has_min(kind) ? 4 : 2;
  const split = signed_split(kind); // decode: nothing to share the widening with
  const z = f32x4.splat(0);
  let specials = z, lo0 = z, hi0 = z, lo1 = z, hi1 = z, lo2 = z, hi2 = z, lo3 = z, hi3 = z;
  const last = memory_last();
  for (let b = 0; b < nb; b++) {
    const w = w0 + <usize>b * wbs;
    touch_ahead(w, wbs, last);
    if (parts > 1) {
      touch_ahead(w + step, wbs, last);
      touch_ahead(w + 2 * step, wbs, last);
      touch_ahead(w + 3 * step, wbs, last);
    }
    const xb = xt + <usize>b * xbytes;
    const a0 = v128.load(xb + qoff), a1 = v128.load(xb + qoff + 16);
    const corr = act_corr(kind, a0, a1);
    const A0 = act_part(kind, split, a0, a1, 0), A1 = act_part(kind, split, a0, a1, 1), A2 = act_part(kind, split, a0, a1, 2), A3 = act_part(kind, split, a0, a1, 3);
    const osum = act_offset_sum(kind, A0, A1, A2, A3);
    const dx = rebiased_splat(xb), sx = has_min(kind) ? half_splat(xb + 2) : z;
    const p0 = w, q0 = p0 + 4 * wrb;
    const d0 = scales4(p0, wrb), e0 = scales4(q0, wrb);
    specials = scale_specials(scale_specials(specials, d0), e0);
    lo0 = f32x4.add(lo0, rows4_term(kind, split, p0, wrb, d0, a0, a1, corr, A0, A1, A2, A3, osum, dx, sx));
    hi0 = f32x4.add(hi0, rows4_term(kind, split, q0, wrb, e0, a0, a1, corr, A0, A1, A2, A3, osum, dx, sx));
    if (parts > 1) {
      const p1 = w + step, q1 = p1 + 4 * wrb;
      const d1 = scales4(p1, wrb), e1 = scales4(q1, wrb);
      specials = scale_specials(scale_specials(specials, d1), e1);
      lo1 = f32x4.add(lo1, rows4_term(kind, split, p1, wrb, d1, a0, a1, corr, A0, A1, A2, A3, osum, dx, sx));
      hi1 = f32x4.add(hi1, rows4_term(kind, split, q1, wrb, e1, a0, a1, corr, A0, A1, A2, A3, osum, dx, sx));
      const p2 = w + 2 * step, q2 = p2 + 4 * wrb;
      const d2 = scales4(p2, wrb), e2 = scales4(q2, wrb);
      specials = scale_specials(scale_specials(specials, d2), e2);
      lo2 = f32x4.add(lo2, rows4_term(kind, split, p2, wrb, d2, a0, a1, corr, A0, A1, A2, A3, osum, dx, sx));
      hi2 = f32x4.add(hi2, rows4_term(kind, split, q2, wrb, e2, a0, a1, corr, A0, A1, A2, A3, osum, dx, sx));
      const p3 = w + 3 * step, q3 = p3 + 4 * wrb;
      const d3 = scales4(p3, wrb), e3 = scales4(q3, wrb);
      specials = scale_specials(scale_specials(specials, d3), e3);
      lo3 = f32x4.add(lo3, rows4_term(kind, split, p3, wrb, d3, a0, a1, corr, A0, A1, A2, A3, osum, dx, sx));
      hi3 = f32x4.add(hi3, rows4_term(kind, split, q3, wrb, e3, a0, a1, corr, A0, A1, A2, A3, osum, dx, sx));
    }
  }
  if (has_special(specials)) {
    for (let p = 0; p < parts; p++) {
      const g = w0 + <usize>p * step, g4 = g + 4 * wrb, yg = yt + <usize>p * ystep;
      legacy_group(kind, g, g + wrb, g + 2 * wrb, g + 3 * wrb, 4, wbs, xt, 0, nb, yg, 0, 1);
      legacy_group(kind, g4, g4 + wrb, g4 + 2 * wrb, g4 + 3 * wrb, 4, wbs, xt, 0, nb, yg + 16, 0, 1);
    }
    return;
  }
  v128.store(yt, lo0);
  v128.store(yt, hi0, 16);
  if (parts > 1) {
    v128.store(yt + ystep, lo1);
    v128.store(yt + ystep, hi1, 16);
    v128.store(yt + 2 * ystep, lo2);
    v128.store(yt + 2 * ystep, hi2, 16);
    v128.store(yt + 3 * ystep, lo3);
    v128.store(yt + 3 * ystep, hi3, 16);
  }
}

/**
 * One activation block's contribution to four rows, lane r for row r, as ggml's per-block term:
 * f32(isum)·(d_w·d_x), plus m_w·s_x for the types with a min. Lane-wise these are the same f32
 * operations, in the same order, as a row computed alone.
 */
@inline function group_term(
  kind: i32, split: bool, c00: v128, c01: v128, c10: v128, c11: v128, c20: v128, c21: v128, c30: v128, c31: v128, xb: usize, d: v128, mn: v128,
): v128 {
  const qoff: usize = has_min(kind) ? 4 : 2;
  const a0 = v128.load(xb + qoff), a1 = v128.load(xb + qoff + 16);
  const corr = act_corr(kind, a0, a1);
  const A0 = act_part(kind, split, a0, a1, 0), A1 = act_part(kind, split, a0, a1, 1), A2 = act_part(kind, split, a0, a1, 2), A3 = act_part(kind, split, a0, a1, 3);
  const isum = group_isum(kind, split, c00, c01, c10, c11, c20, c21, c30, c31, a0, a1, corr, A0, A1, A2, A3, act_offset_sum(kind, A0, A1, A2, A3));
  return block_term(kind, isum, d, mn, half_splat(xb), has_min(kind) ? half_splat(xb + 2) : d);
}

/**
 * Rows w0..w3 (nr of them valid; the others repeat a valid row and are not stored) times nt
 * tokens (1..4) starting at xt, into y at yt (token stride ys). Accumulators: one f32x4 per
 * token, lane r for row r, in registers.
 */
@inline function legacy_group(
  kind: i32, w0: usize, w1: usize, w2: usize, w3: usize, nr: i32, wbs: usize, xt: usize, xs: usize, nb: i32, yt: usize, ys: usize, nt: i32,
): void {
  const xbytes = act_bytes(kind);
  // With one token nothing shares the widened codes (with more, the i16 path widens them once).
  const split = signed_split(kind) && nt == 1;
  const z = f32x4.splat(0);
  let s0 = z, s1 = z, s2 = z, s3 = z;
  for (let b = 0; b < nb; b++) {
    const o = <usize>b * wbs;
    const wb0 = w0 + o, wb1 = w1 + o, wb2 = w2 + o, wb3 = w3 + o;
    const c00 = codes_lo(kind, wb0), c01 = codes_hi(kind, wb0), c10 = codes_lo(kind, wb1), c11 = codes_hi(kind, wb1);
    const c20 = codes_lo(kind, wb2), c21 = codes_hi(kind, wb2), c30 = codes_lo(kind, wb3), c31 = codes_hi(kind, wb3);
    const xb = xt + <usize>b * xbytes;
    const d = halves4(wb0, wb1, wb2, wb3, 0);
    const mn = has_min(kind) ? halves4(wb0, wb1, wb2, wb3, 2) : z;
    s0 = f32x4.add(s0, group_term(kind, split, c00, c01, c10, c11, c20, c21, c30, c31, xb, d, mn));
    if (nt > 1) s1 = f32x4.add(s1, group_term(kind, split, c00, c01, c10, c11, c20, c21, c30, c31, xb + xs, d, mn));
    if (nt > 2) s2 = f32x4.add(s2, group_term(kind, split, c00, c01, c10, c11, c20, c21, c30, c31, xb + 2 * xs, d, mn));
    if (nt > 3) s3 = f32x4.add(s3, group_term(kind, split, c00, c01, c10, c11, c20, c21, c30, c31, xb + 3 * xs, d, mn));
  }
  store_lanes(yt, s0, nr);
  if (nt > 1) store_lanes(yt + ys, s1, nr);
  if (nt > 2) store_lanes(yt + 2 * ys, s2, nr);
  if (nt > 3) store_lanes(yt + 3 * ys, s3, nr);
}

/**
 * One token's update of eight rows (codes cA*: rows 0-3, cB*: rows 4-7; scales dA/dB, mins
 * mA/mB) by the activation block at xb, whose d and s are given in every lane of dx/sx: the
 * per-block terms are added to y at yp (rows 0-3) and yp+16 (rows 4-7).
 */
@inline function step8(
  kind: i32, xb: usize, dx: v128, sx: v128, yp: usize, dA: v128, mA: v128, dB: v128, mB: v128,
  cA0: v128, cA1: v128, cA2: v128, cA3: v128, cA4: v128, cA5: v128, cA6: v128, cA7: v128,
  cB0: v128, cB1: v128, cB2: v128, cB3: v128, cB4: v128, cB5: v128, cB6: v128, cB7: v128,
): void {
  const qoff: usize = has_min(kind) ? 4 : 2;
  const a0 = v128.load(xb + qoff), a1 = v128.load(xb + qoff + 16);
  const corr = act_corr(kind, a0, a1);
  const A0 = act_part(kind, false, a0, a1, 0), A1 = act_part(kind, false, a0, a1, 1), A2 = act_part(kind, false, a0, a1, 2), A3 = act_part(kind, false, a0, a1, 3);
  const osum = act_offset_sum(kind, A0, A1, A2, A3);
  const iA = group_isum(kind, false, cA0, cA1, cA2, cA3, cA4, cA5, cA6, cA7, a0, a1, corr, A0, A1, A2, A3, osum);
  v128.store(yp, f32x4.add(v128.load(yp), block_term(kind, iA, dA, mA, dx, sx)));
  const iB = group_isum(kind, false, cB0, cB1, cB2, cB3, cB4, cB5, cB6, cB7, a0, a1, corr, A0, A1, A2, A3, osum);
  v128.store(yp, f32x4.add(v128.load(yp, 16), block_term(kind, iB, dB, mB, dx, sx)), 16);
}

/**
 * Eight whole rows (w0, then every wrb bytes) times nt tokens (any number) starting at xt: each
 * weight block is decoded once and used for every token (wide8_tokens), each token's sums
 * accumulating in y itself (the rows' own entries, so no other call's output is touched), block
 * after block as in legacy_group.
 */
@inline function legacy_wide8(kind: i32, w0: usize, wrb: usize, wbs: usize, xt: usize, xs: usize, nb: i32, yt: usize, ys: usize, nt: i32): void {
  const xbytes = act_bytes(kind);
  const z = f32x4.splat(0);
  clear_rows8(yt, ys, nt);
  for (let b = 0; b < nb; b++) {
    const wb0 = w0 + <usize>b * wbs, wb1 = wb0 + wrb, wb2 = wb1 + wrb, wb3 = wb2 + wrb;
    const wb4 = wb3 + wrb, wb5 = wb4 + wrb, wb6 = wb5 + wrb, wb7 = wb6 + wrb;
    wide8_tokens(
      kind, xt + <usize>b * xbytes, xs, yt, ys, nt, halves4(wb0, wb1, wb2, wb3, 0), has_min(kind) ? halves4(wb0, wb1, wb2, wb3, 2) : z,
      halves4(wb4, wb5, wb6, wb7, 0), has_min(kind) ? halves4(wb4, wb5, wb6, wb7, 2) : z,
      codes_lo(kind, wb0), codes_hi(kind, wb0), codes_lo(kind, wb1), codes_hi(kind, wb1),
      codes_lo(kind, wb2), codes_hi(kind, wb2), codes_lo(kind, wb3), codes_hi(kind, wb3),
      codes_lo(kind, wb4), codes_hi(kind, wb4), codes_lo(kind, wb5), codes_hi(kind, wb5),
      codes_lo(kind, wb6), codes_hi(kind, wb6), codes_lo(kind, wb7), codes_hi(kind, wb7),
    );
  }
}

/** Zeroes eight rows' entries of nt tokens' y rows (yt, ys bytes apart), where wide8_tokens accumulates. */
@inline export function clear_rows8(yt: usize, ys: usize, nt: i32): void {
  const z = f32x4.splat(0);
  for (let t = 0; t < nt; t++) {
    v128.store(yt + <usize>t * ys, z);
    v128.store(yt + <usize>t * ys, z, 16);
  }
}

/**
 * One weight block of eight rows (codes cA*: rows 0-3, cB*: rows 4-7, as codes_lo/codes_hi;
 * scales dA/dB and mins mA/mB as f32) applied to nt tokens (xb: the first token's activation
 * block, xs bytes apart; y rows ys bytes apart from yt), added to their sums in y. Activation
 * scales are converted four tokens at a time.
 */
@inline export function wide8_tokens(
  kind: i32, xb: usize, xs: usize, yt: usize, ys: usize, nt: i32, dA: v128, mA: v128, dB: v128, mB: v128,
  cA0: v128, cA1: v128, cA2: v128, cA3: v128, cA4: v128, cA5: v128, cA6: v128, cA7: v128,
  cB0: v128, cB1: v128, cB2: v128, cB3: v128, cB4: v128, cB5: v128, cB6: v128, cB7: v128,
): void {
  const z = f32x4.splat(0);
  let yp = yt;
  let t = 0;
  for (; t + 4 <= nt; t += 4) {
    const dx4 = halves4(xb, xb + xs, xb + 2 * xs, xb + 3 * xs, 0);
    const sx4 = has_min(kind) ? halves4(xb, xb + xs, xb + 2 * xs, xb + 3 * xs, 2) : z;
    step8(kind, xb, i32x4.shuffle(dx4, dx4, 0, 0, 0, 0), i32x4.shuffle(sx4, sx4, 0, 0, 0, 0), yp, dA, mA, dB, mB,
      cA0, cA1, cA2, cA3, cA4, cA5, cA6, cA7, cB0, cB1, cB2, cB3, cB4, cB5, cB6, cB7);
    step8(kind, xb + xs, i32x4.shuffle(dx4, dx4, 1, 1, 1, 1), i32x4.shuffle(sx4, sx4, 1, 1, 1, 1), yp + ys, dA, mA, dB, mB,
      cA0, cA1, cA2, cA3, cA4, cA5, cA6, cA7, cB0, cB1, cB2, cB3, cB4, cB5, cB6, cB7);
    step8(kind, xb + 2 * xs, i32x4.shuffle(dx4, dx4, 2, 2, 2, 2), i32x4.shuffle(sx4, sx4, 2, 2, 2, 2), yp + 2 * ys, dA, mA, dB, mB,
      cA0, cA1, cA2, cA3, cA4, cA5, cA6, cA7, cB0, cB1, cB2, cB3, cB4, cB5, cB6, cB7);
    step8(kind, xb + 3 * xs, i32x4.shuffle(dx4, dx4, 3, 3, 3, 3), i32x4.shuffle(sx4, sx4, 3, 3, 3, 3), yp + 3 * ys, dA, mA, dB, mB,
      cA0, cA1, cA2, cA3, cA4, cA5, cA6, cA7, cB0, cB1, cB2, cB3, cB4, cB5, cB6, cB7);
    xb += 4 * xs;
    yp += 4 * ys;
  }
  for (; t < nt; t++) {
    step8(kind, xb, half_splat(xb), has_min(kind) ? half_splat(xb + 2) : z, yp, dA, mA, dB, mB,
      cA0, cA1, cA2, cA3, cA4, cA5, cA6, cA7, cB0, cB1, cB2, cB3, cB4, cB5, cB6, cB7);
    xb += xs;
    yp += ys;
  }
}

/**
 * Rows [row0, row1) of rows that are `wrb` bytes apart with blocks `wbs` bytes apart (whole
 * rows: wrb = row bytes, wbs = block bytes; inside an interleaved group: the reverse, times
 * the group's rows), every token.
 */
@inline export function legacy_rows(
  kind: i32, w: usize, wrb: usize, wbs: usize, x: usize, xrb: usize, nb: i32, y: usize, ys: usize, row0: i32, row1: i32, n_tokens: i32,
): void {
  for (let r = row0; r < row1; r += 4) {
    const nr = min(4, row1 - r);
    const w0 = w + <usize>(r - row0) * wrb;
    const yr = y + (<usize>r << 2);
    if (row1 - r >= 8) {
      if (n_tokens == 1) legacy_groups8(kind, 1, w0, 0, wrb, wbs, x, nb, yr, 0);
      else legacy_wide8(kind, w0, wrb, wbs, x, xrb, nb, yr, ys, n_tokens);
      r += 4;
      continue;
    }
    const w1 = nr > 1 ? w0 + wrb : w0, w2 = nr > 2 ? w0 + 2 * wrb : w0, w3 = nr > 3 ? w0 + 3 * wrb : w0;
    let t = 0;
    for (; t + 4 <= n_tokens; t += 4) legacy_group(kind, w0, w1, w2, w3, nr, wbs, x + <usize>t * xrb, xrb, nb, yr + <usize>t * ys, ys, 4);
    for (; t < n_tokens; t++) legacy_group(kind, w0, w1, w2, w3, nr, wbs, x + <usize>t * xrb, xrb, nb, yr + <usize>t * ys, ys, 1);
  }
}

