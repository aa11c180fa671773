/**
 * The model cache: the public face of the host's model store (`WasmChord.modelCache()`), and the
 * step of loadModel that turns a URL or Hugging Face id into bytes (from the store when the
 * model is there, with no network at all; else downloaded into it first).
 */
import { isWasmChordError, WasmChordError } from '../errors.js';
import type { ByteSource } from '../gguf/byte-source.js';
import { HttpSource } from '../gguf/http-source.js';
import { openByteSource, type ByteSourceInput } from '../gguf/open-source.js';
import { readGGUF, type GGUFFile } from '../gguf/reader.js';
import { parseSplitName, readGGUFSet, readGGUFShards, siblingName, splitInfo } from '../gguf/split.js';
import { host } from '../platform/host.js';
import { checkBoolean, checkFunction, checkKnownKeys, checkNumber, checkSignal, checkString } from '../validate.js';
import { downloadToStore, type DownloadProgress } from './download.js';
import { canonicalSource, parseModelRef, quantCandidates, resolveModel, type ModelRef } from './model-id.js';
import { checkSha256Option, type ModelStore, type StoreEntry, type StoreEstimate } from './store/model-store.js';

export type { DownloadProgress } from './download.js';
export type { StoreEntry } from './store/model-store.js';

export interface ModelCacheOptions {
  /** Node, Deno, Bun: the cache directory (default `$WASM_CHORD_CACHE_DIR`, else the user's cache directory + `/wasm-chord`). */
  cacheDir?: string;
  /** The Hugging Face endpoint for hf ids (default `$WASM_CHORD_HF_ENDPOINT`, else https://huggingface.co). */
  hubEndpoint?: string;
}

export interface PullOptions {
  /** Extra HTTP headers (Authorization for a private repo), sent only to the URL's own origin. */
  headers?: Record<string, string>;
  signal?: AbortSignal;
  onProgress?: (progress: DownloadProgress) => void;
  /** The expected sha256 (hex). Hub files need none: the Hub says. */
  sha256?: string;
  /** How long a server may stay silent before a request fails (and is retried). Default 30000 ms. */
  requestTimeoutMs?: number;
}

const CACHE_KEYS = ['cacheDir', 'hubEndpoint'] as const;
const PULL_KEYS = ['headers', 'signal', 'onProgress', 'sha256', 'requestTimeoutMs'] as const;

/** Downloaded models: list, find, pull (download unless there), delete. */
export class ModelCache {
  readonly #store: ModelStore;
  readonly #hubEndpoint: string | undefined;

  private constructor(store: ModelStore, hubEndpoint: string | undefined) {
    this.#store = store;
    this.#hubEndpoint = hubEndpoint;
  }

  static async open(options: ModelCacheOptions = {}): Promise<ModelCache> {
    checkKnownKeys('modelCache', options, CACHE_KEYS);
    const dir = checkString('cacheDir', options.cacheDir);
    const hubEndpoint = checkString('hubEndpoint', options.hubEndpoint);
    return new ModelCache(await host.openModelStore({ dir }), hubEndpoint);
  }

  /** Where the models are (a directory, or the browser store's name). */
  get location(): string {
    return this.#store.location;
  }

  list(): Promise<StoreEntry[]> {
    return this.#store.list();
  }

