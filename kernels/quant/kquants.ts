// 256-element super-block types: Q2_K, Q3_K, Q4_K, Q5_K, Q6_K and IQ4_XS, all paired with q8_K
// activations (292 B: f32 d, i8 qs[256], i16 bsums[16] = sums of each 16 quants).
//
// matmul_<type>(w, x, y, k, m, row0, row1, n_tokens): as the legacy types (see legacy.ts) with k a
// multiple of 256. Per super-block the integer sum isum = Σ_sub scale_sub·Σ q·a is exact; the
// float part is y += (d_x·d)·isum, minus (d_x·dmin)·Σ_sub min_sub·Σa for the types with mins
// (Σa from bsums). A super-block is walked as 8 groups of 32 elements, each two halves of 16;
// Q2_K, Q3_K and Q6_K scale each half, the others each group. The relaxed build dots the
// unsigned codes (0..63) with the activations and removes the code offset of Q3_K/Q6_K
// through bsums; the integer result, hence y, is the same as the baseline build's.
//
// Decode (one token) takes four rows at a time, each row's sums in its own i32x4 over a
// super-block, one transposition, then the term for the four rows lane-wise (lane r: row r).
// Prefill takes one row and eight tokens (four past the last whole octet): each group is decoded
// once for the tokens, and the term is computed lane-wise over tokens. The activations are
// q8_k_x8 (activations.ts): whole octets of tokens interleaved block by block, the rest plain.
// Either way every output element goes through the
// same f32 operations in the same order as ggml's scalar code.
//
// dequantize_rows_<type>(w, ids, n_ids, k, out): bit-exact with ggml's to_float (each element is
// one rounding of an exact product, minus the min where there is one).
import {
  halves4, high_nibbles, hsum4_i32x4, iq4_levels, levels, rdot16_u, scaled_hi, scaled_lo, store16_mul, store16_mul_add, store_lanes,
} from './common';
import { block_stride, row_start, walk_rows, walk_side_by_side, RowKernel, SideWalk } from './interleave';
import { half_to_f32 } from '../shared/half';
import { BIT_MASK, NIBBLE_MASK, TWO_BIT_MASK, pooled } from '../shared/lanes';

const Q2_K: i32 = 0, Q3_K: i32 = 1, Q4_K: i32 = 2, Q5_K: i32 = 3, Q6_K: i32 = 4, IQ4_XS: i32 = 5;
const Q8_K_BYTES: usize = 292;

@inline function block_bytes(kind: i32): usize {
  return kind == Q2_K ? 84 : kind == Q3_K ? 110 : kind == Q4_K ? 144 : kind == Q5_K ? 176 : kind == Q6_K ? 210 : 136;
}

@inline function has_min(kind: i32): bool {
  return kind == Q2_K || kind == Q4_K || kind == Q5_K;
}

/** Whether the relaxed build uses the i8×i7 dot: every type but IQ4_XS (signed levels). */
@inline function relaxed_dot(kind: i32): bool {
  return ASC_FEATURE_RELAXED_SIMD && kind != IQ4_XS;
}

/** What a type subtracts from its unsigned codes: value = code − offset. */
@inline function code_offset(kind: i32): i8 {
  return kind == Q3_K ? 4 : kind == Q6_K ? 32 : 0;
}

/** f16 d and dmin of the block (dmin 0 where the type has none). */
@inline function scale_d(kind: i32, wb: usize): f32 {
  if (kind == Q2_K) return half_to_f32(load<i16>(wb, 80));
  if (kind == Q3_K) return half_to_f32(load<i16>(wb, 108));
  if (kind == Q6_K) return half_to_f32(load<i16>(wb, 208));
  return half_to_f32(load<i16>(wb));
}

@inline function scale_dmin(kind: i32, wb: usize): f32 {
  if (kind == Q2_K) return half_to_f32(load<i16>(wb, 82));
  if (kind == Q4_K || kind == Q5_K) return half_to_f32(load<i16>(wb, 2));
  return 0;
}

/**
 * The block's sub-scales packed one per byte (Q2_K: 16 low nibbles; Q3_K: 16 six-bit values;
 * Q4_K/Q5_K: 8 six-bit scales; Q6_K: 16 i8) as two u64: `lo` holds bytes 0-7, `hi` 8-15.
 * IQ4_XS keeps its raw fields: scales_l (4 B) in `lo` bits 0-31 and scales_h in bits 32-47.
 */
@inline function scales_lo(kind: i32, wb: usize): u64 {
  if (kind == Q2_K) return load<u64>(wb) & 0x0f0f0f0f0f0f0f0f;
  if (kind == Q3_K) {
    const a0 = <u64>load<u32>(wb, 96), a1 = <u64>load<u32>(wb, 100), t = <u64>load<u32>(wb, 104);
    return ((a0 & 0x0f0f0f0f) | ((t << 4) & 0x30303030)) | (((a1 & 0x0f0f0f0f) | ((t << 2) & 0x30303030)) << 32);
  }
  if (kind == Q4_K || kind == Q5_K) {
    const s03 = <u64>load<u32>(wb, 4), s8b = <u64>load<u32>(wb, 12);
    return (s03 & 0x3f3f3f3f) | (((s8b & 0x0f0f0f0f) | ((s03 >> 2) & 0x30303030)) << 32);
  }
  if (kind == Q6_K) return load<u64>(wb, 192);
  return <u64>load<u32>(wb, 4) | (<u64>load<u16>(wb, 2) << 32);
}

@inline function scales_hi(kind: i32, wb: usize): u64 {
  if (kind == Q2_K) return load<u64>(wb, 8) & 0x0f0f0f0f0f0f0f0f;
  if (kind == Q3_K) {
    const a0 = <u64>load<u32>(wb, 96), a1 = <u64>load<u32>(wb, 100), t = <u64>load<u32>(wb, 104);
    return (((a0 >> 4) & 0x0f0f0f0f) | (t & 0x30303030)) | ((((a1 >> 4) & 0x0f0f0f0f) | ((t >> 2) & 0x30303030)) << 32);
  }
  if (kind == Q6_K) return load<u64>(wb, 200);
  return 0;
}

/** Signed scale of half-group s = 2g+h (0..15). */
@inline function scale_at(kind: i32, lo: u64, hi: u64, s: i32): i32 {
  if (kind == Q4_K || kind == Q5_K) return <i32>((lo >> (<u64>(s >> 1) << 3)) & 0xff);
  if (kind == IQ4_XS) {
    const g = <u64>(s >> 1);
    return <i32>(((lo >> (g << 2)) & 0xf) | (((lo >> (32 + (g << 1))) & 3) << 4)) - 32;
  }
  const byte = <i32>(((s < 8 ? lo : hi) >> (<u64>(s & 7) << 3)) & 0xff);
  if (kind == Q3_K) return byte - 32;
  if (kind == Q6_K) return <i32><i8>byte;
  return byte;
}

/** Q4_K/Q5_K: the 8 six-bit mins of the groups packed one per byte. */
@inline function mins_packed(wb: usize): u64 {
  const s47 = <u64>load<u32>(wb, 8), s8b = <u64>load<u32>(wb, 12);
  return (s47 & 0x3f3f3f3f) | ((((s8b >> 4) & 0x0f0f0f0f) | ((s47 >> 2) & 0x30303030)) << 32);
}

/**
 * Codes of half h of group g (elements 32g+16h .. +16) as i8x16: unsigned 0..63 for the K-quants
 * (value = code − code_offset), the signed levels for IQ4_XS.
 */
