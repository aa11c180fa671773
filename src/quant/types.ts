/**
 * The one table of ggml tensor types: id (as stored in GGUF tensor infos), name (as ggml spells
 * it), elements per block and bytes per block. Every size computation in the project goes
 * through here. Layouts of the blocks are documented next to their reference codecs.
 */
import { WasmChordError } from '../errors.js';

export const GGMLType = {
  F32: 0,
  F16: 1,
  Q4_0: 2,
  Q4_1: 3,
  Q5_0: 6,
  Q5_1: 7,
  Q8_0: 8,
  Q8_1: 9,
  Q2_K: 10,
  Q3_K: 11,
  Q4_K: 12,
  Q5_K: 13,
  Q6_K: 14,
  Q8_K: 15,
  IQ2_XXS: 16,
  IQ2_XS: 17,
  IQ3_XXS: 18,
  IQ1_S: 19,
  IQ4_NL: 20,
  IQ3_S: 21,
  IQ2_S: 22,
  IQ4_XS: 23,
  I8: 24,
  I16: 25,
  I32: 26,
  I64: 27,
  F64: 28,
  IQ1_M: 29,
  BF16: 30,
  Q4_0_4_4: 31,
  Q4_0_4_8: 32,
  Q4_0_8_8: 33,
  TQ1_0: 34,
  TQ2_0: 35,
  IQ4_NL_4_4: 36,
  IQ4_NL_4_8: 37,
  IQ4_NL_8_8: 38,
  MXFP4: 39,
} as const;

export type GGMLTypeName = keyof typeof GGMLType;
export type GGMLTypeId = (typeof GGMLType)[GGMLTypeName];

export interface GGMLTypeInfo {
  readonly id: GGMLTypeId;
  readonly name: GGMLTypeName;
  /** Elements per block (1 for plain scalar types). */
  readonly blockSize: number;
  /** Bytes per block. */
  readonly typeSize: number;
  /** True for block-quantized types. */
  readonly quantized: boolean;
  /**
   * Ids 31-33 and 36-38 were ggml's interleaved (repacked) layouts. Current llama.cpp refuses
   * them in GGUF files; we still parse and name them, and refuse them when values are needed.
   */
  readonly removedFromGGUF: boolean;
}

const QK_K = 256;

function entry(
  name: GGMLTypeName,
  blockSize: number,
  typeSize: number,
  removedFromGGUF = false,
): GGMLTypeInfo {
  return { id: GGMLType[name], name, blockSize, typeSize, quantized: blockSize > 1, removedFromGGUF };
}

const TABLE: readonly GGMLTypeInfo[] = [
  entry('F32', 1, 4),
  entry('F16', 1, 2),
  entry('BF16', 1, 2),
  entry('F64', 1, 8),
  entry('I8', 1, 1),
  entry('I16', 1, 2),
  entry('I32', 1, 4),
  entry('I64', 1, 8),
  entry('Q4_0', 32, 18),
  entry('Q4_1', 32, 20),
  entry('Q5_0', 32, 22),
  entry('Q5_1', 32, 24),
  entry('Q8_0', 32, 34),
  entry('Q8_1', 32, 36),
  entry('Q2_K', QK_K, 84),
  entry('Q3_K', QK_K, 110),
  entry('Q4_K', QK_K, 144),
  entry('Q5_K', QK_K, 176),
  entry('Q6_K', QK_K, 210),
  entry('Q8_K', QK_K, 292),
  entry('IQ2_XXS', QK_K, 66),
  entry('IQ2_XS', QK_K, 74),
  entry('IQ2_S', QK_K, 82),
  entry('IQ3_XXS', QK_K, 98),
  entry('IQ3_S', QK_K, 110),
  entry('IQ1_S', QK_K, 50),
  entry('IQ1_M', QK_K, 56),
  entry('IQ4_NL', 32, 18),
  entry('IQ4_XS', QK_K, 136),
  entry('TQ1_0', QK_K, 54),
  entry('TQ2_0', QK_K, 66),
  entry('MXFP4', 32, 17),
  entry('Q4_0_4_4', 32, 18, true),
  entry('Q4_0_4_8', 32, 18, true),
  entry('Q4_0_8_8', 32, 18, true),
  entry('IQ4_NL_4_4', 32, 18, true),
  entry('IQ4_NL_4_8', 32, 18, true),
  entry('IQ4_NL_8_8', 32, 18, true),
];

const BY_ID = new Map<number, GGMLTypeInfo>(TABLE.map((t) => [t.id, t]));
const BY_NAME = new Map<string, GGMLTypeInfo>(TABLE.map((t) => [t.name.toUpperCase(), t]));

/** All known types, in table order. */
export const GGML_TYPES: readonly GGMLTypeInfo[] = TABLE;

/** Looks a type up by id; throws UNKNOWN_TENSOR_TYPE for an id no ggml version defines. */
export function typeInfo(id: number): GGMLTypeInfo {
  const info = BY_ID.get(id);
  if (!info) {
    throw new WasmChordError('UNKNOWN_TENSOR_TYPE', `unknown ggml tensor type id ${id}`);
  }
  return info;
}

/** Looks a type up by its ggml name, case-insensitively ("q4_K", "Q4_K"). */
export function typeByName(name: string): GGMLTypeInfo {
  const info = BY_NAME.get(name.toUpperCase());
  if (!info) {
    throw new WasmChordError('UNKNOWN_TENSOR_TYPE', `unknown ggml tensor type "${name}"`);
  }
  return info;
}

export function typeName(id: number): string {
  return BY_ID.get(id)?.name ?? `unknown(${id})`;
}

/**
 * Bytes of one row of `rowLength` elements (ne[0]). The row length must be a whole number of
 * blocks, as ggml requires.
 */
export function rowByteSize(id: number, rowLength: number): number {
  const t = typeInfo(id);
  if (!Number.isSafeInteger(rowLength) || rowLength < 0 || rowLength % t.blockSize !== 0) {
    throw new WasmChordError(
      'GGUF_MALFORMED',
      `row length ${rowLength} is not a multiple of the ${t.name} block size ${t.blockSize}`,
    );
  }
  return (rowLength / t.blockSize) * t.typeSize;
}

/**
 * Bytes of a whole tensor of shape `ne` (ggml order: ne[0] is the contiguous row length).
 * Throws GGUF_LIMIT_EXCEEDED when the size cannot be represented exactly in a JS number.
 */
export function tensorByteSize(id: number, ne: readonly number[]): number {
  const row = rowByteSize(id, ne[0] ?? 1);
  let rows = 1;
  for (let i = 1; i < ne.length; i++) {
    rows *= ne[i]!;
  }
  const bytes = row * rows;
  if (!Number.isSafeInteger(bytes) || !Number.isSafeInteger(rows)) {
    throw new WasmChordError('GGUF_LIMIT_EXCEEDED', `tensor of shape [${ne.join(', ')}] is too large`);
  }
  return bytes;
}
