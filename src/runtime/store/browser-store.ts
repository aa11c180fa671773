/**
 * The model store in browsers: the origin private file system (OPFS) where it can write files
 * (`createWritable`), else the Cache API. Both are used as a flat bucket of immutable objects,
 * each written in one go:
 *
 *   <name>.json            a committed entry's record (written last: the commit)
 *   <name>.<owner>.state   a download's state (pieces done, what the server said)
 *   <name>.<owner>.<i>     piece i of that download (the pieces of a committed entry, too)
 *
 * A model is never copied into one big file: its pieces are joined into one Blob for loading
 * (a Blob of Files refers to them, it does not copy them). A piece is stored only once it is
 * complete, so an interrupted download resumes at piece granularity. Each writer holds a Web
 * Lock named after its owner id for as long as it writes; a partial whose lock is free was
 * abandoned (a closed tab) and may be claimed. Nothing here may import a `node:` module.
 */
import { BlobSource, type ByteSource } from '../../gguf/byte-source.js';
import { WasmChordError } from '../../errors.js';
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

/** Immutable named objects, each written atomically. */
interface Bucket {
  readonly kind: 'opfs' | 'cache-api';
  get(name: string): Promise<Blob | undefined>;
  put(name: string, data: Uint8Array | string): Promise<void>;
  delete(name: string): Promise<void>;
  names(): Promise<string[]>;
}

/** A committed entry's record: which download's pieces hold it. */
interface BucketRecord extends EntryRecord {
  data: string;
  pieces: number;
}

export async function openBrowserStore(options: ModelStoreOptions = {}): Promise<ModelStore> {
  const name = options.dir ?? 'wasm-chord';
  if (typeof name !== 'string' || !/^[A-Za-z0-9._-]{1,100}$/.test(name) || /^\.+$/.test(name)) {
    throw new WasmChordError('INVALID_ARGUMENT', `a browser model store's name must be letters, digits, ".", "_" or "-" (got ${JSON.stringify(name)})`);
  }
  const bucket = (await opfsBucket(name)) ?? (await cacheBucket(name));
  if (!bucket) {
    throw new WasmChordError('SOURCE_IO', 'this browser offers no persistent storage for models (no OPFS and no Cache API; a secure context, https or localhost, is needed)');
  }
  return new BucketStore(bucket, `${bucket.kind}:${name}/${STORE_VERSION}`);
}

async function opfsBucket(root: string): Promise<Bucket | undefined> {
  const storage = (globalThis as { navigator?: { storage?: StorageManager } }).navigator?.storage;
  const writable = typeof FileSystemFileHandle !== 'undefined' && typeof FileSystemFileHandle.prototype.createWritable === 'function';
  if (!storage?.getDirectory || !writable) return undefined;
  let dir: FileSystemDirectoryHandle;
  try {
    const top = await (await storage.getDirectory()).getDirectoryHandle(root, { create: true });
    dir = await top.getDirectoryHandle(STORE_VERSION, { create: true });
  } catch {
    return undefined; // private browsing modes may refuse OPFS
  }
  const missing = (err: unknown) => (err as DOMException)?.name === 'NotFoundError';
  return {
    kind: 'opfs',
    async get(name) {
      try {
        return await (await dir.getFileHandle(name)).getFile();
      } catch (err) {
        if (missing(err)) return undefined;
        throw err;
      }
    },
    async put(name, data) {
      // A writable goes to a swap file that replaces the file only on close: all or nothing.
      const w = await (await dir.getFileHandle(name, { create: true })).createWritable();
      try {
        await w.write(typeof data === 'string' ? data : (data as Uint8Array<ArrayBuffer>));
        await w.close();
      } catch (err) {
        await w.abort().catch(() => {});
        throw err;
      }
    },
    async delete(name) {
      await dir.removeEntry(name).catch((err: unknown) => {
        if (!missing(err)) throw err;
      });
    },
    async names() {
      const out: string[] = [];
      for await (const key of (dir as unknown as { keys(): AsyncIterable<string> }).keys()) out.push(key);
      return out;
    },
  };
}