@inline function half_codes(kind: i32, wb: usize, g: i32, h: i32): v128 {
  const ho = <usize>(h << 4);
  if (kind == Q2_K) {
    return v128.and(i16x8.shr_u(v128.load(wb + 16 + (<usize>(g >> 2) << 5) + ho), (g & 3) << 1), pooled(TWO_BIT_MASK));
  }
  if (kind == Q3_K) {
    const low = v128.and(i16x8.shr_u(v128.load(wb + 32 + (<usize>(g >> 2) << 5) + ho), (g & 3) << 1), pooled(TWO_BIT_MASK));
    return v128.or(low, i16x8.shl(v128.and(i16x8.shr_u(v128.load(wb + ho), g), pooled(BIT_MASK)), 2));
  }
  if (kind == Q4_K) {
    return v128.and(i16x8.shr_u(v128.load(wb + 16 + (<usize>(g >> 1) << 5) + ho), (g & 1) << 2), pooled(NIBBLE_MASK));
  }
  if (kind == Q5_K) {
    const low = v128.and(i16x8.shr_u(v128.load(wb + 48 + (<usize>(g >> 1) << 5) + ho), (g & 1) << 2), pooled(NIBBLE_MASK));
    return v128.or(low, i16x8.shl(v128.and(i16x8.shr_u(v128.load(wb + 16 + ho), g), pooled(BIT_MASK)), 4));
  }
  if (kind == Q6_K) {
    const half = <usize>(g >> 2), gi = g & 3;
    const ql = v128.load(wb + (half << 6) + (<usize>(gi & 1) << 5) + ho);
    const qh = v128.load(wb + 128 + (half << 5) + ho);
    const low = v128.and(i16x8.shr_u(ql, (gi >> 1) << 2), pooled(NIBBLE_MASK));
    return v128.or(low, i16x8.shl(v128.and(i16x8.shr_u(qh, gi << 1), pooled(TWO_BIT_MASK)), 4));
  }
  const raw = v128.load(wb + 8 + (<usize>g << 4));
  return levels(h == 0 ? v128.and(raw, pooled(NIBBLE_MASK)) : high_nibbles(raw));
}

/**
 * Mins as i16 lanes matching bsums 0-7 (half 0) or 8-15 (half 1): Q2_K has one min per 16
 * (high nibbles of scales), Q4_K/Q5_K one per group, repeated for its two bsums.
 */
@inline function mins_i16(kind: i32, wb: usize, half: i32): v128 {
  if (kind == Q2_K) {
    const m = high_nibbles(v128.load(wb));
    return half == 0 ? i16x8.extend_low_i8x16_u(m) : i16x8.extend_high_i8x16_u(m);
  }
  const v = i64x2.splat(mins_packed(wb)), z = i32x4.splat(0);
  return half == 0
    ? i8x16.shuffle(v, z, 0, 16, 0, 16, 1, 16, 1, 16, 2, 16, 2, 16, 3, 16, 3, 16)
    : i8x16.shuffle(v, z, 4, 16, 4, 16, 5, 16, 5, 16, 6, 16, 6, 16, 7, 16, 7, 16);
}

/** Sub-scales of the 16 halves as i16 lanes 0-7 (half 0) or 8-15 (Q3_K and Q6_K only). */
@inline function scales_i16(kind: i32, lo: u64, hi: u64, half: i32): v128 {
  let v = i64x2.replace_lane(i64x2.splat(lo), 1, hi);
  if (kind == Q3_K) v = i8x16.sub(v, i8x16.splat(32));
  return half == 0 ? i16x8.extend_low_i8x16_s(v) : i16x8.extend_high_i8x16_s(v);
}

/** Byte offsets of the f16 d and dmin of a block. */
@inline function d_off(kind: i32): usize {
  return kind == Q2_K ? 80 : kind == Q3_K ? 108 : kind == Q6_K ? 208 : 0;
}
@inline function dmin_off(kind: i32): usize {
  return kind == Q2_K ? 82 : 2;
}

/**
 * IQ4_XS: the eight six-bit group scales (before the offset 32), group g in byte g: nibble g of
 * scales_l (4 B at 4) and bits 2g..2g+1 of scales_h (u16 at 2), spread into bytes.
 */
@inline function iq4xs_scales(wb: usize): u64 {
  let l = <u64>load<u32>(wb, 4);
  l = (l | (l << 16)) & 0x0000ffff0000ffff;
  l = (l | (l << 8)) & 0x00ff00ff00ff00ff;
  l = (l & 0x000f000f000f000f) | ((l << 4) & 0x0f000f000f000f00);
  let h = <u64>load<u16>(wb, 2);
  h = (h | (h << 24)) & 0x000000ff000000ff;
  h = (h | (h << 12)) & 0x000f000f000f000f;
  h = (h | (h << 6)) & 0x0303030303030303;
  return l | (h << 4);
}

/** Whether a type scales each half-group (16 scales per block) rather than each group (8). */
@inline function half_scaled(kind: i32): bool {
  return kind == Q2_K || kind == Q3_K || kind == Q6_K;
}

/**
 * The block's scales as i16 lanes for groups 4n..4n+3 (n = 0, 1): the scale of half h of group
 * 4n+j in lane 2j+h (half-scaled types), or of group 4n+j in lane j.
 */
@inline function scale_vec(kind: i32, wb: usize, n: i32): v128 {
  if (kind == Q2_K) {
    const v = v128.and(v128.load(wb), pooled(NIBBLE_MASK));
    return n == 0 ? i16x8.extend_low_i8x16_u(v) : i16x8.extend_high_i8x16_u(v);
  }
  if (kind == Q6_K) {
    const v = v128.load(wb, 192);
    return n == 0 ? i16x8.extend_low_i8x16_s(v) : i16x8.extend_high_i8x16_s(v);
  }
  if (kind == Q3_K) return scales_i16(kind, scales_lo(kind, wb), scales_hi(kind, wb), n);
  const v = kind == IQ4_XS
    ? i16x8.sub(i16x8.extend_low_i8x16_u(i64x2.splat(iq4xs_scales(wb))), i16x8.splat(32))
    : i16x8.extend_low_i8x16_u(i64x2.splat(scales_lo(kind, wb)));
  return n == 0 ? v : i64x2.shuffle(v, v, 1, 0);
}

/** scale_vec(kind, wb, 1), given v = scale_vec(kind, wb, 0) (a lane move for the types with eight scales). */
@inline function scale_vec2(kind: i32, wb: usize, v: v128): v128 {
  return half_scaled(kind) ? scale_vec(kind, wb, 1) : i64x2.shuffle(v, v, 1, 0);
}

/** Lane j (a constant) of the i16x8 v in every lane. */
@inline function lane16(v: v128, j: i32): v128 {
  // Shuffle lanes must be literals: one branch per lane, all but one folded away.
  if (j == 0) return i8x16.shuffle(v, v, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1);
  if (j == 1) return i8x16.shuffle(v, v, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3);
  if (j == 2) return i8x16.shuffle(v, v, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5);
  if (j == 3) return i8x16.shuffle(v, v, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7);
  if (j == 4) return i8x16.shuffle(v, v, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9);
  if (j == 5) return i8x16.shuffle(v, v, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11);
  if (j == 6) return i8x16.shuffle(v, v, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13);
  return i8x16.shuffle(v, v, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15);
}

/** The scale of half h of group 4n+j in every lane, from sv = scale_vec(kind, wb, n). */
@inline function half_scale(kind: i32, sv: v128, j: i32, h: i32): v128 {
  return lane16(sv, half_scaled(kind) ? (j << 1) + h : j);
}

/**
 * Always true, but V8 cannot know it: a branch on it ends a basic block. TurboFan places pure
 * arithmetic at the end of the block that uses it while loads keep their place, so one block
 * holding many groups loads everything first and spills; one group per block keeps the
 * registers for the work (measured with paired A/B trials: faster for every K type).
 */
@inline function sched_barrier(nb: i32): bool {
  return nb != 0x7fffffff;
}

/** i16x8.shr_u by a constant, skipped for 0 (V8 emits a shift by zero). */
@inline function shr16(v: v128, n: i32): v128 {
  return n == 0 ? v : i16x8.shr_u(v, n);
}

/**
 * Codes of half h of group g = 4n+j as i8x16 (see half_codes): j and h are constants, so every
 * shift but the high-bit plane's of Q3_K/Q5_K is one too.
 */
@inline function codes_nj(kind: i32, wb: usize, n: i32, j: i32, h: i32): v128 {
  const ho = <usize>(h << 4), no = <usize>n;
  if (kind == Q2_K) {
    return v128.and(shr16(v128.load(wb + 16 + (no << 5) + ho), j << 1), pooled(TWO_BIT_MASK));
  }
  if (kind == Q3_K) {
    const low = v128.and(shr16(v128.load(wb + 32 + (no << 5) + ho), j << 1), pooled(TWO_BIT_MASK));
    return v128.or(low, i16x8.shl(v128.and(i16x8.shr_u(v128.load(wb + ho), (n << 2) + j), pooled(BIT_MASK)), 2));
  }
  if (kind == Q4_K) {
    return v128.and(shr16(v128.load(wb + 16 + (no << 6) + (<usize>(j >> 1) << 5) + ho), (j & 1) << 2), pooled(NIBBLE_MASK));
  }
  if (kind == Q5_K) {
    const low = v128.and(shr16(v128.load(wb + 48 + (no << 6) + (<usize>(j >> 1) << 5) + ho), (j & 1) << 2), pooled(NIBBLE_MASK));
    return v128.or(low, i16x8.shl(v128.and(i16x8.shr_u(v128.load(wb + 16 + ho), (n << 2) + j), pooled(BIT_MASK)), 4));
  }
  if (kind == Q6_K) {
    const ql = v128.load(wb + (no << 6) + (<usize>(j & 1) << 5) + ho);
    const qh = v128.load(wb + 128 + (no << 5) + ho);
    const low = v128.and(shr16(ql, (j >> 1) << 2), pooled(NIBBLE_MASK));
    return v128.or(low, i16x8.shl(v128.and(shr16(qh, j << 1), pooled(TWO_BIT_MASK)), 4));
  }
  const raw = v128.load(wb + 8 + (no << 6) + (<usize>j << 4));
  return levels(h == 0 ? v128.and(raw, pooled(NIBBLE_MASK)) : high_nibbles(raw));
}

