// 32-element block types: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 and IQ4_NL.
//
// matmul_<type>(w, x, y, k, m, row0, row1, n_tokens): W has m rows of k elements (k a multiple of
// 32); x holds n_tokens activation rows quantized to the type's vec_dot type (q8_0, or q8_1 for
// Q4_1/Q5_1); y is f32 [n_tokens][m]. Computes y[t][r] for r in [row0,row1) and every t, as
// ggml's vec_dot: an exact integer sum per block, then y += (d_w·d_x)·isum (+ m_w·s_x for the
// types with a min). Tokens go in tiles of 4: each weight block is decoded once per tile and
// used for its 4 tokens, whose accumulators stay in registers (a whole-batch inner loop would
// keep them in memory); the row's bytes stay in L1 across tiles, so weights are read from
// memory once per row whatever n_tokens is.
//
// dequantize_rows_<type>(w, ids, n_ids, k, out): out[i] = to_float(W[ids[i]]), bit-exact with
// ggml (every element is one rounding of an exact product, plus the min where there is one).
import {
  dot32_i16, hsum_i32x4, iq4_levels, q5_high_hi, q5_high_lo, rdot16_u, store16_mul, store16_mul_add,
} from './common';
import { half_to_f32 } from '../shared/half';

const Q8_0_BYTES: usize = 34;
const Q8_1_BYTES: usize = 36;

/** Block term against a q8_0 activation block at xb: isum·(d_w·d_x). */
@inline function q8_0_term(isum: v128, d: f32, xb: usize): f32 {
  return <f32>hsum_i32x4(isum) * (d * half_to_f32(load<i16>(xb)));
}

/** Block term against a q8_1 activation block at xb: isum·(d_w·d_x) + m_w·s_x. */
@inline function q8_1_term(isum: v128, d: f32, mn: f32, xb: usize): f32 {
  return <f32>hsum_i32x4(isum) * (d * half_to_f32(load<i16>(xb))) + mn * half_to_f32(load<i16>(xb, 2));
}

/**
 * Σ (q−off)·a over one block: q given as unsigned bytes u0 (elements 0-15) and u1 (16-31,
 * both in 0..31), a the 32 i8 at p. Relaxed build: u·a with u as the unsigned operand, minus
 * off·a, combined in i16 (wrapping is harmless: each lane's true value, a sum of four
 * (q−off)·a, stays within ±4·16·128) and widened once.
 */
@inline function dot_u_off(u0: v128, u1: v128, off: i8, p: usize): v128 {
  const o = i8x16.splat(off);
  if (ASC_FEATURE_RELAXED_SIMD) {
    const a0 = v128.load(p), a1 = v128.load(p, 16);
    const s = i16x8.add(rdot16_u(a0, u0), rdot16_u(a1, u1));
    return i32x4.extadd_pairwise_i16x8_s(off == 0 ? s : i16x8.sub(s, i16x8.add(rdot16_u(a0, o), rdot16_u(a1, o))));
  }
  const s0 = i8x16.sub(u0, o), s1 = i8x16.sub(u1, o);
  return dot32_i16(
    i16x8.extend_low_i8x16_s(s0), i16x8.extend_high_i8x16_s(s0),
    i16x8.extend_low_i8x16_s(s1), i16x8.extend_high_i8x16_s(s1), p,
  );
}

// Generic per-type plumbing: `kind` selects the block layout below; it is a constant at every
// call site, so each exported kernel compiles to its own specialised loop.
const Q4_0: i32 = 0, Q4_1: i32 = 1, Q5_0: i32 = 2, Q5_1: i32 = 3, Q8_0: i32 = 4, IQ4_NL: i32 = 5;

@inline function block_bytes(kind: i32): usize {
  return kind == Q4_0 || kind == IQ4_NL ? 18 : kind == Q4_1 ? 20 : kind == Q5_0 ? 22 : kind == Q5_1 ? 24 : 34;
}

