/**
 * A real HTTP server on loopback for tests: serves files from a folder, honours single-range
 * `Range` requests (unless told not to), and counts requests and body bytes sent.
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
}

export interface RequestLog {
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
  const server: Server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const file = join(root, normalize(path));
    const entry: RequestLog = { path, range: req.headers.range, status: 0, bytes: 0 };
    log.push(entry);
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
      });
    } else {
      entry.status = 200;
      res.writeHead(200, { 'Content-Length': size });
    }
    const stream = createReadStream(file, { start, end });
    stream.on('data', (chunk) => {
      entry.bytes += chunk.length;
      if (options.cutAfterBytes !== undefined && entry.bytes >= options.cutAfterBytes) {
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