/**
 * One row's group 4n+j prepared for the dots, part p (0..3). Relaxed build: the codes of halves
 * 0 and 1, then their scales in every lane. i16 path: the values (code − offset) times their
 * scale as i16 (|value·scale| <= 4096) for elements 0-7, 8-15, 16-23, 24-31.
 */
@inline function kprep(kind: i32, wb: usize, n: i32, j: i32, sv: v128, p: i32): v128 {
  if (relaxed_dot(kind)) return p < 2 ? codes_nj(kind, wb, n, j, p) : half_scale(kind, sv, j, p - 2);
  const h = p >> 1;
  const v = i8x16.sub(codes_nj(kind, wb, n, j, h), i8x16.splat(code_offset(kind)));
  return (p & 1) == 0 ? scaled_lo(v, half_scale(kind, sv, j, h)) : scaled_hi(v, half_scale(kind, sv, j, h));
}

/**
 * Σ scale·code·a of one prepared group (c0..c3 from kprep) against the activations a0/a1
 * (elements 0-15, 16-31), or A0..A3 (the same widened to i16) in the i16 path, as i32x4 partial
 * sums. Relaxed pair sums fit i16 (codes <= 63); Q4_K/Q5_K (codes <= 31, one scale per group)
 * add both halves in i16 before scaling.
 */
@inline function kdot(kind: i32, c0: v128, c1: v128, c2: v128, c3: v128, a0: v128, a1: v128, A0: v128, A1: v128, A2: v128, A3: v128): v128 {
  if (relaxed_dot(kind)) {
    const p0 = rdot16_u(a0, c0), p1 = rdot16_u(a1, c1);
    if (kind == Q4_K || kind == Q5_K) return i32x4.dot_i16x8_s(i16x8.add(p0, p1), c2);
    return i32x4.add(i32x4.dot_i16x8_s(p0, c2), i32x4.dot_i16x8_s(p1, c3));
  }
  return i32x4.add(
    i32x4.add(i32x4.dot_i16x8_s(c0, A0), i32x4.dot_i16x8_s(c1, A1)),
    i32x4.add(i32x4.dot_i16x8_s(c2, A2), i32x4.dot_i16x8_s(c3, A3)),
  );
}

/** kdot against the 32 activations a0/a1 (widened here for the i16 path). */
@inline function kdot_act(kind: i32, c0: v128, c1: v128, c2: v128, c3: v128, a0: v128, a1: v128): v128 {
  if (relaxed_dot(kind)) return kdot(kind, c0, c1, c2, c3, a0, a1, a0, a0, a0, a0);
  return kdot(kind, c0, c1, c2, c3, a0, a1,
    i16x8.extend_low_i8x16_s(a0), i16x8.extend_high_i8x16_s(a0), i16x8.extend_low_i8x16_s(a1), i16x8.extend_high_i8x16_s(a1));
}

/** kdot against the 32 activations at q. */
@inline function kdot_at(kind: i32, c0: v128, c1: v128, c2: v128, c3: v128, q: usize): v128 {
  return kdot_act(kind, c0, c1, c2, c3, v128.load(q), v128.load(q, 16));
}

/** Activations widened to i16 for the i16 path (unused, and folded away, in the relaxed one). */
@inline function wide_lo(kind: i32, a: v128): v128 {
  return relaxed_dot(kind) ? a : i16x8.extend_low_i8x16_s(a);
}
@inline function wide_hi(kind: i32, a: v128): v128 {
  return relaxed_dot(kind) ? a : i16x8.extend_high_i8x16_s(a);
}

/** One row's sum over group 4n+j, from its block wb and scale vector sv, against prepared activations. */
@inline function krow(kind: i32, wb: usize, n: i32, j: i32, sv: v128, a0: v128, a1: v128, A0: v128, A1: v128, A2: v128, A3: v128): v128 {
  return kdot(kind, kprep(kind, wb, n, j, sv, 0), kprep(kind, wb, n, j, sv, 1), kprep(kind, wb, n, j, sv, 2), kprep(kind, wb, n, j, sv, 3), a0, a1, A0, A1, A2, A3);
}

/**
 * Relaxed Q3_K/Q6_K: offset·Σ scale·bsum of one row against the token block xb, as i32x4
 * partial sums (the codes carry the offset; this removes it). sv0/sv1: scale_vec n = 0, 1.
 */
@inline function offset_corr(kind: i32, xb: usize, sv0: v128, sv1: v128): v128 {
  const c = i32x4.add(i32x4.dot_i16x8_s(v128.load(xb, 260), sv0), i32x4.dot_i16x8_s(v128.load(xb, 276), sv1));
  return i32x4.shl(c, kind == Q3_K ? 2 : 5);
}

/** Types with a min: Σ min·bsum of the row's block wb against the token block xb, as i32x4 partial sums. */
@inline function min_sum(kind: i32, xb: usize, wb: usize): v128 {
  return i32x4.add(i32x4.dot_i16x8_s(v128.load(xb, 260), mins_i16(kind, wb, 0)), i32x4.dot_i16x8_s(v128.load(xb, 276), mins_i16(kind, wb, 1)));
}

/**
 * The super-block term, lane-wise: (d_x·d)·f32(isum), minus (d_x·dmin)·f32(msum) for the types
 * with a min, as ggml's scalar expression (dx, d, dmin, isum, msum given per lane).
 */
@inline function k_term(kind: i32, dx: v128, d: v128, dmin: v128, isum: v128, msum: v128): v128 {
  const t = f32x4.mul(f32x4.mul(dx, d), f32x4.convert_i32x4_s(isum));
  if (!has_min(kind)) return t;
  return f32x4.sub(t, f32x4.mul(f32x4.mul(dx, dmin), f32x4.convert_i32x4_s(msum)));
}

/**
 * Decode: rows w0..w3 (nr valid; the others repeat a valid row and are not stored) times the
 * token at xt. Each row's scaled sums accumulate in its own i32x4 over a super-block; one
 * transposition gives the four exact isums, and the term is computed for the four rows at once
 * (lane r: row r). The activation group is loaded (and widened) once for the four rows.
 */
@inline function k_rows4(kind: i32, w0: usize, w1: usize, w2: usize, w3: usize, nr: i32, wbs: usize, xt: usize, nb: i32, yt: usize): void {
  let s = f32x4.splat(0);
  for (let b = 0; b < nb; b++) {
    const o = <usize>b * wbs;
    s = f32x4.add(s, k_block_of(kind)(w0 + o, w1 + o, w2 + o, w3 + o, xt + <usize>b * Q8_K_BYTES, nb));
  }
  store_lanes(yt, s, nr);
}

