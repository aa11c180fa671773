// Internal helpers shared by the op kernels (not exported from the module).
import { f32_to_half, f32x4_to_halfx4, half_to_f32, halfx4_to_f32x4 } from '../shared/half';

/** Loads 4 f16 values from p and widens them to f32. */
// @ts-ignore: decorator
@inline export function load_f16x4(p: usize): v128 {
  return halfx4_to_f32x4(v128.load16x4_u(p));
}

/** One f16 value at p, as f32. */
// @ts-ignore: decorator
@inline export function load_f16(p: usize): f32 {
  return half_to_f32(<i32>load<i16>(p));
}

/** x rounded to the nearest f16 value, returned as f32. */
// @ts-ignore: decorator
@inline export function round_f16(x: f32): f32 {
  return f32x4.extract_lane(halfx4_to_f32x4(f32x4_to_halfx4(f32x4.splat(x))), 0);
}

/** Lane-wise rounding of f32 values to the nearest f16 value (kept as f32). */
// @ts-ignore: decorator
@inline export function round_f16x4(x: v128): v128 {
  return halfx4_to_f32x4(f32x4_to_halfx4(x));
}

/** dst[i] = src[i] rounded to the nearest f16 value, as f32, for i < n. */
export function round_f16_row(src: usize, dst: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(dst + (<usize>i << 2), round_f16x4(v128.load(src + (<usize>i << 2))));
  for (; i < n; i++) store<f32>(dst + (<usize>i << 2), round_f16(load<f32>(src + (<usize>i << 2))));
}

/** a*b + c: fused where the relaxed build lets the engine fuse, separately rounded otherwise. */
// @ts-ignore: decorator
@inline export function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(f32x4.mul(a, b), c);
}

/** Lane sum in a fixed order: (l0 + l1) + (l2 + l3). */
// @ts-ignore: decorator
@inline export function hsum(v: v128): f32 {
  return (f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1)) + (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3));
}

/** y[i] = expf(y[i] - m) in place; returns the sum of the new values, accumulated in f64 in index order. */
// @ts-ignore: decorator
@inline export function exp_sum(y: usize, n: i32, m: f32): f64 {
  let sum: f64 = 0;
  for (let i = 0; i < n; i++) {
    const off = <usize>i << 2;
    const e = Mathf.exp(load<f32>(y + off) - m);
    store<f32>(y + off, e);
    sum += <f64>e;
  }
  return sum;
}

/** y[i] *= s. */
// @ts-ignore: decorator
@inline export function scale_in_place(y: usize, n: i32, s: f32): void {
  const vs = f32x4.splat(s);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const off = <usize>i << 2;
    v128.store(y + off, f32x4.mul(v128.load(y + off), vs));
  }
  for (; i < n; i++) {
    const off = <usize>i << 2;
    store<f32>(y + off, load<f32>(y + off) * s);
  }
}

/** dst[i] = f16(src[i]) for i < n, nearest even; dst holds f16 bits. */
export function f32_to_f16_row(src: usize, dst: usize, n: i32): void {
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const a = f32x4_to_halfx4(v128.load(src + (<usize>i << 2)));
    const b = f32x4_to_halfx4(v128.load(src + (<usize>i << 2) + 16));
    v128.store(dst + (<usize>i << 1), i16x8.narrow_i32x4_u(a, b));
  }
  for (; i < n; i++) store<u16>(dst + (<usize>i << 1), f32_to_half(load<f32>(src + (<usize>i << 2))));
}

/** dst[i] = f32(src[i]) for i < n, src holding f16 bits. */
export function f16_to_f32_row(src: usize, dst: usize, n: i32): void {
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const h = v128.load(src + (<usize>i << 1));
    v128.store(dst + (<usize>i << 2), halfx4_to_f32x4(i32x4.extend_low_i16x8_u(h)));
    v128.store(dst + (<usize>i << 2) + 16, halfx4_to_f32x4(i32x4.extend_high_i16x8_u(h)));
  }
  for (; i < n; i++) store<f32>(dst + (<usize>i << 2), load_f16(src + (<usize>i << 1)));
}

/** dst[i] = f32(src[i]) for i < n, src holding bf16 bits (exact: the bits move to the top half). */
export function bf16_to_f32_row(src: usize, dst: usize, n: i32): void {
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const h = v128.load(src + (<usize>i << 1));
    v128.store(dst + (<usize>i << 2), i32x4.shl(i32x4.extend_low_i16x8_u(h), 16));
    v128.store(dst + (<usize>i << 2) + 16, i32x4.shl(i32x4.extend_high_i16x8_u(h), 16));
  }
  for (; i < n; i++) store<u32>(dst + (<usize>i << 2), <u32>load<u16>(src + (<usize>i << 1)) << 16);
}
