/**
 * The model store on the file system (Node.js, Deno, Bun). Layout under the cache directory:
 *
 *   v1/<name>.gguf                       a committed model (a plain GGUF file other tools can open)
 *   v1/<name>.json                       its record: source, bytes, sha256, when
 *   v1/<name>.<owner>.partial/data       a download in progress, written piece by piece in place
 *   v1/<name>.<owner>.partial/state.json the pieces done and what the server said about the file
 *
 * Commit: data fsync'd and checked, the record written to a temporary name, fsync'd and renamed,
 * then the data renamed to <name>.gguf. An entry is listed only when both exist and the sizes
 * agree, so a crash at any point leaves nothing half-written in view.
 *
 * Concurrency without locks: every writer owns its partial directory, named after it
 * (`<host tag>-<pid>-<random>`). A partial whose owner is gone (a dead process on this host, or
 * one untouched for ten minutes from another host sharing the directory) is claimed by renaming
 * it to the new owner's name: a rename succeeds for one claimant only. Two processes pulling the
 * same model at once download side by side; each commit is a complete, checked file, and the
 * last rename wins.
 */
import type { FileHandle } from 'node:fs/promises';
import { mkdir, open, readdir, readFile, rename, rm, stat, statfs } from 'node:fs/promises';
import { homedir, hostname, platform } from 'node:os';
import { join } from 'node:path';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { WasmChordError } from '../../errors.js';
import type { ByteSource } from '../../gguf/byte-source.js';
import { FileSource } from '../../gguf/file-source.js';
import {
  canResume,
  entryName,
  parseRecord,
  parseState,
  PartialWriter,
  STORE_VERSION,
  storageError,
  type EntryRecord,
  type ModelStore,
  type ModelStoreOptions,
  type PartialState,
  type RemoteInfo,
  type StoreEntry,
  type StoreEstimate,
} from './model-store.js';
import { envVar } from '../../platform/env.js';

/** `$WASM_CHORD_CACHE_DIR`, else the user's cache directory for this OS + `/wasm-chord`. */
export function defaultCacheDir(env: Record<string, string | undefined> = cacheEnv()): string {
  if (env.WASM_CHORD_CACHE_DIR) return env.WASM_CHORD_CACHE_DIR;
  const os = platform();
  if (os === 'win32') return join(env.LOCALAPPDATA || join(homedir(), 'AppData', 'Local'), 'wasm-chord');
  if (os === 'darwin') return join(homedir(), 'Library', 'Caches', 'wasm-chord');
  const xdg = env.XDG_CACHE_HOME;
  return join(xdg && xdg.startsWith('/') ? xdg : join(homedir(), '.cache'), 'wasm-chord');
}

/** The variables defaultCacheDir reads (none where reading them is not allowed: Deno without --allow-env). */
function cacheEnv(): Record<string, string | undefined> {
  return { WASM_CHORD_CACHE_DIR: envVar('WASM_CHORD_CACHE_DIR'), LOCALAPPDATA: envVar('LOCALAPPDATA'), XDG_CACHE_HOME: envVar('XDG_CACHE_HOME') };
}

export async function openFsStore(options: ModelStoreOptions = {}): Promise<ModelStore> {
  if (options.dir !== undefined && (typeof options.dir !== 'string' || options.dir === '')) {
    throw new WasmChordError('INVALID_ARGUMENT', 'the cache directory must be a non-empty path');
  }
  const root = options.dir ?? defaultCacheDir();
  const dir = join(root, STORE_VERSION);
  try {
    await mkdir(dir, { recursive: true });
  } catch (err) {
    throw storageError(`cannot create the model store at ${dir} (set WASM_CHORD_CACHE_DIR or --cache-dir to a writable directory)`, err);
  }
  return new FsStore(root, dir);
}

/** A partial idle this long, from another host, is taken to be abandoned. */
const FOREIGN_STALE_MS = 10 * 60_000;
const HOST_TAG = bytesToHex(sha256(new TextEncoder().encode(hostname()))).slice(0, 8);
const PARTIAL = /^(.+)\.([0-9a-f]{8})-(\d+)-([0-9a-z]+)\.partial$/;
/** Owners of the partials this process is writing right now. */
const LIVE = new Set<string>();

