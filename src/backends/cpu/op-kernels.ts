/**
 * Signatures of the op kernels exported by kernels/ops. Pointers are byte offsets into the
 * kernel memory (f16/bf16 data as raw 16-bit patterns, ids and positions as i32); lengths and
 * strides count elements. Ranged kernels take [start, end) of their outermost independent
 * dimension: any split of that range across calls gives the same bits.
 * Semantics follow ggml's CPU backend; see the comments in kernels/ops/*.ts.
 */
export interface OpKernelExports {
  // Elementwise (split by offsetting the pointers; in place allowed).
  add_f32(a: number, b: number, out: number, n: number): void;
  mul_f32(a: number, b: number, out: number, n: number): void;
  /** out[r][i] = x[r][i] + row[i] over `rows` contiguous rows of n. */
  add_row_f32(x: number, row: number, out: number, n: number, rows: number): void;
  /** out[r][i] = x[r][i] * row[i] over `rows` contiguous rows of n. */
  mul_row_f32(x: number, row: number, out: number, n: number, rows: number): void;
  scale_f32(x: number, out: number, n: number, s: number): void;
  copy_f32(src: number, dst: number, n: number): void;
  /** Copies `rows` rows of n values; strides in f32 elements. */
  copy_rows_f32(src: number, srcStride: number, dst: number, dstStride: number, n: number, rows: number): void;

  // Norms over contiguous rows of n; w / b = 0 for none; rows [row0, row1).
  rms_norm_f32(x: number, w: number, out: number, n: number, eps: number, row0: number, row1: number): void;
  layer_norm_f32(x: number, w: number, b: number, out: number, n: number, eps: number, row0: number, row1: number): void;

  // RoPE over [token][head][head_dim] rows with per-token strides (f32 elements); positions i32
  // per token; freqFactors = 0 for none (else n_rot/2 f32); tokens [tok0, tok1).
  rope_norm_f32(
    x: number, xStride: number, out: number, outStride: number, positions: number,
    nHeads: number, headDim: number, nRot: number, freqBase: number, freqScale: number, freqFactors: number,
    tok0: number, tok1: number,
  ): void;
  rope_neox_f32(
    x: number, xStride: number, out: number, outStride: number, positions: number,
    nHeads: number, headDim: number, nRot: number, freqBase: number, freqScale: number, freqFactors: number,
    tok0: number, tok1: number,
  ): void;

  /** softmax(x*scale + mask) over contiguous rows of n; mask 0 for none, row r reads mask + r*maskStride. */
  softmax_f32(x: number, out: number, n: number, scale: number, mask: number, maskStride: number, row0: number, row1: number): void;

  // Attention: q/out [token][head][head_dim] f32; caches [kv_head][kvStride][head_dim] (f32 or f16);
  // token t at position pos0 + t; nSwa / softcap 0 = off; query heads [head0, head1). Each
  // concurrent call needs its own scratch of attention_scratch_bytes(pos0 + nTokens, headDim).
  attention_scratch_bytes(nKv: number, headDim: number): number;
  attention_f32kv(
    q: number, kCache: number, vCache: number, out: number, scratch: number,
    nTokens: number, pos0: number, nHead: number, nKvHead: number, headDim: number, kvStride: number,
    scale: number, nSwa: number, softcap: number, head0: number, head1: number,
  ): void;
  attention_f16kv(
    q: number, kCache: number, vCache: number, out: number, scratch: number,
    nTokens: number, pos0: number, nHead: number, nKvHead: number, headDim: number, kvStride: number,
    scale: number, nSwa: number, softcap: number, head0: number, head1: number,
  ): void;
  /** Writes nTokens rows ([kv_head][head_dim], row t at src + t*srcStride f32) at positions pos0... */
  kv_store_f32(src: number, srcStride: number, cache: number, nTokens: number, nKvHead: number, headDim: number, kvStride: number, pos0: number): void;
  kv_store_f16(src: number, srcStride: number, cache: number, nTokens: number, nKvHead: number, headDim: number, kvStride: number, pos0: number): void;

  // Activations over n values (split by offsetting the pointers; in place allowed).
  silu_f32(x: number, out: number, n: number): void;
  /** Tanh-approximation GELU in f32. */
  gelu_f32(x: number, out: number, n: number): void;
  /** Fills the 131072-byte f16 GELU table (host-owned, once per memory) the *_ggml kernels read. */
  gelu_ggml_table_init(table: number): void;
  /** ggml's CPU GELU (its f16 table, +-10 cut-offs): what llama.cpp computes. */
  gelu_ggml_f32(x: number, out: number, n: number, table: number): void;
  swiglu_f32(g: number, u: number, out: number, n: number): void;
  geglu_f32(g: number, u: number, out: number, n: number): void;
  geglu_ggml_f32(g: number, u: number, out: number, n: number, table: number): void;
  /** tanh(x * (1/cap)) * cap. */
  softcap_f32(x: number, out: number, n: number, cap: number): void;
  exp_f32(x: number, out: number, n: number): void;
  tanh_f32(x: number, out: number, n: number): void;

  // Conversions (f16 nearest even).
  f32_to_f16(src: number, dst: number, n: number): void;
  f16_to_f32(src: number, dst: number, n: number): void;
  bf16_to_f32(src: number, dst: number, n: number): void;

  /** Index of the first maximum; NaNs skipped; 0 when nothing exceeds -Infinity. */
  argmax_f32(x: number, n: number): number;
}
