/**
 * The registry of reference codecs and the public entry points. Every type id maps to at most
 * one BlockCodec; lengths are checked here so that the codecs themselves stay plain loops.
 */
import { WasmChordError } from '../errors.js';
import { GGMLType, typeInfo, type GGMLTypeInfo } from './types.js';
import type { BlockCodec } from './common.js';
import { BF16, F16, F32, F64, I8, I16, I32 } from './float.js';
import { Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1 } from './legacy.js';
import { Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_K } from './kquants.js';
import { IQ4_NL, IQ4_XS } from './iq4.js';
import { TQ1_0, TQ2_0 } from './ternary.js';
import { MXFP4 } from './mxfp4.js';

const CODECS = new Map<number, BlockCodec>([
  [GGMLType.F32, F32],
  [GGMLType.F16, F16],
  [GGMLType.BF16, BF16],
  [GGMLType.F64, F64],
  [GGMLType.I8, I8],
  [GGMLType.I16, I16],
  [GGMLType.I32, I32],
  [GGMLType.Q4_0, Q4_0],
  [GGMLType.Q4_1, Q4_1],
  [GGMLType.Q5_0, Q5_0],
  [GGMLType.Q5_1, Q5_1],
  [GGMLType.Q8_0, Q8_0],
  [GGMLType.Q8_1, Q8_1],
  [GGMLType.Q2_K, Q2_K],
  [GGMLType.Q3_K, Q3_K],
  [GGMLType.Q4_K, Q4_K],
  [GGMLType.Q5_K, Q5_K],
  [GGMLType.Q6_K, Q6_K],
  [GGMLType.Q8_K, Q8_K],
  [GGMLType.IQ4_NL, IQ4_NL],
  [GGMLType.IQ4_XS, IQ4_XS],
  [GGMLType.TQ1_0, TQ1_0],
  [GGMLType.TQ2_0, TQ2_0],
  [GGMLType.MXFP4, MXFP4],
]);

/** The IQ types whose values come from ggml's large lookup grids, which we do not carry. */
const GRID_TYPES = new Set<number>([
  GGMLType.IQ2_XXS, GGMLType.IQ2_XS, GGMLType.IQ2_S, GGMLType.IQ3_XXS, GGMLType.IQ3_S, GGMLType.IQ1_S, GGMLType.IQ1_M,
]);

function unsupported(info: GGMLTypeInfo, what: string): WasmChordError {
  const why = GRID_TYPES.has(info.id)
    ? "it needs ggml's IQ lookup grids, which wasm-chord does not include"
    : info.removedFromGGUF
      ? 'it is an interleaved (repacked) layout that GGUF files no longer use'
      : 'wasm-chord has no codec for it';
  return new WasmChordError('UNSUPPORTED_TENSOR_TYPE', `cannot ${what} tensor type ${info.name}: ${why}`);
}

function codec(type: number, what: string): [GGMLTypeInfo, BlockCodec] {
  const info = typeInfo(type);
  const c = CODECS.get(type);
  if (!c) throw unsupported(info, what);
  return [info, c];
}

function blockCount(info: GGMLTypeInfo, elements: number, what: string): number {
  if (!Number.isSafeInteger(elements) || elements < 0 || elements % info.blockSize !== 0) {
    throw new WasmChordError(
      'INVALID_ARGUMENT',
      `${what} ${elements} is not a whole number of ${info.name} blocks (${info.blockSize} elements each)`,
    );
  }
  return elements / info.blockSize;
}

function needBytes(info: GGMLTypeInfo, have: number, need: number, what: string): void {
  if (have < need) {
    throw new WasmChordError('INVALID_ARGUMENT', `${what} holds ${have} bytes but ${need} are needed for ${info.name}`);
  }
}

/** Whether `dequantize` supports this type id (false for unknown ids). */
export function canDequantize(type: number): boolean {
  return CODECS.has(type);
}

/** Whether `quantize` supports this type id (false for unknown ids). */
export function canQuantize(type: number): boolean {
  return CODECS.get(type)?.quantize !== undefined;
}

/**
 * Decodes `count` elements (a multiple of the block size) from the start of `src`, bit-exactly
 * as ggml's to_float does. Writes into `dst` (at least `count` long) if given; returns it.
 */
export function dequantize(type: number, src: Uint8Array, count: number, dst?: Float32Array): Float32Array {
  const [info, c] = codec(type, 'dequantize');
  const blocks = blockCount(info, count, 'element count');
  needBytes(info, src.length, blocks * info.typeSize, 'source');
  if (dst && dst.length < count) {
    throw new WasmChordError('INVALID_ARGUMENT', `destination holds ${dst.length} values but ${count} are decoded`);
  }
  const out = dst ?? new Float32Array(count);
  c.dequantize(src, out, blocks);
  return out;
}

/**
 * Encodes `src` (length a multiple of the block size; rows are simply consecutive blocks) as
 * ggml's reference quantizer does without an importance matrix. Writes into `dst` if given
 * (at least the encoded size); returns it.
 */
export function quantize(type: number, src: Float32Array, dst?: Uint8Array): Uint8Array {
  const [info, c] = codec(type, 'quantize');
  if (!c.quantize) throw unsupported(info, 'quantize');
  const blocks = blockCount(info, src.length, 'source length');
  const bytes = blocks * info.typeSize;
  if (dst) needBytes(info, dst.length, bytes, 'destination');
  const out = dst ?? new Uint8Array(bytes);
  c.quantize(src, out, blocks);
  return out;
}

/** The GGMLType id that ggml's CPU backend quantizes activations to before vec_dot with `type`. */
export function vecDotType(type: number): number {
  const [info, c] = codec(type, 'compute a dot product with');
  if (c.vecDotType === undefined) throw unsupported(info, 'compute a dot product with');
  return c.vecDotType;
}

/**
 * ggml's CPU vec_dot of one weight row of `type` with one activation row already in
 * `vecDotType(type)`, both `n` elements long, computed as ggml's scalar code does: integer sums
 * per block or sub-block, scaled by the block scales, accumulated in f32.
 */
export function vecDot(type: number, weights: Uint8Array, activation: Uint8Array, n: number): number {
  const [info, c] = codec(type, 'compute a dot product with');
  if (!c.vecDot || c.vecDotType === undefined) throw unsupported(info, 'compute a dot product with');
  const act = typeInfo(c.vecDotType);
  const blocks = blockCount(info, n, 'row length');
  const actBlocks = blockCount(act, n, 'row length');
  needBytes(info, weights.length, blocks * info.typeSize, 'weight row');
  needBytes(act, activation.length, actBlocks * act.typeSize, 'activation row');
  return c.vecDot(weights, activation, blocks);
}
