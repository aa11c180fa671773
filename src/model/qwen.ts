/**
 * The Qwen family: qwen2 (Qwen1.5/2/2.5), qwen3, and qwen3moe. All three are llama-shaped
 * (RMSNorm, grouped-query attention, SiLU-gated FFN, output tied when `output.weight` is absent)
 * but with NEOX RoPE, since the converter leaves Q/K rows in HF order. They differ only in:
 * - qwen2: biases on Q, K and V (none on the output projection);
 * - qwen3: per-head RMSNorm of Q and K before RoPE, and a head size (key_length) that need not be
 *   n_embd/n_head; the converter writes no rope.dimension_count, so n_rot defaults to it;
 * - qwen3moe: qwen3 attention with a mixture of experts (softmax, top-k, renormalised) as FFN.
 */
import type { GGUFFile } from '../gguf/reader.js';
import { defineLlamaFamily } from './llama.js';

export const defineQwen2 = (file: GGUFFile) => defineLlamaFamily(file, { arch: 'qwen2', ropeMode: 'neox', qkvBias: true, qkNorm: false, moe: false });
export const defineQwen3 = (file: GGUFFile) => defineLlamaFamily(file, { arch: 'qwen3', ropeMode: 'neox', qkvBias: false, qkNorm: true, moe: false });
export const defineQwen3Moe = (file: GGUFFile) => defineLlamaFamily(file, { arch: 'qwen3moe', ropeMode: 'neox', qkvBias: false, qkNorm: true, moe: true });
