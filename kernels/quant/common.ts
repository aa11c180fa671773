// Helpers shared by the quant kernels. Everything here is @inline: it compiles into the kernel
// that calls it, so no call overhead and constant arguments fold away.
//
// Exactness rule for every matmul: the integer part of a block's dot product is exact however
// the SIMD lanes are arranged, and the float part is a fixed sequence of f32 operations per
// output element. So results are bit-identical across builds (baseline/relaxed), token tilings
// and row splits.

import { halfx4_s_to_f32x4 } from '../shared/half';
import { F16_BITS, F16_EXPONENT, F16_REBIAS_X4, NIBBLE_MASK, pooled } from '../shared/lanes';

/**
 * [Σv0, Σv1, Σv2, Σv3]: the lane sums of four i32x4 in one vector (exact integer adds, so the
 * grouping does not matter). Every shuffle is one unpack instruction on x64.
 */
@inline export function hsum4_i32x4(v0: v128, v1: v128, v2: v128, v3: v128): v128 {
  const a = i32x4.add(i32x4.shuffle(v0, v1, 0, 4, 1, 5), i32x4.shuffle(v0, v1, 2, 6, 3, 7));
  const b = i32x4.add(i32x4.shuffle(v2, v3, 0, 4, 1, 5), i32x4.shuffle(v2, v3, 2, 6, 3, 7));
  return i32x4.add(i32x4.shuffle(a, b, 0, 1, 4, 5), i32x4.shuffle(a, b, 2, 3, 6, 7));
}

/** f16 scales at p0+off .. p3+off as f32x4 (see halfx4_s_to_f32x4 in shared/half.ts). */
@inline export function halves4(p0: usize, p1: usize, p2: usize, p3: usize, off: usize): v128 {
  return f16x4_to_f32x4(gather_halves4(p0, p1, p2, p3, off));
}

/** The f16 at p0+off .. p3+off in i16 lanes 0-3. */
@inline function gather_halves4(p0: usize, p1: usize, p2: usize, p3: usize, off: usize): v128 {
  let v = v128.load16_splat(p0 + off);
  v = v128.load16_lane(p1 + off, v, 1);
  v = v128.load16_lane(p2 + off, v, 2);
  return v128.load16_lane(p3 + off, v, 3);
}

/** The f16s in i16 lanes 0-3 of h as f32x4, exactly (see halfx4_s_to_f32x4). */
@inline export function f16x4_to_f32x4(h: v128): v128 {
  return halfx4_s_to_f32x4(i32x4.extend_low_i16x8_s(h));
}

/** The f16s in i16 lanes 0-3 of h with their bits in f32 position, not rebiased (see halves4_unbiased). */
@inline export function f16x4_unbiased(h: v128): v128 {
  return v128.and(i32x4.shl(i32x4.extend_low_i16x8_s(h), 13), pooled(F16_BITS));
}

/**
 * f16 scales at p0+off .. p3+off with their bits moved into f32 position and not rebiased: each
 * lane is the scale times 2^-112 exactly (subnormal scales land on f32 subnormals), in three
 * instructions after the gather instead of seven. A product with a factor that carries the
 * 2^112 (see rebiased_splat) is then the same single rounding of the same real product as with
 * the converted scale, so the same bits. Not for inf/NaN scales, which come out finite: fold
 * each result into scale_specials and take the exact path where it reports one.
 */
@inline export function halves4_unbiased(p0: usize, p1: usize, p2: usize, p3: usize, off: usize): v128 {
  return f16x4_unbiased(gather_halves4(p0, p1, p2, p3, off));
}

/** Running lane maximum of the f16 exponent fields of halves4_unbiased results. */
@inline export function scale_specials(acc: v128, unbiased: v128): v128 {
  return i32x4.max_u(acc, v128.and(unbiased, pooled(F16_EXPONENT)));
}

/** Whether a scale_specials accumulator saw an f16 inf or NaN (exponent field all ones). */
@inline export function has_special(acc: v128): bool {
  return v128.any_true(i32x4.eq(acc, i32x4.splat(0x0f800000)));
}