/** One super-block's term of four rows (blocks wb0..wb3) against the token's block xb: lane r for row r (see k_rows4). */
@inline function k_block4(kind: i32, wb0: usize, wb1: usize, wb2: usize, wb3: usize, xb: usize, nb: i32): v128 {
  const z = i32x4.splat(0);
  let r0 = z, r1 = z, r2 = z, r3 = z;
  const s00 = scale_vec(kind, wb0, 0), s01 = scale_vec2(kind, wb0, s00), s10 = scale_vec(kind, wb1, 0), s11 = scale_vec2(kind, wb1, s10);
  const s20 = scale_vec(kind, wb2, 0), s21 = scale_vec2(kind, wb2, s20), s30 = scale_vec(kind, wb3, 0), s31 = scale_vec2(kind, wb3, s30);
  for (let n = 0; n < 2; n++) {
    const sv0 = n == 0 ? s00 : s01, sv1 = n == 0 ? s10 : s11, sv2 = n == 0 ? s20 : s21, sv3 = n == 0 ? s30 : s31;
    const qn = xb + 4 + (<usize>n << 7);
    // Groups 4n..4n+3 (j a constant in each; see sched_barrier for the branches).
    if (sched_barrier(nb)) {
      const a0 = v128.load(qn, 0), a1 = v128.load(qn, 16);
      const A0 = wide_lo(kind, a0), A1 = wide_hi(kind, a0), A2 = wide_lo(kind, a1), A3 = wide_hi(kind, a1);
      r0 = i32x4.add(r0, krow(kind, wb0, n, 0, sv0, a0, a1, A0, A1, A2, A3));
      r1 = i32x4.add(r1, krow(kind, wb1, n, 0, sv1, a0, a1, A0, A1, A2, A3));
      r2 = i32x4.add(r2, krow(kind, wb2, n, 0, sv2, a0, a1, A0, A1, A2, A3));
      r3 = i32x4.add(r3, krow(kind, wb3, n, 0, sv3, a0, a1, A0, A1, A2, A3));
    }
    if (sched_barrier(nb)) {
      const a0 = v128.load(qn, 32), a1 = v128.load(qn, 48);
      const A0 = wide_lo(kind, a0), A1 = wide_hi(kind, a0), A2 = wide_lo(kind, a1), A3 = wide_hi(kind, a1);
      r0 = i32x4.add(r0, krow(kind, wb0, n, 1, sv0, a0, a1, A0, A1, A2, A3));
      r1 = i32x4.add(r1, krow(kind, wb1, n, 1, sv1, a0, a1, A0, A1, A2, A3));
      r2 = i32x4.add(r2, krow(kind, wb2, n, 1, sv2, a0, a1, A0, A1, A2, A3));
      r3 = i32x4.add(r3, krow(kind, wb3, n, 1, sv3, a0, a1, A0, A1, A2, A3));
    }
    if (sched_barrier(nb)) {
      const a0 = v128.load(qn, 64), a1 = v128.load(qn, 80);
      const A0 = wide_lo(kind, a0), A1 = wide_hi(kind, a0), A2 = wide_lo(kind, a1), A3 = wide_hi(kind, a1);
      r0 = i32x4.add(r0, krow(kind, wb0, n, 2, sv0, a0, a1, A0, A1, A2, A3));
      r1 = i32x4.add(r1, krow(kind, wb1, n, 2, sv1, a0, a1, A0, A1, A2, A3));
      r2 = i32x4.add(r2, krow(kind, wb2, n, 2, sv2, a0, a1, A0, A1, A2, A3));
      r3 = i32x4.add(r3, krow(kind, wb3, n, 2, sv3, a0, a1, A0, A1, A2, A3));
    }
    if (sched_barrier(nb)) {
      const a0 = v128.load(qn, 96), a1 = v128.load(qn, 112);
      const A0 = wide_lo(kind, a0), A1 = wide_hi(kind, a0), A2 = wide_lo(kind, a1), A3 = wide_hi(kind, a1);
      r0 = i32x4.add(r0, krow(kind, wb0, n, 3, sv0, a0, a1, A0, A1, A2, A3));
      r1 = i32x4.add(r1, krow(kind, wb1, n, 3, sv1, a0, a1, A0, A1, A2, A3));
      r2 = i32x4.add(r2, krow(kind, wb2, n, 3, sv2, a0, a1, A0, A1, A2, A3));
      r3 = i32x4.add(r3, krow(kind, wb3, n, 3, sv3, a0, a1, A0, A1, A2, A3));
    }
  }
  if (relaxed_dot(kind) && code_offset(kind) != 0) {
    r0 = i32x4.sub(r0, offset_corr(kind, xb, s00, s01));
    r1 = i32x4.sub(r1, offset_corr(kind, xb, s10, s11));
    r2 = i32x4.sub(r2, offset_corr(kind, xb, s20, s21));
    r3 = i32x4.sub(r3, offset_corr(kind, xb, s30, s31));
  }
  const msum = has_min(kind) ? hsum4_i32x4(min_sum(kind, xb, wb0), min_sum(kind, xb, wb1), min_sum(kind, xb, wb2), min_sum(kind, xb, wb3)) : z;
  const dmin = has_min(kind) ? halves4(wb0, wb1, wb2, wb3, dmin_off(kind)) : z;
  return k_term(kind, f32x4.splat(load<f32>(xb)), halves4(wb0, wb1, wb2, wb3, d_off(kind)), dmin, hsum4_i32x4(r0, r1, r2, r3), msum);
}

/**
 * Decode over rows interleaved four at a time: four whole groups `step` bytes apart (their y
 * ystep bytes apart), walked side by side as four streams through memory, as the legacy types'
 * decode does (walk_side_by_side in interleave.ts says why). Each row's sum is formed as in
 * k_rows4.
 */
@inline function k_groups4_side(kind: i32, g: usize, step: usize, bytes: usize, xt: usize, nb: i32, yt: usize, ystep: usize): void {
  const wbs = 4 * bytes, block = k_block_of(kind);
  let s0 = f32x4.splat(0), s1 = s0, s2 = s0, s3 = s0;
  for (let b = 0; b < nb; b++) {
    const o = g + <usize>b * wbs, xb = xt + <usize>b * Q8_K_BYTES;
    s0 = f32x4.add(s0, block(o, o + bytes, o + 2 * bytes, o + 3 * bytes, xb, nb));
    const o1 = o + step;
    s1 = f32x4.add(s1, block(o1, o1 + bytes, o1 + 2 * bytes, o1 + 3 * bytes, xb, nb));
    const o2 = o1 + step;
    s2 = f32x4.add(s2, block(o2, o2 + bytes, o2 + 2 * bytes, o2 + 3 * bytes, xb, nb));
    const o3 = o2 + step;
    s3 = f32x4.add(s3, block(o3, o3 + bytes, o3 + 2 * bytes, o3 + 3 * bytes, xb, nb));
  }
  v128.store(yt, s0);
  v128.store(yt + ystep, s1);
  v128.store(yt + 2 * ystep, s2);
  v128.store(yt + 3 * ystep, s3);
}

/**
 * Prefill: one row (wr) times four tokens from xt (token stride xs; nt of them valid, the others
 * repeat a valid token and are not stored). Each group is decoded once for the four tokens,
 * whose sums accumulate in their own i32x4; one transposition per super-block gives the four
 * tokens' isums (lane t: token t) and the term is computed for them at once.
 */
