/**
 * Signatures of the quantized-weight kernels exported by kernels/quant. Every pointer is a byte
 * offset into the kernel memory; quantized rows may start at any byte.
 *
 * Activation quantizers `quantize_<t>(x, out, nRows, rowLen)`: nRows·rowLen f32 at x (rows
 * consecutive, rowLen a multiple of the block size: 32 for q8_0/q8_1, 256 for q8_k_x8, any for
 * f16w/bf16w) -> consecutive rows of type t at out, byte-exact with ggml's reference quantizers
 * (q8_k_x8: q8_K blocks, each whole octet of rows interleaved block by block; f16w/bf16w: the
 * values ggml rounds to f16/bf16, kept as f32 in the order the float kernels read them:
 * activations.ts).
 *
 * Matmuls `matmul_<w>(w, x, y, k, m, row0, row1, nTokens)`: W has m rows of k elements of type
 * w (row r at w + r·rowBytes(w, k); k a multiple of the block size, any k for f32/f16/bf16);
 * x holds nTokens consecutive activation rows already in w's input format (activations.ts:
 * ggml's vec_dot type q8_0 or q8_1, q8_0s for q4_0, q8_k_x8 for the K-quants, f32 rows for
 * f32, f16w/bf16w for f16/bf16); y is f32
 * [nTokens][m]. Writes y[t][r] for r in [row0, row1) and every t, as ggml's CPU vec_dot
 * computes it. Each element is written by exactly one call and computed in a fixed order, so any
 * split of the row range, either kernel build and any nTokens give bit-identical results.
 *
 * Row dequantizers `dequantize_rows_<w>(w, ids, nIds, k, out)`: for i < nIds, out[i][:] (k f32)
 * = to_float of W's row ids[i] (ids: i32, each a valid row index: the host checks them),
 * bit-exact with ggml.
 *
 * Interleaved weights: `repack_rows(w, tmp, m, rowBytes, blockBytes, group)` rearranges m rows
 * in place (tmp: group·rowBytes of scratch) so that each group of rows holds block 0 of every
 * row, then block 1, ...; `matmul_<w>_x<group>` (same arguments and bits as matmul_<w>) and
 * `dequantize_rows_<w>_x<group>(w, ids, nIds, k, out, m)` read that layout: groups of 8 for
 * q4_1, q5_0, q5_1, q8_0, iq4_nl, of 4 for the K-quants q2_k..q6_k, iq4_xs. Q4_0 has its own
 * repacker, `repack_q4_0_x4(w, tmp, m, rowBytes)` (groups of 4 rows whose quant bytes interleave
 * too; it returns 0 and leaves a matrix with an inf or NaN scale as it is), read by
 * matmul_q4_0_x4 and dequantize_rows_q4_0_x4.
 */
export interface QuantKernelExports {
  quantize_q8_0(x: number, out: number, nRows: number, rowLen: number): void;
  quantize_q8_0s(x: number, out: number, nRows: number, rowLen: number): void;
  quantize_q8_1(x: number, out: number, nRows: number, rowLen: number): void;
  quantize_q8_k_x8(x: number, out: number, nRows: number, rowLen: number): void;
  quantize_f16w(x: number, out: number, nRows: number, rowLen: number): void;
  quantize_bf16w(x: number, out: number, nRows: number, rowLen: number): void;

  matmul_f32(w: number, x: number, y: number, k: number, m: number, row0: number, row1: number, nTokens: number): void;
  matmul_f16(w: number, x: number, y: number, k: number, m: number, row0: number, row1: number, nTokens: number): void;
  matmul_bf16(w: number, x: number, y: number, k: number, m: number, row0: number, row1: number, nTokens: number): void;
  matmul_q4_0(w: number, x: number, y: number, k: number, m: number, row0: number, row1: number, nTokens: number): void;
  matmul_q4_1(w: number, x: number, y: number, k: number, m: number, row0: number, row1: number, nTokens: number): void;
  matmul_q5_0(w: number, x: number, y: number, k: number, m: number, row0: number, row1: number, nTokens: number): void;
  matmul_q5_1(w: number, x: number, y: number, k: number, m: number, row0: number, row1: number, nTokens: number): void;
  matmul_q8_0(w: number, x: number, y: number, k: number, m: number, row0: number, row1: number, nTokens: number): void;
  matmul_iq4_nl(w: number, x: number, y: number, k: number, m: number, row0: number, row1: number, nTokens: number): void;
  matmul_q2_k(w: number, x: number, y: number, k: number, m: number, row0: number, row1: number, nTokens: number): void;
  matmul_q3_k(w: number, x: number, y: number, k: number, m: number, row0: number, row1: number, nTokens: number): void;
  matmul_q4_k(w: number, x: number, y: number, k: number, m: number, row0: number, row1: number, nTokens: number): void;
  matmul_q5_k(w: number, x: number, y: number, k: number, m: number, row0: number, row1: number, nTokens: number): void;
  matmul_q6_k(w: number, x: number, y: number, k: number, m: number, row0: number, row1: number, nTokens: number): void;
  matmul_iq4_xs(w: number, x: number, y: number, k: number, m: number, row0: number, row1: number, nTokens: number): void;

