/**
 * An HTTP(S) resource read with Range requests, through the host's fetch.
 * Opening it costs one request, which also fetches the first bytes (where the GGUF header
 * starts); after that each read is exactly one request for exactly the bytes asked for.
 */
import { WasmChordError } from '../errors.js';
import { checkRange, throwIfAborted, type ByteSource } from './byte-source.js';

export interface HttpSourceOptions {
  /**
   * Extra request headers (authorization, for instance). They go only to the URL's own origin:
   * a redirect to another origin is followed without them, as a browser drops credentials.
   */
  headers?: Record<string, string>;
  /**
   * How long the server may keep a request waiting, for its response or between two pieces of
   * its body, before the request fails with SOURCE_HTTP. Default 30000 ms.
   */
  timeoutMs?: number;
  /** The fetch to use; defaults to globalThis.fetch. */
  fetch?: typeof fetch;
  signal?: AbortSignal;
  /** Bytes fetched by the opening request and kept for header parsing. Default 64 KiB. */
  prefixBytes?: number;
}

const CONTENT_RANGE = /^bytes (?:(\d+)-(\d+)|\*)\/(\d+|\*)$/;

export interface ParsedContentRange {
  start?: number;
  end?: number;
  total?: number;
}

export function parseContentRange(value: string | null): ParsedContentRange | undefined {
  const m = value === null ? null : CONTENT_RANGE.exec(value.trim());
  if (!m) return undefined;
  const num = (s: string | undefined) => (s === undefined || s === '*' ? undefined : Number(s));
  return { start: num(m[1]), end: num(m[2]), total: num(m[3]) };
}

export class HttpSource implements ByteSource {
  readonly name: string;
  readonly size: number;
  readonly #url: string;
  readonly #fetch: typeof fetch;
  readonly #headers: Record<string, string>;
  readonly #timeoutMs: number;
  readonly #prefix: Uint8Array;
  #closed = false;

  private constructor(url: string, size: number, prefix: Uint8Array, fetchFn: typeof fetch, headers: Record<string, string>, timeoutMs: number) {
    this.#url = url;
    this.name = url;
    this.size = size;
    this.#prefix = prefix;
    this.#fetch = fetchFn;
    this.#headers = headers;
    this.#timeoutMs = timeoutMs;
  }

  static async open(url: string, options: HttpSourceOptions = {}): Promise<HttpSource> {
    const fetchFn = options.fetch ?? globalThis.fetch;
    if (typeof fetchFn !== 'function') {
      throw new WasmChordError('INVALID_ARGUMENT', 'this JavaScript runtime has no fetch; pass options.fetch');
    }
    const headers = checkHeaders(options.headers);
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    if (typeof timeoutMs !== 'number' || !(timeoutMs > 0)) {
      throw new WasmChordError('INVALID_ARGUMENT', `option requestTimeoutMs must be a positive number of milliseconds (got ${String(timeoutMs)})`);
    }
    const want = options.prefixBytes ?? 64 * 1024;
    const r = await request(fetchFn, url, headers, [0, want - 1], options.signal, timeoutMs);
    try {
      const res = r.response;
      if (res.status === 416) {
        const range = parseContentRange(res.headers.get('content-range'));
        if (range?.total === 0) return new HttpSource(url, 0, new Uint8Array(0), fetchFn, headers, timeoutMs);
        throw new WasmChordError('SOURCE_HTTP', `${url}: the server refused the first byte range (HTTP 416)`);
      }
      if (res.status !== 206) throw statusError(url, res);
      const range = parseContentRange(res.headers.get('content-range'));
      if (
        range?.start !== 0 ||
        range.end === undefined ||
        range.total === undefined ||
        !Number.isSafeInteger(range.total) ||
        range.end >= Math.min(want, range.total)
      ) {
        throw new WasmChordError('SOURCE_HTTP', `${url}: unusable Content-Range "${res.headers.get('content-range')}" for bytes 0-${want - 1}`);
      }
      const prefix = new Uint8Array(range.end + 1);
      await readBody(r, prefix, url, options.signal);
      return new HttpSource(url, range.total, prefix, fetchFn, headers, timeoutMs);
    } finally {
      await r.done();
    }
  }

