/**
 * GGUF reader (versions 2 and 3, little-endian).
 *
 * Layout: magic "GGUF", u32 version, u64 tensor count, u64 key/value count, the key/values,
 * the tensor infos (name, n_dims, ne[n_dims] as u64, type u32, offset u64), padding to
 * `general.alignment`, then tensor data. Parsing reads only the header, in growing chunks; every
 * declared count and size is checked against the bytes that can hold it before anything is
 * allocated, so a hostile header ends in a WasmChordError, never in a huge allocation.
 */
import { WasmChordError } from '../errors.js';
import { tensorByteSize, typeInfo, type GGMLTypeId } from '../quant/types.js';
import { readBytes, throwIfAborted, type ByteSource } from './byte-source.js';
import {
  fixedValueSize,
  GGUFMetadata,
  GGUFValueType,
  isValueTypeId,
  valueTypeName,
  type GGUFArray,
  type GGUFKeyValue,
  type GGUFNumericArray,
  type GGUFValue,
  type GGUFValueTypeId,
} from './metadata.js';

export const GGUF_MAGIC = 0x46554747; // "GGUF" read as a little-endian u32
export const GGUF_DEFAULT_ALIGNMENT = 32;

/**
 * Limits that no real model comes near (the largest real headers, tokenizers of ~260k tokens,
 * take a few tens of MB); they keep hostile headers cheap to refuse, even from a source that
 * claims far more bytes than it has.
 */
export const GGUF_LIMITS = {
  maxStringBytes: 64 << 20,
  maxArrayDepth: 4,
  maxDims: 4,
  /** Tensors, and metadata entries, in one file (real models have hundreds to a few thousand). */
  maxTensors: 1 << 20,
  maxMetadataEntries: 1 << 20,
  /** Items in one metadata array. */
  maxArrayLength: 1 << 24,
  /** Bytes from the start of the file to the end of the tensor infos. */
  maxHeaderBytes: 64 << 20,
} as const;

export interface GGUFTensorInfo {
  readonly name: string;
  readonly type: GGMLTypeId;
  /** ggml order: shape[0] is the contiguous row length. */
  readonly shape: readonly number[];
  readonly elementCount: number;
  readonly byteLength: number;
  /** Offset from the start of the data section (a multiple of the alignment). */
  readonly offset: number;
}

export interface ReadGGUFOptions {
  signal?: AbortSignal;
}

export class GGUFFile {
  readonly #byName: Map<string, GGUFTensorInfo>;

  constructor(
    readonly source: ByteSource,
    readonly version: number,
    readonly metadata: GGUFMetadata,
    readonly tensors: readonly GGUFTensorInfo[],
    readonly alignment: number,
    /** Absolute offset of the data section. */
    readonly dataOffset: number,
  ) {
    this.#byName = new Map(tensors.map((t) => [t.name, t]));
  }

  tensor(name: string): GGUFTensorInfo | undefined {
    return this.#byName.get(name);
  }

  /** Reads one tensor's bytes, and only those. */
  readTensor(tensor: GGUFTensorInfo, signal?: AbortSignal): Promise<Uint8Array> {
    return readBytes(this.source, this.dataOffset + tensor.offset, tensor.byteLength, signal);
  }

  /** Streams one tensor's bytes into `target` (for example a view of backend memory). */
  readTensorInto(tensor: GGUFTensorInfo, target: Uint8Array, signal?: AbortSignal): Promise<void> {
    if (target.length !== tensor.byteLength) {
      throw new WasmChordError(
        'INVALID_ARGUMENT',
        `target holds ${target.length} bytes but tensor ${tensor.name} has ${tensor.byteLength}`,
      );
    }
    return this.source.readInto(this.dataOffset + tensor.offset, target, signal);
  }
}

