/**
 * The persistent model store: what every store offers (fs-store.ts for Node, Deno and Bun;
 * browser-store.ts for OPFS or the Cache API), and the rules they share.
 *
 * Keys. An entry is keyed by its canonical source (model-id.ts: a URL without its fragment, or
 * `hf://owner/repo/path` with `@revision` after the repo unless it is main). Its stored name is
 * `v1/<16 hex of sha256(source)>-<file name>`: safe on every file system, still readable, and
 * versioned, so that a future layout lives beside this one instead of misreading it.
 *
 * Commit rules. A download goes into a partial entry, piece by piece (a piece is durable, then
 * recorded as done). A partial is committed only when every piece is there, its size is the
 * expected size and, when a sha256 is known, the bytes hash to it; the commit itself is atomic
 * (a rename, or one small index file written in one go). A failed check deletes the partial and
 * throws INTEGRITY. Listing and loading see committed entries only, so an interrupted download
 * never shows up as a corrupt model: it is resumed by the next download of the same file, when
 * the server still describes that file the same way (size, ETag / Last-Modified, sha256).
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { WasmChordError } from '../../errors.js';
import type { ByteSource } from '../../gguf/byte-source.js';
import { formatBytes } from '../../format.js';

export const STORE_VERSION = 'v1';

export interface ModelStoreOptions {
  /**
   * Node, Deno and Bun: the cache directory (default `$WASM_CHORD_CACHE_DIR`, else the user's
   * cache directory + `/wasm-chord`). Browsers: the name of the store's OPFS directory or Cache
   * (default `wasm-chord`).
   */
  dir?: string;
}

/** A committed model. */
export interface StoreEntry {
  /** The canonical source it was downloaded from (a URL or an `hf://` id). */
  source: string;
  bytes: number;
  /** A file path (Node, Deno, Bun), or where it lives in the browser ("opfs:…", "cache:…"). */
  path: string;
  /** Lower-case hex, when it was known and checked at download. */
  sha256?: string;
  /** When it was committed (ISO 8601). */
  storedAt: string;
}

/** What the server says about a file: a partial resumes only when all of it still matches. */
export interface RemoteInfo {
  /** The URL asked for (before redirects). */
  url: string;
  /** Unknown only for a server that sends no length and ignores ranges. */
  totalBytes?: number;
  etag?: string;
  lastModified?: string;
  /** The expected sha256 (lower-case hex), when known. */
  sha256?: string;
  /** Whether the server answers Range requests. */
  ranges: boolean;
}

/** The saved state of a partial entry. */
export interface PartialState extends RemoteInfo {
  version: 1;
  source: string;
  pieceBytes: number;
  /** Indexes of the pieces stored so far. */
  done: number[];
}

/** Free space for new entries; undefined where the host cannot tell. */
export interface StoreEstimate {
  availableBytes?: number;
}

export interface ModelStore {
  readonly kind: 'fs' | 'opfs' | 'cache-api';
  /** Where the store lives (a directory, or the browser store's name). */
  readonly location: string;
  /** Committed entries, by source. */
  list(): Promise<StoreEntry[]>;
  get(source: string): Promise<StoreEntry | undefined>;
  /** A committed entry's bytes, for loading (no network). SOURCE_IO when there is none. */
  open(source: string): Promise<ByteSource>;
  /** Deletes an entry and any abandoned partial of it; whether there was anything. */
  delete(source: string): Promise<boolean>;
  estimate(): Promise<StoreEstimate>;
  /**
   * A writer for `source`: it resumes an abandoned partial of the same remote file (same size
   * and validators) and deletes those that no longer match; otherwise it starts a new one with
   * pieces of `pieceBytes`. Other writers of the same source are never disturbed.
   */
  openPartial(source: string, remote: RemoteInfo, pieceBytes: number): Promise<PartialWriter>;
}

/**
 * A partial entry being written. Subclasses store pieces and state; this class keeps the piece
 * bookkeeping and the commit rules.
 */
