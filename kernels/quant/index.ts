// Quantized-weight kernels: activation quantizers, fused dequant-dot matmuls, row dequantizers.
export * from './activations';
export * from './float';
export * from './legacy';
export * from './kquants';
export * from './interleave';
