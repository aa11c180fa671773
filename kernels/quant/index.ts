// Quantized-weight kernels: activation quantizers, fused dequant-dot matmuls, row dequantizers.
// (Filled in by the quant kernel work.)