/** Parses the header of the GGUF file in `source`. Reads no tensor data. */
export async function readGGUF(source: ByteSource, options: ReadGGUFOptions = {}): Promise<GGUFFile> {
  const c = new HeaderCursor(source, options.signal);
  await c.ensure(4);
  const magic = c.u32();
  if (magic !== GGUF_MAGIC) {
    throw new WasmChordError('GGUF_BAD_MAGIC', `${source.name} is not a GGUF file (bad magic bytes)`);
  }
  await c.ensure(4);
  const version = c.u32();
  if (version === 1) {
    throw new WasmChordError(
      'GGUF_UNSUPPORTED_VERSION',
      `${source.name} is GGUF version 1, which is obsolete; re-convert it with a current llama.cpp (versions 2 and 3 are supported)`,
    );
  }
  if (version !== 2 && version !== 3) {
    const swapped = ((version & 0xff) << 24) | ((version & 0xff00) << 8) | ((version >>> 8) & 0xff00) | (version >>> 24);
    const hint = swapped === 2 || swapped === 3 ? ' (a big-endian GGUF file; only little-endian is supported)' : '';
    throw new WasmChordError(
      'GGUF_UNSUPPORTED_VERSION',
      `${source.name} has GGUF version ${version >>> 0}${hint}; versions 2 and 3 are supported`,
    );
  }
  await c.ensure(16);
  const tensorCount = c.count('tensor count', 24, GGUF_LIMITS.maxTensors);
  const kvCount = c.count('metadata count', 13, GGUF_LIMITS.maxMetadataEntries);

  const entries = new Map<string, GGUFKeyValue>();
  for (let i = 0; i < kvCount; i++) {
    const key = await c.string('metadata key');
    if (entries.has(key)) {
      throw new WasmChordError('GGUF_MALFORMED', `duplicate metadata key "${key}"`);
    }
    await c.ensure(4);
    const type = c.valueType(`value of "${key}"`);
    entries.set(key, { type, value: await c.value(type, key, 0) });
  }
  const metadata = new GGUFMetadata(entries);
  const alignment = readAlignment(metadata);

  const tensors: GGUFTensorInfo[] = [];
  const names = new Set<string>();
  for (let i = 0; i < tensorCount; i++) {
    const info = await readTensorInfo(c, alignment);
    if (names.has(info.name)) {
      throw new WasmChordError('GGUF_MALFORMED', `duplicate tensor name "${info.name}"`);
    }
    names.add(info.name);
    tensors.push(info);
  }
  const dataOffset = alignUp(c.pos, alignment);
  checkTensorPlacement(source, tensors, dataOffset);
  return new GGUFFile(source, version, metadata, tensors, alignment, dataOffset);
}

function readAlignment(metadata: GGUFMetadata): number {
  const kv = metadata.get('general.alignment');
  if (kv === undefined) return GGUF_DEFAULT_ALIGNMENT;
  if (kv.type !== GGUFValueType.UINT32) {
    throw new WasmChordError('GGUF_MALFORMED', `general.alignment must be a UINT32, not ${valueTypeName(kv.type)}`);
  }
  const a = kv.value as number;
  if (a === 0 || (a & (a - 1)) !== 0) {
    throw new WasmChordError('GGUF_MALFORMED', `general.alignment ${a} is not a power of two`);
  }
  return a;
}

async function readTensorInfo(c: HeaderCursor, alignment: number): Promise<GGUFTensorInfo> {
  const name = await c.string('tensor name');
  await c.ensure(4);
  const nDims = c.u32();
  if (nDims < 1 || nDims > GGUF_LIMITS.maxDims) {
    throw new WasmChordError('GGUF_MALFORMED', `tensor "${name}" has ${nDims} dimensions (1 to 4 allowed)`);
  }
  await c.ensure(8 * nDims + 12);
  const shape: number[] = [];
  for (let d = 0; d < nDims; d++) {
    const ne = c.u64();
    if (ne > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new WasmChordError('GGUF_LIMIT_EXCEEDED', `tensor "${name}" dimension ${d} is ${ne}`);
    }
    shape.push(Number(ne));
  }
  const typeId = c.u32();
  const info = typeInfo(typeId);
  const offset = c.u64();
  if (offset > BigInt(Number.MAX_SAFE_INTEGER) || Number(offset) % alignment !== 0) {
    throw new WasmChordError(
      'GGUF_MALFORMED',
      `tensor "${name}" has offset ${offset}, not a multiple of the alignment ${alignment}`,
    );
  }
  const elementCount = shape.reduce((a, b) => a * b, 1);
  let byteLength: number;
  try {
    byteLength = tensorByteSize(typeId, shape);
  } catch (err) {
    if (err instanceof WasmChordError) {
      throw new WasmChordError(err.code, `tensor "${name}": ${err.message}`);
    }
    throw err;
  }
  return { name, type: info.id, shape, elementCount, byteLength, offset: Number(offset) };
}

