/**
 * An HTTP(S) resource read with Range requests, through the host's fetch.
 * Opening it costs one request, which also fetches the first bytes (where the GGUF header
 * starts); after that each read is exactly one request for exactly the bytes asked for.
 */
import { WasmChordError } from '../errors.js';
import { checkRange, throwIfAborted, type ByteSource } from './byte-source.js';

export interface HttpSourceOptions {
  /** Extra request headers (authorization, for instance). */
  headers?: Record<string, string>;
  /** The fetch to use; defaults to globalThis.fetch. */
  fetch?: typeof fetch;
  signal?: AbortSignal;
  /** Bytes fetched by the opening request and kept for header parsing. Default 64 KiB. */
  prefixBytes?: number;
}

const CONTENT_RANGE = /^bytes (?:(\d+)-(\d+)|\*)\/(\d+|\*)$/;

interface ParsedContentRange {
  start?: number;
  end?: number;
  total?: number;
}

function parseContentRange(value: string | null): ParsedContentRange | undefined {
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
  readonly #prefix: Uint8Array;
  #closed = false;

  private constructor(url: string, size: number, prefix: Uint8Array, fetchFn: typeof fetch, headers: Record<string, string>) {
    this.#url = url;
    this.name = url;
    this.size = size;
    this.#prefix = prefix;
    this.#fetch = fetchFn;
    this.#headers = headers;
  }

  static async open(url: string, options: HttpSourceOptions = {}): Promise<HttpSource> {
    const fetchFn = options.fetch ?? globalThis.fetch;
    if (typeof fetchFn !== 'function') {
      throw new WasmChordError('INVALID_ARGUMENT', 'this JavaScript runtime has no fetch; pass options.fetch');
    }
    const headers = { ...options.headers };
    const want = options.prefixBytes ?? 64 * 1024;
    const res = await request(fetchFn, url, headers, 0, want - 1, options.signal);
    if (res.status === 416) {
      const range = parseContentRange(res.headers.get('content-range'));
      await res.body?.cancel();
      if (range?.total === 0) return new HttpSource(url, 0, new Uint8Array(0), fetchFn, headers);
      throw new WasmChordError('SOURCE_HTTP', `${url}: the server refused the first byte range (HTTP 416)`);
    }
    if (res.status !== 206) {
      await res.body?.cancel();
      throw statusError(url, res);
    }
    const range = parseContentRange(res.headers.get('content-range'));
    if (range?.start !== 0 || range.end === undefined || range.total === undefined) {
      await res.body?.cancel();
      throw new WasmChordError('SOURCE_HTTP', `${url}: unusable Content-Range "${res.headers.get('content-range')}"`);
    }
    const prefix = new Uint8Array(range.end + 1);
    await readBody(res, prefix, url, options.signal);
    return new HttpSource(url, range.total, prefix, fetchFn, headers);
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
    const res = await request(this.#fetch, this.#url, this.#headers, offset, last, signal);
    const wholeFile = res.status === 200 && offset === 0 && target.length === this.size;
    if (res.status !== 206 && !wholeFile) {
      await res.body?.cancel();
      throw statusError(this.#url, res);
    }
    if (!wholeFile) {
      const range = parseContentRange(res.headers.get('content-range'));
      if (range?.start !== offset || range.end !== last) {
        await res.body?.cancel();
        throw new WasmChordError(
          'SOURCE_HTTP',
          `${this.#url}: asked for bytes ${offset}-${last}, got "${res.headers.get('content-range')}"`,
        );
      }
    }
    await readBody(res, target, this.#url, signal);
  }

  async close(): Promise<void> {
    this.#closed = true;
  }
}

async function request(
  fetchFn: typeof fetch,
  url: string,
  headers: Record<string, string>,
  first: number,
  last: number,
  signal: AbortSignal | undefined,
): Promise<Response> {
  try {
    return await fetchFn(url, {
      headers: { ...headers, Range: `bytes=${first}-${last}` },
      signal,
    });
  } catch (err) {
    if (signal?.aborted) throw new WasmChordError('ABORTED', `request to ${url} was aborted`, { cause: err });
    throw new WasmChordError('SOURCE_HTTP', `request to ${url} failed: ${(err as Error).message}`, { cause: err });
  }
}

function statusError(url: string, res: Response): WasmChordError {
  if (res.status === 200) {
    return new WasmChordError(
      'SOURCE_RANGE_UNSUPPORTED',
      `${url}: the server ignores HTTP Range requests (answered 200, not 206); serve the model from a server that supports byte ranges`,
    );
  }
  return new WasmChordError('SOURCE_HTTP', `${url}: HTTP ${res.status} ${res.statusText}`.trimEnd());
}

/** Streams a response body into `target`, which it must fill exactly. */
async function readBody(res: Response, target: Uint8Array, url: string, signal: AbortSignal | undefined): Promise<void> {
  if (!res.body) throw new WasmChordError('SOURCE_HTTP', `${url}: response has no body`);
  const reader = res.body.getReader();
  let filled = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (filled + value.length > target.length) {
        throw new WasmChordError('SOURCE_HTTP', `${url}: the server sent more bytes than the range asked for`);
      }
      target.set(value, filled);
      filled += value.length;
    }
  } catch (err) {
    await reader.cancel().catch(() => {});
    if (err instanceof WasmChordError) throw err;
    if (signal?.aborted) throw new WasmChordError('ABORTED', `download from ${url} was aborted`, { cause: err });
    throw new WasmChordError('SOURCE_HTTP', `${url}: transfer failed: ${(err as Error).message}`, { cause: err });
  }
  if (filled !== target.length) {
    throw new WasmChordError('SOURCE_HTTP', `${url}: response ended after ${filled} of ${target.length} bytes`);
  }
}