  repack_rows(w: number, tmp: number, m: number, rowBytes: number, blockBytes: number, group: number): void;
  repack_q4_0_x4(w: number, tmp: number, m: number, rowBytes: number): number;
  matmul_q4_0_x4(w: number, x: number, y: number, k: number, m: number, row0: number, row1: number, nTokens: number): void;
  matmul_q4_1_x8(w: number, x: number, y: number, k: number, m: number, row0: number, row1: number, nTokens: number): void;
  matmul_q5_0_x8(w: number, x: number, y: number, k: number, m: number, row0: number, row1: number, nTokens: number): void;
  matmul_q5_1_x8(w: number, x: number, y: number, k: number, m: number, row0: number, row1: number, nTokens: number): void;
  matmul_q8_0_x8(w: number, x: number, y: number, k: number, m: number, row0: number, row1: number, nTokens: number): void;
  matmul_iq4_nl_x8(w: number, x: number, y: number, k: number, m: number, row0: number, row1: number, nTokens: number): void;
  dequantize_rows_q4_0_x4(w: number, ids: number, nIds: number, k: number, out: number, m: number): void;
  dequantize_rows_q4_1_x8(w: number, ids: number, nIds: number, k: number, out: number, m: number): void;
  dequantize_rows_q5_0_x8(w: number, ids: number, nIds: number, k: number, out: number, m: number): void;
  dequantize_rows_q5_1_x8(w: number, ids: number, nIds: number, k: number, out: number, m: number): void;
  dequantize_rows_q8_0_x8(w: number, ids: number, nIds: number, k: number, out: number, m: number): void;
  dequantize_rows_iq4_nl_x8(w: number, ids: number, nIds: number, k: number, out: number, m: number): void;
  matmul_q2_k_x4(w: number, x: number, y: number, k: number, m: number, row0: number, row1: number, nTokens: number): void;
  matmul_q3_k_x4(w: number, x: number, y: number, k: number, m: number, row0: number, row1: number, nTokens: number): void;
  matmul_q4_k_x4(w: number, x: number, y: number, k: number, m: number, row0: number, row1: number, nTokens: number): void;
  matmul_q5_k_x4(w: number, x: number, y: number, k: number, m: number, row0: number, row1: number, nTokens: number): void;
  matmul_q6_k_x4(w: number, x: number, y: number, k: number, m: number, row0: number, row1: number, nTokens: number): void;
  matmul_iq4_xs_x4(w: number, x: number, y: number, k: number, m: number, row0: number, row1: number, nTokens: number): void;
  dequantize_rows_q2_k_x4(w: number, ids: number, nIds: number, k: number, out: number, m: number): void;
  dequantize_rows_q3_k_x4(w: number, ids: number, nIds: number, k: number, out: number, m: number): void;
  dequantize_rows_q4_k_x4(w: number, ids: number, nIds: number, k: number, out: number, m: number): void;
  dequantize_rows_q5_k_x4(w: number, ids: number, nIds: number, k: number, out: number, m: number): void;
  dequantize_rows_q6_k_x4(w: number, ids: number, nIds: number, k: number, out: number, m: number): void;
  dequantize_rows_iq4_xs_x4(w: number, ids: number, nIds: number, k: number, out: number, m: number): void;

  dequantize_rows_f32(w: number, ids: number, nIds: number, k: number, out: number): void;
  dequantize_rows_f16(w: number, ids: number, nIds: number, k: number, out: number): void;
  dequantize_rows_bf16(w: number, ids: number, nIds: number, k: number, out: number): void;
  dequantize_rows_q4_0(w: number, ids: number, nIds: number, k: number, out: number): void;
  dequantize_rows_q4_1(w: number, ids: number, nIds: number, k: number, out: number): void;
  dequantize_rows_q5_0(w: number, ids: number, nIds: number, k: number, out: number): void;
  dequantize_rows_q5_1(w: number, ids: number, nIds: number, k: number, out: number): void;
  dequantize_rows_q8_0(w: number, ids: number, nIds: number, k: number, out: number): void;
  dequantize_rows_iq4_nl(w: number, ids: number, nIds: number, k: number, out: number): void;
  dequantize_rows_q2_k(w: number, ids: number, nIds: number, k: number, out: number): void;
  dequantize_rows_q3_k(w: number, ids: number, nIds: number, k: number, out: number): void;
  dequantize_rows_q4_k(w: number, ids: number, nIds: number, k: number, out: number): void;
  dequantize_rows_q5_k(w: number, ids: number, nIds: number, k: number, out: number): void;
  dequantize_rows_q6_k(w: number, ids: number, nIds: number, k: number, out: number): void;
  dequantize_rows_iq4_xs(w: number, ids: number, nIds: number, k: number, out: number): void;
}
