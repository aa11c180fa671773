// The exported kernels of the 32-element block types (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, IQ4_NL),
// each one type's instance of the loops in legacy.ts: matmul_<type> over plain rows,
// matmul_<type>_x8 over rows interleaved eight at a time (repack_rows), and the row
// dequantizers. Q4_0's repacked kernels are in q4_0_x4.ts.
import {
  act_bytes, block_bytes, legacy_groups8, legacy_rows, offset, signed_hi, signed_lo, unsigned_hi, unsigned_lo, IQ4_NL, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0,
} from './legacy';
import { store16_mul, store16_mul_add } from './common';
import { block_stride, row_start, walk_rows, walk_side_by_side, RowKernel, SideWalk } from './interleave';
import { half_to_f32 } from '../shared/half';

// legacy_rows compiled once per type: the RowKernel of both layouts (see walk_rows).
function rows_q4_0(w: usize, wrb: usize, wbs: usize, x: usize, xrb: usize, nb: i32, y: usize, ys: usize, row0: i32, row1: i32, n: i32): void {
  legacy_rows(Q4_0, w, wrb, wbs, x, xrb, nb, y, ys, row0, row1, n);
}
function rows_q4_1(w: usize, wrb: usize, wbs: usize, x: usize, xrb: usize, nb: i32, y: usize, ys: usize, row0: i32, row1: i32, n: i32): void {
  legacy_rows(Q4_1, w, wrb, wbs, x, xrb, nb, y, ys, row0, row1, n);
}
function rows_q5_0(w: usize, wrb: usize, wbs: usize, x: usize, xrb: usize, nb: i32, y: usize, ys: usize, row0: i32, row1: i32, n: i32): void {
  legacy_rows(Q5_0, w, wrb, wbs, x, xrb, nb, y, ys, row0, row1, n);
}
function rows_q5_1(w: usize, wrb: usize, wbs: usize, x: usize, xrb: usize, nb: i32, y: usize, ys: usize, row0: i32, row1: i32, n: i32): void {
  legacy_rows(Q5_1, w, wrb, wbs, x, xrb, nb, y, ys, row0, row1, n);
}
function rows_q8_0(w: usize, wrb: usize, wbs: usize, x: usize, xrb: usize, nb: i32, y: usize, ys: usize, row0: i32, row1: i32, n: i32): void {
  legacy_rows(Q8_0, w, wrb, wbs, x, xrb, nb, y, ys, row0, row1, n);
}
function rows_iq4_nl(w: usize, wrb: usize, wbs: usize, x: usize, xrb: usize, nb: i32, y: usize, ys: usize, row0: i32, row1: i32, n: i32): void {
  legacy_rows(IQ4_NL, w, wrb, wbs, x, xrb, nb, y, ys, row0, row1, n);
}

/** The type's row kernel (a constant at every call site, so the call is direct). */
@inline function rows_of(kind: i32): RowKernel {
  return kind == Q4_0 ? rows_q4_0 : kind == Q4_1 ? rows_q4_1 : kind == Q5_0 ? rows_q5_0 : kind == Q5_1 ? rows_q5_1 : kind == Q8_0 ? rows_q8_0 : rows_iq4_nl;
}

/** matmul_<type> over plain rows (group 0) or rows interleaved eight at a time (repack_rows). */
@inline function legacy_matmul(kind: i32, group: i32, w: usize, x: usize, y: usize, k: i32, m: i32, row0: i32, row1: i32, n_tokens: i32): void {
  const nb = k >> 5;
  if (group == 8 && n_tokens == 1) {
    walk_side_by_side(rows_of(kind), side_of(kind), 8, w, x, <usize>nb * act_bytes(kind), y, nb, block_bytes(kind), m, row0, row1);
    return;
  }
  walk_rows(rows_of(kind), group, w, x, <usize>nb * act_bytes(kind), y, nb, block_bytes(kind), m, row0, row1, n_tokens);
}