  async readInto(offset: number, target: Uint8Array, signal?: AbortSignal): Promise<void> {
    throwIfAborted(signal);
    checkRange(this, offset, target.length);
    if (this.#closed) throw new WasmChordError('SOURCE_HTTP', `${this.name} is closed`);
    if (target.length === 0) return;
    if (offset + target.length <= this.#prefix.length) {
      target.set(this.#prefix.subarray(offset, offset + target.length));
      return;
    }
    const last = offset + target.length - 1;
    const r = await request(this.#fetch, this.#url, this.#headers, [offset, last], signal, this.#timeoutMs);
    try {
      const res = r.response;
      const wholeFile = res.status === 200 && offset === 0 && target.length === this.size;
      if (res.status !== 206 && !wholeFile) throw statusError(this.#url, res);
      if (!wholeFile) {
        const range = parseContentRange(res.headers.get('content-range'));
        if (range?.start !== offset || range.end !== last) {
          throw new WasmChordError(
            'SOURCE_HTTP',
            `${this.#url}: asked for bytes ${offset}-${last}, got "${res.headers.get('content-range')}"`,
          );
        }
      }
      await readBody(r, target, this.#url, signal);
    } finally {
      await r.done();
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
  }
}

export const DEFAULT_TIMEOUT_MS = 30_000;
const MAX_REDIRECTS = 20;

/** Extra headers as given by the caller: an object of strings (names Range may not be set). */
export function checkHeaders(headers: unknown): Record<string, string> {
  if (headers === undefined) return {};
  if (typeof headers !== 'object' || headers === null || Array.isArray(headers)) {
    throw new WasmChordError('INVALID_ARGUMENT', 'option headers must be an object of header names to string values');
  }
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const [name, value] of Object.entries(headers)) {
    if (typeof value !== 'string') throw new WasmChordError('INVALID_ARGUMENT', `header ${name} must be a string (got ${typeof value})`);
    if (name.toLowerCase() === 'range') throw new WasmChordError('INVALID_ARGUMENT', 'the Range header is wasm-chord\'s own; do not set it');
    out[name] = value;
  }
  return out;
}

/**
 * One request in flight: its response, and a watchdog that fails it when the server stays
 * silent for `timeoutMs` (no response yet, or no body bytes since the last piece).
 */
export interface Pending {
  readonly response: Response;
  /** The server sent something: restart the watchdog. */
  touch(): void;
  /** Whether the watchdog fired. */
  timedOut(): boolean;
  /** Stops the watchdog and releases the response body. */
  done(): Promise<void>;
}

/**
 * GETs `url`, bytes [first, last] of it when `range` is given. Redirects are followed here, not by fetch, when the caller
 * set headers: they go along only while the redirect stays on the URL's origin (a browser's
 * fetch would forward custom headers to any origin that allows them).
 */
export async function request(
  fetchFn: typeof fetch,
  url: string,
  headers: Record<string, string>,
  range: readonly [first: number, last: number] | undefined,
  signal: AbortSignal | undefined,
  timeoutMs: number,
): Promise<Pending> {
  throwIfAborted(signal);
  const controller = new AbortController();
  let timedOut = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const touch = () => {
    if (timer !== undefined) clearTimeout(timer);
    timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, timeoutMs);
    (timer as { unref?: () => void }).unref?.();
  };
  const onAbort = () => controller.abort();
  signal?.addEventListener('abort', onAbort, { once: true });
  let response: Response | undefined;
  const stop = () => {
    if (timer !== undefined) clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  };
  const fail = (err: unknown, target: string): WasmChordError => {
    stop();
    if (err instanceof WasmChordError) return err;
    if (signal?.aborted) return new WasmChordError('ABORTED', `request to ${target} was aborted`, { cause: err });
    if (timedOut) return new WasmChordError('SOURCE_HTTP', `${target}: no answer from the server within ${timeoutMs} ms`, { cause: err });
    return new WasmChordError('SOURCE_HTTP', `request to ${target} failed: ${(err as Error)?.message ?? String(err)}`, { cause: err });
  };
  const custom = Object.keys(headers).length > 0;
  const origin = originOf(url);
  let target = url;
  touch();
  try {
    for (let hop = 0; ; hop++) {
      const sameOrigin = originOf(target) === origin;
      response = await fetchFn(target, {
        headers: { ...(sameOrigin ? headers : {}), ...(range ? { Range: `bytes=${range[0]}-${range[1]}` } : {}) },
        signal: controller.signal,
        redirect: custom ? 'manual' : 'follow',
      });
      if (!custom) break;
      if (response.type === 'opaqueredirect') {
        throw new WasmChordError(
          'SOURCE_HTTP',
          `${url} redirects, and this runtime hides where to; with custom headers, pass the final URL of the model instead`,
        );
      }
      const location = response.status >= 300 && response.status < 400 ? response.headers.get('location') : null;
      if (location === null) break;
      await response.body?.cancel().catch(() => {});
      if (hop >= MAX_REDIRECTS) throw new WasmChordError('SOURCE_HTTP', `${url}: more than ${MAX_REDIRECTS} redirects`);
      const next = new URL(location, target);
      if (next.protocol !== 'http:' && next.protocol !== 'https:') {
        throw new WasmChordError('SOURCE_HTTP', `${url} redirects to an unsupported URL scheme (${next.protocol})`);
      }
      target = next.href;
    }
  } catch (err) {
    await response?.body?.cancel().catch(() => {});
    throw fail(err, target);
  }
  touch();
  const res = response;
  return {
    response: res,
    touch,
    timedOut: () => timedOut,
    done: async () => {
      stop();
      if (res.body && !res.bodyUsed) await res.body.cancel().catch(() => {});
    },
  };
}

function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return url;
  }
}

export function statusError(url: string, res: Response): WasmChordError {
  if (res.status === 200) {
    return new WasmChordError(
      'SOURCE_RANGE_UNSUPPORTED',
      `${url}: the server ignores HTTP Range requests (answered 200, not 206); serve the model from a server that supports byte ranges`,
    );
  }
  return new WasmChordError('SOURCE_HTTP', `${url}: HTTP ${res.status} ${res.statusText}`.trimEnd());
}

/** Streams a response body into `target`, which it must fill exactly. */
async function readBody(pending: Pending, target: Uint8Array, url: string, signal: AbortSignal | undefined): Promise<void> {
  let filled = 0;
  await streamBody(pending, url, signal, (value) => {
    if (filled + value.length > target.length) {
      throw new WasmChordError('SOURCE_HTTP', `${url}: the server sent more bytes than the range asked for`);
    }
    target.set(value, filled);
    filled += value.length;
  });
  if (filled !== target.length) {
    throw new WasmChordError('SOURCE_HTTP', `${url}: response ended after ${filled} of ${target.length} bytes`);
  }
}

/**
 * Hands each piece of a response body to `onPiece` (awaited) as it arrives; failures become
 * typed errors (ABORTED, SOURCE_HTTP for a timeout or a cut transfer).
 */
export async function streamBody(
  pending: Pending,
  url: string,
  signal: AbortSignal | undefined,
  onPiece: (bytes: Uint8Array) => void | Promise<void>,
): Promise<void> {
  const res = pending.response;
  if (!res.body) throw new WasmChordError('SOURCE_HTTP', `${url}: response has no body`);
  const reader = res.body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      pending.touch();
      await onPiece(value);
    }
  } catch (err) {
    await reader.cancel().catch(() => {});
    if (err instanceof WasmChordError) throw err;
    if (signal?.aborted) throw new WasmChordError('ABORTED', `download from ${url} was aborted`, { cause: err });
    if (pending.timedOut()) throw new WasmChordError('SOURCE_HTTP', `${url}: the server stopped sending for more than the timeout`, { cause: err });
    throw new WasmChordError('SOURCE_HTTP', `${url}: transfer failed: ${(err as Error)?.message ?? String(err)}`, { cause: err });
  } finally {
    reader.releaseLock();
  }
}
