/**
 * How far a backend's logits may lie from llama.cpp's on a reference model (../shared/reference
 * README sections 2-3; the reasoning is in test/model/reference.test.ts): the model's least
 * precise weight type decides.
 */
export interface LogitBound {
  maxAbs: number;
  nmse: number;
}

export function logitBound(types: Record<string, number>): LogitBound {
  const names = Object.keys(types);
  if (names.every((t) => t === 'F32')) return { maxAbs: 1e-4, nmse: 1e-10 };
  if (names.every((t) => t === 'F32' || t === 'F16')) return { maxAbs: 0.02, nmse: 1e-6 };
  if (names.includes('Q2_K')) return { maxAbs: 1.0, nmse: 2e-3 };
  return { maxAbs: 0.5, nmse: 2e-3 };
}
