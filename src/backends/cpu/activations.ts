/**
 * The form in which each weight type's matmul kernels take their input rows on the CPU backend:
 * ggml's vec_dot type (q8_0, q8_1, q8_K, or the float type), except Q4_0, whose kernels read
 * q8_0s: q8_0 blocks each followed by two values the repacked Q4_0 loops would otherwise derive
 * for every group of rows (kernels/quant/activations.ts, quantize_q8_0s), and the K-quants,
 * whose kernels read q8_k_x8: q8_K rows with each whole octet of rows interleaved block by block
 * (quantize_q8_k_x8). A single row is plain q8_K in both. F16 and BF16 weights read f16w and
 * bf16w: the f16/bf16 values ggml rounds the activations to, kept as f32 with each chunk of
 * eight elements stored even elements first, the lane order in which the kernels widen their
 * weights; a single f16w row (decode) is scaled by 2^112, which the F16 weights then need not be
 * (kernels/quant/float.ts says why).
 */
import { vecDotType } from '../../quant/index.js';
import { GGMLType, rowByteSize, typeName, type GGMLTypeId } from '../../quant/types.js';

export interface ActivationFormat {
  /** Names the kernel that writes it, quantize_<name>. */
  readonly name: string;
  rowBytes(cols: number): number;
}

/** q8_0s: a q8_0 block (34 B), then Σq (i32) and d·2^112 (f32, d the block's f16 scale). */
export const Q8_0S_BLOCK_BYTES = 42;

const Q8_0S: ActivationFormat = { name: 'q8_0s', rowBytes: (cols) => (cols / 32) * Q8_0S_BLOCK_BYTES };
const Q8_K_X8: ActivationFormat = { name: 'q8_k_x8', rowBytes: (cols) => rowByteSize(GGMLType.Q8_K, cols) };
const F16W: ActivationFormat = { name: 'f16w', rowBytes: (cols) => cols * 4 };
const BF16W: ActivationFormat = { name: 'bf16w', rowBytes: (cols) => cols * 4 };

/** The input format of a matmul over `type`, or undefined where the kernel reads f32 rows. */
export function activationFormat(type: GGMLTypeId): ActivationFormat | undefined {
  if (type === GGMLType.F32) return undefined;
  if (type === GGMLType.Q4_0) return Q8_0S;
  if (type === GGMLType.F16) return F16W;
  if (type === GGMLType.BF16) return BF16W;
  const act = vecDotType(type);
  if (act === GGMLType.Q8_K) return Q8_K_X8;
  return { name: typeName(act).toLowerCase(), rowBytes: (cols) => rowByteSize(act, cols) };
}
