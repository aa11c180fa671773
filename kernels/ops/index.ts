// Non-quantized ops: norms, RoPE, softmax, attention, activations, elementwise, conversions.
// (Shared internals live in ./simd and are not exported.)
export * from './elementwise';
export * from './norm';
export * from './rope';
export * from './softmax';
export * from './attention';
export * from './activation';
export * from './convert';
export * from './reduce';
