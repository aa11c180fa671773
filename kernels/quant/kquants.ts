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
// dequantize_rows_<type>(w, ids, n_ids, k, out): bit-exact with ggml's to_float (each element is
// one rounding of an exact product, minus the min where there is one).
import { dot32_i16, hsum_i32x4, iq4_levels, rdot16_u, scaled_hi, scaled_lo, store16_mul, store16_mul_add } from './common';
import { half_to_f32 } from '../shared/half';

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
    return v128.and(i8x16.shr_u(v128.load(wb + 16 + (<usize>(g >> 2) << 5) + ho), (g & 3) << 1), i8x16.splat(3));
  }
  if (kind == Q3_K) {
    const low = v128.and(i8x16.shr_u(v128.load(wb + 32 + (<usize>(g >> 2) << 5) + ho), (g & 3) << 1), i8x16.splat(3));
    return v128.or(low, i8x16.shl(v128.and(i8x16.shr_u(v128.load(wb + ho), g), i8x16.splat(1)), 2));
  }
  if (kind == Q4_K) {
    return v128.and(i8x16.shr_u(v128.load(wb + 16 + (<usize>(g >> 1) << 5) + ho), (g & 1) << 2), i8x16.splat(15));
  }
  if (kind == Q5_K) {
    const low = v128.and(i8x16.shr_u(v128.load(wb + 48 + (<usize>(g >> 1) << 5) + ho), (g & 1) << 2), i8x16.splat(15));
    return v128.or(low, i8x16.shl(v128.and(i8x16.shr_u(v128.load(wb + 16 + ho), g), i8x16.splat(1)), 4));
  }
  if (kind == Q6_K) {
    const half = <usize>(g >> 2), gi = g & 3;
    const ql = v128.load(wb + (half << 6) + (<usize>(gi & 1) << 5) + ho);
    const qh = v128.load(wb + 128 + (half << 5) + ho);
    const low = v128.and(i8x16.shr_u(ql, (gi >> 1) << 2), i8x16.splat(15));
    return v128.or(low, i8x16.shl(v128.and(i8x16.shr_u(qh, gi << 1), i8x16.splat(3)), 4));
  }
  const raw = v128.load(wb + 8 + (<usize>g << 4));
  return i8x16.swizzle(iq4_levels(), h == 0 ? v128.and(raw, i8x16.splat(15)) : i8x16.shr_u(raw, 4));
}

/**
 * Mins as i16 lanes matching bsums 0-7 (half 0) or 8-15 (half 1): Q2_K has one min per 16
 * (high nibbles of scales), Q4_K/Q5_K one per group, repeated for its two bsums.
 */
