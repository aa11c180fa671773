// Helpers shared by the quant kernels. Everything here is @inline: it compiles into the kernel
// that calls it, so no call overhead and constant arguments fold away.
//
// Exactness rule for every matmul: the integer part of a block's dot product is exact however
// the SIMD lanes are arranged, and the float part is a fixed sequence of f32 operations per
// output element. So results are bit-identical across builds (baseline/relaxed), token tilings
// and row splits.

@inline export function hsum_i32x4(v: v128): i32 {
  const s = i32x4.add(v, i32x4.shuffle(v, v, 2, 3, 0, 1));
  return i32x4.extract_lane(s, 0) + i32x4.extract_lane(s, 1);
}

/** Σ w·a over 16 elements: w as two i16x8 (elements 0-7, 8-15), a as i8x16. */
@inline export function dot16_i16(w0: v128, w1: v128, a: v128): v128 {
  return i32x4.add(
    i32x4.dot_i16x8_s(w0, i16x8.extend_low_i8x16_s(a)),
    i32x4.dot_i16x8_s(w1, i16x8.extend_high_i8x16_s(a)),
  );
}

/** Σ w·a over 32 elements: w as four i16x8, a as 32 i8 at p (any alignment). */
@inline export function dot32_i16(w0: v128, w1: v128, w2: v128, w3: v128, p: usize): v128 {
  return i32x4.add(dot16_i16(w0, w1, v128.load(p)), dot16_i16(w2, w3, v128.load(p, 16)));
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

/** IQ4_NL / IQ4_XS non-linear 4-bit levels (ggml's kvalues_iq4nl), indexed by swizzle. */
@inline export function iq4_levels(): v128 {
  return i8x16(-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113);
}
