// f16 / bf16 <-> f32 conversions and a lane max, shared by the op and quant kernels. All
// @inline. Conversions are bit-exact with src/quant/half.ts (tested on every f16 pattern):
// f32 -> f16/bf16 round to nearest even, NaNs stay quiet; f16 -> f32 is exact.

import { F16_BITS, F16_EXPONENT, F16_MAGNITUDE, F16_REBIAS_X4, F16_SIGN, F32_EXPONENT, pooled } from './lanes';

/** 2^112: rebiases an f16 exponent placed in f32 position (and renormalises subnormals). */
export const F16_REBIAS: f32 = reinterpret<f32>(0x77800000);

/**
 * One f16 -> f32. `h` holds the f16 bits sign-extended to i32 (load<i16>): shifted left by 13 and
 * masked, sign, exponent and mantissa sit in f32 position; one exact multiplication by 2^112
 * rebiases normals and renormalises subnormals; exponent 31 (inf/NaN) gets the all-ones exponent.
 */
// @ts-ignore: decorator
@inline export function half_to_f32(h: i32): f32 {
  const e = (h << 13) & 0x8fffffff;
  const scaled = reinterpret<u32>(reinterpret<f32>(e) * F16_REBIAS);
  return reinterpret<f32>(scaled | select<u32>(0x7f800000, 0, (e & 0x0f800000) == 0x0f800000));
}

/** Four f16 bit patterns in the low 16 bits of i32 lanes (zero- or sign-extended) -> f32x4. */
// @ts-ignore: decorator
@inline export function halfx4_to_f32x4(h: v128): v128 {
  const em = i32x4.shl(v128.and(h, pooled(F16_MAGNITUDE)), 13);
  const o = f32x4.mul(em, pooled(F16_REBIAS_X4));
  const infnan = i32x4.ge_u(em, pooled(F16_EXPONENT));
  const sign = i32x4.shl(v128.and(h, pooled(F16_SIGN)), 16);
  return v128.or(v128.or(o, v128.and(infnan, pooled(F32_EXPONENT))), sign);
}

/**
 * f16 bit patterns in i32 lanes, sign-extended, -> f32x4, each exactly as half_to_f32 (lane-wise
 * the same operations: the bits shifted into f32 position, one exact multiplication by 2^112,
 * inf/NaN given the all-ones exponent).
 */
// @ts-ignore: decorator
@inline export function halfx4_s_to_f32x4(h: v128): v128 {
  const e = v128.and(i32x4.shl(h, 13), pooled(F16_BITS));
  const o = f32x4.mul(e, pooled(F16_REBIAS_X4));
  const special = i32x4.eq(v128.and(e, pooled(F16_EXPONENT)), pooled(F16_EXPONENT));
  return v128.or(o, v128.and(special, pooled(F32_EXPONENT)));
}

/** f32x4 -> f16 bit patterns in i32 lanes, rounding to nearest even like F16C. */
// @ts-ignore: decorator
@inline export function f32x4_to_halfx4(x: v128): v128 {
  const sign = v128.and(i32x4.shr_u(x, 16), i32x4.splat(0x8000));
  const abs = v128.and(x, i32x4.splat(0x7fffffff));
  // Normal results: rebias the exponent (127 -> 15) and round the 13 dropped mantissa bits to
  // nearest even; a carry moves into the exponent, and anything from 65520 up lands on or past
  // 0x7c00, which min_u clamps to infinity.
  const lsb = v128.and(i32x4.shr_u(abs, 13), i32x4.splat(1));
  const rounded = i32x4.add(i32x4.sub(abs, i32x4.splat(0x38000000)), i32x4.add(i32x4.splat(0xfff), lsb));
  const normal = i32x4.min_u(i32x4.shr_u(rounded, 13), i32x4.splat(0x7c00));
  // Subnormal results (|x| < 2^-14): adding 0.5 makes the FPU round |x| to a multiple of 2^-24,
  // nearest even; the low bits of the sum are then the f16 mantissa.
  const sub = i32x4.sub(f32x4.add(abs, f32x4.splat(0.5)), i32x4.splat(0x3f000000));
  // NaN stays NaN with its top payload bits, quiet bit set (as F16C does).
  const nan = v128.or(v128.and(i32x4.shr_u(abs, 13), i32x4.splat(0x3ff)), i32x4.splat(0x7e00));
  let h = v128.bitselect(sub, normal, i32x4.lt_u(abs, i32x4.splat(0x38800000)));
  h = v128.bitselect(nan, h, i32x4.gt_u(abs, i32x4.splat(0x7f800000)));
  return v128.or(h, sign);
}

/** One f32 -> f16 bits, as f32x4_to_halfx4. */
// @ts-ignore: decorator
@inline export function f32_to_half(x: f32): u16 {
  return <u16>i32x4.extract_lane(f32x4_to_halfx4(f32x4.splat(x)), 0);
}

/** f32x4 -> bf16 bits in i32 lanes: round to nearest even, NaNs kept quiet (as ggml). */
// @ts-ignore: decorator
@inline export function f32x4_to_bf16x4(v: v128): v128 {
  const hi = i32x4.shr_u(v, 16);
  const rounded = i32x4.shr_u(i32x4.add(i32x4.add(v, i32x4.splat(0x7fff)), v128.and(hi, i32x4.splat(1))), 16);
  const isnan = i32x4.gt_s(v128.and(v, i32x4.splat(0x7fffffff)), i32x4.splat(0x7f800000));
  return v128.bitselect(v128.or(hi, i32x4.splat(64)), rounded, isnan);
}

/** Largest lane. */
// @ts-ignore: decorator
@inline export function max4(v: v128): f32 {
  return max(max(f32x4.extract_lane(v, 0), f32x4.extract_lane(v, 1)), max(f32x4.extract_lane(v, 2), f32x4.extract_lane(v, 3)));
}