function newOwner(): string {
  return `${HOST_TAG}-${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function readText(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** Writes a small file so that readers see the old content or the new, never a torn one. */
async function writeAtomic(path: string, text: string): Promise<void> {
  const tmp = `${path}.${newOwner()}.tmp`;
  const handle = await open(tmp, 'w');
  try {
    await handle.writeFile(text);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(tmp, path);
}

class FsStore implements ModelStore {
  readonly kind = 'fs';
  readonly location: string;
  readonly #dir: string;

  constructor(root: string, dir: string) {
    this.location = root;
    this.#dir = dir;
  }

  async list(): Promise<StoreEntry[]> {
    const names = await this.#names();
    const entries: StoreEntry[] = [];
    for (const file of names) {
      if (!file.endsWith('.json')) continue;
      const record = parseRecord(await readText(join(this.#dir, file)));
      const entry = record && (await this.#entry(file.slice(0, -5), record));
      if (entry) entries.push(entry);
    }
    return entries.sort((a, b) => a.source.localeCompare(b.source));
  }

  async get(source: string): Promise<StoreEntry | undefined> {
    const name = entryName(source);
    const record = parseRecord(await readText(join(this.#dir, `${name}.json`)));
    return record?.source === source ? this.#entry(name, record) : undefined;
  }

  async open(source: string): Promise<ByteSource> {
    const entry = await this.get(source);
    if (!entry) throw new WasmChordError('SOURCE_IO', `${source} is not in the model store at ${this.location}`);
    return FileSource.open(entry.path);
  }

  async delete(source: string): Promise<boolean> {
    const name = entryName(source);
    const existed = (await this.get(source)) !== undefined;
    try {
      // The record first: without it the data is no longer an entry, whatever happens next.
      await rm(join(this.#dir, `${name}.json`), { force: true });
      await rm(join(this.#dir, `${name}.gguf`), { force: true });
      for (const partial of await this.#abandoned(name)) await rm(join(this.#dir, partial), { recursive: true, force: true });
    } catch (err) {
      throw storageError(`cannot delete ${source} from ${this.location}`, err);
    }
    return existed;
  }

  async estimate(): Promise<StoreEstimate> {
    try {
      const s = await statfs(this.#dir);
      return { availableBytes: s.bavail * s.bsize };
    } catch {
      return {}; // a runtime without statfs: the disk will say when it is full
    }
  }

  async openPartial(source: string, remote: RemoteInfo, pieceBytes: number): Promise<PartialWriter> {
    const name = entryName(source);
    // Every owner id is live before its directory exists, so that no other writer takes it.
    const owners: string[] = [];
    const live = () => {
      const owner = newOwner();
      LIVE.add(owner);
      owners.push(owner);
      return owner;
    };
    try {
      let resumed: { dir: string; owner: string; state: PartialState } | undefined;
      for (const partial of await this.#abandoned(name)) {
        const owner = live();
        const dir = join(this.#dir, `${name}.${owner}.partial`);
        try {
          await rename(join(this.#dir, partial), dir);
        } catch {
          continue; // another process claimed it first
        }
        const state = parseState(await readText(join(dir, 'state.json')));
        if (!resumed && state && canResume(state, source, remote)) resumed = { dir, owner, state };
        else await rm(dir, { recursive: true, force: true });
      }
      let writer: FsPartial;
      if (resumed) {
        const handle = await open(join(resumed.dir, 'data'), 'r+');
        writer = new FsPartial(this.#dir, name, resumed.dir, resumed.owner, handle, source, remote, resumed.state.pieceBytes, resumed.state.done);
      } else {
        const owner = live();
        const dir = join(this.#dir, `${name}.${owner}.partial`);
        await mkdir(dir);
        const handle = await open(join(dir, 'data'), 'w+');
        writer = new FsPartial(this.#dir, name, dir, owner, handle, source, remote, pieceBytes, []);
      }
      for (const owner of owners) if (owner !== writer.owner) LIVE.delete(owner);
      return writer;
    } catch (err) {
      for (const owner of owners) LIVE.delete(owner);
      throw storageError(`cannot start a download of ${source} in ${this.location}`, err);
    }
  }

  async #names(): Promise<string[]> {
    try {
      return await readdir(this.#dir);
    } catch (err) {
      throw storageError(`cannot read the model store at ${this.#dir}`, err);
    }
  }

  async #entry(name: string, record: EntryRecord): Promise<StoreEntry | undefined> {
    const path = join(this.#dir, `${name}.gguf`);
    try {
      const s = await stat(path);
      return s.isFile() && s.size === record.bytes ? { ...record, path } : undefined;
    } catch {
      return undefined;
    }
  }

  /** Partial directories of `name` whose writer is gone. */
  async #abandoned(name: string): Promise<string[]> {
    const out: string[] = [];
    for (const file of await this.#names()) {
      const m = PARTIAL.exec(file);
      if (!m || m[1] !== name) continue;
      const owner = `${m[2]}-${m[3]}-${m[4]}`;
      if (m[2] === HOST_TAG) {
        if (Number(m[3]) === process.pid ? !LIVE.has(owner) : !processAlive(Number(m[3]))) out.push(file);
        continue;
      }
      const touched = await stat(join(this.#dir, file, 'state.json')).catch(() => stat(join(this.#dir, file)).catch(() => undefined));
      if (touched && Date.now() - touched.mtimeMs > FOREIGN_STALE_MS) out.push(file);
    }
    return out;
  }
}