@inline function act_bytes(kind: i32): usize {
  return kind == Q4_1 || kind == Q5_1 ? Q8_1_BYTES : Q8_0_BYTES;
}

/** Bytes 0-15 of a Q4_x / Q5_x block as unsigned quants (elements 0-15), before any offset. */
@inline function unsigned_lo(kind: i32, wb: usize): v128 {
  if (kind == Q4_0) return v128.and(v128.load(wb, 2), i8x16.splat(15));
  if (kind == Q4_1) return v128.and(v128.load(wb, 4), i8x16.splat(15));
  if (kind == Q5_0) return v128.or(v128.and(v128.load(wb, 6), i8x16.splat(15)), q5_high_lo(load<u32>(wb, 2)));
  return v128.or(v128.and(v128.load(wb, 8), i8x16.splat(15)), q5_high_lo(load<u32>(wb, 4)));
}

/** Elements 16-31 of a Q4_x / Q5_x block as unsigned quants. */
@inline function unsigned_hi(kind: i32, wb: usize): v128 {
  if (kind == Q4_0) return i8x16.shr_u(v128.load(wb, 2), 4);
  if (kind == Q4_1) return i8x16.shr_u(v128.load(wb, 4), 4);
  if (kind == Q5_0) return v128.or(i8x16.shr_u(v128.load(wb, 6), 4), q5_high_hi(load<u32>(wb, 2)));
  return v128.or(i8x16.shr_u(v128.load(wb, 8), 4), q5_high_hi(load<u32>(wb, 4)));
}

/** Offset subtracted from the unsigned quants: 8 (Q4_0), 16 (Q5_0), 0 for the types with a min. */
@inline function offset(kind: i32): i8 {
  return kind == Q4_0 ? 8 : kind == Q5_0 ? 16 : 0;
}

/** Signed values of an IQ4_NL (levels) or Q8_0 block: elements 0-15 and 16-31 as i8x16. */
@inline function signed_lo(kind: i32, wb: usize): v128 {
  if (kind == IQ4_NL) return i8x16.swizzle(iq4_levels(), v128.and(v128.load(wb, 2), i8x16.splat(15)));
  return v128.load(wb, 2);
}

@inline function signed_hi(kind: i32, wb: usize): v128 {
  if (kind == IQ4_NL) return i8x16.swizzle(iq4_levels(), i8x16.shr_u(v128.load(wb, 2), 4));
  return v128.load(wb, 18);
}

