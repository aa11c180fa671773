// Interleaved weights: the layout the *_x8 (legacy.ts) and *_x4 (kquants.ts) matmuls and row
// dequantizers read, made in place at load; and the walks both layouts share.

import { TOKEN_TILE } from './common';

/**
 * A weight type's row kernel: rows [row0, row1) of W, `wrb` bytes apart with blocks `wbs` bytes
 * apart (w: row0's first block), times every token: the type's whole matmul but the layout.
 * Compiled once per type and called through these walks, so each layout costs no second copy.
 */
export type RowKernel = (w: usize, wrb: usize, wbs: usize, x: usize, xrb: usize, nb: i32, y: usize, ys: usize, row0: i32, row1: i32, n: i32) => void;

/**
 * matmul_<type> (see quant-kernels.ts) over m rows of nb blocks of `bytes`, stored plainly
 * (group 0) or interleaved `group` rows at a time: then walked group by group, each group's
 * rows `bytes` apart and its blocks rows·bytes apart. xrb: bytes per activation row.
 */
@inline export function walk_rows(
  rows: RowKernel, group: i32, w: usize, x: usize, xrb: usize, y: usize, nb: i32, bytes: usize, m: i32, row0: i32, row1: i32, n: i32,
): void {
  const rb = <usize>nb * bytes, ys = <usize>m << 2;
  if (group == 0) {
    tiled_rows(rows, w + <usize>row0 * rb, rb, bytes, x, xrb, nb, y, ys, row0, row1, n);
    return;
  }
  for (let r = row0; r < row1; ) {
    const g = r - r % group, hi = min(row1, g + group);
    tiled_rows(rows, row_start(w, r, rb, bytes, group), bytes, block_stride(r, bytes, group, m), x, xrb, nb, y, ys, r, hi, n);
    r = hi;
  }
}

/**
 * A decode walk over `parts` parts side by side: whole groups `step` bytes apart (rows `bytes`
 * apart, blocks group·bytes apart), the first at g with its rows' y at y, the others' ystep bytes on.
 */
export type SideWalk = (g: usize, step: usize, bytes: usize, x: usize, nb: i32, y: usize, ystep: usize) => void;

/**
 * One token over rows interleaved `group` at a time (4 or 8): the whole groups in [row0, row1) as
 * four parts walked side by side (`side`), the rest group by group (`rows`). A decode step
 * streams its matrix from DRAM, and one stream, even touched ahead, kept too few lines in flight
 * (TinyLlama Q8_0, one thread: 7.3 -> 10.6 t/s, two streams 9.3; Q4_K_M 9.8 -> 10.7; q4_0_x4.ts
 * walks eight).
 */
@inline export function walk_side_by_side(
  rows: RowKernel, side: SideWalk, group: i32, w: usize, x: usize, xrb: usize, y: usize, nb: i32, bytes: usize, m: i32, row0: i32, row1: i32,
): void {
  const gbytes = <usize>nb * <usize>group * bytes;
  const g0 = (row0 + group - 1) & -group, g1 = min(row1, m & -group) & -group;
  const part = g1 > g0 ? (g1 - g0) / (4 * group) * group : 0; // rows per part, whole groups
  if (part == 0) {
    walk_rows(rows, group, w, x, xrb, y, nb, bytes, m, row0, row1, 1);
    return;
  }
  if (g0 > row0) walk_rows(rows, group, w, x, xrb, y, nb, bytes, m, row0, g0, 1);
  for (let g = g0; g < g0 + part; g += group) {
    side(w + <usize>(g / group) * gbytes, <usize>(part / group) * gbytes, bytes, x, nb, y + (<usize>g << 2), <usize>part << 2);
  }
  if (g0 + 4 * part < row1) walk_rows(rows, group, w, x, xrb, y, nb, bytes, m, g0 + 4 * part, row1, 1);
}

/**
 * A row kernel over n tokens, TOKEN_TILE at a time. A prefill kernel walks the weight blocks and,
 * for each, every token (y and the activations: a row per token, kilobytes apart). Over 512
 * tokens a 5632x2048 Q4_0 matmul fell from 88 GFLOP/s (64 tokens) to 55, 128 at a time it keeps
 * its speed (whether the caches or the TLB gave out was not measured). Each output element still
 * sums its blocks in the same order.
 */
@inline function tiled_rows(rows: RowKernel, w: usize, wrb: usize, wbs: usize, x: usize, xrb: usize, nb: i32, y: usize, ys: usize, row0: i32, row1: i32, n: i32): void {
  for (let t = 0; t < n; t += TOKEN_TILE) {
    rows(w, wrb, wbs, x + <usize>t * xrb, xrb, nb, y + <usize>t * ys, ys, row0, row1, min(TOKEN_TILE, n - t));
  }
}

/** Where row `id` (rb bytes of blocks of `bytes`) starts, plain (group 0) or interleaved. */
@inline export function row_start(w: usize, id: i32, rb: usize, bytes: usize, group: i32): usize {
  if (group == 0) return w + <usize>id * rb;
  const g = id - id % group;
  return w + <usize>g * rb + <usize>(id - g) * bytes;
}

/** Bytes from one block of row `id` to its next: plain (group 0) or interleaved. */
@inline export function block_stride(id: i32, bytes: usize, group: i32, m: i32): usize {
  return group == 0 ? bytes : <usize>min(group, m - (id - id % group)) * bytes;
}

/**
 * Interleaves the m rows at w (row_bytes each, blocks of block_bytes) in place, in groups of
 * `group` rows: a group holds block 0 of its rows in row order, then block 1, and so on, so that
 * a kernel walking a group's rows block by block reads one sequential stream (hardware
 * prefetchers follow one long stream; several short ones each start cold). A last group of fewer
 * rows is interleaved the same way. tmp: scratch for group·row_bytes.
 */
export function repack_rows(w: usize, tmp: usize, m: i32, row_bytes: i32, block_bytes: i32, group: i32): void {
  const rb = <usize>row_bytes, bb = <usize>block_bytes, nb = row_bytes / block_bytes;
  for (let g = 0; g < m; g += group) {
    const rows = min(group, m - g), gw = w + <usize>g * rb;
    memory.copy(tmp, gw, <usize>rows * rb);
    let dst = gw;
    for (let b = 0; b < nb; b++) {
      for (let r = 0; r < rows; r++) {
        copy_block(dst, tmp + <usize>r * rb + <usize>b * bb, bb);
        dst += bb;
      }
    }
  }
}

/** n bytes from src to dst (non-overlapping), n small. */
@inline function copy_block(dst: usize, src: usize, n: usize): void {
  let i: usize = 0;
  for (; i + 16 <= n; i += 16) v128.store(dst + i, v128.load(src + i));
  for (; i + 2 <= n; i += 2) store<u16>(dst + i, load<u16>(src + i));
  if (i < n) store<u8>(dst + i, load<u8>(src + i));
}
