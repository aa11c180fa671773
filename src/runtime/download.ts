/**
 * Downloads a file into the model store. One small probe (bytes 0-0) learns the size, whether
 * the server answers ranges, and its validators (ETag, Last-Modified). With ranges: a few
 * connections fetch fixed-size pieces, each written at its place once complete, so an
 * interrupted download resumes from the pieces already stored. Without: one plain sequential
 * download, which starts over when it fails. Network errors, 5xx, 408 and 429 are retried with
 * exponential back-off (a piece retried asks only for the bytes it still lacks). Nothing is
 * committed until the store's checks (size, sha256 when known) pass.
 */
import { isWasmChordError, WasmChordError } from '../errors.js';
import { DEFAULT_TIMEOUT_MS, checkHeaders, parseContentRange, request, statusError, streamBody, type Pending } from '../gguf/http-source.js';
import { checkRoom, type ModelStore, type PartialWriter, type RemoteInfo, type StoreEntry } from './store/model-store.js';

export interface DownloadProgress {
  /** Bytes received so far, counting those a resumed download already had. */
  loadedBytes: number;
  /** 0 when the server does not say. */
  totalBytes: number;
  /** Over the last few seconds. */
  bytesPerSecond: number;
  /** Infinity when it cannot be estimated yet. */
  etaSeconds: number;
}

export interface DownloadOptions {
  /** Extra request headers; sent only to the URL's own origin. */
  headers?: Record<string, string>;
  signal?: AbortSignal;
  onProgress?: (progress: DownloadProgress) => void;
  /** How long the server may stay silent before a request fails (and is retried). Default 30000 ms. */
  timeoutMs?: number;
  fetch?: typeof fetch;
  /** The expected sha256 (lower-case hex), checked before the commit. */
  sha256?: string;
  /** The expected size (from the Hub's listing, for instance). */
  expectedBytes?: number;
  /** Parallel range requests. Default 4. */
  connections?: number;
  /** Bytes per range request, and per stored piece. Default 16 MiB. */
  pieceBytes?: number;
  /** Retries of one request before the download fails. Default 5. */
  retries?: number;
  /** The first retry's delay; each next one doubles it (with jitter). Default 500 ms. */
  retryDelayMs?: number;
}

const DEFAULT_PIECE_BYTES = 16 << 20;
const MAX_RETRY_DELAY_MS = 30_000;
const PROGRESS_INTERVAL_MS = 100;

/** Errors that retrying cannot fix. */
const FATAL = new WeakSet<object>();
/** Errors after which the partial is worthless (the remote file changed). */
const STALE = new WeakSet<object>();
/** A server's Retry-After, in ms. */
const RETRY_AFTER = new WeakMap<object, number>();

function mark<T extends object>(set: WeakSet<object>, err: T): T {
  set.add(err);
  return err;
}

/** Downloads `url` into `store` as `source`; resolves with the committed entry. */
export async function downloadToStore(store: ModelStore, source: string, url: string, options: DownloadOptions = {}): Promise<StoreEntry> {
  const fetchFn = options.fetch ?? globalThis.fetch;
  if (typeof fetchFn !== 'function') throw new WasmChordError('INVALID_ARGUMENT', 'this JavaScript runtime has no fetch; pass options.fetch');
  const ctx: Context = {
    url,
    fetchFn,
    headers: checkHeaders(options.headers),
    signal: options.signal,
    timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    retries: options.retries ?? 5,
    retryDelayMs: options.retryDelayMs ?? 500,
  };
  const probe = await withRetries(ctx, () => probeFile(ctx));
  const remote: RemoteInfo = { ...probe.remote, sha256: options.sha256 };
  const total = remote.totalBytes;
  let writer: PartialWriter | undefined;
  try {
    if (total !== undefined && options.expectedBytes !== undefined && total !== options.expectedBytes) {
      throw new WasmChordError('INTEGRITY', `${url} has ${total} bytes where ${options.expectedBytes} were expected`);
    }
    if (total === 0) throw new WasmChordError('SOURCE_HTTP', `${url} is empty`);
    writer = await store.openPartial(source, remote, options.pieceBytes ?? DEFAULT_PIECE_BYTES);
    // Before any body byte: is there room for what is still missing?
    await checkRoom(store, (total ?? 0) - writer.doneBytes);
    const meter = new Meter(total, writer.doneBytes, options.onProgress);
    const first = probe.pending;
    probe.pending = undefined;
    const size = remote.ranges
      ? await fetchPieces(ctx, writer, total!, options.connections ?? 4, meter)
      : await fetchWhole(ctx, writer, first, total, meter);
    meter.report(true);
    return await writer.commit(size);
  } catch (err) {
    await probe.pending?.done();
    if (writer && !isWasmChordError(err, 'INTEGRITY')) {
      // A resumable partial is kept; one that cannot be resumed, or that fills the disk, is not.
      const keep = remote.ranges && !STALE.has(err as object) && !isWasmChordError(err, 'QUOTA_EXCEEDED');
      await (keep ? writer.release() : writer.discard());
    }
    throw err;
  }
}