async function cacheBucket(root: string): Promise<Bucket | undefined> {
  const storage = (globalThis as { caches?: CacheStorage }).caches;
  if (!storage) return undefined;
  let cache: Cache;
  try {
    cache = await storage.open(root);
  } catch {
    return undefined;
  }
  // Cache keys must be http(s) URLs; this one names nothing on the network.
  const base = `https://wasm-chord.invalid/${STORE_VERSION}/`;
  const url = (name: string) => base + encodeURIComponent(name);
  return {
    kind: 'cache-api',
    async get(name) {
      return (await cache.match(url(name)))?.blob();
    },
    async put(name, data) {
      await cache.put(url(name), new Response(data as BodyInit));
    },
    async delete(name) {
      await cache.delete(url(name));
    },
    async names() {
      return (await cache.keys()).map((r) => r.url).filter((u) => u.startsWith(base)).map((u) => decodeURIComponent(u.slice(base.length)));
    },
  };
}

const OWNER = '[0-9a-z]+';

class BucketStore implements ModelStore {
  readonly kind: 'opfs' | 'cache-api';
  readonly location: string;
  readonly #bucket: Bucket;

  constructor(bucket: Bucket, location: string) {
    this.#bucket = bucket;
    this.kind = bucket.kind;
    this.location = location;
  }

