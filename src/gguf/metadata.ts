/**
 * GGUF metadata values and typed access to them.
 *
 * Values keep their exact GGUF type so that a file can be written back byte for byte:
 * 64-bit integers are bigints, numeric arrays are typed arrays, booleans are booleans.
 * The accessors convert for convenience and refuse a value of the wrong kind with a typed error.
 */
import { WasmChordError } from '../errors.js';

export const GGUFValueType = {
  UINT8: 0,
  INT8: 1,
  UINT16: 2,
  INT16: 3,
  UINT32: 4,
  INT32: 5,
  FLOAT32: 6,
  BOOL: 7,
  STRING: 8,
  ARRAY: 9,
  UINT64: 10,
  INT64: 11,
  FLOAT64: 12,
} as const;

export type GGUFValueTypeName = keyof typeof GGUFValueType;
export type GGUFValueTypeId = (typeof GGUFValueType)[GGUFValueTypeName];

const VALUE_TYPE_NAMES = Object.fromEntries(
  Object.entries(GGUFValueType).map(([name, id]) => [id, name]),
) as Record<number, GGUFValueTypeName>;

export function valueTypeName(id: number): string {
  return VALUE_TYPE_NAMES[id] ?? `unknown(${id})`;
}

export function isValueTypeId(id: number): id is GGUFValueTypeId {
  return id in VALUE_TYPE_NAMES;
}

export type GGUFNumericArray =
  | Uint8Array
  | Int8Array
  | Uint16Array
  | Int16Array
  | Uint32Array
  | Int32Array
  | Float32Array
  | Float64Array
  | BigUint64Array
  | BigInt64Array;

/** An array value: numeric items in a typed array, others in a plain array. */
export interface GGUFArray {
  readonly itemType: GGUFValueTypeId;
  readonly items: GGUFNumericArray | readonly boolean[] | readonly string[] | readonly GGUFArray[];
}

export type GGUFScalar = number | bigint | boolean | string;
export type GGUFValue = GGUFScalar | GGUFArray;

export interface GGUFKeyValue {
  readonly type: GGUFValueTypeId;
  readonly value: GGUFValue;
}

/** Byte size of one fixed-size value, or undefined for STRING and ARRAY. */
export function fixedValueSize(type: GGUFValueTypeId): number | undefined {
  switch (type) {
    case GGUFValueType.UINT8:
    case GGUFValueType.INT8:
    case GGUFValueType.BOOL:
      return 1;
    case GGUFValueType.UINT16:
    case GGUFValueType.INT16:
      return 2;
    case GGUFValueType.UINT32:
    case GGUFValueType.INT32:
    case GGUFValueType.FLOAT32:
      return 4;
    case GGUFValueType.UINT64:
    case GGUFValueType.INT64:
    case GGUFValueType.FLOAT64:
      return 8;
    default:
      return undefined;
  }
}

function isNumericType(type: GGUFValueTypeId): boolean {
  return type !== GGUFValueType.BOOL && fixedValueSize(type) !== undefined;
}

function wrongType(key: string, expected: string, kv: GGUFKeyValue): WasmChordError {
  return new WasmChordError(
    'GGUF_MALFORMED',
    `metadata key "${key}" should be ${expected} but is ${valueTypeName(kv.type)}`,
  );
}

function missing(key: string): WasmChordError {
  return new WasmChordError('GGUF_MALFORMED', `required metadata key "${key}" is missing`);
}

function toSafeNumber(key: string, v: number | bigint): number {
  if (typeof v === 'number') return v;
  const n = Number(v);
  if (!Number.isSafeInteger(n)) {
    throw new WasmChordError('GGUF_LIMIT_EXCEEDED', `metadata key "${key}" = ${v} is too large`);
  }
  return n;
}

/** Ordered key/value store with typed accessors. Insertion order is the file order. */
export class GGUFMetadata {
  readonly #entries: Map<string, GGUFKeyValue>;

  constructor(entries: Map<string, GGUFKeyValue> | Iterable<[string, GGUFKeyValue]> = []) {
    this.#entries = entries instanceof Map ? entries : new Map(entries);
  }

  get size(): number {
    return this.#entries.size;
  }

  has(key: string): boolean {
    return this.#entries.has(key);
  }

  get(key: string): GGUFKeyValue | undefined {
    return this.#entries.get(key);
  }

  keys(): IterableIterator<string> {
    return this.#entries.keys();
  }