@inline function k_row4(kind: i32, wr: usize, wbs: usize, xt: usize, x1: usize, x2: usize, x3: usize, nb: i32, yt: usize, ys: usize, nt: i32): void {
  const z = i32x4.splat(0);
  let s = f32x4.splat(0);
  for (let b = 0; b < nb; b++) {
    const wb = wr + <usize>b * wbs;
    const xo = <usize>b * Q8_K_BYTES;
    const xb0 = xt + xo, xb1 = x1 + xo, xb2 = x2 + xo, xb3 = x3 + xo;
    let t0 = z, t1 = z, t2 = z, t3 = z;
    const s0 = scale_vec(kind, wb, 0), s1 = scale_vec2(kind, wb, s0);
    for (let n = 0; n < 2; n++) {
      const sv = n == 0 ? s0 : s1;
      const qo = 4 + (<usize>n << 7);
      if (sched_barrier(nb)) {
        const c0 = kprep(kind, wb, n, 0, sv, 0), c1 = kprep(kind, wb, n, 0, sv, 1), c2 = kprep(kind, wb, n, 0, sv, 2), c3 = kprep(kind, wb, n, 0, sv, 3);
        t0 = i32x4.add(t0, kdot_at(kind, c0, c1, c2, c3, xb0 + qo));
        t1 = i32x4.add(t1, kdot_at(kind, c0, c1, c2, c3, xb1 + qo));
        t2 = i32x4.add(t2, kdot_at(kind, c0, c1, c2, c3, xb2 + qo));
        t3 = i32x4.add(t3, kdot_at(kind, c0, c1, c2, c3, xb3 + qo));
      }
      if (sched_barrier(nb)) {
        const c0 = kprep(kind, wb, n, 1, sv, 0), c1 = kprep(kind, wb, n, 1, sv, 1), c2 = kprep(kind, wb, n, 1, sv, 2), c3 = kprep(kind, wb, n, 1, sv, 3);
        t0 = i32x4.add(t0, kdot_at(kind, c0, c1, c2, c3, xb0 + qo + 32));
        t1 = i32x4.add(t1, kdot_at(kind, c0, c1, c2, c3, xb1 + qo + 32));
        t2 = i32x4.add(t2, kdot_at(kind, c0, c1, c2, c3, xb2 + qo + 32));
        t3 = i32x4.add(t3, kdot_at(kind, c0, c1, c2, c3, xb3 + qo + 32));
      }
      if (sched_barrier(nb)) {
        const c0 = kprep(kind, wb, n, 2, sv, 0), c1 = kprep(kind, wb, n, 2, sv, 1), c2 = kprep(kind, wb, n, 2, sv, 2), c3 = kprep(kind, wb, n, 2, sv, 3);
        t0 = i32x4.add(t0, kdot_at(kind, c0, c1, c2, c3, xb0 + qo + 64));
        t1 = i32x4.add(t1, kdot_at(kind, c0, c1, c2, c3, xb1 + qo + 64));
        t2 = i32x4.add(t2, kdot_at(kind, c0, c1, c2, c3, xb2 + qo + 64));
        t3 = i32x4.add(t3, kdot_at(kind, c0, c1, c2, c3, xb3 + qo + 64));
      }
      if (sched_barrier(nb)) {
        const c0 = kprep(kind, wb, n, 3, sv, 0), c1 = kprep(kind, wb, n, 3, sv, 1), c2 = kprep(kind, wb, n, 3, sv, 2), c3 = kprep(kind, wb, n, 3, sv, 3);
        t0 = i32x4.add(t0, kdot_at(kind, c0, c1, c2, c3, xb0 + qo + 96));
        t1 = i32x4.add(t1, kdot_at(kind, c0, c1, c2, c3, xb1 + qo + 96));
        t2 = i32x4.add(t2, kdot_at(kind, c0, c1, c2, c3, xb2 + qo + 96));
        t3 = i32x4.add(t3, kdot_at(kind, c0, c1, c2, c3, xb3 + qo + 96));
      }
    }
    if (relaxed_dot(kind) && code_offset(kind) != 0) {
      const sv0 = s0, sv1 = s1;
      t0 = i32x4.sub(t0, offset_corr(kind, xb0, sv0, sv1));
      t1 = i32x4.sub(t1, offset_corr(kind, xb1, sv0, sv1));
      t2 = i32x4.sub(t2, offset_corr(kind, xb2, sv0, sv1));
      t3 = i32x4.sub(t3, offset_corr(kind, xb3, sv0, sv1));
    }
    const msum = has_min(kind) ? hsum4_i32x4(min_sum(kind, xb0, wb), min_sum(kind, xb1, wb), min_sum(kind, xb2, wb), min_sum(kind, xb3, wb)) : z;
    let dx = v128.load32_splat(xb0);
    dx = v128.load32_lane(xb1, dx, 1);
    dx = v128.load32_lane(xb2, dx, 2);
    dx = v128.load32_lane(xb3, dx, 3);
    const d = f32x4.splat(half_to_f32(load<i16>(wb + d_off(kind))));
    const dmin = has_min(kind) ? f32x4.splat(half_to_f32(load<i16>(wb + dmin_off(kind)))) : z;
    s = f32x4.add(s, k_term(kind, dx, d, dmin, hsum4_i32x4(t0, t1, t2, t3), msum));
  }
  store<f32>(yt, f32x4.extract_lane(s, 0));
  if (nt > 1) store<f32>(yt + ys, f32x4.extract_lane(s, 1));
  if (nt > 2) store<f32>(yt + 2 * ys, f32x4.extract_lane(s, 2));
  if (nt > 3) store<f32>(yt + 3 * ys, f32x4.extract_lane(s, 3));
}

/**
 * Prefill with eight tokens: k_row4's scheme with twice the tokens per decoded group (two
 * token quads for the lane-wise terms). The eight tokens' activations are one octet of the
 * q8_k_x8 layout (kernels/quant/activations.ts): super-block b of token i at
 * xt + (8b + i)·292, so every activation load is one base and a constant offset (measured
 * against eight separate rows: 2048x5632 × 128 tokens, Q4_K ×1.11, Q6_K ×1.07).
 */
