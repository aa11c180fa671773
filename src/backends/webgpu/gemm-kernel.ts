/**
 * The matmul of several tokens (prefill): Y[t][rowOffset + r] = X[t] · W[r] for the rows of one
 * weight piece, as a GEMM tiled in workgroup memory with the weights' dequantization fused in.
 *
 * A workgroup computes GEMM_ROWS weight rows × GEMM_TOKENS tokens, walking k in steps of GEMM_K
 * inputs. Per step, its 256 threads decode the 64 × 32 tile of W into workgroup memory as f32
 * (each decoded value then serves all 64 tokens, where the decode kernel would decode it again
 * for every token) and copy the 64 × 32 tile of X beside it; after a barrier each thread
 * accumulates its 4 rows × 4 tokens of outputs, in registers, from the two tiles; a second
 * barrier frees the tiles for the next step. A thread fetches its share of the next step's tiles
 * (global loads and decoding) into registers before it computes the current step, so the loads
 * are in flight during the arithmetic.
 *
 * Both tiles are k-major, 4 consecutive rows (tokens) to a vec4: a thread reads its 4 rows, and
 * its 4 tokens, at input kk with one 16-byte load each. The vec4 of rows 4j..4j+3 at input kk is
 * slot (j ^ (kk / 4)) of that input's 16 slots, so that the 8 threads decoding one row (adjacent
 * lanes, reading adjacent bytes of W) store to different banks, while the threads reading at one
 * kk still read 16 distinct slots.
 *
 * Every output is one f32 accumulator summed in k order (rows and tokens past the edges, and
 * inputs past k, are zeros in the tiles): the result does not depend on where a tile's edges
 * fall (weights split into pieces give the same bits), nor on timing. The result is written as
 * in the decode kernel (kernels.ts), the epilogue applied as it is, so fused equals unfused bit
 * for bit.
 *
 * Tiles were chosen on an H200 (a 5632 × 2048 matrix, bench/webgpu-matmul.bench.ts): 64 × 64
 * with 4 × 4 per thread runs 9.6–10.6 TFLOP/s at 64 tokens and 19.7–21.0 at 512 for Q4_0, Q8_0,
 * Q4_K and Q6_K (the 8-token matmul kernel before it: 2.4–2.8 at both). 128 × 64 (8 × 4 per
 * thread), or 64 threads of 8 × 8, came within 5% of it at 512 tokens but were 1.6–2.5× slower
 * at 64, where 64-row tiles already make fewer workgroups than the GPU has multiprocessors;
 * fetching a step ahead gained 5–10% at 64 tokens. 256 threads and 16 KiB of workgroup memory
 * are WebGPU's guaranteed limits.
 */
import type { GGMLTypeId } from '../../quant/types.js';
import { dequantWGSL } from './dequant-wgsl.js';
import { ENTRY_BUILTINS, FLAT, matmulBindings, matmulPreamble, type KernelSource } from './kernels.js';

/** Weight rows of a workgroup's output tile. */
export const GEMM_ROWS = 64;
/** Tokens of a workgroup's output tile (the code below takes them equal to the rows). */
export const GEMM_TOKENS = GEMM_ROWS;
/** Inputs per step along k: one 32-value block of the quantized types. */
const GEMM_K = 32;
/** Threads: one per 4 × 4 block of outputs. */
const THREADS = (GEMM_ROWS / 4) * (GEMM_TOKENS / 4);
/** vec4 slots per input in a tile. */
const SLOTS = GEMM_ROWS / 4;
/** Threads per row (token) when fetching a step's tiles, each taking 4 inputs. */
const FETCHERS = GEMM_K / 4;
/** Rows (tokens) fetched per pass of all threads: each thread fetches two, j and j + HALF. */
const HALF = THREADS / FETCHERS;

