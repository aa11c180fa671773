/**
 * ByteSource: random-access reads from wherever a model lives (memory, Blob, file, HTTP).
 * The GGUF reader and the weight loaders only ever see this interface, so that tensor data
 * can stream from its origin straight into backend memory.
 */
import { WasmChordError } from '../errors.js';

export interface ByteSource {
  /** Where the bytes come from, for error messages ("file /a.gguf", "https://…"). */
  readonly name: string;
  /** Total size in bytes, known once the source is open. */
  readonly size: number;
  /**
   * Fills `target` with the bytes at [offset, offset + target.length). Reading past the end
   * throws SOURCE_OUT_OF_BOUNDS. `target` may be a view into Wasm or other shared memory.
   */
  readInto(offset: number, target: Uint8Array, signal?: AbortSignal): Promise<void>;
  /** Releases handles; further reads fail. Closing twice is harmless. */
  close(): Promise<void>;
}

/** Reads `length` bytes at `offset` into a new buffer. */
export async function readBytes(
  source: ByteSource,
  offset: number,
  length: number,
  signal?: AbortSignal,
): Promise<Uint8Array> {
  checkRange(source, offset, length);
  const out = new Uint8Array(length);
  await source.readInto(offset, out, signal);
  return out;
}

/** Throws SOURCE_OUT_OF_BOUNDS unless [offset, offset + length) lies inside the source. */
export function checkRange(source: ByteSource, offset: number, length: number): void {
  if (
    !Number.isSafeInteger(offset) ||
    !Number.isSafeInteger(length) ||
    offset < 0 ||
    length < 0 ||
    offset + length > source.size
  ) {
    throw new WasmChordError(
      'SOURCE_OUT_OF_BOUNDS',
      `read of ${length} bytes at offset ${offset} is outside ${source.name} (${source.size} bytes)`,
    );
  }
}

/** The parts one after another, in one new array. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) {
    throw new WasmChordError('ABORTED', 'the operation was aborted', { cause: signal.reason });
  }
}

/** Bytes already in memory. */
export class MemorySource implements ByteSource {
  readonly name: string;
  readonly size: number;
  readonly #bytes: Uint8Array;

  constructor(bytes: Uint8Array | ArrayBuffer, name = 'memory buffer') {
    this.#bytes = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
    this.size = this.#bytes.byteLength;
    this.name = name;
  }

  async readInto(offset: number, target: Uint8Array, signal?: AbortSignal): Promise<void> {
    throwIfAborted(signal);
    checkRange(this, offset, target.length);
    target.set(this.#bytes.subarray(offset, offset + target.length));
  }

  async close(): Promise<void> {}
}

/** A Blob or File (browser uploads, OPFS files, fetch().blob()). */
export class BlobSource implements ByteSource {
  readonly name: string;
  readonly size: number;
  readonly #blob: Blob;

  constructor(blob: Blob, name?: string) {
    this.#blob = blob;
    this.size = blob.size;
    this.name = name ?? (typeof File !== 'undefined' && blob instanceof File ? `file ${blob.name}` : 'Blob');
  }

  async readInto(offset: number, target: Uint8Array, signal?: AbortSignal): Promise<void> {
    throwIfAborted(signal);
    checkRange(this, offset, target.length);
    // Slice in bounded pieces so a huge tensor never needs one huge temporary buffer.
    const piece = 64 << 20;
    for (let done = 0; done < target.length; done += piece) {
      const n = Math.min(piece, target.length - done);
      const buf = await this.#blob.slice(offset + done, offset + done + n).arrayBuffer();
      throwIfAborted(signal);
      target.set(new Uint8Array(buf), done);
    }
  }

  async close(): Promise<void> {}
}