class FsPartial extends PartialWriter {
  readonly #storeDir: string;
  readonly #name: string;
  readonly #dir: string;
  /** Its id, in LIVE (see openPartial) until the writer lets go. */
  readonly owner: string;
  #handle: FileHandle | undefined;

  constructor(
    storeDir: string,
    name: string,
    dir: string,
    owner: string,
    handle: FileHandle,
    source: string,
    remote: RemoteInfo,
    pieceBytes: number,
    done: readonly number[],
  ) {
    super(source, remote, pieceBytes, done);
    this.#storeDir = storeDir;
    this.#name = name;
    this.#dir = dir;
    this.owner = owner;
    this.#handle = handle;
  }

  protected async storePiece(index: number, bytes: Uint8Array): Promise<void> {
    const handle = this.#open();
    try {
      for (let at = 0; at < bytes.length; ) {
        const { bytesWritten } = await handle.write(bytes, at, bytes.length - at, index * this.pieceBytes + at);
        at += bytesWritten;
      }
      await handle.datasync();
    } catch (err) {
      throw storageError(`cannot write ${this.source} to ${this.#dir}`, err);
    }
  }

  protected async saveState(state: PartialState): Promise<void> {
    try {
      await writeAtomic(join(this.#dir, 'state.json'), JSON.stringify(state));
    } catch (err) {
      throw storageError(`cannot save the download state of ${this.source}`, err);
    }
  }

  protected async openData(): Promise<ByteSource> {
    return FileSource.open(join(this.#dir, 'data'));
  }

  protected async finish(record: EntryRecord): Promise<StoreEntry> {
    const path = join(this.#storeDir, `${this.#name}.gguf`);
    try {
      await this.#close();
      await writeAtomic(join(this.#storeDir, `${this.#name}.json`), JSON.stringify(record));
      await rename(join(this.#dir, 'data'), path);
      await rm(this.#dir, { recursive: true, force: true });
    } catch (err) {
      throw storageError(`cannot commit ${this.source} to ${this.#storeDir}`, err);
    } finally {
      LIVE.delete(this.owner);
    }
    return { ...record, path };
  }

  async release(): Promise<void> {
    await this.#close().catch(() => {});
    LIVE.delete(this.owner);
  }

  async discard(): Promise<void> {
    await this.#close().catch(() => {});
    await rm(this.#dir, { recursive: true, force: true }).catch(() => {});
    LIVE.delete(this.owner);
  }

  #open(): FileHandle {
    if (!this.#handle) throw new WasmChordError('SOURCE_IO', `the download of ${this.source} was already finished`);
    return this.#handle;
  }

  async #close(): Promise<void> {
    const handle = this.#handle;
    this.#handle = undefined;
    await handle?.close();
  }
}
