// Hostile or broken HTTP servers: a server that never answers (or stops half-way) fails the
// request after a timeout instead of hanging forever; custom headers (API keys) never follow a
// redirect to another origin; absurd Content-Range values are typed errors.
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { HttpSource } from '../../src/gguf/http-source.js';
import { WasmChord } from '../../src/index.js';
import { buildTinyModel } from '../helpers/tiny-model.js';
import { bounded, refuses } from './bounds.js';

interface Loopback {
  url: string;
  seen: IncomingHttpHeaders[];
  close(): Promise<void>;
}

async function serve(handler: RequestListener): Promise<Loopback> {
  const seen: IncomingHttpHeaders[] = [];
  const server: Server = createServer((req, res) => {
    seen.push(req.headers);
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Serves `bytes` with single-range support. */
function rangeServer(bytes: Uint8Array): RequestListener {
  return (req, res) => {
    const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
    if (!m) {
      res.writeHead(200, { 'Content-Length': bytes.length }).end(bytes);
      return;
    }
    const start = Number(m[1]);
    const end = Math.min(Number(m[2]), bytes.length - 1);
    res.writeHead(206, { 'Content-Range': `bytes ${start}-${end}/${bytes.length}`, 'Content-Length': end - start + 1 });
    res.end(bytes.subarray(start, end + 1));
  };
}

let model: Uint8Array;
let runtime: WasmChord;
before(async () => {
  model = await buildTinyModel();
  runtime = await WasmChord.init({ backend: 'reference' });
});
after(() => runtime.dispose());

describe('a server that never answers', () => {
  test('no response at all: SOURCE_HTTP after the timeout (default 30 s; 300 ms here)', async () => {
    const silent = await serve(() => {});
    try {
      await refuses('silent', () => runtime.loadModel(`${silent.url}/m.gguf`, { requestTimeoutMs: 300 }), 'SOURCE_HTTP', /no answer from the server within 300 ms/);
    } finally {
      await silent.close();
    }
  });

  test('headers, then a body that stops half-way: SOURCE_HTTP after the idle timeout', async () => {
    const stalling = await serve((_req, res) => {
      res.writeHead(206, { 'Content-Range': `bytes 0-65535/${model.length}`, 'Content-Length': 65536 });
      res.write(model.subarray(0, 1000)); // ...and nothing more
    });
    try {
      // cache: false reads ranges directly (the download into the store has its own test in test/store).
      await refuses('stalling', () => runtime.loadModel(`${stalling.url}/m.gguf`, { requestTimeoutMs: 300, cache: false }), 'SOURCE_HTTP', /stopped sending/);
    } finally {
      await stalling.close();
    }
  });

  test('a bad timeout option is refused', async () => {
    await refuses('timeout -1', () => runtime.loadModel('http://127.0.0.1:9/m.gguf', { requestTimeoutMs: -1 }), 'INVALID_ARGUMENT', /requestTimeoutMs/);
  });
});

describe('redirects and custom headers', () => {
  test('a cross-origin redirect is followed without the custom headers', async () => {
    const cdn = await serve(rangeServer(model));
    const origin = await serve((_req, res) => res.writeHead(302, { Location: `${cdn.url}/signed/m.gguf` }).end());
    try {
      const m = await runtime.loadModel(`${origin.url}/m.gguf`, { headers: { 'X-Api-Key': 'secret', Authorization: 'Bearer secret' } });
      assert.equal(m.info.architecture, 'llama');
      await m.dispose();
      assert.ok(origin.seen.every((h) => h['x-api-key'] === 'secret'), 'the origin gets the key');
      assert.ok(cdn.seen.length > 0);
      for (const h of cdn.seen) {
        assert.equal(h['x-api-key'], undefined, 'the key leaked to another origin');
        assert.equal(h.authorization, undefined, 'credentials leaked to another origin');
        assert.match(String(h.range), /^bytes=\d+-\d+$/);
      }
    } finally {
      await origin.close();
      await cdn.close();
    }
  });

  test('a same-origin redirect keeps them', async () => {
    const files = rangeServer(model);
    const server = await serve((req, res) => (req.url === '/m.gguf' ? res.writeHead(301, { Location: '/real/m.gguf' }).end() : files(req, res)));
    try {
      const m = await runtime.loadModel(`${server.url}/m.gguf`, { headers: { 'X-Api-Key': 'secret' } });
      await m.dispose();
      assert.ok(server.seen.length >= 2);
      assert.ok(server.seen.every((h) => h['x-api-key'] === 'secret'));
    } finally {
      await server.close();
    }
  });

  test('a redirect loop ends', async () => {
    const loop = await serve((_req, res) => res.writeHead(302, { Location: '/again' }).end());
    try {
      await refuses('loop', () => runtime.loadModel(`${loop.url}/m.gguf`, { headers: { 'X-Api-Key': 'k' } }), 'SOURCE_HTTP', /redirects/);
    } finally {
      await loop.close();
    }
  });
});

describe('absurd answers are typed errors', () => {
  test('a Content-Range far larger than asked for (it used to size a buffer)', async () => {
    const liar = await serve((_req, res) => res.writeHead(206, { 'Content-Range': `bytes 0-99999999999/999999999999` }).end('GGUF'));
    try {
      const { error } = await bounded('liar', () => HttpSource.open(`${liar.url}/m.gguf`));
      assert.match(String((error as Error).message), /unusable Content-Range/);
    } finally {
      await liar.close();
    }
  });
});