export abstract class PartialWriter {
  readonly source: string;
  readonly remote: RemoteInfo;
  readonly pieceBytes: number;
  readonly #done: Set<number>;
  #saving: Promise<void> = Promise.resolve();

  constructor(source: string, remote: RemoteInfo, pieceBytes: number, done: readonly number[]) {
    this.source = source;
    this.remote = remote;
    this.pieceBytes = pieceBytes;
    this.#done = new Set(done);
  }

  get done(): ReadonlySet<number> {
    return this.#done;
  }

  /** Bytes in the pieces already stored. */
  get doneBytes(): number {
    let n = 0;
    for (const i of this.#done) n += pieceLength(i, this.pieceBytes, this.remote.totalBytes) ?? this.pieceBytes;
    return n;
  }

  /** Stores piece `index` (the bytes at index * pieceBytes) durably, then records it as done. */
  async writePiece(index: number, bytes: Uint8Array): Promise<void> {
    await this.storePiece(index, bytes);
    this.#done.add(index);
    // State saves go one after another, each with every piece done by then.
    const save = this.#saving.then(() => this.saveState(this.#state()));
    this.#saving = save.catch(() => {});
    await save;
  }

  /**
   * Commits the entry once it holds `totalBytes` in full pieces, with the right sha256 when one
   * is known. On a failed check the partial is deleted and INTEGRITY thrown.
   */
  async commit(totalBytes: number): Promise<StoreEntry> {
    await this.#saving;
    const pieces = Math.ceil(totalBytes / this.pieceBytes);
    const missing = [...Array(pieces).keys()].filter((i) => !this.#done.has(i));
    const expected = this.remote.totalBytes;
    try {
      if (missing.length > 0 || (expected !== undefined && expected !== totalBytes)) {
        throw new WasmChordError(
          'INTEGRITY',
          `${this.source}: ${totalBytes} bytes downloaded where ${expected ?? totalBytes} were expected (${missing.length} pieces missing)`,
        );
      }
      const data = await this.openData();
      try {
        if (data.size !== totalBytes) {
          throw new WasmChordError('INTEGRITY', `${this.source}: the stored download holds ${data.size} bytes, not ${totalBytes}`);
        }
        if (this.remote.sha256 !== undefined) await checkSha256(data, this.remote.sha256, this.source);
      } finally {
        await data.close();
      }
    } catch (err) {
      await this.discard();
      throw err;
    }
    return this.finish({ source: this.source, bytes: totalBytes, sha256: this.remote.sha256, storedAt: new Date().toISOString() });
  }

  #state(): PartialState {
    return { version: 1, source: this.source, ...this.remote, pieceBytes: this.pieceBytes, done: [...this.#done].sort((a, b) => a - b) };
  }

  protected abstract storePiece(index: number, bytes: Uint8Array): Promise<void>;
  protected abstract saveState(state: PartialState): Promise<void>;
  /** The partial's bytes as they are now, for the checks before a commit. */
  protected abstract openData(): Promise<ByteSource>;
  /** The atomic commit, after the checks passed. */
  protected abstract finish(entry: Omit<StoreEntry, 'path'>): Promise<StoreEntry>;
  /** Lets go of the partial, keeping its pieces for a later resume. */
  abstract release(): Promise<void>;
  /** Deletes the partial. */
  abstract discard(): Promise<void>;
}

/** The length of piece `index`, or undefined when the total is not known. */
export function pieceLength(index: number, pieceBytes: number, totalBytes: number | undefined): number | undefined {
  return totalBytes === undefined ? undefined : Math.max(0, Math.min(pieceBytes, totalBytes - index * pieceBytes));
}

/** The stored name of a source: `<16 hex of its sha256>-<its file name, made safe>`. */
export function entryName(source: string): string {
  const hash = bytesToHex(sha256(new TextEncoder().encode(source))).slice(0, 16);
  const last = source.replace(/[?#].*$/, '').split('/').pop() ?? '';
  const base = last.replace(/\.gguf$/i, '').replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^[._]+/, '').slice(0, 80);
  return base ? `${hash}-${base}` : hash;
}

/** Whether a saved partial is the same remote file as the server describes now. */
export function canResume(state: PartialState, source: string, remote: RemoteInfo): boolean {
  if (state.version !== 1 || state.source !== source || !state.ranges || !remote.ranges) return false;
  if (state.url !== remote.url || state.totalBytes === undefined || state.totalBytes !== remote.totalBytes) return false;
  if (!Number.isSafeInteger(state.pieceBytes) || state.pieceBytes <= 0 || !Array.isArray(state.done)) return false;
  if (state.sha256 !== undefined && remote.sha256 !== undefined && state.sha256 !== remote.sha256) return false;
  // A validator either side has must be the same on the other (none at all: size only).
  if (state.etag !== remote.etag) return false;
  return state.lastModified === remote.lastModified;
}

/** Parses a saved partial state; undefined when it is not one (torn, foreign, older layout). */
export function parseState(text: string | undefined): PartialState | undefined {
  if (text === undefined) return undefined;
  try {
    const s = JSON.parse(text) as PartialState;
    return s && s.version === 1 && typeof s.source === 'string' && Array.isArray(s.done) ? s : undefined;
  } catch {
    return undefined;
  }
}

/** A committed entry's index record, as stored beside (or instead of) a path. */
export type EntryRecord = Omit<StoreEntry, 'path'>;

export function parseRecord(text: string | undefined): EntryRecord | undefined {
  if (text === undefined) return undefined;
  try {
    const r = JSON.parse(text) as EntryRecord;
    return r && typeof r.source === 'string' && Number.isSafeInteger(r.bytes) && r.bytes >= 0 ? r : undefined;
  } catch {
    return undefined;
  }
}

/** A lower-case sha256 hex digest, or INVALID_ARGUMENT. */
export function checkSha256Option(name: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !/^[0-9a-fA-F]{64}$/.test(value)) {
    throw new WasmChordError('INVALID_ARGUMENT', `option ${name} must be a sha256 digest of 64 hex digits (got ${typeof value === 'string' ? JSON.stringify(value.slice(0, 80)) : typeof value})`);
  }
  return value.toLowerCase();
}

/** Reads a source from start to end through a streaming sha256; INTEGRITY when it differs. */
async function checkSha256(data: ByteSource, expected: string, source: string): Promise<void> {
  const hash = sha256.create();
  const piece = new Uint8Array(Math.min(data.size, 8 << 20));
  for (let at = 0; at < data.size; at += piece.length) {
    const view = piece.subarray(0, Math.min(piece.length, data.size - at));
    await data.readInto(at, view);
    hash.update(view);
  }
  const actual = bytesToHex(hash.digest());
  if (actual !== expected) {
    throw new WasmChordError('INTEGRITY', `${source}: the download's sha256 is ${actual}, not the expected ${expected}; it was discarded (try again)`);
  }
}

/** QUOTA_EXCEEDED when `needBytes` more do not fit the store's free space. */
export async function checkRoom(store: ModelStore, needBytes: number): Promise<void> {
  const { availableBytes } = await store.estimate();
  if (availableBytes !== undefined && needBytes > availableBytes) {
    throw new WasmChordError(
      'QUOTA_EXCEEDED',
      `the model needs ${formatBytes(needBytes)} but the model store (${store.location}) has ${formatBytes(availableBytes)} free; free some space (wasm-chord cache rm) or choose another cache directory`,
    );
  }
}

/** A storage failure as a typed error: QUOTA_EXCEEDED for a full disk or quota, else SOURCE_IO. */
export function storageError(what: string, err: unknown): WasmChordError {
  if (err instanceof WasmChordError) return err;
  const code = (err as { code?: unknown })?.code;
  const name = (err as { name?: unknown })?.name;
  const message = (err as Error)?.message ?? String(err);
  if (code === 'ENOSPC' || code === 'EDQUOT' || name === 'QuotaExceededError') {
    return new WasmChordError('QUOTA_EXCEEDED', `${what}: no room left in the model store (${message}); free some space and try again`, { cause: err });
  }
  return new WasmChordError('SOURCE_IO', `${what}: ${message}`, { cause: err });
}
