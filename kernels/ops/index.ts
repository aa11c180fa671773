// Non-quantized ops: norms, RoPE, softmax, attention, activations, elementwise, conversions.
export * from './elementwise';
