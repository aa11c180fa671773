// Hugging Face ids: parsing, the quant-tag choice, and pulls through a loopback stand-in for the
// Hub (tree API + resolve URLs), with the sha256 the Hub lists checked at commit.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { isWasmChordError } from '../../src/errors.js';
import { ModelCache } from '../../src/runtime/model-cache.js';
import { canonicalSource, hasQuantTag, hubEndpoint, parseModelRef, quantCandidates } from '../../src/runtime/model-id.js';
import type { TestServer } from '../helpers/http-server.js';
import { SHARED } from '../helpers/shared.js';
import { fakeHub, sha256Of } from './fake-hub.js';

const models = (file: string) => readFileSync(join(SHARED, 'models', file));

describe('model ids', () => {
  test('URLs, hf:// ids and owner/repo:QUANT parse to canonical sources', () => {
    assert.deepEqual(parseModelRef('https://x.org/a/m.gguf#frag'), { kind: 'url', url: 'https://x.org/a/m.gguf' });
    assert.deepEqual(parseModelRef('hf://acme/tiny-GGUF/sub/m.gguf'), { kind: 'hf', repo: 'acme/tiny-GGUF', revision: 'main', path: 'sub/m.gguf' });
    assert.deepEqual(parseModelRef('hf://acme/tiny-GGUF@v1.2/m.gguf'), { kind: 'hf', repo: 'acme/tiny-GGUF', revision: 'v1.2', path: 'm.gguf' });
    assert.deepEqual(parseModelRef('bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M'), {
      kind: 'hf-quant',
      repo: 'bartowski/Llama-3.2-1B-Instruct-GGUF',
      revision: 'main',
      quant: 'Q4_K_M',
    });
    assert.equal(canonicalSource(parseModelRef('hf://acme/r@main/m.gguf')!), 'hf://acme/r/m.gguf');
    assert.equal(canonicalSource(parseModelRef('hf://acme/r@dev/m.gguf')!), 'hf://acme/r@dev/m.gguf');
    for (const local of ['models/m.gguf', './acme/r:Q4_0', '/abs/path.gguf', 'C:\\m.gguf']) assert.equal(parseModelRef(local), undefined, local);
    for (const bad of ['hf://acme', 'hf://acme/r/', 'hf://acme/r/../x.gguf', 'https://[bad']) {
      assert.throws(() => parseModelRef(bad), (e) => isWasmChordError(e, 'INVALID_ARGUMENT'), bad);
    }
  });

  test('a quant tag matches whole tags, case-insensitively; split parts after the first and projectors are left out', () => {
    assert.ok(hasQuantTag('Llama-3.2-1B-Instruct-Q4_K_M.gguf', 'q4_k_m'));
    assert.ok(hasQuantTag('model.Q8_0.gguf', 'Q8_0'));
    assert.ok(!hasQuantTag('model-Q4_K_M.gguf', 'Q4_K'));
    assert.ok(!hasQuantTag('model-IQ4_XS.gguf', 'Q4_XS'));
    assert.ok(!hasQuantTag('model-Q8_0_L.gguf', 'Q8_0'));
    const files = ['m-Q4_K_M-00001-of-00002.gguf', 'm-Q4_K_M-00002-of-00002.gguf', 'mmproj-m-F16.gguf', 'm-F16.gguf', 'README.md'];
    assert.deepEqual(quantCandidates(files, 'Q4_K_M'), ['m-Q4_K_M-00001-of-00002.gguf']);
    assert.deepEqual(quantCandidates(files, 'f16'), ['m-F16.gguf']);
  });

  test('the Hub endpoint comes from the option, else WASM_CHORD_HF_ENDPOINT, else huggingface.co', () => {
    const saved = process.env.WASM_CHORD_HF_ENDPOINT;
    try {
      delete process.env.WASM_CHORD_HF_ENDPOINT;
      assert.equal(hubEndpoint(), 'https://huggingface.co');
      process.env.WASM_CHORD_HF_ENDPOINT = 'http://127.0.0.1:9/';
      assert.equal(hubEndpoint(), 'http://127.0.0.1:9');
      assert.equal(hubEndpoint('https://mirror.example'), 'https://mirror.example');
      assert.throws(() => hubEndpoint('ftp://x'), (e) => isWasmChordError(e, 'INVALID_ARGUMENT'));
    } finally {
      if (saved === undefined) delete process.env.WASM_CHORD_HF_ENDPOINT;
      else process.env.WASM_CHORD_HF_ENDPOINT = saved;
    }
  });
});