interface Context {
  readonly url: string;
  readonly fetchFn: typeof fetch;
  readonly headers: Record<string, string>;
  readonly signal: AbortSignal | undefined;
  readonly timeoutMs: number;
  readonly retries: number;
  readonly retryDelayMs: number;
}

/**
 * The size, range support and validators; a server that ignores ranges keeps its response open.
 * Only error statuses that ask for it are retried here: a server that cannot be reached, or does
 * not answer, at first contact is reported at once.
 */
async function probeFile(ctx: Context): Promise<{ remote: Omit<RemoteInfo, 'sha256'>; pending?: Pending }> {
  const r = await request(ctx.fetchFn, ctx.url, ctx.headers, [0, 0], ctx.signal, ctx.timeoutMs).catch((err: unknown) => {
    throw mark(FATAL, err as object);
  });
  const res = r.response;
  const validators = { etag: res.headers.get('etag') ?? undefined, lastModified: res.headers.get('last-modified') ?? undefined };
  if (res.status === 200) {
    // A compressed body's Content-Length is not the file's size.
    const length = res.headers.get('content-encoding') ? null : res.headers.get('content-length');
    const totalBytes = length !== null && /^\d+$/.test(length) ? Number(length) : undefined;
    return { remote: { url: ctx.url, totalBytes, ranges: false, ...validators }, pending: r };
  }
  await r.done();
  const range = parseContentRange(res.headers.get('content-range'));
  if (res.status === 206 && range?.start === 0 && range.total !== undefined && Number.isSafeInteger(range.total)) {
    return { remote: { url: ctx.url, totalBytes: range.total, ranges: true, ...validators } };
  }
  if (res.status === 416 && range?.total === 0) throw mark(FATAL, new WasmChordError('SOURCE_HTTP', `${ctx.url} is empty`));
  if (res.status === 206) throw mark(FATAL, new WasmChordError('SOURCE_HTTP', `${ctx.url}: unusable Content-Range "${res.headers.get('content-range')}"`));
  throw httpError(ctx.url, res);
}

/** The missing pieces over a few connections; the first failure stops the others. */
async function fetchPieces(ctx: Context, writer: PartialWriter, total: number, connections: number, meter: Meter): Promise<number> {
  const pb = writer.pieceBytes;
  const todo = [...Array(Math.ceil(total / pb)).keys()].filter((i) => !writer.done.has(i));
  const stop = new AbortController();
  const onAbort = () => stop.abort();
  ctx.signal?.addEventListener('abort', onAbort, { once: true });
  const inner: Context = { ...ctx, signal: stop.signal };
  let next = 0;
  let failure: unknown;
  const lane = async () => {
    while (failure === undefined && next < todo.length) {
      const index = todo[next++]!;
      const bytes = await fetchPiece(inner, index * pb, Math.min(pb, total - index * pb), total, writer.remote.etag, meter);
      await writer.writePiece(index, bytes);
    }
  };
  try {
    const lanes = Array.from({ length: Math.max(1, Math.min(connections, todo.length)) }, () =>
      lane().catch((err: unknown) => {
        failure ??= err;
        stop.abort();
      }),
    );
    await Promise.all(lanes);
  } finally {
    ctx.signal?.removeEventListener('abort', onAbort);
  }
  if (ctx.signal?.aborted) throw new WasmChordError('ABORTED', `the download of ${ctx.url} was aborted`, { cause: ctx.signal.reason });
  if (failure !== undefined) throw failure;
  return total;
}