  entries(): IterableIterator<[string, GGUFKeyValue]> {
    return this.#entries.entries();
  }

  /** A string value, or undefined when absent. */
  getString(key: string): string | undefined {
    const kv = this.#entries.get(key);
    if (kv === undefined) return undefined;
    if (kv.type !== GGUFValueType.STRING) throw wrongType(key, 'a string', kv);
    return kv.value as string;
  }

  /** Any numeric scalar as a JS number (64-bit integers must fit exactly). */
  getNumber(key: string): number | undefined {
    const kv = this.#entries.get(key);
    if (kv === undefined) return undefined;
    if (!isNumericType(kv.type)) throw wrongType(key, 'a number', kv);
    return toSafeNumber(key, kv.value as number | bigint);
  }

  /** An integer scalar (any integer width) as a JS number. */
  getInteger(key: string): number | undefined {
    const kv = this.#entries.get(key);
    if (kv === undefined) return undefined;
    const n = this.getNumber(key)!;
    if (!Number.isInteger(n)) throw wrongType(key, 'an integer', kv);
    return n;
  }

  getBool(key: string): boolean | undefined {
    const kv = this.#entries.get(key);
    if (kv === undefined) return undefined;
    if (kv.type !== GGUFValueType.BOOL) throw wrongType(key, 'a bool', kv);
    return kv.value as boolean;
  }

  getArray(key: string): GGUFArray | undefined {
    const kv = this.#entries.get(key);
    if (kv === undefined) return undefined;
    if (kv.type !== GGUFValueType.ARRAY) throw wrongType(key, 'an array', kv);
    return kv.value as GGUFArray;
  }

  getStringArray(key: string): readonly string[] | undefined {
    const arr = this.getArray(key);
    if (arr === undefined) return undefined;
    if (arr.itemType !== GGUFValueType.STRING) {
      throw new WasmChordError('GGUF_MALFORMED', `metadata key "${key}" should be an array of strings`);
    }
    return arr.items as readonly string[];
  }

  /** A numeric array as numbers (64-bit items converted exactly or refused). */
  getNumberArray(key: string): ArrayLike<number> | undefined {
    const arr = this.getArray(key);
    if (arr === undefined) return undefined;
    if (!isNumericType(arr.itemType)) {
      throw new WasmChordError('GGUF_MALFORMED', `metadata key "${key}" should be a numeric array`);
    }
    const items = arr.items as GGUFNumericArray;
    if (items instanceof BigInt64Array || items instanceof BigUint64Array) {
      return Array.from(items, (v) => toSafeNumber(key, v));
    }
    return items;
  }

  requireString(key: string): string {
    const v = this.getString(key);
    if (v === undefined) throw missing(key);
    return v;
  }

  requireNumber(key: string): number {
    const v = this.getNumber(key);
    if (v === undefined) throw missing(key);
    return v;
  }

  requireInteger(key: string): number {
    const v = this.getInteger(key);
    if (v === undefined) throw missing(key);
    return v;
  }
}

/** Constructors for metadata values, for code that writes GGUF files. */
export const kv = {
  string: (value: string): GGUFKeyValue => ({ type: GGUFValueType.STRING, value }),
  bool: (value: boolean): GGUFKeyValue => ({ type: GGUFValueType.BOOL, value }),
  u32: (value: number): GGUFKeyValue => ({ type: GGUFValueType.UINT32, value }),
  i32: (value: number): GGUFKeyValue => ({ type: GGUFValueType.INT32, value }),
  f32: (value: number): GGUFKeyValue => ({ type: GGUFValueType.FLOAT32, value }),
  u64: (value: bigint): GGUFKeyValue => ({ type: GGUFValueType.UINT64, value }),
  stringArray: (items: readonly string[]): GGUFKeyValue => ({
    type: GGUFValueType.ARRAY,
    value: { itemType: GGUFValueType.STRING, items },
  }),
  f32Array: (items: ArrayLike<number>): GGUFKeyValue => ({
    type: GGUFValueType.ARRAY,
    value: { itemType: GGUFValueType.FLOAT32, items: Float32Array.from(items) },
  }),
  i32Array: (items: ArrayLike<number>): GGUFKeyValue => ({
    type: GGUFValueType.ARRAY,
    value: { itemType: GGUFValueType.INT32, items: Int32Array.from(items) },
  }),
};