/** The f16 at p as f32 times 2^112 in every lane: exact (even 65504 stays below f32's maximum). */
@inline export function rebiased_splat(p: usize): v128 {
  return f32x4.mul(half_splat(p), pooled(F16_REBIAS_X4));
}

/** The f16 at p as f32 in every lane (see halfx4_s_to_f32x4). */
@inline export function half_splat(p: usize): v128 {
  return f16x4_to_f32x4(v128.load16_splat(p));
}

/** Stores lane i of f32x4 `v` at p + 4i for i < n (n in 1..4: rows of a partial group). */
@inline export function store_lanes(p: usize, v: v128, n: i32): void {
  if (n == 4) {
    v128.store(p, v);
    return;
  }
  store<f32>(p, f32x4.extract_lane(v, 0));
  if (n > 1) store<f32>(p, f32x4.extract_lane(v, 1), 4);
  if (n > 2) store<f32>(p, f32x4.extract_lane(v, 2), 8);
}

/**
 * The high nibble of every byte (i8x16.shr_u(v, 4)), as a 16-bit shift and the nibble mask: two
 * instructions on x64, where V8 lowers i8x16.shr_u to five (it rebuilds its mask every time).
 * Where the caller masks the result anyway, i16x8.shr_u alone does (the bits shifted in from the
 * neighbouring byte land above the mask).
 */
@inline export function high_nibbles(v: v128): v128 {
  return v128.and(i16x8.shr_u(v, 4), pooled(NIBBLE_MASK));
}

/**
 * Four rows' i16x8 partial sums s0..s3 reduced to one vector whose i32 lane r holds two i16
 * (the sums of s_r's even and of its odd lanes): a dot with ones then gives [Σs0, .., Σs3],
 * after subtracting any common term in i16_pair_sums form. The adds wrap in i16: exact when
 * every row's final sum fits i16, which the caller guarantees. With that dot, ten instructions
 * per four rows where widening each row first and transposing in i32 takes thirteen.
 */
@inline export function hsum4_i16x8(s0: v128, s1: v128, s2: v128, s3: v128): v128 {
  const a = i16x8.add(i32x4.shuffle(s0, s1, 0, 4, 1, 5), i32x4.shuffle(s0, s1, 2, 6, 3, 7));
  const b = i16x8.add(i32x4.shuffle(s2, s3, 0, 4, 1, 5), i32x4.shuffle(s2, s3, 2, 6, 3, 7));
  return i16x8.add(i32x4.shuffle(a, b, 0, 1, 4, 5), i32x4.shuffle(a, b, 2, 3, 6, 7));
}

/** Every i32 lane of the result holds (Σ even i16 lanes of c, Σ odd i16 lanes of c): c in hsum4_i16x8's form. */
@inline export function i16_pair_sums(c: v128): v128 {
  const t = i16x8.add(c, i32x4.shuffle(c, c, 2, 3, 0, 1));
  return i16x8.add(t, i32x4.shuffle(t, t, 1, 0, 3, 2));
}

@inline export function hsum_i32x4(v: v128): i32 {
  const s = i32x4.add(v, i32x4.shuffle(v, v, 2, 3, 0, 1));
  return i32x4.extract_lane(s, 0) + i32x4.extract_lane(s, 1);
}

/**
 * Pairwise sums u·a of 16 elements as i16x8 (relaxed SIMD): a signed i8x16, u unsigned i8x16
 * in 0..127, so V8/x64 (which mis-sums a second operand with its top bit set) is exact and
 * no pair sum (|.| <= 2·128·127) saturates. We use this i16x8 form rather than
 * i32x4.relaxed_dot_i8x16_i7x16_add_s: V8 11.3 (Node 20) computes the latter wrongly (twice the
 * dot, accumulator dropped). Only reachable in the relaxed build; the baseline build compiles
 * calls in branches that fold to false.
 */
@inline export function rdot16_u(a: v128, u: v128): v128 {
  if (!ASC_FEATURE_RELAXED_SIMD) return <v128>unreachable();
  return i16x8.relaxed_dot_i8x16_i7x16_s(a, u);
}

/** Low / high half of signed i8x16 `v`, widened to i16x8 and multiplied by the i16x8 `s`. */
@inline export function scaled_lo(v: v128, s: v128): v128 {
  return i16x8.mul(i16x8.extend_low_i8x16_s(v), s);
}

