/**
 * A real HTTP server on loopback for tests: serves files from a folder, honours single-range
 * `Range` requests (unless told not to), and counts requests and body bytes sent. Options are
 * read at each request, so a test may change them while the server runs.
 */
import { createReadStream, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, normalize } from 'node:path';

export interface ServerOptions {
  /** Answer 200 with the whole file even when a Range is asked for (like python -m http.server). */
  ignoreRange?: boolean;
  /** Close the connection after this many body bytes (a broken download). */
  cutAfterBytes?: number;
  /** Close every connection once this many body bytes were sent in all (the network going down). */
  cutAfterTotalBytes?: number;
  /** An ETag header on every file response. */
  etag?: string;
  /** Answer this many requests with 503 (Retry-After: 0) before serving normally. */
  failFirst?: number;
  /** JSON answers for the paths it knows (path with its query string), e.g. a fake Hub's API. */
  api?: (pathAndQuery: string) => { json: unknown; status?: number; headers?: Record<string, string> } | undefined;
  /** Maps a request path to the file path to serve (e.g. a fake Hub's resolve URLs). */
  rewrite?: (path: string) => string;
}

export interface RequestLog {
  method: string;
  path: string;
  range: string | undefined;
  status: number;
  bytes: number;
}

export interface TestServer {
  readonly url: string;
  readonly log: RequestLog[];
  bytesSent(): number;
  close(): Promise<void>;
}

export async function serveFolder(root: string, options: ServerOptions = {}): Promise<TestServer> {
  const log: RequestLog[] = [];
  let failures = 0;
  let total = 0;
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const path = decodeURIComponent(url.pathname);
    const entry: RequestLog = { method: req.method ?? 'GET', path, range: req.headers.range, status: 0, bytes: 0 };
    log.push(entry);
    if (failures < (options.failFirst ?? 0)) {
      failures++;
      entry.status = 503;
      res.writeHead(503, { 'Retry-After': '0' }).end();
      return;
    }
    const answer = options.api?.(url.pathname + url.search);
    if (answer !== undefined) {
      entry.status = answer.status ?? 200;
      res.writeHead(entry.status, { 'Content-Type': 'application/json', ...answer.headers }).end(JSON.stringify(answer.json));
      return;
    }
    const file = join(root, normalize(options.rewrite ? options.rewrite(path) : path));
    let size: number;
    try {
      const st = statSync(file);
      if (!st.isFile()) throw new Error('not a file');
      size = st.size;
    } catch {
      entry.status = 404;
      res.writeHead(404).end();
      return;
    }
    let start = 0;
    let end = size - 1;
    const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    if (m && !options.ignoreRange) {
      start = Number(m[1]);
      end = m[2] ? Math.min(Number(m[2]), size - 1) : size - 1;
      if (start >= size) {
        entry.status = 416;
        res.writeHead(416, { 'Content-Range': `bytes */${size}` }).end();
        return;
      }
      entry.status = 206;
      res.writeHead(206, {
        'Content-Range': `bytes ${start}-${end}/${size}`,
        'Content-Length': end - start + 1,
        'Accept-Ranges': 'bytes',
        ...(options.etag ? { ETag: options.etag } : {}),
      });
    } else {
      entry.status = 200;
      res.writeHead(200, { 'Content-Length': size, ...(options.etag ? { ETag: options.etag } : {}) });
    }
    const stream = createReadStream(file, { start, end });
    stream.on('data', (chunk) => {
      entry.bytes += chunk.length;
      total += chunk.length;
      if (
        (options.cutAfterBytes !== undefined && entry.bytes >= options.cutAfterBytes) ||
        (options.cutAfterTotalBytes !== undefined && total >= options.cutAfterTotalBytes)
      ) {
        stream.destroy();
        res.destroy();
      }
    });
    stream.pipe(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    log,
    bytesSent: () => log.reduce((n, e) => n + e.bytes, 0),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
