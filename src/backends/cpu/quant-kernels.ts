/** Signatures of the quantized-weight kernels exported by kernels/quant (pointers are byte offsets). */
export interface QuantKernelExports {}