describe('pulls from a Hub', () => {
  let hub: TestServer;
  let dir: string;
  let cache: ModelCache;
  before(async () => {
    hub = await fakeHub(
      {
        'acme/tiny-GGUF': {
          'README.md': null,
          'tiny-F32.gguf': 'stories260K.gguf',
          'TinyStories-656K-Q8_0.gguf': 'TinyStories-656K-Q8_0.gguf',
          'sub/llama-2-tiny-random-Q4_K_M-00001-of-00002.gguf': 'llama-2-tiny-random.gguf',
          'sub/llama-2-tiny-random-Q4_K_M-00002-of-00002.gguf': null,
          'tiny-Q2_K.gguf': null,
          'other-Q2_K.gguf': null,
        },
      },
    );
    dir = mkdtempSync(join(tmpdir(), 'wasm-chord-hub-'));
    cache = await ModelCache.open({ cacheDir: dir, hubEndpoint: hub.url });
  });
  after(async () => {
    await hub.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('owner/repo:QUANT picks the file with that tag, checks its sha256, and is found offline later', async () => {
    const entry = await cache.pull('acme/tiny-GGUF:q8_0');
    assert.equal(entry.source, 'hf://acme/tiny-GGUF/TinyStories-656K-Q8_0.gguf');
    assert.equal(entry.sha256, sha256Of('TinyStories-656K-Q8_0.gguf'));
    assert.deepEqual(readFileSync(entry.path), models('TinyStories-656K-Q8_0.gguf'));
    // The listing was paged (two entries a page): every page was read to find the file.
    assert.ok(hub.log.filter((e) => e.path.startsWith('/api/')).length >= 4);
    const requests = hub.log.length;
    assert.deepEqual(await cache.find('acme/tiny-GGUF:Q8_0'), entry);
    assert.deepEqual(await cache.pull('acme/tiny-GGUF:Q8_0'), entry);
    assert.equal(hub.log.length, requests, 'a cached model needs no request');
  });

  test('hf://owner/repo/path downloads that file from its resolve URL', async () => {
    const entry = await cache.pull('hf://acme/tiny-GGUF/sub/llama-2-tiny-random-Q4_K_M-00001-of-00002.gguf');
    assert.deepEqual(readFileSync(entry.path), models('llama-2-tiny-random.gguf'));
    assert.ok(hub.log.some((e) => e.path === '/acme/tiny-GGUF/resolve/main/sub/llama-2-tiny-random-Q4_K_M-00001-of-00002.gguf' && e.status === 206));
    assert.deepEqual(await cache.find('acme/tiny-GGUF:Q4_K_M'), entry);
  });

  test('no match or several matches are refused with the candidates named', async () => {
    await assert.rejects(cache.pull('acme/tiny-GGUF:Q5_K_S'), (e) => isWasmChordError(e, 'INVALID_ARGUMENT') && /no \.gguf file tagged Q5_K_S/.test(e.message) && e.message.includes('tiny-F32.gguf'));
    await assert.rejects(cache.pull('acme/tiny-GGUF:Q2_K'), (e) => isWasmChordError(e, 'INVALID_ARGUMENT') && e.message.includes('tiny-Q2_K.gguf') && e.message.includes('other-Q2_K.gguf'));
    await assert.rejects(cache.pull('acme/missing-GGUF:Q2_K'), (e) => isWasmChordError(e, 'SOURCE_HTTP') && /not found/.test(e.message));
    await assert.rejects(cache.pull('hf://acme/tiny-GGUF/nope.gguf'), (e) => isWasmChordError(e, 'INVALID_ARGUMENT') && /no file nope\.gguf/.test(e.message));
  });

  test('a file whose bytes do not hash to the sha256 the Hub lists is not committed', async () => {
    const tampered = await fakeHub({ 'acme/tampered-GGUF': { 'tiny-F32.gguf': 'stories260K.gguf' } }, { 'tiny-F32.gguf': 'a'.repeat(64) });
    try {
      const c = await ModelCache.open({ cacheDir: dir, hubEndpoint: tampered.url });
      await assert.rejects(c.pull('acme/tampered-GGUF:F32'), (e) => isWasmChordError(e, 'INTEGRITY'));
      assert.equal(await c.find('hf://acme/tampered-GGUF/tiny-F32.gguf'), undefined);
    } finally {
      await tampered.close();
    }
  });
});
