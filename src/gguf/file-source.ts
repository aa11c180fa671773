/** A file on the local file system (Node.js, Deno and Bun through their node:fs support). */
import type { FileHandle } from 'node:fs/promises';
import { WasmChordError } from '../errors.js';
import { checkRange, throwIfAborted, type ByteSource } from './byte-source.js';

export class FileSource implements ByteSource {
  readonly name: string;
  readonly size: number;
  #handle: FileHandle | undefined;
  /** Whether close() closes the handle: not when the caller passed a handle of their own. */
  readonly #ownsHandle: boolean;

  private constructor(name: string, handle: FileHandle, size: number, ownsHandle: boolean) {
    this.name = name;
    this.#handle = handle;
    this.size = size;
    this.#ownsHandle = ownsHandle;
  }

  /** Reads through a handle the caller opened (and will close). */
  static async fromHandle(handle: FileHandle): Promise<FileSource> {
    let size: number;
    try {
      size = (await handle.stat()).size;
    } catch (err) {
      throw new WasmChordError('SOURCE_IO', `cannot stat file descriptor ${handle.fd}: ${(err as Error).message}`, { cause: err });
    }
    return new FileSource(`file descriptor ${handle.fd}`, handle, size, false);
  }

  static async open(path: string): Promise<FileSource> {
    let fs: typeof import('node:fs/promises');
    try {
      fs = await import('node:fs/promises');
    } catch (err) {
      throw new WasmChordError('INVALID_ARGUMENT', `file paths need a runtime with node:fs; pass a URL or a Blob here`, {
        cause: err,
      });
    }
    // A named pipe, a device or a directory is refused before it is opened: opening a FIFO for
    // reading blocks until some writer appears, possibly forever. O_NONBLOCK (where the platform
    // has it) covers a path swapped for a FIFO in between; the check after opening refuses it.
    try {
      if (!(await fs.stat(path)).isFile()) throw new WasmChordError('SOURCE_IO', `${path} is not a regular file`);
    } catch (err) {
      if (err instanceof WasmChordError) throw err;
      throw new WasmChordError('SOURCE_IO', `cannot open ${path}: ${(err as Error).message}`, { cause: err });
    }
    let handle: FileHandle;
    try {
      const { O_RDONLY, O_NONBLOCK } = (await import('node:fs')).constants ?? {};
      handle = await fs.open(path, O_RDONLY !== undefined && O_NONBLOCK !== undefined ? O_RDONLY | O_NONBLOCK : 'r');
    } catch (err) {
      throw new WasmChordError('SOURCE_IO', `cannot open ${path}: ${(err as Error).message}`, { cause: err });
    }
    try {
      const stat = await handle.stat();
      if (!stat.isFile()) {
        throw new WasmChordError('SOURCE_IO', `${path} is not a regular file`);
      }
      return new FileSource(`file ${path}`, handle, stat.size, true);
    } catch (err) {
      await handle.close();
      if (err instanceof WasmChordError) throw err;
      throw new WasmChordError('SOURCE_IO', `cannot stat ${path}: ${(err as Error).message}`, { cause: err });
    }
  }

  async readInto(offset: number, target: Uint8Array, signal?: AbortSignal): Promise<void> {
    throwIfAborted(signal);
    checkRange(this, offset, target.length);
    const handle = this.#handle;
    if (!handle) throw new WasmChordError('SOURCE_IO', `${this.name} is closed`);
    // Bounded pieces: fs reads are capped at 2 GiB, and an abort is noticed between pieces.
    const piece = 256 << 20;
    let done = 0;
    while (done < target.length) {
      const n = Math.min(piece, target.length - done);
      let bytesRead: number;
      try {
        ({ bytesRead } = await handle.read(target, done, n, offset + done));
      } catch (err) {
        throw new WasmChordError('SOURCE_IO', `read failed on ${this.name}: ${(err as Error).message}`, {
          cause: err,
        });
      }
      if (bytesRead === 0) {
        throw new WasmChordError('SOURCE_IO', `${this.name} ended early (was it truncated while open?)`);
      }
      done += bytesRead;
      throwIfAborted(signal);
    }
  }

  async close(): Promise<void> {
    const handle = this.#handle;
    this.#handle = undefined;
    if (this.#ownsHandle) await handle?.close();
  }
}