  async list(): Promise<StoreEntry[]> {
    const entries: StoreEntry[] = [];
    for (const file of await this.#names()) {
      if (!file.endsWith('.json')) continue;
      const record = await this.#record(file.slice(0, -5));
      if (record) entries.push(this.#entry(file.slice(0, -5), record));
    }
    return entries.sort((a, b) => a.source.localeCompare(b.source));
  }

  async get(source: string): Promise<StoreEntry | undefined> {
    const name = entryName(source);
    const record = await this.#record(name);
    return record?.source === source ? this.#entry(name, record) : undefined;
  }

  async open(source: string): Promise<ByteSource> {
    const name = entryName(source);
    const record = await this.#record(name);
    if (record?.source !== source) throw new WasmChordError('SOURCE_IO', `${source} is not in the model store (${this.location})`);
    const pieces = await this.pieceBlobs(record.data, record.pieces);
    const blob = pieces && new Blob(pieces);
    if (!blob || blob.size !== record.bytes) {
      throw new WasmChordError('SOURCE_IO', `the stored copy of ${source} is damaged (pieces missing); delete it and download it again`);
    }
    return new BlobSource(blob, source);
  }

  async delete(source: string): Promise<boolean> {
    const name = entryName(source);
    const record = await this.#record(name);
    const mine = record?.source === source;
    try {
      if (mine) {
        await this.#bucket.delete(`${name}.json`); // the record first: then it is no entry
        await this.deleteData(record.data);
      }
      for (const owner of await this.#abandoned(name)) {
        await this.deleteData(`${name}.${owner.id}`);
        owner.release();
      }
    } catch (err) {
      throw storageError(`cannot delete ${source} from ${this.location}`, err);
    }
    return mine;
  }

  async estimate(): Promise<StoreEstimate> {
    const storage = (globalThis as { navigator?: { storage?: StorageManager } }).navigator?.storage;
    const e = await storage?.estimate?.().catch(() => undefined);
    return e?.quota !== undefined ? { availableBytes: Math.max(0, e.quota - (e.usage ?? 0)) } : {};
  }

  async openPartial(source: string, remote: RemoteInfo, pieceBytes: number): Promise<PartialWriter> {
    const name = entryName(source);
    try {
      let resumed: PartialWriter | undefined;
      for (const owner of await this.#abandoned(name)) {
        const base = `${name}.${owner.id}`;
        const state = parseState(await (await this.#bucket.get(`${base}.state`))?.text());
        if (!resumed && state && canResume(state, source, remote)) {
          resumed = new BucketPartial(this, this.#bucket, name, base, owner.release, source, remote, state.pieceBytes, state.done);
        } else {
          await this.deleteData(base);
          owner.release();
        }
      }
      if (resumed) return resumed;
      const id = Math.random().toString(36).slice(2, 12);
      const release = (await hold(lockName(name, id))) ?? (() => {});
      return new BucketPartial(this, this.#bucket, name, `${name}.${id}`, release, source, remote, pieceBytes, []);
    } catch (err) {
      throw storageError(`cannot start a download of ${source} in ${this.location}`, err);
    }
  }

  /** The pieces of a download, in order; undefined when one is missing. */
  async pieceBlobs(base: string, count: number): Promise<Blob[] | undefined> {
    const out: Blob[] = [];
    for (let i = 0; i < count; i++) {
      const piece = await this.#bucket.get(`${base}.${i}`);
      if (!piece) return undefined;
      out.push(piece);
    }
    return out;
  }

  /** A download's state and pieces (including any stored before a crash kept them out of its state). */
  async deleteData(base: string): Promise<void> {
    const pattern = new RegExp(`^${escape(base)}\\.(state|\\d+)$`);
    for (const file of await this.#names()) if (pattern.test(file)) await this.#bucket.delete(file);
  }

  async #record(name: string): Promise<BucketRecord | undefined> {
    const blob = await this.#bucket.get(`${name}.json`).catch(() => undefined);
    const record = parseRecord(await blob?.text()) as BucketRecord | undefined;
    return record && typeof record.data === 'string' && Number.isSafeInteger(record.pieces) ? record : undefined;
  }

  #entry(name: string, record: BucketRecord): StoreEntry {
    const { source, bytes, sha256, storedAt } = record;
    return { source, bytes, sha256, storedAt, path: `${this.location}/${name}` };
  }

  async #names(): Promise<string[]> {
    try {
      return await this.#bucket.names();
    } catch (err) {
      throw storageError(`cannot read the model store (${this.location})`, err);
    }
  }

  /** Partials of `name` whose writer is gone, each now held by this caller. */
  async #abandoned(name: string): Promise<{ id: string; release: () => void }[]> {
    const pattern = new RegExp(`^${escape(name)}\\.(${OWNER})\\.state$`);
    const out: { id: string; release: () => void }[] = [];
    for (const file of await this.#names()) {
      const id = pattern.exec(file)?.[1];
      const release = id === undefined ? undefined : await hold(lockName(name, id));
      if (id !== undefined && release) out.push({ id, release });
    }
    return out;
  }
}

class BucketPartial extends PartialWriter {
  readonly #store: BucketStore;
  readonly #bucket: Bucket;
  readonly #name: string;
  readonly #base: string;
  readonly #release: () => void;

  constructor(
    store: BucketStore,
    bucket: Bucket,
    name: string,
    base: string,
    release: () => void,
    source: string,
    remote: RemoteInfo,
    pieceBytes: number,
    done: readonly number[],
  ) {
    super(source, remote, pieceBytes, done);
    this.#store = store;
    this.#bucket = bucket;
    this.#name = name;
    this.#base = base;
    this.#release = release;
  }

  protected async storePiece(index: number, bytes: Uint8Array): Promise<void> {
    try {
      await this.#bucket.put(`${this.#base}.${index}`, bytes);
    } catch (err) {
      throw storageError(`cannot store ${this.source}`, err);
    }
  }

  protected async saveState(state: PartialState): Promise<void> {
    try {
      await this.#bucket.put(`${this.#base}.state`, JSON.stringify(state));
    } catch (err) {
      throw storageError(`cannot save the download state of ${this.source}`, err);
    }
  }

  protected async openData(): Promise<ByteSource> {
    const pieces = (await this.#store.pieceBlobs(this.#base, this.done.size)) ?? [];
    return new BlobSource(new Blob(pieces), this.source);
  }

  protected async finish(record: EntryRecord): Promise<StoreEntry> {
    const full: BucketRecord = { ...record, data: this.#base, pieces: this.done.size };
    try {
      await this.#bucket.put(`${this.#name}.json`, JSON.stringify(full));
      await this.#bucket.delete(`${this.#base}.state`);
    } catch (err) {
      throw storageError(`cannot commit ${this.source}`, err);
    } finally {
      this.#release();
    }
    return { ...record, path: `${this.#store.location}/${this.#name}` };
  }

  async release(): Promise<void> {
    this.#release();
  }

  async discard(): Promise<void> {
    await this.#store.deleteData(this.#base).catch(() => {});
    this.#release();
  }
}

function lockName(name: string, owner: string): string {
  return `wasm-chord:${name}.${owner}`;
}

/**
 * Takes the Web Lock `name` if nobody holds it; resolves with its release, or undefined when it
 * is held (a live writer, maybe in another tab). Without Web Locks every partial counts as free.
 */
function hold(name: string): Promise<(() => void) | undefined> {
  const locks = (globalThis as { navigator?: { locks?: LockManager } }).navigator?.locks;
  if (!locks) return Promise.resolve(() => {});
  return new Promise((resolve) => {
    locks
      .request(name, { ifAvailable: true }, (lock) => {
        if (!lock) return resolve(undefined);
        return new Promise<void>((release) => resolve(() => release()));
      })
      .catch(() => resolve(undefined));
  });
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
