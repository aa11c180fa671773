/**
 * `wasm-chord serve`: an OpenAI-compatible HTTP server over one loaded model (Node, Deno and Bun
 * through node:http). Routes: POST /v1/chat/completions and /v1/completions (server-sent events
 * when `stream` is set), GET /v1/models and /health. Loopback unless told otherwise; a bearer
 * API key when given; bounded bodies, prompts and generations; up to `parallel` requests
 * generate at once in their own sessions, the rest wait; a client that disconnects aborts its
 * generation and frees its session. Errors use OpenAI's shape and status codes.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isWasmChordError, type ErrorCode } from '../errors.js';
import type { Model } from '../runtime/api.js';
import { checkNumber, checkString } from '../validate.js';
import { openaiApi, type OpenAIApi } from './openai-api.js';
import type { ErrorBody } from './openai-types.js';
import { SessionPool } from './session-pool.js';

export interface ServeOptions {
  /** Default 127.0.0.1: only this machine. */
  host?: string;
  /** Default 8080; 0 picks a free port. */
  port?: number;
  /** Require `Authorization: Bearer <apiKey>` on /v1 routes. */
  apiKey?: string;
  /** Requests generating at once, each in its own session (default 1). */
  parallel?: number;
  /** Largest request body in bytes (default 1 MiB). */
  maxBodyBytes?: number;
  /** Most tokens one request may generate (default 4096). */
  maxTokens?: number;
  /** Model id in replies and /v1/models (default: the model's name). */
  id?: string;
}

export interface WasmChordServer {
  readonly url: string;
  readonly port: number;
  readonly api: OpenAIApi;
  /** Requests generating now, and requests waiting for a session. */
  readonly load: { readonly busy: number; readonly queued: number };
  /** Stops accepting, aborts the requests in flight and frees the sessions (the model stays loaded). */
  close(): Promise<void>;
}

/** An error on its way to the client: HTTP status and OpenAI's body. */
class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type: string,
    readonly code: string | null = null,
  ) {
    super(message);
  }

  get body(): ErrorBody {
    return { error: { message: this.message, type: this.type, param: null, code: this.code } };
  }
}

/** Our error codes a client caused (400), and the rest (500). */
const CLIENT_ERRORS: readonly ErrorCode[] = ['INVALID_ARGUMENT', 'GRAMMAR_INVALID', 'SCHEMA_UNSUPPORTED', 'CHAT_TEMPLATE', 'TOKENIZER_INPUT', 'CONTEXT_FULL'];

function httpError(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  if (isWasmChordError(err)) {
    if (CLIENT_ERRORS.includes(err.code)) {
      return new HttpError(400, err.message, 'invalid_request_error', err.code === 'CONTEXT_FULL' ? 'context_length_exceeded' : err.code.toLowerCase());
    }
    if (err.code === 'DISPOSED') return new HttpError(503, err.message, 'server_error', 'unavailable');
    return new HttpError(500, err.message, 'server_error', err.code.toLowerCase());
  }
  return new HttpError(500, (err as Error)?.message ?? String(err), 'server_error');
}

export async function serve(model: Model, options: ServeOptions = {}): Promise<WasmChordServer> {
  const { createServer } = await import('node:http');
  const host = checkString('host', options.host) ?? '127.0.0.1';
  const port = options.port === undefined ? 8080 : checkNumber('port', options.port, { min: 0, max: 65535, integer: true });
  const apiKey = checkString('apiKey', options.apiKey);
  const parallel = options.parallel === undefined ? 1 : checkNumber('parallel', options.parallel, { min: 1, max: 64, integer: true });
  const maxBodyBytes = options.maxBodyBytes === undefined ? 1 << 20 : checkNumber('maxBodyBytes', options.maxBodyBytes, { min: 1, integer: true });
  const maxTokens = options.maxTokens === undefined ? 4096 : checkNumber('maxTokens', options.maxTokens, { min: 1, integer: true });
  const pool = new SessionPool(model, parallel);
  const api = openaiApi(model, { id: options.id, contexts: pool, limits: { maxTokens } });
  const inFlight = new Set<AbortController>();

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (path === '/health' && req.method === 'GET') return sendJson(res, 200, { status: 'ok' });
    if (apiKey !== undefined && path.startsWith('/v1/') && req.headers.authorization !== `Bearer ${apiKey}`) {
      throw new HttpError(401, 'Incorrect API key provided.', 'invalid_request_error', 'invalid_api_key');
    }
    if (path === '/v1/models' && req.method === 'GET') return sendJson(res, 200, api.models.list());
    const create = path === '/v1/chat/completions' ? api.chat.completions.create : path === '/v1/completions' ? api.completions.create : undefined;
    if (!create) throw new HttpError(404, `Unknown request URL: ${req.method} ${path}`, 'invalid_request_error', 'unknown_url');
    if (req.method !== 'POST') throw new HttpError(405, `${path} takes POST`, 'invalid_request_error', 'method_not_allowed');
    const body = await readJson(req, maxBodyBytes);
    // A client that goes away aborts its generation (and so frees its session).
    const abort = new AbortController();
    inFlight.add(abort);
    res.on('close', () => {
      if (!res.writableFinished) abort.abort();
    });
    try {
      const reply = await create(body, { signal: abort.signal });
      if (!(Symbol.asyncIterator in reply)) return sendJson(res, 200, reply);
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
      try {
        for await (const chunk of reply) res.write(`data: ${JSON.stringify(chunk)}\n\n`);
      } catch (err) {
        // Headers are gone: the error travels as an event, as OpenAI's streams carry them.
        if (!abort.signal.aborted) res.write(`data: ${JSON.stringify(httpError(err).body)}\n\n`);
      }
      res.end('data: [DONE]\n\n');
    } finally {
      inFlight.delete(abort);
    }
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      const e = httpError(err);
      // A body refused half-read leaves the rest in the socket: the connection cannot be reused.
      if (e.status === 413) res.setHeader('connection', 'close');
      if (!res.headersSent) sendJson(res, e.status, e.body);
      else res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address();
  const boundPort = typeof address === 'object' && address ? address.port : port;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${boundPort}`,
    port: boundPort,
    api,
    get load() {
      return { busy: pool.busy, queued: pool.queued };
    },
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const a of inFlight) a.abort();
      server.closeAllConnections();
      await closed;
      await pool.close();
    },
  };
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function readJson(req: IncomingMessage, maxBytes: number): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) throw new HttpError(413, `the request body exceeds ${maxBytes} bytes`, 'invalid_request_error', 'request_too_large');
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new HttpError(400, 'the request body is not valid JSON', 'invalid_request_error', 'invalid_json');
  }
}
