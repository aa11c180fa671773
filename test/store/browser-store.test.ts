// The browser store's logic (pieces, resume, commit, integrity, quota) run in Node over a
// Map-backed stand-in for the Cache API; the real OPFS and Cache API are exercised by the
// headless-browser tests.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { isWasmChordError } from '../../src/errors.js';
import { readBytes } from '../../src/gguf/byte-source.js';
import { downloadToStore } from '../../src/runtime/download.js';
import { openBrowserStore } from '../../src/runtime/store/browser-store.js';
import { serveFolder, type ServerOptions, type TestServer } from '../helpers/http-server.js';
import { SHARED } from '../helpers/shared.js';

const FILE = 'stories260K.gguf';
const BYTES = new Uint8Array(readFileSync(join(SHARED, 'models', FILE)));
const PIECE = 128 << 10;

/** Cache API stand-in: whole responses by URL; `room` bytes in all, then QuotaExceededError. */
class FakeCache {
  readonly map = new Map<string, Uint8Array>();
  constructor(readonly quota: { room: number }) {}
  async match(url: string): Promise<Response | undefined> {
    const b = this.map.get(url);
    return b && new Response(b.slice());
  }
  async put(url: string, res: Response): Promise<void> {
    const b = new Uint8Array(await res.arrayBuffer());
    const used = [...this.map.values()].reduce((n, v) => n + v.length, 0) - (this.map.get(url)?.length ?? 0);
    if (used + b.length > this.quota.room) throw new DOMException('quota', 'QuotaExceededError');
    this.map.set(url, b);
  }
  async delete(url: string): Promise<boolean> {
    return this.map.delete(url);
  }
  async keys(): Promise<Request[]> {
    return [...this.map.keys()].map((u) => new Request(u));
  }
}

const quota = { room: Infinity };
const caches = new Map<string, FakeCache>();
let server: TestServer;
const options: ServerOptions = {};
before(async () => {
  (globalThis as { caches?: unknown }).caches = { open: async (name: string) => caches.get(name) ?? caches.set(name, new FakeCache(quota)).get(name) };
  server = await serveFolder(join(SHARED, 'models'), options);
});
after(async () => {
  delete (globalThis as { caches?: unknown }).caches;
  await server.close();
});
afterEach(() => {
  quota.room = Infinity;
  options.cutAfterTotalBytes = undefined;
});

let n = 0;
async function setup() {
  const name = `t${n++}`;
  const store = await openBrowserStore({ dir: name });
  const url = `${server.url}/${FILE}`;
  const pull = (extra = {}) => downloadToStore(store, url, url, { pieceBytes: PIECE, retryDelayMs: 1, ...extra });
  return { store, url, pull, cache: () => caches.get(name)! };
}

describe('browser store (Cache API)', () => {
  test('a download is stored in pieces, listed, opened as one Blob and deleted', async () => {
    const { store, url, pull, cache } = await setup();
    assert.equal(store.kind, 'cache-api');
    const entry = await pull();
    assert.equal(entry.bytes, BYTES.length);
    assert.match(entry.path, /^cache-api:t\d+\/v1\//);
    assert.deepEqual(await store.list(), [entry]);
    const source = await store.open(url);
    assert.deepEqual(await readBytes(source, 0, source.size), BYTES);
    assert.equal(await store.delete(url), true);
    assert.deepEqual(await store.list(), []);
    assert.equal(cache().map.size, 0);
  });

  test('an interrupted download resumes from its stored pieces', async () => {
    const { store, url, pull } = await setup();
    options.cutAfterTotalBytes = server.bytesSent() + 600_000;
    await assert.rejects(pull({ connections: 2, retries: 0 }), (e) => isWasmChordError(e, 'SOURCE_HTTP'));
    assert.deepEqual(await store.list(), []);
    options.cutAfterTotalBytes = undefined;
    const before = server.bytesSent();
    await pull();
    assert.ok(server.bytesSent() - before < BYTES.length - 3 * PIECE);
    const source = await store.open(url);
    assert.deepEqual(await readBytes(source, 0, source.size), BYTES);
  });

  test('a wrong sha256 commits nothing and leaves nothing', async () => {
    const { store, pull, cache } = await setup();
    await assert.rejects(pull({ sha256: 'd'.repeat(64) }), (e) => isWasmChordError(e, 'INTEGRITY'));
    assert.deepEqual(await store.list(), []);
    assert.equal(cache().map.size, 0);
  });

  test('a QuotaExceededError while storing is QUOTA_EXCEEDED, and the partial is removed', async () => {
    const { store, pull, cache } = await setup();
    quota.room = 500_000;
    await assert.rejects(pull(), (e) => isWasmChordError(e, 'QUOTA_EXCEEDED'));
    assert.deepEqual(await store.list(), []);
    assert.equal(cache().map.size, 0);
  });

  test('store names are checked', async () => {
    await assert.rejects(openBrowserStore({ dir: '../x' }), (e) => isWasmChordError(e, 'INVALID_ARGUMENT'));
  });
});