@inline function k_row8(kind: i32, wr: usize, wbs: usize, xt: usize, nb: i32, yt: usize, ys: usize): void {
  const z = i32x4.splat(0);
  let sA = f32x4.splat(0), sB = sA;
  for (let b = 0; b < nb; b++) {
    const wb = wr + <usize>b * wbs;
    const xb0 = xt + <usize>b * (8 * Q8_K_BYTES), xb1 = xb0 + Q8_K_BYTES, xb2 = xb0 + 2 * Q8_K_BYTES, xb3 = xb0 + 3 * Q8_K_BYTES;
    const xb4 = xb0 + 4 * Q8_K_BYTES, xb5 = xb0 + 5 * Q8_K_BYTES, xb6 = xb0 + 6 * Q8_K_BYTES, xb7 = xb0 + 7 * Q8_K_BYTES;
    let t0 = z, t1 = z, t2 = z, t3 = z, t4 = z, t5 = z, t6 = z, t7 = z;
    const s0 = scale_vec(kind, wb, 0), s1 = scale_vec2(kind, wb, s0);
    for (let n = 0; n < 2; n++) {
      const sv = n == 0 ? s0 : s1;
      const q = xb0 + 4 + (<usize>n << 7);
      if (sched_barrier(nb)) {
        const c0 = kprep(kind, wb, n, 0, sv, 0), c1 = kprep(kind, wb, n, 0, sv, 1), c2 = kprep(kind, wb, n, 0, sv, 2), c3 = kprep(kind, wb, n, 0, sv, 3);
        t0 = i32x4.add(t0, kdot_act(kind, c0, c1, c2, c3, v128.load(q, 0), v128.load(q, 16)));
        t1 = i32x4.add(t1, kdot_act(kind, c0, c1, c2, c3, v128.load(q, Q8_K_BYTES), v128.load(q, Q8_K_BYTES + 16)));
        t2 = i32x4.add(t2, kdot_act(kind, c0, c1, c2, c3, v128.load(q, 2 * Q8_K_BYTES), v128.load(q, 2 * Q8_K_BYTES + 16)));
        t3 = i32x4.add(t3, kdot_act(kind, c0, c1, c2, c3, v128.load(q, 3 * Q8_K_BYTES), v128.load(q, 3 * Q8_K_BYTES + 16)));
        t4 = i32x4.add(t4, kdot_act(kind, c0, c1, c2, c3, v128.load(q, 4 * Q8_K_BYTES), v128.load(q, 4 * Q8_K_BYTES + 16)));
        t5 = i32x4.add(t5, kdot_act(kind, c0, c1, c2, c3, v128.load(q, 5 * Q8_K_BYTES), v128.load(q, 5 * Q8_K_BYTES + 16)));
        t6 = i32x4.add(t6, kdot_act(kind, c0, c1, c2, c3, v128.load(q, 6 * Q8_K_BYTES), v128.load(q, 6 * Q8_K_BYTES + 16)));
        t7 = i32x4.add(t7, kdot_act(kind, c0, c1, c2, c3, v128.load(q, 7 * Q8_K_BYTES), v128.load(q, 7 * Q8_K_BYTES + 16)));
      }
      if (sched_barrier(nb)) {
        const c0 = kprep(kind, wb, n, 1, sv, 0), c1 = kprep(kind, wb, n, 1, sv, 1), c2 = kprep(kind, wb, n, 1, sv, 2), c3 = kprep(kind, wb, n, 1, sv, 3);
        t0 = i32x4.add(t0, kdot_act(kind, c0, c1, c2, c3, v128.load(q, 32), v128.load(q, 48)));
        t1 = i32x4.add(t1, kdot_act(kind, c0, c1, c2, c3, v128.load(q, Q8_K_BYTES + 32), v128.load(q, Q8_K_BYTES + 48)));
        t2 = i32x4.add(t2, kdot_act(kind, c0, c1, c2, c3, v128.load(q, 2 * Q8_K_BYTES + 32), v128.load(q, 2 * Q8_K_BYTES + 48)));
        t3 = i32x4.add(t3, kdot_act(kind, c0, c1, c2, c3, v128.load(q, 3 * Q8_K_BYTES + 32), v128.load(q, 3 * Q8_K_BYTES + 48)));
        t4 = i32x4.add(t4, kdot_act(kind, c0, c1, c2, c3, v128.load(q, 4 * Q8_K_BYTES + 32), v128.load(q, 4 * Q8_K_BYTES + 48)));
        t5 = i32x4.add(t5, kdot_act(kind, c0, c1, c2, c3, v128.load(q, 5 * Q8_K_BYTES + 32), v128.load(q, 5 * Q8_K_BYTES + 48)));
        t6 = i32x4.add(t6, kdot_act(kind, c0, c1, c2, c3, v128.load(q, 6 * Q8_K_BYTES + 32), v128.load(q, 6 * Q8_K_BYTES + 48)));
        t7 = i32x4.add(t7, kdot_act(kind, c0, c1, c2, c3, v128.load(q, 7 * Q8_K_BYTES + 32), v128.load(q, 7 * Q8_K_BYTES + 48)));
      }
      if (sched_barrier(nb)) {
        const c0 = kprep(kind, wb, n, 2, sv, 0), c1 = kprep(kind, wb, n, 2, sv, 1), c2 = kprep(kind, wb, n, 2, sv, 2), c3 = kprep(kind, wb, n, 2, sv, 3);
        t0 = i32x4.add(t0, kdot_act(kind, c0, c1, c2, c3, v128.load(q, 64), v128.load(q, 80)));
        t1 = i32x4.add(t1, kdot_act(kind, c0, c1, c2, c3, v128.load(q, Q8_K_BYTES + 64), v128.load(q, Q8_K_BYTES + 80)));
        t2 = i32x4.add(t2, kdot_act(kind, c0, c1, c2, c3, v128.load(q, 2 * Q8_K_BYTES + 64), v128.load(q, 2 * Q8_K_BYTES + 80)));
        t3 = i32x4.add(t3, kdot_act(kind, c0, c1, c2, c3, v128.load(q, 3 * Q8_K_BYTES + 64), v128.load(q, 3 * Q8_K_BYTES + 80)));
        t4 = i32x4.add(t4, kdot_act(kind, c0, c1, c2, c3, v128.load(q, 4 * Q8_K_BYTES + 64), v128.load(q, 4 * Q8_K_BYTES + 80)));
        t5 = i32x4.add(t5, kdot_act(kind, c0, c1, c2, c3, v128.load(q, 5 * Q8_K_BYTES + 64), v128.load(q, 5 * Q8_K_BYTES + 80)));
        t6 = i32x4.add(t6, kdot_act(kind, c0, c1, c2, c3, v128.load(q, 6 * Q8_K_BYTES + 64), v128.load(q, 6 * Q8_K_BYTES + 80)));
        t7 = i32x4.add(t7, kdot_act(kind, c0, c1, c2, c3, v128.load(q, 7 * Q8_K_BYTES + 64), v128.load(q, 7 * Q8_K_BYTES + 80)));
      }
      if (sched_barrier(nb)) {
        const c0 = kprep(kind, wb, n, 3, sv, 0), c1 = kprep(kind, wb, n, 3, sv, 1), c2 = kprep(kind, wb, n, 3, sv, 2), c3 = kprep(kind, wb, n, 3, sv, 3);
        t0 = i32x4.add(t0, kdot_act(kind, c0, c1, c2, c3, v128.load(q, 96), v128.load(q, 112)));
        t1 = i32x4.add(t1, kdot_act(kind, c0, c1, c2, c3, v128.load(q, Q8_K_BYTES + 96), v128.load(q, Q8_K_BYTES + 112)));
        t2 = i32x4.add(t2, kdot_act(kind, c0, c1, c2, c3, v128.load(q, 2 * Q8_K_BYTES + 96), v128.load(q, 2 * Q8_K_BYTES + 112)));
        t3 = i32x4.add(t3, kdot_act(kind, c0, c1, c2, c3, v128.load(q, 3 * Q8_K_BYTES + 96), v128.load(q, 3 * Q8_K_BYTES + 112)));
        t4 = i32x4.add(t4, kdot_act(kind, c0, c1, c2, c3, v128.load(q, 4 * Q8_K_BYTES + 96), v128.load(q, 4 * Q8_K_BYTES + 112)));
        t5 = i32x4.add(t5, kdot_act(kind, c0, c1, c2, c3, v128.load(q, 5 * Q8_K_BYTES + 96), v128.load(q, 5 * Q8_K_BYTES + 112)));
        t6 = i32x4.add(t6, kdot_act(kind, c0, c1, c2, c3, v128.load(q, 6 * Q8_K_BYTES + 96), v128.load(q, 6 * Q8_K_BYTES + 112)));
        t7 = i32x4.add(t7, kdot_act(kind, c0, c1, c2, c3, v128.load(q, 7 * Q8_K_BYTES + 96), v128.load(q, 7 * Q8_K_BYTES + 112)));
      }
    }
    if (relaxed_dot(kind) && code_offset(kind) != 0) {
      t0 = i32x4.sub(t0, offset_corr(kind, xb0, s0, s1));
      t1 = i32x4.sub(t1, offset_corr(kind, xb1, s0, s1));
      t2 = i32x4.sub(t2, offset_corr(kind, xb2, s0, s1));
      t3 = i32x4.sub(t3, offset_corr(kind, xb3, s0, s1));
      t4 = i32x4.sub(t4, offset_corr(kind, xb4, s0, s1));
      t5 = i32x4.sub(t5, offset_corr(kind, xb5, s0, s1));
      t6 = i32x4.sub(t6, offset_corr(kind, xb6, s0, s1));
      t7 = i32x4.sub(t7, offset_corr(kind, xb7, s0, s1));
    }
    const d = f32x4.splat(half_to_f32(load<i16>(wb + d_off(kind))));
    const dmin = has_min(kind) ? f32x4.splat(half_to_f32(load<i16>(wb + dmin_off(kind)))) : z;
    const msumA = has_min(kind) ? hsum4_i32x4(min_sum(kind, xb0, wb), min_sum(kind, xb1, wb), min_sum(kind, xb2, wb), min_sum(kind, xb3, wb)) : z;
    let dxA = v128.load32_splat(xb0);
    dxA = v128.load32_lane(xb1, dxA, 1);
    dxA = v128.load32_lane(xb2, dxA, 2);
    dxA = v128.load32_lane(xb3, dxA, 3);
    sA = f32x4.add(sA, k_term(kind, dxA, d, dmin, hsum4_i32x4(t0, t1, t2, t3), msumA));
    const msumB = has_min(kind) ? hsum4_i32x4(min_sum(kind, xb4, wb), min_sum(kind, xb5, wb), min_sum(kind, xb6, wb), min_sum(kind, xb7, wb)) : z;
    let dxB = v128.load32_splat(xb4);
    dxB = v128.load32_lane(xb5, dxB, 1);
    dxB = v128.load32_lane(xb6, dxB, 2);
    dxB = v128.load32_lane(xb7, dxB, 3);
    sB = f32x4.add(sB, k_term(kind, dxB, d, dmin, hsum4_i32x4(t4, t5, t6, t7), msumB));
  }
  store<f32>(yt, f32x4.extract_lane(sA, 0));
  store<f32>(yt + ys, f32x4.extract_lane(sA, 1));
  store<f32>(yt + 2 * ys, f32x4.extract_lane(sA, 2));
  store<f32>(yt + 3 * ys, f32x4.extract_lane(sA, 3));
  store<f32>(yt + 4 * ys, f32x4.extract_lane(sB, 0));
  store<f32>(yt + 5 * ys, f32x4.extract_lane(sB, 1));
  store<f32>(yt + 6 * ys, f32x4.extract_lane(sB, 2));
  store<f32>(yt + 7 * ys, f32x4.extract_lane(sB, 3));
}

/**
 * Rows [row0, row1) of rows `wrb` bytes apart with blocks `wbs` bytes apart (see legacy_rows),
 * every token.
 */
