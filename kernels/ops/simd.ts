// Internal helpers shared by the op kernels (not exported from the module).

/** Rounds each f32 lane to f16 (nearest even) and returns the f16 bit patterns in the i32 lanes. */
// @ts-ignore: decorator
@inline export function f32x4_to_f16_bits(x: v128): v128 {
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

/** Widens f16 bit patterns held in the low 16 bits of each i32 lane to f32 (exact). */
// @ts-ignore: decorator
@inline export function f16_bits_to_f32x4(h: v128): v128 {
  // Exponent and mantissa moved into f32 position, then scaled by 2^112 to rebias the exponent
  // (15 -> 127): exact for normal and subnormal halves alike (the latter are f32 denormals before
  // the product). Inf/NaN would land at 65536 and up, so their exponent is forced to all ones.
  const em = i32x4.shl(v128.and(h, i32x4.splat(0x7fff)), 13);
  const o = f32x4.mul(em, f32x4.splat(reinterpret<f32>(0x77800000)));
  const infnan = i32x4.ge_u(em, i32x4.splat(0x0f800000));
  const sign = i32x4.shl(v128.and(h, i32x4.splat(0x8000)), 16);
  return v128.or(v128.or(o, v128.and(infnan, i32x4.splat(0x7f800000))), sign);
}

/** Loads 4 f16 values from p and widens them to f32. */
// @ts-ignore: decorator
@inline export function load_f16x4(p: usize): v128 {
  return f16_bits_to_f32x4(v128.load16x4_u(p));
}

/** One f16 value at p, as f32. */
// @ts-ignore: decorator
@inline export function load_f16(p: usize): f32 {
  return f32x4.extract_lane(f16_bits_to_f32x4(i32x4.splat(<i32>load<u16>(p))), 0);
}

/** f32 -> nearest-even f16, as bits. */
// @ts-ignore: decorator
@inline export function f32_to_f16_bits(x: f32): u16 {
  return <u16>i32x4.extract_lane(f32x4_to_f16_bits(f32x4.splat(x)), 0);
}

/** x rounded to the nearest f16 value, returned as f32. */
// @ts-ignore: decorator
@inline export function round_f16(x: f32): f32 {
  return f32x4.extract_lane(f16_bits_to_f32x4(f32x4_to_f16_bits(f32x4.splat(x))), 0);
}

/** Lane-wise rounding of f32 values to the nearest f16 value (kept as f32). */
// @ts-ignore: decorator
@inline export function round_f16x4(x: v128): v128 {
  return f16_bits_to_f32x4(f32x4_to_f16_bits(x));
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

/** Largest lane. */
// @ts-ignore: decorator
@inline export function max4(v: v128): f32 {
  return max(max(f32x4.extract_lane(v, 0), f32x4.extract_lane(v, 1)), max(f32x4.extract_lane(v, 2), f32x4.extract_lane(v, 3)));
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
    const a = f32x4_to_f16_bits(v128.load(src + (<usize>i << 2)));
    const b = f32x4_to_f16_bits(v128.load(src + (<usize>i << 2) + 16));
    v128.store(dst + (<usize>i << 1), i16x8.narrow_i32x4_u(a, b));
  }
  for (; i < n; i++) store<u16>(dst + (<usize>i << 1), f32_to_f16_bits(load<f32>(src + (<usize>i << 2))));
}

/** dst[i] = f32(src[i]) for i < n, src holding f16 bits. */
export function f16_to_f32_row(src: usize, dst: usize, n: i32): void {
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const h = v128.load(src + (<usize>i << 1));
    v128.store(dst + (<usize>i << 2), f16_bits_to_f32x4(i32x4.extend_low_i16x8_u(h)));
    v128.store(dst + (<usize>i << 2) + 16, f16_bits_to_f32x4(i32x4.extend_high_i16x8_u(h)));
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