@inline function mins_i16(kind: i32, wb: usize, half: i32): v128 {
  if (kind == Q2_K) {
    const m = i8x16.shr_u(v128.load(wb), 4);
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

/** hsum(Σ bsums·c) for i16 lane weights c_lo (bsums 0-7) and c_hi (8-15) of activation block xb. */
@inline function bsums_dot(xb: usize, c_lo: v128, c_hi: v128): i32 {
  return hsum_i32x4(i32x4.add(i32x4.dot_i16x8_s(v128.load(xb, 260), c_lo), i32x4.dot_i16x8_s(v128.load(xb, 276), c_hi)));
}

/**
 * The block's contribution for one token. `acc` holds the scaled code·activation sums; in the
 * relaxed build the codes of Q3_K/Q6_K still carry their offset, removed here as
 * offset·Σ scale·Σa with the per-16 sums from bsums (c_lo/c_hi are the scales).
 */
@inline function block_term(kind: i32, acc: v128, xb: usize, d: f32, dmin: f32, c_lo: v128, c_hi: v128): f32 {
  const dx = load<f32>(xb);
  let isum = hsum_i32x4(acc);
  if (relaxed_dot(kind) && code_offset(kind) != 0) isum -= <i32>code_offset(kind) * bsums_dot(xb, c_lo, c_hi);
  if (!has_min(kind)) return (dx * d) * <f32>isum;
  return (dx * d) * <f32>isum - (dx * dmin) * <f32>bsums_dot(xb, c_lo, c_hi);
}

/**
 * Σ scale·code·a over group g for the 32 activations at q, relaxed build. Pair sums fit i16
 * (codes <= 63); Q4_K/Q5_K (codes <= 31, one scale) add both halves in i16 before scaling.
 */
@inline function rdot_group(kind: i32, u0: v128, u1: v128, sc0: v128, sc1: v128, q: usize): v128 {
  const p0 = rdot16_u(v128.load(q), u0), p1 = rdot16_u(v128.load(q, 16), u1);
  if (kind == Q4_K || kind == Q5_K) return i32x4.dot_i16x8_s(i16x8.add(p0, p1), sc0);
  return i32x4.add(i32x4.dot_i16x8_s(p0, sc0), i32x4.dot_i16x8_s(p1, sc1));
}

@inline function k_tile(kind: i32, wr: usize, xt: usize, xs: usize, nb: i32, yt: usize, ys: usize, nt: i32): void {
  const wbytes = block_bytes(kind);
  let s0: f32 = 0, s1: f32 = 0, s2: f32 = 0, s3: f32 = 0;
  for (let b = 0; b < nb; b++) {
    const wb = wr + <usize>b * wbytes, xb = xt + <usize>b * Q8_K_BYTES;
    const lo = scales_lo(kind, wb), hi = scales_hi(kind, wb);
    const z = i32x4.splat(0);
    let a0 = z, a1 = z, a2 = z, a3 = z;
    for (let g = 0; g < 8; g++) {
      const u0 = half_codes(kind, wb, g, 0), u1 = half_codes(kind, wb, g, 1);
      const sc0 = i16x8.splat(<i16>scale_at(kind, lo, hi, g << 1));
      const sc1 = i16x8.splat(<i16>scale_at(kind, lo, hi, (g << 1) + 1));
      const q = xb + 4 + (<usize>g << 5);
      if (relaxed_dot(kind)) {
        a0 = i32x4.add(a0, rdot_group(kind, u0, u1, sc0, sc1, q));
        if (nt > 1) {
          a1 = i32x4.add(a1, rdot_group(kind, u0, u1, sc0, sc1, q + xs));
          a2 = i32x4.add(a2, rdot_group(kind, u0, u1, sc0, sc1, q + 2 * xs));
          a3 = i32x4.add(a3, rdot_group(kind, u0, u1, sc0, sc1, q + 3 * xs));
        }
      } else {
        // Scales folded into the i16 weights: |value·scale| <= 4096, so pair sums stay in i32.
        const o = i8x16.splat(code_offset(kind));
        const v0 = i8x16.sub(u0, o), v1 = i8x16.sub(u1, o);
        const w0 = scaled_lo(v0, sc0), w1 = scaled_hi(v0, sc0), w2 = scaled_lo(v1, sc1), w3 = scaled_hi(v1, sc1);
        a0 = i32x4.add(a0, dot32_i16(w0, w1, w2, w3, q));
        if (nt > 1) {
          a1 = i32x4.add(a1, dot32_i16(w0, w1, w2, w3, q + xs));
          a2 = i32x4.add(a2, dot32_i16(w0, w1, w2, w3, q + 2 * xs));
          a3 = i32x4.add(a3, dot32_i16(w0, w1, w2, w3, q + 3 * xs));
        }
      }
    }
    const d = scale_d(kind, wb), dmin = scale_dmin(kind, wb);
    // Lane weights for bsums: the mins (types with a min) or the scales (offset correction).
    const c_lo = has_min(kind) ? mins_i16(kind, wb, 0) : code_offset(kind) != 0 ? scales_i16(kind, lo, hi, 0) : z;
    const c_hi = has_min(kind) ? mins_i16(kind, wb, 1) : code_offset(kind) != 0 ? scales_i16(kind, lo, hi, 1) : z;
    s0 += block_term(kind, a0, xb, d, dmin, c_lo, c_hi);
    if (nt > 1) {
      s1 += block_term(kind, a1, xb + xs, d, dmin, c_lo, c_hi);
      s2 += block_term(kind, a2, xb + 2 * xs, d, dmin, c_lo, c_hi);
      s3 += block_term(kind, a3, xb + 3 * xs, d, dmin, c_lo, c_hi);
    }
  }
  store<f32>(yt, s0);
  if (nt > 1) {
    store<f32>(yt + ys, s1);
    store<f32>(yt + 2 * ys, s2);
    store<f32>(yt + 3 * ys, s3);
  }
}

@inline function k_matmul(kind: i32, w: usize, x: usize, y: usize, k: i32, m: i32, row0: i32, row1: i32, n_tokens: i32): void {
  const nb = k >> 8;
  const wrb = <usize>nb * block_bytes(kind), xrb = <usize>nb * Q8_K_BYTES, ys = <usize>m << 2;
  for (let r = row0; r < row1; r++) {
    const wr = w + <usize>r * wrb, yr = y + (<usize>r << 2);
    let t = 0;
    for (; t + 4 <= n_tokens; t += 4) k_tile(kind, wr, x + <usize>t * xrb, xrb, nb, yr + <usize>t * ys, ys, 4);
    for (; t < n_tokens; t++) k_tile(kind, wr, x + <usize>t * xrb, xrb, nb, yr + <usize>t * ys, ys, 1);
  }
}

@inline function k_dequantize(kind: i32, w: usize, ids: usize, n_ids: i32, k: i32, out: usize): void {
  const nb = k >> 8, bytes = block_bytes(kind), rb = <usize>nb * bytes;
  for (let i = 0; i < n_ids; i++) {
    const src = w + <usize>load<i32>(ids + (<usize>i << 2)) * rb, dst = out + <usize>i * (<usize>k << 2);
    for (let b = 0; b < nb; b++) {
      const wb = src + <usize>b * bytes, db = dst + (<usize>b << 10);
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
  k_matmul(Q2_K, w, x, y, k, m, row0, row1, n_tokens);
}
export function dequantize_rows_q2_k(w: usize, ids: usize, n_ids: i32, k: i32, out: usize): void {
  k_dequantize(Q2_K, w, ids, n_ids, k, out);
}

// Q3_K block (110 B): u8 hmask[32], u8 qs[64], u8 scales[12] (16 six-bit scales, offset 32),
// f16 d. Group g = 4n+j: low bits 2j..2j+1 of qs[32n ..], high bit g of hmask[0..32] (a clear
// bit subtracts 4); x = d·(scale−32)·q.
export function matmul_q3_k(w: usize, x: usize, y: usize, k: i32, m: i32, row0: i32, row1: i32, n_tokens: i32): void {
  k_matmul(Q3_K, w, x, y, k, m, row0, row1, n_tokens);
}
export function dequantize_rows_q3_k(w: usize, ids: usize, n_ids: i32, k: i32, out: usize): void {
  k_dequantize(Q3_K, w, ids, n_ids, k, out);
}

// Q4_K block (144 B): f16 d, f16 dmin, u8 scales[12] (8 six-bit scales and mins), u8 qs[128].
// Group g: nibble (g&1) of qs[32(g>>1) ..]; x = d·scale·q − dmin·min.
export function matmul_q4_k(w: usize, x: usize, y: usize, k: i32, m: i32, row0: i32, row1: i32, n_tokens: i32): void {
  k_matmul(Q4_K, w, x, y, k, m, row0, row1, n_tokens);
}
export function dequantize_rows_q4_k(w: usize, ids: usize, n_ids: i32, k: i32, out: usize): void {
  k_dequantize(Q4_K, w, ids, n_ids, k, out);
}

// Q5_K block (176 B): f16 d, f16 dmin, u8 scales[12], u8 qh[32], u8 qs[128]. As Q4_K with a
// fifth bit: bit g of qh[0..32] for group g.
export function matmul_q5_k(w: usize, x: usize, y: usize, k: i32, m: i32, row0: i32, row1: i32, n_tokens: i32): void {
  k_matmul(Q5_K, w, x, y, k, m, row0, row1, n_tokens);
}
export function dequantize_rows_q5_k(w: usize, ids: usize, n_ids: i32, k: i32, out: usize): void {
  k_dequantize(Q5_K, w, ids, n_ids, k, out);
}

// Q6_K block (210 B): u8 ql[128], u8 qh[64], i8 scales[16] (per 16 elements), f16 d. Half
// h = g>>2 of the block, gi = g&3: low nibble (gi>>1) of ql[64h + 32(gi&1) ..], high bits
// 2gi..2gi+1 of qh[32h ..]; x = d·scale·(q − 32).
export function matmul_q6_k(w: usize, x: usize, y: usize, k: i32, m: i32, row0: i32, row1: i32, n_tokens: i32): void {
  k_matmul(Q6_K, w, x, y, k, m, row0, row1, n_tokens);
}
export function dequantize_rows_q6_k(w: usize, ids: usize, n_ids: i32, k: i32, out: usize): void {
  k_dequantize(Q6_K, w, ids, n_ids, k, out);
}

// IQ4_XS block (136 B): f16 d, u16 scales_h, u8 scales_l[4], u8 qs[128]. Group g: six-bit scale
// (nibble g of scales_l, bits 2g..2g+1 of scales_h, offset 32); qs[16g ..] low nibbles are
// elements 0-15, high nibbles 16-31, indexing the IQ4_NL levels; x = d·(scale−32)·level.
export function matmul_iq4_xs(w: usize, x: usize, y: usize, k: i32, m: i32, row0: i32, row1: i32, n_tokens: i32): void {
  k_matmul(IQ4_XS, w, x, y, k, m, row0, row1, n_tokens);
}
export function dequantize_rows_iq4_xs(w: usize, ids: usize, n_ids: i32, k: i32, out: usize): void {
  k_dequantize(IQ4_XS, w, ids, n_ids, k, out);
}
