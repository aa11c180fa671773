/**
 * GGUF writer: header (key/values in the given order, tensor infos), padding to the alignment,
 * then each tensor's bytes padded to the alignment, as llama.cpp lays files out.
 */
import { WasmChordError } from '../errors.js';
import { tensorByteSize, type GGMLTypeId } from '../quant/types.js';
import {
  fixedValueSize,
  GGUFMetadata,
  GGUFValueType,
  valueTypeName,
  type GGUFArray,
  type GGUFKeyValue,
  type GGUFNumericArray,
  type GGUFValue,
  type GGUFValueTypeId,
} from './metadata.js';
import { alignUp, GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC } from './reader.js';
import { concatBytes } from './byte-source.js';

export interface GGUFWriteTensor {
  readonly name: string;
  readonly type: GGMLTypeId;
  readonly shape: readonly number[];
  /** The tensor's bytes, or a function producing them when the writer reaches this tensor. */
  readonly data: Uint8Array | (() => Promise<Uint8Array>);
}

export interface GGUFWriteSpec {
  readonly version?: 2 | 3;
  readonly metadata: GGUFMetadata | Iterable<[string, GGUFKeyValue]>;
  readonly tensors: readonly GGUFWriteTensor[];
}

export type ByteSink = (chunk: Uint8Array) => void | Promise<void>;

/** Writes a GGUF file to `sink`, chunk by chunk (the header, then each tensor). */
export async function writeGGUF(spec: GGUFWriteSpec, sink: ByteSink): Promise<void> {
  const metadata = spec.metadata instanceof GGUFMetadata ? spec.metadata : new GGUFMetadata(spec.metadata);
  const alignment = metadata.getNumber('general.alignment') ?? GGUF_DEFAULT_ALIGNMENT;
  if (!Number.isInteger(alignment) || alignment <= 0 || (alignment & (alignment - 1)) !== 0) {
    throw new WasmChordError('INVALID_ARGUMENT', `general.alignment ${alignment} is not a power of two`);
  }

  const w = new ByteWriter();
  w.u32(GGUF_MAGIC);
  w.u32(spec.version ?? 3);
  w.u64(BigInt(spec.tensors.length));
  w.u64(BigInt(metadata.size));
  for (const [key, kv] of metadata.entries()) {
    w.string(key);
    w.u32(kv.type);
    writeValue(w, kv.type, kv.value, key);
  }
  let offset = 0;
  const sizes: number[] = [];
  for (const t of spec.tensors) {
    const bytes = tensorByteSize(t.type, t.shape);
    sizes.push(bytes);
    w.string(t.name);
    w.u32(t.shape.length);
    for (const ne of t.shape) w.u64(BigInt(ne));
    w.u32(t.type);
    w.u64(BigInt(offset));
    offset = alignUp(offset + bytes, alignment);
  }
  if (spec.tensors.length > 0) w.pad(alignment);
  await sink(w.bytes());

  for (let i = 0; i < spec.tensors.length; i++) {
    const t = spec.tensors[i]!;
    const data = typeof t.data === 'function' ? await t.data() : t.data;
    if (data.length !== sizes[i]) {
      throw new WasmChordError(
        'INVALID_ARGUMENT',
        `tensor "${t.name}" has ${data.length} bytes of data; its type and shape need ${sizes[i]}`,
      );
    }
    await sink(data);
    const padding = alignUp(data.length, alignment) - data.length;
    if (padding > 0) await sink(new Uint8Array(padding));
  }
}

/** The whole file in memory: convenient for small (synthetic, test) models. */
export async function encodeGGUF(spec: GGUFWriteSpec): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  await writeGGUF(spec, (c) => {
    chunks.push(c.slice());
  });
  return concatBytes(chunks);
}