  /** The entry of a source (as listed, a URL or an hf id) or of a stored path; no network. */
  async find(model: string): Promise<StoreEntry | undefined> {
    checkString('model', model);
    const ref = parseModelRef(model);
    const entry = ref ? await findCached(this.#store, ref) : undefined;
    return entry ?? (await this.#store.list()).find((e) => e.source === model || e.path === model);
  }

  /** Deletes a model (and any unfinished download of it); whether there was one. */
  async delete(model: string): Promise<boolean> {
    const entry = await this.find(model);
    return entry ? this.#store.delete(entry.source) : false;
  }

  /**
   * The model's entry, downloaded first unless it is already here. A shard of a split set brings
   * the other shards too (each its own entry), so the set loads offline.
   */
  async pull(model: string, options: PullOptions = {}): Promise<StoreEntry> {
    checkKnownKeys('pull', options, PULL_KEYS);
    checkString('model', model);
    const ref = parseModelRef(model);
    if (!ref) throw new WasmChordError('INVALID_ARGUMENT', `"${model}" is not a URL or a Hugging Face id (hf://owner/repo/file.gguf, owner/repo:QUANT)`);
    const checked = { ...checkPull(options), hubEndpoint: this.#hubEndpoint };
    const entry = await pull(this.#store, ref, checked);
    const count = parseSplitName(entry.source) ? await this.#splitCount(entry) : 1;
    for (let no = 0; count > 1 && no < count; no++) {
      const sibling = siblingName(entry.source, no, count);
      // The sha256 given is the named shard's, not its siblings'.
      if (sibling !== entry.source) await pull(this.#store, parseModelRef(sibling)!, { ...checked, sha256: undefined });
    }
    return entry;
  }

  /** The shards of the set a stored file belongs to, from its header (1: not a split set, whatever its name says). */
  async #splitCount(entry: StoreEntry): Promise<number> {
    const source = await this.#store.open(entry.source);
    try {
      return splitInfo(await readGGUF(source))?.count ?? 1;
    } finally {
      await source.close();
    }
  }

  estimate(): Promise<StoreEstimate> {
    return this.#store.estimate();
  }
}

/** What loadModel passes on for sources that may come from the store. */
export interface ModelSourceOptions extends PullOptions {
  /** Use the store (default: yes where the host has one). */
  cache?: boolean;
  /** false: read a stored model from the store, and any other by range requests, adding nothing (a plan's header). */
  download?: boolean;
  cacheDir?: string;
  hubEndpoint?: string;
}

/** loadModel's options that concern the source, checked (INVALID_ARGUMENT naming the option). */
export function sourceOptions(options: Omit<ModelSourceOptions, 'onProgress'> & { onDownloadProgress?: (p: DownloadProgress) => void }): ModelSourceOptions {
  checkFunction('onDownloadProgress', options.onDownloadProgress);
  return {
    headers: options.headers,
    signal: options.signal,
    requestTimeoutMs: checkTimeout(options.requestTimeoutMs),
    onProgress: options.onDownloadProgress,
    cache: checkBoolean('cache', options.cache),
    cacheDir: checkString('cacheDir', options.cacheDir),
    hubEndpoint: checkString('hubEndpoint', options.hubEndpoint),
    sha256: checkSha256Option('sha256', options.sha256),
  };
}

/**
 * A model for loading: its GGUF header over its bytes. URLs and hf ids come from the store
 * (downloaded into it when missing) unless `cache` is false or the host has no usable store; then
 * they are read with range requests. With the default `cache`, a store that cannot hold the model
 * is passed over. A shard of a split set brings the others, found by name the same way (each its
 * own store entry); an array is the shards of one set, in any order. The file's source owns every
 * byte source opened for it.
 */
export async function openModelFile(input: ByteSourceInput | readonly ByteSourceInput[], options: ModelSourceOptions): Promise<GGUFFile> {
  const http = { headers: options.headers, signal: options.signal, timeoutMs: options.requestTimeoutMs };
  if (Array.isArray(input)) {
    const sources: ByteSource[] = [];
    try {
      for (const item of input) sources.push(await openByteSource(item, http));
    } catch (err) {
      await Promise.all(sources.map((s) => s.close()));
      throw err;
    }
    return readGGUFShards(sources, { signal: options.signal });
  }
  const { source, name } = await openModelSource(input as ByteSourceInput, options);
  // The other shards of a set: never checked against a sha256 given for the one named.
  const open = async (shard: string) => (await openModelSource(shard, { ...options, sha256: undefined })).source;
  try {
    return await readGGUFSet(source, { signal: options.signal, name, open });
  } catch (err) {
    await source.close();
    throw err;
  }
}

/** The bytes of one file, and the name its split-set siblings are found by (a path, URL or canonical hf:// id). */
async function openModelSource(input: ByteSourceInput, options: ModelSourceOptions): Promise<{ source: ByteSource; name?: string }> {
  const text = typeof input === 'string' || input instanceof URL ? String(input) : undefined;
  const ref = text === undefined ? undefined : parseModelRef(text);
  const http = { headers: options.headers, signal: options.signal, timeoutMs: options.requestTimeoutMs };
  if (!ref) return { source: await openByteSource(input, http), name: text };
  if (options.cache !== false) {
    let store: ModelStore | undefined;
    try {
      store = await host.openModelStore({ dir: options.cacheDir });
    } catch (err) {
      if (options.cache === true || options.cacheDir !== undefined) throw err;
    }
    if (store) {
      try {
        const entry = options.download === false ? await findCached(store, ref) : await pull(store, ref, options);
        if (entry) return { source: await store.open(entry.source), name: entry.source };
      } catch (err) {
        if (options.cache === true || !isWasmChordError(err, 'QUOTA_EXCEEDED')) throw err;
      }
    }
  }
  const { url, source } = await resolveModel(ref, { ...http, hubEndpoint: options.hubEndpoint });
  return { source: await HttpSource.open(url, http), name: source };
}

function checkPull(options: PullOptions): PullOptions {
  checkSignal('signal', options.signal);
  checkFunction('onProgress', options.onProgress);
  return { ...options, sha256: checkSha256Option('sha256', options.sha256), requestTimeoutMs: checkTimeout(options.requestTimeoutMs) };
}

function checkTimeout(ms: unknown): number | undefined {
  return ms === undefined ? undefined : checkNumber('requestTimeoutMs', ms, { above: 0 });
}

/** The stored entry of a ref, without the network (an `owner/repo:QUANT` ref by its file names). */
async function findCached(store: ModelStore, ref: ModelRef): Promise<StoreEntry | undefined> {
  const source = canonicalSource(ref);
  if (source !== undefined) return store.get(source);
  if (ref.kind !== 'hf-quant') return undefined;
  const prefix = `hf://${ref.repo}${ref.revision === 'main' ? '' : `@${ref.revision}`}/`;
  const entries = (await store.list()).filter((e) => e.source.startsWith(prefix));
  const chosen = quantCandidates(
    entries.map((e) => e.source.slice(prefix.length)),
    ref.quant,
  );
  return chosen.length === 1 ? entries.find((e) => e.source === prefix + chosen[0]) : undefined;
}

async function pull(store: ModelStore, ref: ModelRef, options: ModelSourceOptions): Promise<StoreEntry> {
  const cached = await findCached(store, ref);
  if (cached) return cached;
  const resolved = await resolveModel(ref, { hubEndpoint: options.hubEndpoint, headers: options.headers, signal: options.signal, timeoutMs: options.requestTimeoutMs });
  if (ref.kind === 'hf-quant') {
    const entry = await store.get(resolved.source);
    if (entry) return entry;
  }
  return downloadToStore(store, resolved.source, resolved.url, {
    headers: options.headers,
    signal: options.signal,
    onProgress: options.onProgress,
    timeoutMs: options.requestTimeoutMs,
    sha256: options.sha256 ?? resolved.sha256,
    expectedBytes: resolved.bytes,
  });
}