// legacy_groups8 over four parts compiled once per type (Q4_0 repacks four rows at a time: q4_0_x4.ts).
function side_q4_1(g: usize, step: usize, bytes: usize, x: usize, nb: i32, y: usize, ystep: usize): void {
  legacy_groups8(Q4_1, 4, g, step, bytes, 8 * bytes, x, nb, y, ystep);
}
function side_q5_0(g: usize, step: usize, bytes: usize, x: usize, nb: i32, y: usize, ystep: usize): void {
  legacy_groups8(Q5_0, 4, g, step, bytes, 8 * bytes, x, nb, y, ystep);
}
function side_q5_1(g: usize, step: usize, bytes: usize, x: usize, nb: i32, y: usize, ystep: usize): void {
  legacy_groups8(Q5_1, 4, g, step, bytes, 8 * bytes, x, nb, y, ystep);
}
function side_q8_0(g: usize, step: usize, bytes: usize, x: usize, nb: i32, y: usize, ystep: usize): void {
  legacy_groups8(Q8_0, 4, g, step, bytes, 8 * bytes, x, nb, y, ystep);
}
function side_iq4_nl(g: usize, step: usize, bytes: usize, x: usize, nb: i32, y: usize, ystep: usize): void {
  legacy_groups8(IQ4_NL, 4, g, step, bytes, 8 * bytes, x, nb, y, ystep);
}

/** The type's side-by-side decode walk (a constant at every call site, so the call is direct). */
@inline function side_of(kind: i32): SideWalk {
  return kind == Q4_1 ? side_q4_1 : kind == Q5_0 ? side_q5_0 : kind == Q5_1 ? side_q5_1 : kind == Q8_0 ? side_q8_0 : side_iq4_nl;
}