function checkTensorPlacement(source: ByteSource, tensors: readonly GGUFTensorInfo[], dataOffset: number): void {
  const sorted = [...tensors].sort((a, b) => a.offset - b.offset);
  let end = 0;
  let previous = '';
  for (const t of sorted) {
    if (t.offset < end) {
      throw new WasmChordError('GGUF_MALFORMED', `tensors "${previous}" and "${t.name}" overlap`);
    }
    end = t.offset + t.byteLength;
    previous = t.name;
    if (dataOffset + end > source.size) {
      throw new WasmChordError(
        'GGUF_TRUNCATED',
        `tensor "${t.name}" ends at byte ${dataOffset + end}, past the end of ${source.name} (${source.size} bytes)`,
      );
    }
  }
}

export function alignUp(n: number, alignment: number): number {
  return Math.ceil(n / alignment) * alignment;
}

/** Sequential reads over the header, fetched from the source in growing chunks. */
class HeaderCursor {
  /** Absolute position of the next byte to parse. */
  pos = 0;
  #buf = new Uint8Array(0);
  #view = new DataView(this.#buf.buffer);
  #bufStart = 0;
  #chunk = 64 << 10;
  // ignoreBOM: a token may be exactly U+FEFF, which must survive.
  readonly #decoder = new TextDecoder('utf-8', { ignoreBOM: true });

  constructor(
    private readonly source: ByteSource,
    private readonly signal: AbortSignal | undefined,
  ) {}

  /** Bytes left in the source after the cursor. */
  get remaining(): number {
    return this.source.size - this.pos;
  }

  /** True when the next `n` bytes are already buffered. */
  has(n: number): boolean {
    return this.pos + n <= this.#bufStart + this.#buf.length;
  }

