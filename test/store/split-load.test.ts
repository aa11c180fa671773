// Split sets over the network: a URL of a shard finds its siblings on the server (range reads,
// or one store entry per shard), and Hugging Face ids (hf://…-00001-of-00003.gguf and
// owner/repo:QUANT) download every shard once; later loads make no request at all.
import assert from 'node:assert/strict';
import { unlinkSync } from 'node:fs';
import { basename, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { isWasmChordError, ModelCache } from '../../src/index.js';
import { serveFolder, type TestServer } from '../helpers/http-server.js';
import { SHARED } from '../helpers/shared.js';
import { splitBytes, writeShards } from '../helpers/split-set.js';
import { fakeHub } from './fake-hub.js';
import { useStoreRuntime } from './store-runtime.js';

const MODEL = 'TinyStories-656K-Q8_0.gguf';
const store = useStoreRuntime('wasm-chord-split-load-', 32);
const infer = (source: string, options: object) => store.infer(source, options);

let dir: string;
let names: string[];
let expected: string;
before(async () => {
  dir = store.dir;
  names = writeShards(dir, 'TinyStories-656K-Q8_0', await splitBytes(MODEL, { maxBytes: 200_000 })).map((p) => basename(p));
  expected = await infer(join(SHARED, 'models', MODEL), {});
});

describe('a split set by URL', () => {
  let server: TestServer;
  before(async () => {
    server = await serveFolder(dir);
  });
  after(() => server.close());

  test('cache: false reads every shard with range requests', async () => {
    assert.ok(names.length >= 3);
    assert.equal(await infer(`${server.url}/${names[1]}`, { cache: false }), expected);
    const files = new Set(server.log.map((e) => e.path.slice(1)));
    assert.deepEqual([...files].sort(), names);
    assert.ok(server.log.every((e) => e.status === 206));
  });

  test('downloaded into the store once, one entry per shard; the next load makes no request', async () => {
    const cacheDir = join(dir, 'url-store');
    const url = `${server.url}/${names[0]}`;
    assert.equal(await infer(url, { cacheDir }), expected);
    const entries = await (await ModelCache.open({ cacheDir })).list();
    assert.deepEqual(entries.map((e) => e.source).sort(), names.map((n) => `${server.url}/${n}`));
    const requests = server.log.length;
    assert.equal(await infer(url, { cacheDir, onDownloadProgress: () => assert.fail('no download expected') }), expected);
    assert.equal(server.log.length, requests, 'a stored set loads with no HTTP request');
  });

  test('ModelCache.pull of one shard stores the whole set; it then loads with no request', async () => {
    const cacheDir = join(dir, 'pull-store');
    const cache = await ModelCache.open({ cacheDir });
    const entry = await cache.pull(`${server.url}/${names[1]}`);
    assert.equal(entry.source, `${server.url}/${names[1]}`);
    assert.deepEqual((await cache.list()).map((e) => e.source).sort(), names.map((n) => `${server.url}/${n}`));
    const requests = server.log.length;
    assert.equal(await infer(`${server.url}/${names[0]}`, { cacheDir }), expected);
    assert.equal(server.log.length, requests, 'a pulled set loads with no HTTP request');
  });

  test('a shard missing on the server fails naming it', async () => {
    const set = writeShards(dir, 'gone', await splitBytes(MODEL, { maxBytes: 200_000 }));
    unlinkSync(set[1]!);
    const missing = `${server.url}/${basename(set[1]!)}`;
    await assert.rejects(infer(`${server.url}/${basename(set[0]!)}`, { cache: false }), (e) => isWasmChordError(e, 'SOURCE_HTTP') && e.message.includes(`shard 2 of ${set.length} (${missing})`));
  });
});

describe('a split set on the Hub', () => {
  test('hf:// and owner/repo:QUANT download every shard once, then load from the store with no request', async () => {
    const repo = Object.fromEntries(names.map((n) => [n, n]));
    const hub = await fakeHub({ 'acme/stories-GGUF': { ...repo, 'README.md': null } }, {}, { root: dir });
    const cacheDir = join(dir, 'hub-store');
    try {
      assert.equal(await infer('acme/stories-GGUF:Q8_0', { cacheDir, hubEndpoint: hub.url }), expected);
      const entries = await (await ModelCache.open({ cacheDir })).list();
      assert.deepEqual(entries.map((e) => e.source).sort(), names.map((n) => `hf://acme/stories-GGUF/${n}`));
      assert.ok(entries.every((e) => e.sha256 !== undefined), 'each shard checked against the Hub\'s sha256');
      const requests = hub.log.length;
      assert.equal(await infer('acme/stories-GGUF:Q8_0', { cacheDir, hubEndpoint: hub.url }), expected);
      assert.equal(await infer(`hf://acme/stories-GGUF/${names[2]}`, { cacheDir, hubEndpoint: hub.url }), expected);
      assert.equal(hub.log.length, requests, 'a stored set loads with no HTTP request');
    } finally {
      await hub.close();
    }
  });
});
