#!/usr/bin/env node
// The web demo's static server: serves the page (examples/web-demo/) and the browser build
// (dist/web/) from this package, and the demo model that ships with it (assets/demo.gguf) at
// /demo.gguf, so the page works offline. It sends the COOP/COEP headers that make the page
// cross-origin isolated (SharedArrayBuffer, so the CPU backend gets its worker threads) and
// answers Range requests (resumable, parallel downloads).
//
//   npm run build && npm run web-demo [-- --port N]      (or PORT=N; default 8080)
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import { extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = fileURLToPath(new URL('../..', import.meta.url));
/** URL prefixes served, and the folders they come from. */
const FOLDERS = { '/examples/web-demo/': join(root, 'examples/web-demo'), '/dist/web/': join(root, 'dist/web') };
const DEMO_MODEL = join(root, 'assets/demo.gguf');
const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.mjs': 'text/javascript', '.css': 'text/css', '.wasm': 'application/wasm', '.map': 'application/json', '.json': 'application/json', '.png': 'image/png' };

/**
 * Starts the server. `mounts`: more URL prefixes -> folders (the tests serve models this way);
 * `isolated: false` leaves out COOP/COEP (a page as most hosting serves it). Resolves to its URL
 * and a close function.
 */
export async function startWebDemo({ port = 8080, hostname = '127.0.0.1', mounts = {}, isolated = true } = {}) {
  const folders = { ...FOLDERS, ...mounts };
  const server = createServer((req, res) => {
    if (isolated) {
      res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
      res.setHeader('Cross-Origin-Embedder-Policy', 'require-corp');
      res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
    }
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    if (path === '/') {
      res.writeHead(302, { Location: '/examples/web-demo/' }).end();
      return;
    }
    const prefix = Object.keys(folders).find((p) => path.startsWith(p));
    if (!prefix && path !== '/demo.gguf') return void res.writeHead(404).end('not found');
    const file = prefix ? normalize(join(folders[prefix], path.slice(prefix.length) || 'index.html')) : DEMO_MODEL;
    if (prefix && !file.startsWith(normalize(folders[prefix]) + sep) && file !== normalize(folders[prefix])) return void res.writeHead(403).end();
    stat(file).then(
      (st) => {
        if (st.isDirectory()) return void res.writeHead(302, { Location: `${path.replace(/\/?$/, '/')}` }).end();
        res.setHeader('Content-Type', TYPES[extname(file)] ?? 'application/octet-stream');
        res.setHeader('Cache-Control', 'no-cache');
        const etag = `"${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`;
        sendBytes(req, res, st.size, (start, end) => createReadStream(file, { start, end }).pipe(res), etag);
      },
      () => res.writeHead(404).end('not found'),
    );
  });
  await new Promise((resolve, reject) => server.once('error', reject).listen(port, hostname, resolve));
  const url = `http://${hostname}:${server.address().port}`;
  return { url, server, close: () => new Promise((resolve) => server.close(resolve)) };
}

/** Answers the whole body, or the single byte range asked for. */
function sendBytes(req, res, size, send, etag) {
  res.setHeader('Accept-Ranges', 'bytes');
  res.setHeader('ETag', etag);
  const range = /^bytes=(\d*)-(\d*)$/.exec(req.headers.range ?? '');
  if (!range || (range[1] === '' && range[2] === '')) {
    res.writeHead(200, { 'Content-Length': size });
    return req.method === 'HEAD' ? res.end() : send(0, size - 1);
  }
  const start = range[1] === '' ? Math.max(0, size - Number(range[2])) : Number(range[1]);
  const end = range[1] === '' || range[2] === '' ? size - 1 : Math.min(Number(range[2]), size - 1);
  if (start > end || start >= size) return void res.writeHead(416, { 'Content-Range': `bytes */${size}` }).end();
  res.writeHead(206, { 'Content-Length': end - start + 1, 'Content-Range': `bytes ${start}-${end}/${size}` });
  return req.method === 'HEAD' ? res.end() : send(start, end);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { values } = parseArgs({ options: { port: { type: 'string' }, host: { type: 'string', default: '127.0.0.1' } } });
  const port = Number(values.port ?? process.env.PORT ?? 8080);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`web-demo: --port must be a port number (got ${values.port ?? process.env.PORT})`);
    process.exit(2);
  }
  const { url } = await startWebDemo({ port, hostname: values.host });
  console.log(`wasm-chord web demo: ${url}/examples/web-demo/  (Ctrl-C stops it)`);
}