/** Bytes [start, start + length) of the file; a retry asks only for what is still missing. */
async function fetchPiece(ctx: Context, start: number, length: number, total: number, etag: string | undefined, meter: Meter): Promise<Uint8Array> {
  const bytes = new Uint8Array(length);
  let filled = 0;
  await withRetries(ctx, async () => {
    const first = start + filled;
    const last = start + length - 1;
    const r = await request(ctx.fetchFn, ctx.url, ctx.headers, [first, last], ctx.signal, ctx.timeoutMs);
    try {
      const res = r.response;
      if (res.status === 200) throw mark(FATAL, new WasmChordError('SOURCE_HTTP', `${ctx.url}: the server stopped answering range requests in the middle of the download`));
      if (res.status !== 206) throw httpError(ctx.url, res);
      const range = parseContentRange(res.headers.get('content-range'));
      const now = res.headers.get('etag') ?? undefined;
      if (range?.total !== total || (etag !== undefined && now !== undefined && now !== etag)) {
        const err = new WasmChordError('SOURCE_HTTP', `${ctx.url} changed on the server during the download (its size or ETag differ); download it again to start over`);
        throw mark(STALE, mark(FATAL, err));
      }
      if (range.start !== first || range.end !== last) {
        throw mark(FATAL, new WasmChordError('SOURCE_HTTP', `${ctx.url}: asked for bytes ${first}-${last}, got "${res.headers.get('content-range')}"`));
      }
      await streamBody(r, ctx.url, ctx.signal, (piece) => {
        if (filled + piece.length > length) throw mark(FATAL, new WasmChordError('SOURCE_HTTP', `${ctx.url}: the server sent more bytes than the range asked for`));
        bytes.set(piece, filled);
        filled += piece.length;
        meter.add(piece.length);
      });
      if (filled !== length) throw new WasmChordError('SOURCE_HTTP', `${ctx.url}: a range response ended after ${filled} of ${length} bytes`);
    } finally {
      await r.done();
    }
  });
  return bytes;
}

/** One plain download from the start (the server ignores ranges); returns the size. */
async function fetchWhole(ctx: Context, writer: PartialWriter, first: Pending | undefined, total: number | undefined, meter: Meter): Promise<number> {
  let pending = first;
  let size = 0;
  await withRetries(ctx, async () => {
    const r = pending ?? (await request(ctx.fetchFn, ctx.url, ctx.headers, [0, 0], ctx.signal, ctx.timeoutMs));
    pending = undefined;
    meter.restart();
    try {
      if (r.response.status !== 200) throw r.response.status === 206 ? mark(FATAL, new WasmChordError('SOURCE_HTTP', `${ctx.url}: the server began answering range requests; download it again`)) : httpError(ctx.url, r.response);
      const buffer = new Uint8Array(writer.pieceBytes);
      let fill = 0;
      let index = 0;
      let got = 0;
      await streamBody(r, ctx.url, ctx.signal, async (bytes) => {
        got += bytes.length;
        if (total !== undefined && got > total) throw mark(FATAL, new WasmChordError('SOURCE_HTTP', `${ctx.url}: the server sent more than the ${total} bytes it announced`));
        meter.add(bytes.length);
        for (let at = 0; at < bytes.length; ) {
          const n = Math.min(bytes.length - at, buffer.length - fill);
          buffer.set(bytes.subarray(at, at + n), fill);
          fill += n;
          at += n;
          if (fill === buffer.length) {
            await writer.writePiece(index++, buffer);
            fill = 0;
          }
        }
      });
      if (fill > 0) await writer.writePiece(index, buffer.subarray(0, fill));
      if (total !== undefined && got !== total) throw new WasmChordError('SOURCE_HTTP', `${ctx.url}: the download ended after ${got} of ${total} bytes`);
      size = got;
    } finally {
      await r.done();
    }
  });
  return size;
}