@inline function legacy_dequantize(kind: i32, group: i32, w: usize, ids: usize, n_ids: i32, k: i32, out: usize, m: i32): void {
  const nb = k >> 5, bytes = block_bytes(kind), rb = <usize>nb * bytes;
  for (let i = 0; i < n_ids; i++) {
    const id = load<i32>(ids + (<usize>i << 2)), dst = out + <usize>i * (<usize>k << 2);
    const src = row_start(w, id, rb, bytes, group), bs = block_stride(id, bytes, group, m);
    for (let b = 0; b < nb; b++) {
      const wb = src + <usize>b * bs, db = dst + (<usize>b << 7);
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
// the high nibble; x = d·(q − 8). Activations q8_0s (q8_0 and two values per block that only the
// repacked kernels read). Repacked, the weights take the kernels of q4_0_x4.ts.
export function matmul_q4_0(w: usize, x: usize, y: usize, k: i32, m: i32, row0: i32, row1: i32, n_tokens: i32): void {
  legacy_matmul(Q4_0, 0, w, x, y, k, m, row0, row1, n_tokens);
}
export function dequantize_rows_q4_0(w: usize, ids: usize, n_ids: i32, k: i32, out: usize): void {
  legacy_dequantize(Q4_0, 0, w, ids, n_ids, k, out, 0);
}

// Q4_1 block (20 B): f16 d, f16 m, u8 qs[16] (nibbles as Q4_0); x = d·q + m. Activations q8_1,
// whose s = d_x·Σa turns the min into m·s per block.
export function matmul_q4_1(w: usize, x: usize, y: usize, k: i32, m: i32, row0: i32, row1: i32, n_tokens: i32): void {
  legacy_matmul(Q4_1, 0, w, x, y, k, m, row0, row1, n_tokens);
}
export function dequantize_rows_q4_1(w: usize, ids: usize, n_ids: i32, k: i32, out: usize): void {
  legacy_dequantize(Q4_1, 0, w, ids, n_ids, k, out, 0);
}
export function matmul_q4_1_x8(w: usize, x: usize, y: usize, k: i32, m: i32, row0: i32, row1: i32, n_tokens: i32): void {
  legacy_matmul(Q4_1, 8, w, x, y, k, m, row0, row1, n_tokens);
}
export function dequantize_rows_q4_1_x8(w: usize, ids: usize, n_ids: i32, k: i32, out: usize, m: i32): void {
  legacy_dequantize(Q4_1, 8, w, ids, n_ids, k, out, m);
}

// Q5_0 block (22 B): f16 d, u8 qh[4], u8 qs[16]. Nibbles as Q4_0; bit j of qh (little-endian
// u32) is the fifth bit of element j; x = d·(q − 16). Activations q8_0.
export function matmul_q5_0(w: usize, x: usize, y: usize, k: i32, m: i32, row0: i32, row1: i32, n_tokens: i32): void {
  legacy_matmul(Q5_0, 0, w, x, y, k, m, row0, row1, n_tokens);
}
export function dequantize_rows_q5_0(w: usize, ids: usize, n_ids: i32, k: i32, out: usize): void {
  legacy_dequantize(Q5_0, 0, w, ids, n_ids, k, out, 0);
}
export function matmul_q5_0_x8(w: usize, x: usize, y: usize, k: i32, m: i32, row0: i32, row1: i32, n_tokens: i32): void {
  legacy_matmul(Q5_0, 8, w, x, y, k, m, row0, row1, n_tokens);
}
export function dequantize_rows_q5_0_x8(w: usize, ids: usize, n_ids: i32, k: i32, out: usize, m: i32): void {
  legacy_dequantize(Q5_0, 8, w, ids, n_ids, k, out, m);
}

// Q5_1 block (24 B): f16 d, f16 m, u8 qh[4], u8 qs[16]; x = d·q + m. Activations q8_1.
export function matmul_q5_1(w: usize, x: usize, y: usize, k: i32, m: i32, row0: i32, row1: i32, n_tokens: i32): void {
  legacy_matmul(Q5_1, 0, w, x, y, k, m, row0, row1, n_tokens);
}
export function dequantize_rows_q5_1(w: usize, ids: usize, n_ids: i32, k: i32, out: usize): void {
  legacy_dequantize(Q5_1, 0, w, ids, n_ids, k, out, 0);
}
export function matmul_q5_1_x8(w: usize, x: usize, y: usize, k: i32, m: i32, row0: i32, row1: i32, n_tokens: i32): void {
  legacy_matmul(Q5_1, 8, w, x, y, k, m, row0, row1, n_tokens);
}
export function dequantize_rows_q5_1_x8(w: usize, ids: usize, n_ids: i32, k: i32, out: usize, m: i32): void {
  legacy_dequantize(Q5_1, 8, w, ids, n_ids, k, out, m);
}

// Q8_0 block (34 B): f16 d, i8 qs[32]; x = d·q. Activations q8_0. The weights are signed, so
// the relaxed dot (unsigned 7-bit second operand) takes them only against the activations split
// into their positive and negative parts (decode, relaxed build: legacy.ts, signed_split);
// otherwise both sides are widened to i16.
export function matmul_q8_0(w: usize, x: usize, y: usize, k: i32, m: i32, row0: i32, row1: i32, n_tokens: i32): void {
  legacy_matmul(Q8_0, 0, w, x, y, k, m, row0, row1, n_tokens);
}
export function dequantize_rows_q8_0(w: usize, ids: usize, n_ids: i32, k: i32, out: usize): void {
  legacy_dequantize(Q8_0, 0, w, ids, n_ids, k, out, 0);
}
export function matmul_q8_0_x8(w: usize, x: usize, y: usize, k: i32, m: i32, row0: i32, row1: i32, n_tokens: i32): void {
  legacy_matmul(Q8_0, 8, w, x, y, k, m, row0, row1, n_tokens);
}
export function dequantize_rows_q8_0_x8(w: usize, ids: usize, n_ids: i32, k: i32, out: usize, m: i32): void {
  legacy_dequantize(Q8_0, 8, w, ids, n_ids, k, out, m);
}

// IQ4_NL block (18 B): f16 d, u8 qs[16] (nibbles as Q4_0) indexing 16 signed levels;
// x = d·level. Activations q8_0. Levels span -127..113, so they take the relaxed dot as Q8_0's
// codes do (decode only); otherwise both sides are widened to i16.
export function matmul_iq4_nl(w: usize, x: usize, y: usize, k: i32, m: i32, row0: i32, row1: i32, n_tokens: i32): void {
  legacy_matmul(IQ4_NL, 0, w, x, y, k, m, row0, row1, n_tokens);
}
export function dequantize_rows_iq4_nl(w: usize, ids: usize, n_ids: i32, k: i32, out: usize): void {
  legacy_dequantize(IQ4_NL, 0, w, ids, n_ids, k, out, 0);
}
export function matmul_iq4_nl_x8(w: usize, x: usize, y: usize, k: i32, m: i32, row0: i32, row1: i32, n_tokens: i32): void {
  legacy_matmul(IQ4_NL, 8, w, x, y, k, m, row0, row1, n_tokens);
}
export function dequantize_rows_iq4_nl_x8(w: usize, ids: usize, n_ids: i32, k: i32, out: usize, m: i32): void {
  legacy_dequantize(IQ4_NL, 8, w, ids, n_ids, k, out, m);
}