function writeValue(w: ByteWriter, type: GGUFValueTypeId, value: GGUFValue, key: string): void {
  const bad = () =>
    new WasmChordError('INVALID_ARGUMENT', `metadata "${key}": value does not match type ${valueTypeName(type)}`);
  switch (type) {
    case GGUFValueType.STRING:
      if (typeof value !== 'string') throw bad();
      w.string(value);
      return;
    case GGUFValueType.ARRAY: {
      if (typeof value !== 'object') throw bad();
      const arr = value as GGUFArray;
      w.u32(arr.itemType);
      w.u64(BigInt(arr.items.length));
      if (fixedValueSize(arr.itemType) !== undefined && arr.itemType !== GGUFValueType.BOOL) {
        const items = arr.items as GGUFNumericArray;
        w.raw(new Uint8Array(items.buffer, items.byteOffset, items.byteLength));
      } else {
        for (const item of arr.items) writeValue(w, arr.itemType, item as GGUFValue, key);
      }
      return;
    }
    case GGUFValueType.BOOL:
      if (typeof value !== 'boolean') throw bad();
      w.u8(value ? 1 : 0);
      return;
    case GGUFValueType.UINT64:
    case GGUFValueType.INT64: {
      if (typeof value !== 'bigint' && typeof value !== 'number') throw bad();
      const v = BigInt(value);
      if (type === GGUFValueType.UINT64) w.u64(v);
      else w.i64(v);
      return;
    }
    default:
      if (typeof value !== 'number') throw bad();
      w.scalar(type, value);
  }
}

/** A growable little-endian byte buffer for the header. */
class ByteWriter {
  #buf = new Uint8Array(1 << 16);
  #view = new DataView(this.#buf.buffer);
  #len = 0;
  readonly #encoder = new TextEncoder();

  #grow(n: number): number {
    if (this.#len + n > this.#buf.length) {
      const next = new Uint8Array(Math.max(this.#buf.length * 2, this.#len + n));
      next.set(this.#buf.subarray(0, this.#len));
      this.#buf = next;
      this.#view = new DataView(next.buffer);
    }
    const at = this.#len;
    this.#len += n;
    return at;
  }

  /** Reserves `n` bytes and returns a view positioned on them (grow may replace the buffer). */
  #reserve(n: number): [DataView, number] {
    const at = this.#grow(n);
    return [this.#view, at];
  }

  u8(v: number): void {
    this.scalar(GGUFValueType.UINT8, v);
  }
  u32(v: number): void {
    this.scalar(GGUFValueType.UINT32, v);
  }
  u64(v: bigint): void {
    const [view, at] = this.#reserve(8);
    view.setBigUint64(at, v, true);
  }
  i64(v: bigint): void {
    const [view, at] = this.#reserve(8);
    view.setBigInt64(at, v, true);
  }

  scalar(type: GGUFValueTypeId, v: number): void {
    const size = type === GGUFValueType.BOOL ? 0 : (fixedValueSize(type) ?? 0);
    if (size === 0 || type === GGUFValueType.UINT64 || type === GGUFValueType.INT64) {
      throw new WasmChordError('INVALID_ARGUMENT', `value type ${valueTypeName(type)} is not a number type`);
    }
    const [view, at] = this.#reserve(size);
    switch (type) {
      case GGUFValueType.UINT8:
        return view.setUint8(at, v);
      case GGUFValueType.INT8:
        return view.setInt8(at, v);
      case GGUFValueType.UINT16:
        return view.setUint16(at, v, true);
      case GGUFValueType.INT16:
        return view.setInt16(at, v, true);
      case GGUFValueType.UINT32:
        return view.setUint32(at, v, true);
      case GGUFValueType.INT32:
        return view.setInt32(at, v, true);
      case GGUFValueType.FLOAT32:
        return view.setFloat32(at, v, true);
      default:
        return view.setFloat64(at, v, true);
    }
  }

  string(s: string): void {
    const bytes = this.#encoder.encode(s);
    this.u64(BigInt(bytes.length));
    this.raw(bytes);
  }

  raw(bytes: Uint8Array): void {
    const at = this.#grow(bytes.length);
    this.#buf.set(bytes, at);
  }

  pad(alignment: number): void {
    this.#grow(alignUp(this.#len, alignment) - this.#len);
  }

  bytes(): Uint8Array {
    return this.#buf.subarray(0, this.#len);
  }
}
