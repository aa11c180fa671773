// Helpers shared by the quant kernels. Everything here is @inline: it compiles into the kernel
// that calls it, so no call overhead and constant arguments fold away.
//
// Exactness rule for every matmul: the integer part of a block's dot product is exact however
// the SIMD lanes are arranged, and the float part is a fixed sequence of f32 operations per
// output element. So results are bit-identical across builds (baseline/relaxed), token tilings
// and row splits.

/** 2^112: rebiases an f16 exponent placed in f32 position (also renormalizes subnormals). */
const F16_REBIAS: f32 = reinterpret<f32>(0x77800000);

/**
 * f16 -> f32, exact for every input (subnormals, infinities and NaNs included). `h` holds the
 * f16 bits sign-extended to i32 (load<i16>): shifted left by 13 and masked, sign, exponent and
 * mantissa sit in f32 position with the exponent unbiased by 112; one exact multiplication by
 * 2^112 rebiases normals and renormalizes subnormals. Exponent 31 (inf/NaN) would scale to a
 * finite value: it gets the f32 all-ones exponent instead.
 */
@inline export function f16_to_f32(h: i32): f32 {
  const e = (h << 13) & 0x8fffffff;
  const scaled = reinterpret<u32>(reinterpret<f32>(e) * F16_REBIAS);
  return reinterpret<f32>(scaled | select<u32>(0x7f800000, 0, (e & 0x0f800000) == 0x0f800000));
}

/** Four f16 values sign-extended in i32 lanes (extend_*_i16x8_s) -> f32x4, as f16_to_f32. */
@inline export function f16x4_to_f32x4(h: v128): v128 {
  const e = v128.and(i32x4.shl(h, 13), i32x4.splat(0x8fffffff));
  const scaled = f32x4.mul(e, f32x4.splat(F16_REBIAS));
  const exp = i32x4.splat(0x0f800000);
  return v128.or(scaled, v128.and(i32x4.eq(v128.and(e, exp), exp), i32x4.splat(0x7f800000)));
}

/**
 * f32x4 -> f16 bits in u32 lanes, rounding to nearest even like F16C and ggml's reference
 * (overflow to infinity, NaNs quiet with the top mantissa bits kept).
 */
@inline export function f32x4_to_f16x4(v: v128): v128 {
  const abs = v128.and(v, i32x4.splat(0x7fffffff));
  const sign = v128.and(i32x4.shr_u(v, 16), i32x4.splat(0x8000));
  // Normal range: rebias the exponent by -112 and round the 13 dropped bits to nearest even.
  const odd = v128.and(i32x4.shr_u(abs, 13), i32x4.splat(1));
  const normal = i32x4.shr_u(i32x4.add(i32x4.add(abs, i32x4.splat(0xc8000fff)), odd), 13);
  // Below 2^-14: adding 0.5 makes the FPU round to a multiple of 2^-24, the f16 subnormal step.
  const sub = i32x4.sub(f32x4.add(abs, f32x4.splat(0.5)), i32x4.splat(0x3f000000));
  const nan = v128.or(i32x4.splat(0x7e00), v128.and(i32x4.shr_u(abs, 13), i32x4.splat(0x3ff)));
  const special = v128.bitselect(nan, i32x4.splat(0x7c00), i32x4.gt_s(abs, i32x4.splat(0x7f800000)));
  const finite = v128.bitselect(sub, normal, i32x4.lt_s(abs, i32x4.splat(0x38800000)));
  return v128.or(v128.bitselect(special, finite, i32x4.ge_s(abs, i32x4.splat(0x47800000))), sign);
}

/** f32 -> f16 bits, as f32x4_to_f16x4. */
@inline export function f32_to_f16(x: f32): u16 {
  return <u16>i32x4.extract_lane(f32x4_to_f16x4(f32x4.splat(x)), 0);
}

/** f32x4 -> bf16 bits in u32 lanes: round to nearest even, NaNs kept quiet (as ggml). */
@inline export function f32x4_to_bf16x4(v: v128): v128 {
  const hi = i32x4.shr_u(v, 16);
  const rounded = i32x4.shr_u(i32x4.add(i32x4.add(v, i32x4.splat(0x7fff)), v128.and(hi, i32x4.splat(1))), 16);
  const isnan = i32x4.gt_s(v128.and(v, i32x4.splat(0x7fffffff)), i32x4.splat(0x7f800000));
  return v128.bitselect(v128.or(hi, i32x4.splat(64)), rounded, isnan);
}

@inline export function hsum_i32x4(v: v128): i32 {
  const s = i32x4.add(v, i32x4.shuffle(v, v, 2, 3, 0, 1));
  return i32x4.extract_lane(s, 0) + i32x4.extract_lane(s, 1);
}

@inline export function hmax_f32x4(v: v128): f32 {
  const m = f32x4.max(v, f32x4.shuffle(v, v, 2, 3, 0, 1));
  return max<f32>(f32x4.extract_lane(m, 0), f32x4.extract_lane(m, 1));
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