  /** Makes the next `n` bytes available, or throws GGUF_TRUNCATED. */
  async ensure(n: number): Promise<void> {
    if (this.has(n)) return;
    if (this.pos + n > GGUF_LIMITS.maxHeaderBytes && n <= this.remaining) {
      throw new WasmChordError(
        'GGUF_LIMIT_EXCEEDED',
        `the GGUF header of ${this.source.name} runs past ${GGUF_LIMITS.maxHeaderBytes} bytes (offset ${this.pos} + ${n}); no real model's header is that large`,
      );
    }
    if (n > this.remaining) {
      throw new WasmChordError(
        'GGUF_TRUNCATED',
        `${this.source.name} ends inside the GGUF header (needed ${n} bytes at offset ${this.pos}, ${this.remaining} left)`,
      );
    }
    throwIfAborted(this.signal);
    const keep = this.#buf.subarray(this.pos - this.#bufStart);
    const size = Math.min(Math.max(n, this.#chunk), this.remaining);
    const next = new Uint8Array(size);
    next.set(keep);
    await this.source.readInto(this.pos + keep.length, next.subarray(keep.length), this.signal);
    this.#buf = next;
    this.#view = new DataView(next.buffer);
    this.#bufStart = this.pos;
    this.#chunk = Math.min(this.#chunk * 2, 16 << 20);
  }

  #at(size: number): number {
    const at = this.pos - this.#bufStart;
    this.pos += size;
    return at;
  }

  u8(): number {
    return this.#view.getUint8(this.#at(1));
  }
  i8(): number {
    return this.#view.getInt8(this.#at(1));
  }
  u16(): number {
    return this.#view.getUint16(this.#at(2), true);
  }
  i16(): number {
    return this.#view.getInt16(this.#at(2), true);
  }
  u32(): number {
    return this.#view.getUint32(this.#at(4), true);
  }
  i32(): number {
    return this.#view.getInt32(this.#at(4), true);
  }
  f32(): number {
    return this.#view.getFloat32(this.#at(4), true);
  }
  f64(): number {
    return this.#view.getFloat64(this.#at(8), true);
  }
  u64(): bigint {
    return this.#view.getBigUint64(this.#at(8), true);
  }
  i64(): bigint {
    return this.#view.getBigInt64(this.#at(8), true);
  }

  /** A u64 count whose items need at least `minItemBytes` each in the rest of the file. */
  count(what: string, minItemBytes: number, max: number = Number.MAX_SAFE_INTEGER): number {
    const n = this.u64();
    const room = Math.floor(this.remaining / minItemBytes);
    if (n > BigInt(room)) {
      throw new WasmChordError(
        'GGUF_LIMIT_EXCEEDED',
        `${what} ${n} cannot fit in the ${this.remaining} bytes left in ${this.source.name}`,
      );
    }
    if (n > BigInt(max)) throw new WasmChordError('GGUF_LIMIT_EXCEEDED', `${what} ${n} is more than the ${max} accepted`);
    return Number(n);
  }

  valueType(what: string): GGUFValueTypeId {
    const t = this.u32();
    if (!isValueTypeId(t)) throw new WasmChordError('GGUF_MALFORMED', `${what} has unknown value type ${t}`);
    return t;
  }

  async string(what: string): Promise<string> {
    const buffered = this.#bufferedString();
    if (buffered !== undefined) return buffered;
    await this.ensure(8);
    const len = this.u64();
    if (len > BigInt(Math.min(this.remaining, GGUF_LIMITS.maxStringBytes))) {
      const code = len > BigInt(this.remaining) ? 'GGUF_TRUNCATED' : 'GGUF_LIMIT_EXCEEDED';
      throw new WasmChordError(code, `${what} declares ${len} bytes (${this.remaining} left in the file)`);
    }
    const n = Number(len);
    if (!this.has(n)) await this.ensure(n);
    return this.#decode(this.#at(n), n);
  }

  /**
   * The string at the cursor when its length and bytes are already buffered, read without an
   * await; otherwise undefined, having read nothing (`string` then reads it, or says what is
   * wrong). A vocabulary is tens of thousands of strings: a promise, a BigInt and a description
   * for each made most of a model load's garbage.
   */
  #bufferedString(): string | undefined {
    if (!this.has(8)) return undefined;
    const at = this.pos - this.#bufStart;
    const n = this.#view.getUint32(at, true);
    if (this.#view.getUint32(at + 4, true) !== 0 || n > GGUF_LIMITS.maxStringBytes || !this.has(8 + n)) return undefined;
    this.pos += 8 + n;
    return this.#decode(at + 8, n);
  }

  /** The UTF-8 string in the buffer's `n` bytes from `at`. */
  #decode(at: number, n: number): string {
    const bytes = this.#buf.subarray(at, at + n);
    // Most keys and tokens are ASCII: skip the decoder for them.
    if (n <= 64) {
      let ascii = true;
      for (let i = 0; i < n; i++) {
        if (bytes[i]! >= 0x80) {
          ascii = false;
          break;
        }
      }
      if (ascii) return String.fromCharCode.apply(null, bytes as unknown as number[]);
    }
    return this.#decoder.decode(bytes);
  }

  async value(type: GGUFValueTypeId, key: string, depth: number): Promise<GGUFValue> {
    if (type === GGUFValueType.STRING) return this.string(`string value of "${key}"`);
    if (type === GGUFValueType.ARRAY) return this.array(key, depth + 1);
    const size = fixedValueSize(type)!;
    if (!this.has(size)) await this.ensure(size);
    return this.scalar(type, key);
  }

