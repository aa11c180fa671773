/** Turns whatever a user passes as a model location into a ByteSource. */
import { WasmChordError } from '../errors.js';
import { BlobSource, MemorySource, type ByteSource } from './byte-source.js';
import { HttpSource, type HttpSourceOptions } from './http-source.js';
import { readGGUF, type GGUFFile } from './reader.js';

/** A Node.js `fs.promises` FileHandle (only its shape is needed here). */
export interface FileHandleLike {
  readonly fd: number;
  stat(): Promise<{ size: number }>;
  read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
  close(): Promise<void>;
}

export type ByteSourceInput = string | URL | ArrayBuffer | ArrayBufferView | Blob | FileHandleLike | ByteSource;

export interface OpenSourceOptions extends HttpSourceOptions {}

function isByteSource(v: unknown): v is ByteSource {
  return typeof v === 'object' && v !== null && typeof (v as ByteSource).readInto === 'function';
}

function isFileHandle(v: unknown): v is FileHandleLike {
  return typeof v === 'object' && v !== null && typeof (v as FileHandleLike).fd === 'number' && typeof (v as FileHandleLike).read === 'function';
}

export async function openByteSource(input: ByteSourceInput, options: OpenSourceOptions = {}): Promise<ByteSource> {
  if (isByteSource(input)) return input;
  if (isFileHandle(input)) {
    const { FileSource } = await import('./file-source.js');
    return FileSource.fromHandle(input as unknown as import('node:fs/promises').FileHandle);
  }
  if (input instanceof ArrayBuffer) return new MemorySource(input);
  if (ArrayBuffer.isView(input)) {
    return new MemorySource(new Uint8Array(input.buffer, input.byteOffset, input.byteLength));
  }
  if (typeof Blob !== 'undefined' && input instanceof Blob) return new BlobSource(input);
  if (typeof input === 'string' || input instanceof URL) {
    const text = String(input);
    if (/^https?:\/\//i.test(text)) return HttpSource.open(text, options);
    if (/^file:/i.test(text)) {
      const { fileURLToPath } = await import('node:url');
      return openFile(fileURLToPath(text));
    }
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) {
      throw new WasmChordError('INVALID_ARGUMENT', `unsupported URL scheme in "${text}" (use http, https or file)`);
    }
    return openFile(text);
  }
  throw new WasmChordError(
    'INVALID_ARGUMENT',
    'a model source must be a path, a URL, an ArrayBuffer, a typed array, a Blob, a file handle or a ByteSource',
  );
}

async function openFile(path: string): Promise<ByteSource> {
  const { FileSource } = await import('./file-source.js');
  return FileSource.open(path);
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