@inline export function scaled_hi(v: v128, s: v128): v128 {
  return i16x8.mul(i16x8.extend_high_i8x16_s(v), s);
}

/** Stores 16 i8 values as f32 q·d (one rounding per element, as ggml's q*d). */
@inline export function store16_mul(dst: usize, q: v128, d: f32): void {
  const dv = f32x4.splat(d);
  const lo = i16x8.extend_low_i8x16_s(q), hi = i16x8.extend_high_i8x16_s(q);
  v128.store(dst, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(lo)), dv));
  v128.store(dst, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(lo)), dv), 16);
  v128.store(dst, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(hi)), dv), 32);
  v128.store(dst, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(hi)), dv), 48);
}

/**
 * Stores 16 i8 values as f32 q·d + m. Callers guarantee q·d is exact in f32, so this rounds
 * once, like ggml's expression whether or not the C compiler fused it.
 */
@inline export function store16_mul_add(dst: usize, q: v128, d: f32, m: f32): void {
  const dv = f32x4.splat(d), mv = f32x4.splat(m);
  const lo = i16x8.extend_low_i8x16_s(q), hi = i16x8.extend_high_i8x16_s(q);
  v128.store(dst, f32x4.add(f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(lo)), dv), mv));
  v128.store(dst, f32x4.add(f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(lo)), dv), mv), 16);
  v128.store(dst, f32x4.add(f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(hi)), dv), mv), 32);
  v128.store(dst, f32x4.add(f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(hi)), dv), mv), 48);
}

/** Bit j of the u32 `bits` as 0x10 in byte j, for j < 16 (elements 0-15 of a q5 block). */
@inline export function q5_high_lo(bits: u32): v128 {
  const v = i32x4.splat(bits);
  const sel = i8x16.shuffle(v, v, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
  return bit_to_0x10(sel);
}

/** Bit j+16 of `bits` as 0x10 in byte j (elements 16-31 of a q5 block). */
@inline export function q5_high_hi(bits: u32): v128 {
  const v = i32x4.splat(bits);
  const sel = i8x16.shuffle(v, v, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
  return bit_to_0x10(sel);
}

@inline function bit_to_0x10(sel: v128): v128 {
  const bit = i8x16(1, 2, 4, 8, 16, 32, 64, -128, 1, 2, 4, 8, 16, 32, 64, -128);
  return v128.and(i8x16.eq(v128.and(sel, bit), bit), i8x16.splat(0x10));
}

/**
 * The IQ4 levels of 16 indices in 0..15. The relaxed build's swizzle is a bare pshufb on x64
 * (indices this small mean the same in every mode); the plain one adds a range fix-up.
 */
@inline export function levels(idx: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return i8x16.relaxed_swizzle(iq4_levels(), idx);
  return i8x16.swizzle(iq4_levels(), idx);
}

/** IQ4_NL / IQ4_XS non-linear 4-bit levels (ggml's kvalues_iq4nl), indexed by swizzle. */
@inline export function iq4_levels(): v128 {
  return i8x16(-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113);
}

/** Tokens per pass of a prefill loop (see tiled_rows in interleave.ts). */
export const TOKEN_TILE = 128;

/** Bytes ahead of the decode stream that touch_ahead reads. */
export const TOUCH_DISTANCE: usize = 4096;

/** The last byte of this memory: touch_ahead's bound (the memory never grows while kernels run). */
@inline export function memory_last(): usize {
  return (<usize>memory.size() << 16) - 1;
}

/**
 * Reads (and drops) one byte of every 64 in [p + TOUCH_DISTANCE, + n), clamped to `last`: a
 * decode loop's software prefetch. Wasm has no prefetch instruction, and a loop that spends many
 * instructions per byte keeps too few of its own loads in flight for DRAM (a TinyLlama-sized
 * stream ran at 4.3 GB/s where the same loop ran at 12 from cache).
 */
@inline export function touch_ahead(p: usize, n: usize, last: usize): void {
  for (let o: usize = 0; o < n; o += 64) load<u8>(min(p + TOUCH_DISTANCE + o, last));
}