@inline function k_rows(
  kind: i32, w: usize, wrb: usize, wbs: usize, x: usize, xrb: usize, nb: i32, y: usize, ys: usize, row0: i32, row1: i32, n_tokens: i32,
): void {
  if (n_tokens == 1) {
    for (let r = row0; r < row1; r += 4) {
      const nr = min(4, row1 - r);
      const w0 = w + <usize>(r - row0) * wrb;
      const w1 = nr > 1 ? w0 + wrb : w0, w2 = nr > 2 ? w0 + 2 * wrb : w0, w3 = nr > 3 ? w0 + 3 * wrb : w0;
      k_rows4(kind, w0, w1, w2, w3, nr, wbs, x, nb, y + (<usize>r << 2));
    }
    return;
  }
  for (let r = row0; r < row1; r++) {
    const wr = w + <usize>(r - row0) * wrb, yr = y + (<usize>r << 2);
    let t = 0;
    for (; t + 8 <= n_tokens; t += 8) k_row8(kind, wr, wbs, x + <usize>t * xrb, nb, yr + <usize>t * ys, ys);
    for (; t < n_tokens; t += 4) {
      const nt = min(4, n_tokens - t);
      const x0 = x + <usize>t * xrb;
      // Tokens past the end repeat the tile's first one (computed, not stored).
      const x1 = nt > 1 ? x0 + xrb : x0, x2 = nt > 2 ? x0 + 2 * xrb : x0, x3 = nt > 3 ? x0 + 3 * xrb : x0;
      k_row4(kind, wr, wbs, x0, x1, x2, x3, nb, yr + <usize>t * ys, ys, nt);
    }
  }
}

/** One super-block's term of four rows: k_block4 for one type. */
type BlockTerm = (wb0: usize, wb1: usize, wb2: usize, wb3: usize, xb: usize, nb: i32) => v128;

// k_block4 compiled once per type and called by both decode walks: inlined four times into
// k_groups4_side, it made functions binaryen had not finished optimising after 15 minutes.
function block4_q2_k(wb0: usize, wb1: usize, wb2: usize, wb3: usize, xb: usize, nb: i32): v128 {
  return k_block4(Q2_K, wb0, wb1, wb2, wb3, xb, nb);
}
function block4_q3_k(wb0: usize, wb1: usize, wb2: usize, wb3: usize, xb: usize, nb: i32): v128 {
  return k_block4(Q3_K, wb0, wb1, wb2, wb3, xb, nb);
}
function block4_q4_k(wb0: usize, wb1: usize, wb2: usize, wb3: usize, xb: usize, nb: i32): v128 {
  return k_block4(Q4_K, wb0, wb1, wb2, wb3, xb, nb);
}
function block4_q5_k(wb0: usize, wb1: usize, wb2: usize, wb3: usize, xb: usize, nb: i32): v128 {
  return k_block4(Q5_K, wb0, wb1, wb2, wb3, xb, nb);
}
function block4_q6_k(wb0: usize, wb1: usize, wb2: usize, wb3: usize, xb: usize, nb: i32): v128 {
  return k_block4(Q6_K, wb0, wb1, wb2, wb3, xb, nb);
}
function block4_iq4_xs(wb0: usize, wb1: usize, wb2: usize, wb3: usize, xb: usize, nb: i32): v128 {
  return k_block4(IQ4_XS, wb0, wb1, wb2, wb3, xb, nb);
}

// k_groups4_side compiled once per type.
function side_q2_k(g: usize, step: usize, bytes: usize, x: usize, nb: i32, y: usize, ystep: usize): void {
  k_groups4_side(Q2_K, g, step, bytes, x, nb, y, ystep);
}
function side_q3_k(g: usize, step: usize, bytes: usize, x: usize, nb: i32, y: usize, ystep: usize): void {
  k_groups4_side(Q3_K, g, step, bytes, x, nb, y, ystep);
}
function side_q4_k(g: usize, step: usize, bytes: usize, x: usize, nb: i32, y: usize, ystep: usize): void {
  k_groups4_side(Q4_K, g, step, bytes, x, nb, y, ystep);
}
function side_q5_k(g: usize, step: usize, bytes: usize, x: usize, nb: i32, y: usize, ystep: usize): void {
  k_groups4_side(Q5_K, g, step, bytes, x, nb, y, ystep);
}
function side_q6_k(g: usize, step: usize, bytes: usize, x: usize, nb: i32, y: usize, ystep: usize): void {
  k_groups4_side(Q6_K, g, step, bytes, x, nb, y, ystep);
}
function side_iq4_xs(g: usize, step: usize, bytes: usize, x: usize, nb: i32, y: usize, ystep: usize): void {
  k_groups4_side(IQ4_XS, g, step, bytes, x, nb, y, ystep);
}

/** The type's side-by-side decode walk. */
@inline function k_side_of(kind: i32): SideWalk {
  return kind == Q2_K ? side_q2_k : kind == Q3_K ? side_q3_k : kind == Q4_K ? side_q4_k : kind == Q5_K ? side_q5_k : kind == Q6_K ? side_q6_k : side_iq4_xs;
}

/** The type's block term (a constant at every call site, so the call is direct). */
@inline function k_block_of(kind: i32): BlockTerm {
  return kind == Q2_K ? block4_q2_k : kind == Q3_K ? block4_q3_k : kind == Q4_K ? block4_q4_k : kind == Q5_K ? block4_q5_k : kind == Q6_K ? block4_q6_k : block4_iq4_xs;
}

// k_rows compiled once per type: the RowKernel of both layouts (see walk_rows).
function rows_q2_k(w: usize, wrb: usize, wbs: usize, x: usize, xrb: usize, nb: i32, y: usize, ys: usize, row0: i32, row1: i32, n: i32): void {
  k_rows(Q2_K, w, wrb, wbs, x, xrb, nb, y, ys, row0, row1, n);
}
function rows_q3_k(w: usize, wrb: usize, wbs: usize, x: usize, xrb: usize, nb: i32, y: usize, ys: usize, row0: i32, row1: i32, n: i32): void {
  k_rows(Q3_K, w, wrb, wbs, x, xrb, nb, y, ys, row0, row1, n);
}
function rows_q4_k(w: usize, wrb: usize, wbs: usize, x: usize, xrb: usize, nb: i32, y: usize, ys: usize, row0: i32, row1: i32, n: i32): void {
  k_rows(Q4_K, w, wrb, wbs, x, xrb, nb, y, ys, row0, row1, n);
}
function rows_q5_k(w: usize, wrb: usize, wbs: usize, x: usize, xrb: usize, nb: i32, y: usize, ys: usize, row0: i32, row1: i32, n: i32): void {
  k_rows(Q5_K, w, wrb, wbs, x, xrb, nb, y, ys, row0, row1, n);
}
function rows_q6_k(w: usize, wrb: usize, wbs: usize, x: usize, xrb: usize, nb: i32, y: usize, ys: usize, row0: i32, row1: i32, n: i32): void {
  k_rows(Q6_K, w, wrb, wbs, x, xrb, nb, y, ys, row0, row1, n);
}
function rows_iq4_xs(w: usize, wrb: usize, wbs: usize, x: usize, xrb: usize, nb: i32, y: usize, ys: usize, row0: i32, row1: i32, n: i32): void {
  k_rows(IQ4_XS, w, wrb, wbs, x, xrb, nb, y, ys, row0, row1, n);
}

/** The type's row kernel (a constant at every call site, so the call is direct). */
@inline function k_rows_of(kind: i32): RowKernel {
  return kind == Q2_K ? rows_q2_k : kind == Q3_K ? rows_q3_k : kind == Q4_K ? rows_q4_k : kind == Q5_K ? rows_q5_k : kind == Q6_K ? rows_q6_k : rows_iq4_xs;
}

/**
 * matmul_<type> over plain rows (group 0) or rows interleaved four at a time (repack_rows;
 * four, the rows decode reads together: with eight, decode would read every other stretch of a
 * group and come back for the rest, which measured slower than the plain layout).
 */
@inline function k_matmul(kind: i32, group: i32, w: usize, x: usize, y: usize, k: i32, m: i32, row0: i32, row1: i32, n_tokens: i32): void {
  const nb = k >> 8;
  if (group == 4 && n_tokens == 1) {
    walk_side_by_side(k_rows_of(kind), k_side_of(kind), 4, w, x, <usize>nb * Q8_K_BYTES, y, nb, block_bytes(kind), m, row0, row1);
    return;
  }
  walk_rows(k_rows_of(kind), group, w, x, <usize>nb * Q8_K_BYTES, y, nb, block_bytes(kind), m, row0, row1, n_tokens);
}

