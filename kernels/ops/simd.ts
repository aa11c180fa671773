// Internal helpers shared by the op kernels (not exported from the module).
import { f32_to_half, f32x4_to_halfx4, half_to_f32, halfx4_s_to_f32x4, halfx4_to_f32x4 } from '../shared/half';

/** Loads 4 f16 values from p and widens them to f32 (exactly; sign-extending load, two ops fewer). */
// @ts-ignore: decorator
@inline export function load_f16x4(p: usize): v128 {
  return halfx4_s_to_f32x4(v128.load16x4_s(p));
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

// AssemblyScript's expf table (std/assembly/util/math.ts, EXP2F_DATA_TAB): 2^(i/32) as
// uint64 minus i << 47. Read-only data, the same bytes in every instance.
// @ts-ignore: decorator
@lazy @inline const EXP_TAB = memory.data<u64>([
  0x3FF0000000000000, 0x3FEFD9B0D3158574, 0x3FEFB5586CF9890F, 0x3FEF9301D0125B51,
  0x3FEF72B83C7D517B, 0x3FEF54873168B9AA, 0x3FEF387A6E756238, 0x3FEF1E9DF51FDEE1,
  0x3FEF06FE0A31B715, 0x3FEEF1A7373AA9CB, 0x3FEEDEA64C123422, 0x3FEECE086061892D,
  0x3FEEBFDAD5362A27, 0x3FEEB42B569D4F82, 0x3FEEAB07DD485429, 0x3FEEA47EB03A5585,
  0x3FEEA09E667F3BCD, 0x3FEE9F75E8EC5F74, 0x3FEEA11473EB0187, 0x3FEEA589994CCE13,
  0x3FEEACE5422AA0DB, 0x3FEEB737B0CDC5E5, 0x3FEEC49182A3F090, 0x3FEED503B23E255D,
  0x3FEEE89F995AD3AD, 0x3FEEFF76F2FB5E47, 0x3FEF199BDD85529C, 0x3FEF3720DCEF9069,
  0x3FEF5818DCFBA487, 0x3FEF7C97337B9B5F, 0x3FEFA4AFA2A490DA, 0x3FEFD0765B6E4540,
]);

/**
 * Mathf.exp of two f64x2 lanes holding f32 values (AssemblyScript's expf_lut, the same f64
 * operations lane by lane, so the same bits), for |x| < 88 (the caller sends other values to
 * Mathf.exp). Returns the f32 results in lanes 0-1.
 */
// @ts-ignore: decorator
@inline function expf2(xd: v128): v128 {
  const N: f64 = 32;
  const shift = f64x2.splat(reinterpret<f64>(0x4338000000000000));
  const z = f64x2.mul(f64x2.splat(reinterpret<f64>(0x3FF71547652B82FE) * N), xd);
  const kd = f64x2.add(z, shift);
  const r = f64x2.sub(z, f64x2.sub(kd, shift));
  const idx = v128.and(kd, i64x2.splat(31));
  let t = v128.load64_splat(EXP_TAB + (<usize>i64x2.extract_lane(idx, 0) << 3));
  t = v128.load64_lane(EXP_TAB + (<usize>i64x2.extract_lane(idx, 1) << 3), t, 1);
  const s = i64x2.add(t, i64x2.shl(kd, 47));
  const c = f64x2.add(f64x2.mul(f64x2.splat(reinterpret<f64>(0x3FAC6AF84B912394) / N / N / N), r), f64x2.splat(reinterpret<f64>(0x3FCEBFCE50FAC4F3) / N / N));
  let y = f64x2.add(f64x2.mul(f64x2.splat(reinterpret<f64>(0x3FE62E42FF0C52D6) / N), r), f64x2.splat(1));
  y = f64x2.add(y, f64x2.mul(c, f64x2.mul(r, r)));
  return f32x4.demote_f64x2_zero(f64x2.mul(y, s));
}

/** Mathf.exp of four f32 lanes with |x| < 88 (see expf2). */
// @ts-ignore: decorator
@inline export function expf4(x: v128): v128 {
  const lo = expf2(f64x2.promote_low_f32x4(x));
  const hi = expf2(f64x2.promote_low_f32x4(i32x4.shuffle(x, x, 2, 3, 0, 1)));
  return i32x4.shuffle(lo, hi, 0, 1, 4, 5);
}

/** Whether any lane of x needs Mathf.exp's special cases (|x| >= 88, inf, NaN): its exponent test. */
// @ts-ignore: decorator
@inline function exp_special(x: v128): bool {
  return v128.any_true(i32x4.ge_u(v128.and(i32x4.shr_u(x, 20), i32x4.splat(0x7ff)), i32x4.splat(0x42b)));
}

/**
 * y[i] = expf(y[i] - m) in place; returns the sum of the new values, accumulated in f64 in index
 * order. Four at a time with expf4 where no lane needs a special case (the same bits as
 * Mathf.exp: tested on every f32 of the range).
 */
// @ts-ignore: decorator
@inline export function exp_sum(y: usize, n: i32, m: f32): f64 {
  let sum: f64 = 0;
  const mv = f32x4.splat(m);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const p = y + (<usize>i << 2);
    const x = f32x4.sub(v128.load(p), mv);
    let e: v128;
    if (exp_special(x)) {
      e = f32x4.splat(Mathf.exp(f32x4.extract_lane(x, 0)));
      e = f32x4.replace_lane(e, 1, Mathf.exp(f32x4.extract_lane(x, 1)));
      e = f32x4.replace_lane(e, 2, Mathf.exp(f32x4.extract_lane(x, 2)));
      e = f32x4.replace_lane(e, 3, Mathf.exp(f32x4.extract_lane(x, 3)));
    } else {
      e = expf4(x);
    }
    v128.store(p, e);
    sum += <f64>f32x4.extract_lane(e, 0);
    sum += <f64>f32x4.extract_lane(e, 1);
    sum += <f64>f32x4.extract_lane(e, 2);
    sum += <f64>f32x4.extract_lane(e, 3);
  }
  for (; i < n; i++) {
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