/** An HTTP error status: retried for 5xx, 408 and 429 (after Retry-After, when given). */
function httpError(url: string, res: Response): WasmChordError {
  const err = statusError(url, res);
  if (res.status >= 500 || res.status === 408 || res.status === 429) {
    const after = Number(res.headers.get('retry-after'));
    if (after >= 0) RETRY_AFTER.set(err, after * 1000);
    return err;
  }
  return mark(FATAL, err);
}

/**
 * Runs `attempt` until it succeeds, a non-retryable error comes, or the retries are spent (they
 * count per piece, so a long download survives many brief cuts).
 */
async function withRetries<T>(ctx: Context, attempt: () => Promise<T>): Promise<T> {
  for (let failures = 1; ; failures++) {
    try {
      return await attempt();
    } catch (err) {
      const retryable = isWasmChordError(err, 'SOURCE_HTTP') && !FATAL.has(err) && !ctx.signal?.aborted;
      if (!retryable || failures > ctx.retries) throw err;
      const backoff = ctx.retryDelayMs * 2 ** (failures - 1) * (0.5 + Math.random() / 2);
      await sleep(Math.min(RETRY_AFTER.get(err) ?? backoff, MAX_RETRY_DELAY_MS), ctx.signal, ctx.url);
    }
  }
}

function sleep(ms: number, signal: AbortSignal | undefined, url: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const aborted = () => {
      clearTimeout(timer);
      reject(new WasmChordError('ABORTED', `the download of ${url} was aborted`, { cause: signal?.reason }));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', aborted);
      resolve();
    }, ms);
    if (signal?.aborted) aborted();
    else signal?.addEventListener('abort', aborted, { once: true });
  });
}

/** Bytes, rate over the last few seconds, and ETA, reported at most every 100 ms. */
class Meter {
  readonly #total: number | undefined;
  readonly #onProgress: ((p: DownloadProgress) => void) | undefined;
  readonly #base: number;
  #loaded: number;
  #samples: { t: number; loaded: number }[] = [];
  #lastReport = 0;

  constructor(total: number | undefined, loaded: number, onProgress: ((p: DownloadProgress) => void) | undefined) {
    this.#total = total;
    this.#base = loaded;
    this.#loaded = loaded;
    this.#onProgress = onProgress;
    this.#samples.push({ t: Date.now(), loaded });
  }

  add(n: number): void {
    this.#loaded += n;
    if (Date.now() - this.#lastReport >= PROGRESS_INTERVAL_MS) this.report(false);
  }

  /** A plain download starting over. */
  restart(): void {
    this.#loaded = this.#base;
    this.#samples = [{ t: Date.now(), loaded: this.#base }];
  }

  report(final: boolean): void {
    if (!this.#onProgress) return;
    const t = Date.now();
    this.#lastReport = t;
    this.#samples.push({ t, loaded: this.#loaded });
    while (this.#samples.length > 2 && t - this.#samples[1]!.t > 5000) this.#samples.shift();
    const first = this.#samples[0]!;
    const rate = t > first.t ? ((this.#loaded - first.loaded) * 1000) / (t - first.t) : 0;
    const left = this.#total === undefined ? undefined : this.#total - this.#loaded;
    const progress: DownloadProgress = {
      loadedBytes: this.#loaded,
      totalBytes: this.#total ?? 0,
      bytesPerSecond: rate,
      etaSeconds: final ? 0 : left !== undefined && rate > 0 ? left / rate : Infinity,
    };
    try {
      this.#onProgress(progress);
    } catch (err) {
      throw new WasmChordError('INVALID_ARGUMENT', `the download progress callback threw: ${(err as Error)?.message ?? String(err)}`, { cause: err });
    }
  }
}
