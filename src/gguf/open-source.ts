/** Turns whatever a user passes as a model location into a ByteSource. */
import { WasmChordError } from '../errors.js';
import { host } from '../platform/host.js';
import type { FileHandleLike } from '../platform/host-types.js';
import { BlobSource, checkRange, MemorySource, type ByteSource } from './byte-source.js';
import { HttpSource, type HttpSourceOptions } from './http-source.js';
import { readGGUF, type GGUFFile } from './reader.js';

export type { FileHandleLike };

export type ByteSourceInput = string | URL | ArrayBuffer | ArrayBufferView | Blob | FileHandleLike | ByteSource;

export interface OpenSourceOptions extends HttpSourceOptions {}

function isByteSource(v: unknown): v is ByteSource {
  return typeof v === 'object' && v !== null && typeof (v as ByteSource).readInto === 'function';
}

function isFileHandle(v: unknown): v is FileHandleLike {
  return typeof v === 'object' && v !== null && typeof (v as FileHandleLike).fd === 'number' && typeof (v as FileHandleLike).read === 'function';
}

export async function openByteSource(input: ByteSourceInput, options: OpenSourceOptions = {}): Promise<ByteSource> {
  if (isByteSource(input)) return new CheckedSource(input);
  if (isFileHandle(input)) {
    return host.openFileHandle(input);
  }
  if (input instanceof ArrayBuffer || (typeof SharedArrayBuffer !== 'undefined' && input instanceof SharedArrayBuffer)) {
    return new MemorySource(bytesOf(input, 0, undefined));
  }
  if (ArrayBuffer.isView(input)) return new MemorySource(bytesOf(input.buffer, input.byteOffset, input.byteLength));
  if (typeof Blob !== 'undefined' && input instanceof Blob) return new BlobSource(input);
  if (typeof input === 'string' || input instanceof URL) {
    const text = String(input);
    if (/^https?:\/\//i.test(text)) return HttpSource.open(text, options);
    if (/^file:/i.test(text)) return host.openFile(await host.filePathOf(text));
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) {
      throw new WasmChordError('INVALID_ARGUMENT', `unsupported URL scheme in "${text}" (use http, https or file)`);
    }
    return host.openFile(text);
  }
  throw new WasmChordError(
    'INVALID_ARGUMENT',
    'a model source must be a path, a URL, an ArrayBuffer, a typed array, a Blob, a file handle or a ByteSource',
  );
}

/** A view of bytes the caller passed; a detached buffer (transferred away) is refused. */
function bytesOf(buffer: ArrayBufferLike, offset: number, length: number | undefined): Uint8Array {
  try {
    return new Uint8Array(buffer, offset, length);
  } catch (err) {
    throw new WasmChordError('INVALID_ARGUMENT', `the model bytes are not readable (a detached ArrayBuffer, transferred elsewhere?): ${(err as Error).message}`, {
      cause: err,
    });
  }
}

/**
 * A caller's own ByteSource, checked: its size must be a byte count, and whatever its reads
 * throw becomes SOURCE_IO (a typed error naming the source) unless it is already typed.
 */
class CheckedSource implements ByteSource {
  readonly name: string;
  readonly size: number;

  constructor(readonly inner: ByteSource) {
    const size = inner.size;
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
      throw new WasmChordError('INVALID_ARGUMENT', `a ByteSource's size must be a byte count (got ${String(size)})`);
    }
    this.size = size;
    this.name = typeof inner.name === 'string' ? inner.name : 'a ByteSource';
  }

  async readInto(offset: number, target: Uint8Array, signal?: AbortSignal): Promise<void> {
    checkRange(this, offset, target.length);
    try {
      await this.inner.readInto(offset, target, signal);
    } catch (err) {
      if (err instanceof WasmChordError) throw err;
      if (signal?.aborted) throw new WasmChordError('ABORTED', 'the operation was aborted', { cause: err });
      throw new WasmChordError('SOURCE_IO', `read of ${target.length} bytes at ${offset} from ${this.name} failed: ${(err as Error)?.message ?? String(err)}`, {
        cause: err,
      });
    }
  }

  async close(): Promise<void> {
    // The caller's source: they opened it and they close it.
  }
}

/**
 * Opens `input`, parses its GGUF header and closes what it opened: for callers that need only
 * metadata and tensor infos (inspect, tokenizers). The result cannot read tensor data unless
 * `input` was a ByteSource the caller keeps open.
 */
export async function readGGUFHeader(input: ByteSourceInput, options: OpenSourceOptions = {}): Promise<GGUFFile> {
  const source = await openByteSource(input, options);
  try {
    return await readGGUF(source, { signal: options.signal });
  } finally {
    if (source !== input) await source.close();
  }
}