@inline function legacy_tile(kind: i32, wr: usize, xt: usize, xs: usize, nb: i32, yt: usize, ys: usize, nt: i32): void {
  const wbytes = block_bytes(kind), xbytes = act_bytes(kind);
  const qoff: usize = kind == Q4_1 || kind == Q5_1 ? 4 : 2; // quants' offset in the activation block
  let s0: f32 = 0, s1: f32 = 0, s2: f32 = 0, s3: f32 = 0;
  for (let b = 0; b < nb; b++) {
    const wb = wr + <usize>b * wbytes, xb = xt + <usize>b * xbytes;
    const d = half_to_f32(load<i16>(wb));
    if (kind == Q4_1 || kind == Q5_1) {
      const mn = half_to_f32(load<i16>(wb, 2));
      const u0 = unsigned_lo(kind, wb), u1 = unsigned_hi(kind, wb);
      s0 += q8_1_term(dot_u_off(u0, u1, 0, xb + qoff), d, mn, xb);
      if (nt > 1) {
        s1 += q8_1_term(dot_u_off(u0, u1, 0, xb + xs + qoff), d, mn, xb + xs);
        s2 += q8_1_term(dot_u_off(u0, u1, 0, xb + 2 * xs + qoff), d, mn, xb + 2 * xs);
        s3 += q8_1_term(dot_u_off(u0, u1, 0, xb + 3 * xs + qoff), d, mn, xb + 3 * xs);
      }
    } else if (kind == Q4_0 || kind == Q5_0) {
      const u0 = unsigned_lo(kind, wb), u1 = unsigned_hi(kind, wb), off = offset(kind);
      s0 += q8_0_term(dot_u_off(u0, u1, off, xb + qoff), d, xb);
      if (nt > 1) {
        s1 += q8_0_term(dot_u_off(u0, u1, off, xb + xs + qoff), d, xb + xs);
        s2 += q8_0_term(dot_u_off(u0, u1, off, xb + 2 * xs + qoff), d, xb + 2 * xs);
        s3 += q8_0_term(dot_u_off(u0, u1, off, xb + 3 * xs + qoff), d, xb + 3 * xs);
      }
    } else {
      // Signed weights (Q8_0, IQ4_NL levels): widened to i16 once, in both builds.
      const v0 = signed_lo(kind, wb), v1 = signed_hi(kind, wb);
      const w0 = i16x8.extend_low_i8x16_s(v0), w1 = i16x8.extend_high_i8x16_s(v0);
      const w2 = i16x8.extend_low_i8x16_s(v1), w3 = i16x8.extend_high_i8x16_s(v1);
      s0 += q8_0_term(dot32_i16(w0, w1, w2, w3, xb + qoff), d, xb);
      if (nt > 1) {
        s1 += q8_0_term(dot32_i16(w0, w1, w2, w3, xb + xs + qoff), d, xb + xs);
        s2 += q8_0_term(dot32_i16(w0, w1, w2, w3, xb + 2 * xs + qoff), d, xb + 2 * xs);
        s3 += q8_0_term(dot32_i16(w0, w1, w2, w3, xb + 3 * xs + qoff), d, xb + 3 * xs);
      }
    }
  }
  store<f32>(yt, s0);
  if (nt > 1) {
    store<f32>(yt + ys, s1);
    store<f32>(yt + 2 * ys, s2);
    store<f32>(yt + 3 * ys, s3);
  }
}

@inline function legacy_matmul(kind: i32, w: usize, x: usize, y: usize, k: i32, m: i32, row0: i32, row1: i32, n_tokens: i32): void {
  const nb = k >> 5;
  const wrb = <usize>nb * block_bytes(kind), xrb = <usize>nb * act_bytes(kind), ys = <usize>m << 2;
  for (let r = row0; r < row1; r++) {
    const wr = w + <usize>r * wrb, yr = y + (<usize>r << 2);
    let t = 0;
    for (; t + 4 <= n_tokens; t += 4) legacy_tile(kind, wr, x + <usize>t * xrb, xrb, nb, yr + <usize>t * ys, ys, 4);
    for (; t < n_tokens; t++) legacy_tile(kind, wr, x + <usize>t * xrb, xrb, nb, yr + <usize>t * ys, ys, 1);
  }
}

@inline function legacy_dequantize(kind: i32, w: usize, ids: usize, n_ids: i32, k: i32, out: usize): void {
  const nb = k >> 5, bytes = block_bytes(kind), rb = <usize>nb * bytes;
  for (let i = 0; i < n_ids; i++) {
    const src = w + <usize>load<i32>(ids + (<usize>i << 2)) * rb, dst = out + <usize>i * (<usize>k << 2);
    for (let b = 0; b < nb; b++) {
      const wb = src + <usize>b * bytes, db = dst + (<usize>b << 7);
      const d = half_to_f32(load<i16>(wb));
      if (kind == Q4_1 || kind == Q5_1) {
        const mn = half_to_f32(load<i16>(wb, 2));
        store16_mul_add(db, unsigned_lo(kind, wb), d, mn);
        store16_mul_add(db + 64, unsigned_hi(kind, wb), d, mn);
      } else if (kind == Q4_0 || kind == Q5_0) {
        const o = i8x16.splat(offset(kind));
        store16_mul(db, i8x16.sub(unsigned_lo(kind, wb), o), d);
        store16_mul(db + 64, i8x16.sub(unsigned_hi(kind, wb), o), d);
      } else {
        store16_mul(db, signed_lo(kind, wb), d);
        store16_mul(db + 64, signed_hi(kind, wb), d);
      }
    }
  }
}