  scalar(type: GGUFValueTypeId, key: string): number | bigint | boolean {
    switch (type) {
      case GGUFValueType.UINT8:
        return this.u8();
      case GGUFValueType.INT8:
        return this.i8();
      case GGUFValueType.UINT16:
        return this.u16();
      case GGUFValueType.INT16:
        return this.i16();
      case GGUFValueType.UINT32:
        return this.u32();
      case GGUFValueType.INT32:
        return this.i32();
      case GGUFValueType.FLOAT32:
        return this.f32();
      case GGUFValueType.FLOAT64:
        return this.f64();
      case GGUFValueType.UINT64:
        return this.u64();
      case GGUFValueType.INT64:
        return this.i64();
      case GGUFValueType.BOOL: {
        const b = this.u8();
        if (b > 1) throw new WasmChordError('GGUF_MALFORMED', `bool value of "${key}" is ${b}, not 0 or 1`);
        return b === 1;
      }
      default:
        throw new WasmChordError('GGUF_MALFORMED', `"${key}" has value type ${valueTypeName(type)} where a scalar is needed`);
    }
  }

  async array(key: string, depth: number): Promise<GGUFArray> {
    if (depth > GGUF_LIMITS.maxArrayDepth) {
      throw new WasmChordError('GGUF_LIMIT_EXCEEDED', `arrays in "${key}" are nested deeper than ${GGUF_LIMITS.maxArrayDepth}`);
    }
    await this.ensure(12);
    const itemType = this.valueType(`array item of "${key}"`);
    const fixed = fixedValueSize(itemType);
    // Smallest encoding of one item: a string is at least its u64 length, an array its header.
    const minItem = fixed ?? (itemType === GGUFValueType.STRING ? 8 : 12);
    const length = this.count(`array length of "${key}"`, minItem, GGUF_LIMITS.maxArrayLength);
    if (fixed !== undefined) {
      await this.ensure(length * fixed);
      return { itemType, items: this.numericItems(itemType, length, key) };
    }
    const items: (string | GGUFArray)[] = [];
    for (let i = 0; i < length; i++) {
      if (itemType === GGUFValueType.STRING) {
        items.push(this.#bufferedString() ?? (await this.string(`item ${i} of "${key}"`)));
      } else {
        // Items of an array of arrays are bare arrays: item type, length, items (no type tag).
        items.push(await this.array(key, depth + 1));
      }
    }
    return { itemType, items: items as string[] | GGUFArray[] };
  }

  numericItems(type: GGUFValueTypeId, length: number, key: string): GGUFNumericArray | boolean[] {
    const size = fixedValueSize(type)!;
    const at = this.#at(length * size);
    // Copy into a fresh, aligned buffer; the host is little-endian like the file.
    const bytes = this.#buf.slice(at, at + length * size).buffer;
    switch (type) {
      case GGUFValueType.UINT8:
        return new Uint8Array(bytes);
      case GGUFValueType.INT8:
        return new Int8Array(bytes);
      case GGUFValueType.UINT16:
        return new Uint16Array(bytes);
      case GGUFValueType.INT16:
        return new Int16Array(bytes);
      case GGUFValueType.UINT32:
        return new Uint32Array(bytes);
      case GGUFValueType.INT32:
        return new Int32Array(bytes);
      case GGUFValueType.FLOAT32:
        return new Float32Array(bytes);
      case GGUFValueType.FLOAT64:
        return new Float64Array(bytes);
      case GGUFValueType.UINT64:
        return new BigUint64Array(bytes);
      case GGUFValueType.INT64:
        return new BigInt64Array(bytes);
      default: {
        const raw = new Uint8Array(bytes);
        const out: boolean[] = new Array(length);
        for (let i = 0; i < length; i++) {
          if (raw[i]! > 1) throw new WasmChordError('GGUF_MALFORMED', `bool item ${i} of "${key}" is ${raw[i]}`);
          out[i] = raw[i] === 1;
        }
        return out;
      }
    }
  }
}

if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
  throw new Error('wasm-chord needs a little-endian host');
}
