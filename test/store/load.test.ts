// Loading by URL or Hugging Face id through the runtime API: the first load downloads into the
// model store, later loads read the store and make no HTTP request at all.
import assert from 'node:assert/strict';
import diagnostics from 'node:diagnostics_channel';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { isWasmChordError, ModelCache, type DownloadProgress } from '../../src/index.js';
import { serveFolder, type TestServer } from '../helpers/http-server.js';
import { readJson, SHARED } from '../helpers/shared.js';
import { fakeHub } from './fake-hub.js';
import { useStoreRuntime } from './store-runtime.js';

const FILE = 'stories260K.gguf';
const BYTES = readFileSync(join(SHARED, 'models', FILE));
const REF = readJson<{ generated_text: string }>('reference/models/stories260K/once_upon_a_time.json');
const store = useStoreRuntime('wasm-chord-load-', 64);
const infer = (source: string, options: object) => store.infer(source, options);

describe('loading through the model store', () => {
  let server: TestServer;
  before(async () => {
    server = await serveFolder(join(SHARED, 'models'));
  });
  after(() => server.close());

  test('a URL is downloaded once, with progress; the next load makes no request', async () => {
    const cacheDir = join(store.dir, 'url');
    const url = `${server.url}/${FILE}`;
    const seen: DownloadProgress[] = [];
    assert.equal(await infer(url, { cacheDir, onDownloadProgress: (p: DownloadProgress) => seen.push(p) }), REF.generated_text);
    assert.equal(seen.at(-1)?.loadedBytes, BYTES.length);
    const [entry] = await (await ModelCache.open({ cacheDir })).list();
    assert.equal(entry?.source, url);
    assert.deepEqual(readFileSync(entry!.path), BYTES);
    const requests = server.log.length;
    // Privacy, as the process sees it: loading a cached model and generating opens no socket at all.
    let sockets = 0;
    const count = () => sockets++;
    diagnostics.subscribe('net.client.socket', count);
    try {
      assert.equal(await infer(url, { cacheDir, onDownloadProgress: () => assert.fail('no download expected') }), REF.generated_text);
    } finally {
      diagnostics.unsubscribe('net.client.socket', count);
    }
    assert.equal(server.log.length, requests, 'a cached model loads with no HTTP request');
    assert.equal(sockets, 0, 'a socket was opened');
  });

  test('cache: false reads ranges and stores nothing', async () => {
    const cacheDir = join(store.dir, 'nocache');
    const before = server.log.length;
    assert.equal(await infer(`${server.url}/${FILE}`, { cacheDir, cache: false }), REF.generated_text);
    assert.ok(server.log.slice(before).every((e) => e.status === 206));
    assert.throws(() => readdirSync(cacheDir));
  });

  test('store options are checked', async () => {
    const url = `${server.url}/${FILE}`;
    for (const [options, name] of [
      [{ cache: 'yes' }, /cache/],
      [{ cacheDir: 5 }, /cacheDir/],
      [{ sha256: 'abc' }, /sha256/],
      [{ onDownloadProgress: 1 }, /onDownloadProgress/],
      [{ hubEndpoint: 3 }, /hubEndpoint/],
    ] as const) {
      await assert.rejects(store.runtime.loadModel(url, options as object), (e) => isWasmChordError(e, 'INVALID_ARGUMENT') && name.test(e.message));
    }
    await assert.rejects(store.runtime.loadModel(url, { cacheDir: join(store.dir, 'sha'), sha256: 'b'.repeat(64) }), (e) => isWasmChordError(e, 'INTEGRITY'));
  });
});

describe('loading Hugging Face ids', () => {
  test('owner/repo:QUANT and hf:// load from the Hub once, then from the store with no request', async () => {
    const hub = await fakeHub({ 'acme/stories-GGUF': { 'stories260K-F32.gguf': FILE } });
    const cacheDir = join(store.dir, 'hub');
    try {
      assert.equal(await infer('acme/stories-GGUF:F32', { cacheDir, hubEndpoint: hub.url }), REF.generated_text);
      const requests = hub.log.length;
      assert.equal(await infer('acme/stories-GGUF:F32', { cacheDir, hubEndpoint: hub.url }), REF.generated_text);
      assert.equal(await infer('hf://acme/stories-GGUF/stories260K-F32.gguf', { cacheDir, hubEndpoint: hub.url }), REF.generated_text);
      assert.equal(hub.log.length, requests, 'cached Hub models load with no HTTP request');
    } finally {
      await hub.close();
    }
  });
});