// Q4_0 block (18 B): f16 d, u8 qs[16]. Element j < 16 is the low nibble of qs[j], element j+16
// the high nibble; x = d·(q − 8). Activations q8_0.
export function matmul_q4_0(w: usize, x: usize, y: usize, k: i32, m: i32, row0: i32, row1: i32, n_tokens: i32): void {
  legacy_matmul(Q4_0, w, x, y, k, m, row0, row1, n_tokens);
}
export function dequantize_rows_q4_0(w: usize, ids: usize, n_ids: i32, k: i32, out: usize): void {
  legacy_dequantize(Q4_0, w, ids, n_ids, k, out);
}

// Q4_1 block (20 B): f16 d, f16 m, u8 qs[16] (nibbles as Q4_0); x = d·q + m. Activations q8_1,
// whose s = d_x·Σa turns the min into m·s per block.
export function matmul_q4_1(w: usize, x: usize, y: usize, k: i32, m: i32, row0: i32, row1: i32, n_tokens: i32): void {
  legacy_matmul(Q4_1, w, x, y, k, m, row0, row1, n_tokens);
}
export function dequantize_rows_q4_1(w: usize, ids: usize, n_ids: i32, k: i32, out: usize): void {
  legacy_dequantize(Q4_1, w, ids, n_ids, k, out);
}

// Q5_0 block (22 B): f16 d, u8 qh[4], u8 qs[16]. Nibbles as Q4_0; bit j of qh (little-endian
// u32) is the fifth bit of element j; x = d·(q − 16). Activations q8_0.
export function matmul_q5_0(w: usize, x: usize, y: usize, k: i32, m: i32, row0: i32, row1: i32, n_tokens: i32): void {
  legacy_matmul(Q5_0, w, x, y, k, m, row0, row1, n_tokens);
}
export function dequantize_rows_q5_0(w: usize, ids: usize, n_ids: i32, k: i32, out: usize): void {
  legacy_dequantize(Q5_0, w, ids, n_ids, k, out);
}

// Q5_1 block (24 B): f16 d, f16 m, u8 qh[4], u8 qs[16]; x = d·q + m. Activations q8_1.
export function matmul_q5_1(w: usize, x: usize, y: usize, k: i32, m: i32, row0: i32, row1: i32, n_tokens: i32): void {
  legacy_matmul(Q5_1, w, x, y, k, m, row0, row1, n_tokens);
}
export function dequantize_rows_q5_1(w: usize, ids: usize, n_ids: i32, k: i32, out: usize): void {
  legacy_dequantize(Q5_1, w, ids, n_ids, k, out);
}

// Q8_0 block (34 B): f16 d, i8 qs[32]; x = d·q. Activations q8_0. The weights are signed, so
// the relaxed dot (unsigned 7-bit second operand) does not apply: both builds widen to i16.
export function matmul_q8_0(w: usize, x: usize, y: usize, k: i32, m: i32, row0: i32, row1: i32, n_tokens: i32): void {
  legacy_matmul(Q8_0, w, x, y, k, m, row0, row1, n_tokens);
}
export function dequantize_rows_q8_0(w: usize, ids: usize, n_ids: i32, k: i32, out: usize): void {
  legacy_dequantize(Q8_0, w, ids, n_ids, k, out);
}

// IQ4_NL block (18 B): f16 d, u8 qs[16] (nibbles as Q4_0) indexing 16 signed levels;
// x = d·level. Activations q8_0. Levels span -127..113, so both builds widen to i16.
export function matmul_iq4_nl(w: usize, x: usize, y: usize, k: i32, m: i32, row0: i32, row1: i32, n_tokens: i32): void {
  legacy_matmul(IQ4_NL, w, x, y, k, m, row0, row1, n_tokens);
}
export function dequantize_rows_iq4_nl(w: usize, ids: usize, n_ids: i32, k: i32, out: usize): void {
  legacy_dequantize(IQ4_NL, w, ids, n_ids, k, out);
}