@inline function k_dequantize(kind: i32, group: i32, w: usize, ids: usize, n_ids: i32, k: i32, out: usize, m: i32): void {
  const nb = k >> 8, bytes = block_bytes(kind), rb = <usize>nb * bytes;
  for (let i = 0; i < n_ids; i++) {
    const id = load<i32>(ids + (<usize>i << 2)), dst = out + <usize>i * (<usize>k << 2);
    const src = row_start(w, id, rb, bytes, group), bs = block_stride(id, bytes, group, m);
    for (let b = 0; b < nb; b++) {
      const wb = src + <usize>b * bs, db = dst + (<usize>b << 10);
      const lo = scales_lo(kind, wb), hi = scales_hi(kind, wb);
      const d = scale_d(kind, wb), dmin = scale_dmin(kind, wb);
      const mins = kind == Q4_K || kind == Q5_K ? mins_packed(wb) : 0;
      for (let s = 0; s < 16; s++) {
        const q = i8x16.sub(half_codes(kind, wb, s >> 1, s & 1), i8x16.splat(code_offset(kind))), o = db + (<usize>s << 6);
        const dl = d * <f32>scale_at(kind, lo, hi, s);
        if (kind == Q2_K) {
          store16_mul_add(o, q, dl, -(dmin * <f32>(load<u8>(wb + <usize>s) >> 4)));
        } else if (kind == Q4_K || kind == Q5_K) {
          store16_mul_add(o, q, dl, -(dmin * <f32>((mins >> (<u64>(s >> 1) << 3)) & 0xff)));
        } else {
          store16_mul(o, q, dl);
        }
      }
    }
  }
}

// Q2_K block (84 B): u8 scales[16] (low nibble scale, high nibble min, per 16 elements),
// u8 qs[64], f16 d, f16 dmin. Group g = 4n+j takes bits 2j..2j+1 of qs[32n .. 32n+32];
// x = d·scale·q − dmin·min.
export function matmul_q2_k(w: usize, x: usize, y: usize, k: i32, m: i32, row0: i32, row1: i32, n_tokens: i32): void {
  k_matmul(Q2_K, 0, w, x, y, k, m, row0, row1, n_tokens);
}
export function dequantize_rows_q2_k(w: usize, ids: usize, n_ids: i32, k: i32, out: usize): void {
  k_dequantize(Q2_K, 0, w, ids, n_ids, k, out, 0);
}
export function matmul_q2_k_x4(w: usize, x: usize, y: usize, k: i32, m: i32, row0: i32, row1: i32, n_tokens: i32): void {
  k_matmul(Q2_K, 4, w, x, y, k, m, row0, row1, n_tokens);
}
export function dequantize_rows_q2_k_x4(w: usize, ids: usize, n_ids: i32, k: i32, out: usize, m: i32): void {
  k_dequantize(Q2_K, 4, w, ids, n_ids, k, out, m);
}

// Q3_K block (110 B): u8 hmask[32], u8 qs[64], u8 scales[12] (16 six-bit scales, offset 32),
// f16 d. Group g = 4n+j: low bits 2j..2j+1 of qs[32n ..], high bit g of hmask[0..32] (a clear
// bit subtracts 4); x = d·(scale−32)·q.
export function matmul_q3_k(w: usize, x: usize, y: usize, k: i32, m: i32, row0: i32, row1: i32, n_tokens: i32): void {
  k_matmul(Q3_K, 0, w, x, y, k, m, row0, row1, n_tokens);
}
export function dequantize_rows_q3_k(w: usize, ids: usize, n_ids: i32, k: i32, out: usize): void {
  k_dequantize(Q3_K, 0, w, ids, n_ids, k, out, 0);
}
export function matmul_q3_k_x4(w: usize, x: usize, y: usize, k: i32, m: i32, row0: i32, row1: i32, n_tokens: i32): void {
  k_matmul(Q3_K, 4, w, x, y, k, m, row0, row1, n_tokens);
}
export function dequantize_rows_q3_k_x4(w: usize, ids: usize, n_ids: i32, k: i32, out: usize, m: i32): void {
  k_dequantize(Q3_K, 4, w, ids, n_ids, k, out, m);
}

// Q4_K block (144 B): f16 d, f16 dmin, u8 scales[12] (8 six-bit scales and mins), u8 qs[128].
// Group g: nibble (g&1) of qs[32(g>>1) ..]; x = d·scale·q − dmin·min.
export function matmul_q4_k(w: usize, x: usize, y: usize, k: i32, m: i32, row0: i32, row1: i32, n_tokens: i32): void {
  k_matmul(Q4_K, 0, w, x, y, k, m, row0, row1, n_tokens);
}
export function dequantize_rows_q4_k(w: usize, ids: usize, n_ids: i32, k: i32, out: usize): void {
  k_dequantize(Q4_K, 0, w, ids, n_ids, k, out, 0);
}
export function matmul_q4_k_x4(w: usize, x: usize, y: usize, k: i32, m: i32, row0: i32, row1: i32, n_tokens: i32): void {
  k_matmul(Q4_K, 4, w, x, y, k, m, row0, row1, n_tokens);
}
export function dequantize_rows_q4_k_x4(w: usize, ids: usize, n_ids: i32, k: i32, out: usize, m: i32): void {
  k_dequantize(Q4_K, 4, w, ids, n_ids, k, out, m);
}

// Q5_K block (176 B): f16 d, f16 dmin, u8 scales[12], u8 qh[32], u8 qs[128]. As Q4_K with a
// fifth bit: bit g of qh[0..32] for group g.
export function matmul_q5_k(w: usize, x: usize, y: usize, k: i32, m: i32, row0: i32, row1: i32, n_tokens: i32): void {
  k_matmul(Q5_K, 0, w, x, y, k, m, row0, row1, n_tokens);
}
export function dequantize_rows_q5_k(w: usize, ids: usize, n_ids: i32, k: i32, out: usize): void {
  k_dequantize(Q5_K, 0, w, ids, n_ids, k, out, 0);
}
export function matmul_q5_k_x4(w: usize, x: usize, y: usize, k: i32, m: i32, row0: i32, row1: i32, n_tokens: i32): void {
  k_matmul(Q5_K, 4, w, x, y, k, m, row0, row1, n_tokens);
}
export function dequantize_rows_q5_k_x4(w: usize, ids: usize, n_ids: i32, k: i32, out: usize, m: i32): void {
  k_dequantize(Q5_K, 4, w, ids, n_ids, k, out, m);
}

// Q6_K block (210 B): u8 ql[128], u8 qh[64], i8 scales[16] (per 16 elements), f16 d. Half
// h = g>>2 of the block, gi = g&3: low nibble (gi>>1) of ql[64h + 32(gi&1) ..], high bits
// 2gi..2gi+1 of qh[32h ..]; x = d·scale·(q − 32).
export function matmul_q6_k(w: usize, x: usize, y: usize, k: i32, m: i32, row0: i32, row1: i32, n_tokens: i32): void {
  k_matmul(Q6_K, 0, w, x, y, k, m, row0, row1, n_tokens);
}
export function dequantize_rows_q6_k(w: usize, ids: usize, n_ids: i32, k: i32, out: usize): void {
  k_dequantize(Q6_K, 0, w, ids, n_ids, k, out, 0);
}
export function matmul_q6_k_x4(w: usize, x: usize, y: usize, k: i32, m: i32, row0: i32, row1: i32, n_tokens: i32): void {
  k_matmul(Q6_K, 4, w, x, y, k, m, row0, row1, n_tokens);
}
export function dequantize_rows_q6_k_x4(w: usize, ids: usize, n_ids: i32, k: i32, out: usize, m: i32): void {
  k_dequantize(Q6_K, 4, w, ids, n_ids, k, out, m);
}

// IQ4_XS block (136 B): f16 d, u16 scales_h, u8 scales_l[4], u8 qs[128]. Group g: six-bit scale
// (nibble g of scales_l, bits 2g..2g+1 of scales_h, offset 32); qs[16g ..] low nibbles are
// elements 0-15, high nibbles 16-31, indexing the IQ4_NL levels; x = d·(scale−32)·level.
export function matmul_iq4_xs(w: usize, x: usize, y: usize, k: i32, m: i32, row0: i32, row1: i32, n_tokens: i32): void {
  k_matmul(IQ4_XS, 0, w, x, y, k, m, row0, row1, n_tokens);
}
export function dequantize_rows_iq4_xs(w: usize, ids: usize, n_ids: i32, k: i32, out: usize): void {
  k_dequantize(IQ4_XS, 0, w, ids, n_ids, k, out, 0);
}
export function matmul_iq4_xs_x4(w: usize, x: usize, y: usize, k: i32, m: i32, row0: i32, row1: i32, n_tokens: i32): void {
  k_matmul(IQ4_XS, 4, w, x, y, k, m, row0, row1, n_tokens);
}
export function dequantize_rows_iq4_xs_x4(w: usize, ids: usize, n_ids: i32, k: i32, out: usize, m: i32): void {
  k_dequantize(IQ4_XS, 4, w, ids, n_ids, k, out, m);
}
