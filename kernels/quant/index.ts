// Quantized-weight kernels: activation quantizers, fused dequant-dot matmuls, row dequantizers.
export * from './activations';
export * from './float';
export * from './legacy-kernels';
export * from './q4_0_x4';
export * from './kquants';
export * from './interleave';