/** The GEMM for weights of `type`, as the decode kernel with its epilogue or without (same bindings and uniform). */
export function gemmKernel(type: GGMLTypeId, epilogue = false): KernelSource {
  const dequant = dequantWGSL(type);
  if (dequant === undefined) throw new Error(`no WGSL decoder for type ${type}`);
  return {
    key: `matmul/${type}/gemm/${GEMM_ROWS}x${GEMM_TOKENS}x${GEMM_K}${epilogue ? '/epilogue' : ''}`,
    bindings: matmulBindings(epilogue),
    code: `${matmulPreamble(epilogue)}
${dequant}
// Input kk of row (token) j of a tile: component j % 4 of slot kk·${SLOTS} + ((j / 4) ^ (kk / 4)).
var<workgroup> Ws: array<vec4f, ${GEMM_K * SLOTS}>;
var<workgroup> Xs: array<vec4f, ${GEMM_K * SLOTS}>;

// Inputs i..i+3 of row r of the piece: zeros past its rows and past k. (A float row may end inside
// the vec4: dq4 then reads past the row, and the zeros of xq cancel what it reads.)
fn wq(r: u32, i: u32) -> vec4f {
  if (r >= p.rows || i >= p.k) { return vec4f(0.0); }
  return dq4(r * p.rowBytes, i);
}

// Inputs i..i+3 of token t: zeros past the tokens and past k.
fn xq(t: u32, i: u32) -> vec4f {
  if (t >= p.nTok || i >= p.k) { return vec4f(0.0); }
  return x4(t * p.k, i, p.k);
}

// Outputs r..r+3 of token t (those within the piece's rows).
fn put(t: u32, r: u32, a: vec4f) {
  if (t >= p.nTok) { return; }
  for (var c = 0u; c < 4u; c++) {
    if (r + c < p.rows) {
      let at = t * p.m + p.rowOffset + r + c;
      let v = a[c];
      Y[at] = ${epilogue ? 'epilogue(v, at)' : 'v'};
    }
  }
}

@compute @workgroup_size(${THREADS})
fn main(${ENTRY_BUILTINS}) {
  let r0 = (${FLAT}) * ${GEMM_ROWS}u;
  let t0 = wid.z * ${GEMM_TOKENS}u;
  // Fetching: inputs 4g..4g+3 of each step for rows (and tokens) j and j + ${HALF} of the tile,
  // stored from slot s on (and s + ${HALF / 4}: ((j + ${HALF}) / 4) ^ g = ((j / 4) ^ g) + ${HALF / 4}, as g < ${HALF / 4}).
  let g = lid % ${FETCHERS}u;
  let j = lid / ${FETCHERS}u;
  let s = g * ${4 * SLOTS}u + ((j / 4u) ^ g);
  // Computing: rows r0 + 4·tr .. +3 and tokens t0 + 4·tt .. +3.
  let tr = lid % ${SLOTS}u;
  let tt = lid / ${SLOTS}u;
  var acc0 = vec4f(0.0);
  var acc1 = vec4f(0.0);
  var acc2 = vec4f(0.0);
  var acc3 = vec4f(0.0);
  var w0 = wq(r0 + j, 4u * g);
  var w1 = wq(r0 + j + ${HALF}u, 4u * g);
  var x0 = xq(t0 + j, 4u * g);
  var x1 = xq(t0 + j + ${HALF}u, 4u * g);
  for (var k0 = 0u; k0 < p.k; k0 += ${GEMM_K}u) {
    for (var c = 0u; c < 4u; c++) {
      Ws[s + c * ${SLOTS}u][j % 4u] = w0[c];
      Ws[s + c * ${SLOTS}u + ${HALF / 4}u][j % 4u] = w1[c];
      Xs[s + c * ${SLOTS}u][j % 4u] = x0[c];
      Xs[s + c * ${SLOTS}u + ${HALF / 4}u][j % 4u] = x1[c];
    }
    workgroupBarrier();
    let i = k0 + ${GEMM_K}u + 4u * g;
    w0 = wq(r0 + j, i);
    w1 = wq(r0 + j + ${HALF}u, i);
    x0 = xq(t0 + j, i);
    x1 = xq(t0 + j + ${HALF}u, i);
    for (var kk = 0u; kk < ${GEMM_K}u; kk++) {
      let a = Ws[kk * ${SLOTS}u + (tr ^ (kk / 4u))];
      let b = Xs[kk * ${SLOTS}u + (tt ^ (kk / 4u))];
      acc0 += a * b.x;
      acc1 += a * b.y;
      acc2 += a * b.z;
      acc3 += a * b.w;
    }
    workgroupBarrier();
  }
  let r = r0 + 4u * tr;
  let t = t0 + 4u * tt;
  put(t, r, acc0);
  put(t + 1u, r, acc1);
  put(t + 2u, r, acc2);
  put(t + 3u, r, acc3);
}`,
  };
}
