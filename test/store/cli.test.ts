// `wasm-chord pull`, `cache ls [--json]` and `cache rm` in a child process, against a loopback
// server and a fake Hub, with a temporary cache directory.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runCli } from '../helpers/cli.js';
import { serveFolder, type TestServer } from '../helpers/http-server.js';
import { SHARED } from '../helpers/shared.js';
import { fakeHub } from './fake-hub.js';

const FILE = 'stories260K.gguf';
const BYTES = readFileSync(join(SHARED, 'models', FILE));

let server: TestServer;
let dir: string;
before(async () => {
  server = await serveFolder(join(SHARED, 'models'));
  dir = mkdtempSync(join(tmpdir(), 'wasm-chord-cli-'));
});
after(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

const ls = async (cacheDir: string) => {
  const r = await runCli(['cache', 'ls', '--json', '--cache-dir', cacheDir]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as { source: string; path: string; bytes: number }[];
};

describe('wasm-chord pull and cache', () => {
  test('pull downloads, prints the path, and a second pull makes no request; ls --json lists it; rm deletes it', async () => {
    const cacheDir = join(dir, 'a');
    const url = `${server.url}/${FILE}`;
    const pulled = await runCli(['pull', url, '--cache-dir', cacheDir]);
    assert.equal(pulled.code, 0, pulled.stderr);
    const path = pulled.stdout.trim();
    assert.deepEqual(readFileSync(path), BYTES);
    assert.match(pulled.stderr, /downloaded stories260K\.gguf: 1\.1 MiB/);

    const requests = server.log.length;
    const again = await runCli(['pull', url, '--cache-dir', cacheDir]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stdout.trim(), path);
    assert.match(again.stderr, /already in the cache/);
    assert.equal(server.log.length, requests);

    assert.deepEqual(await ls(cacheDir), [{ source: url, path, bytes: BYTES.length }]);
    const text = await runCli(['cache', 'ls', '--cache-dir', cacheDir]);
    assert.ok(text.stdout.includes(url) && text.stdout.includes(path), text.stdout);

    const rm = await runCli(['cache', 'rm', url, '--cache-dir', cacheDir]);
    assert.equal(rm.code, 0, rm.stderr);
    assert.equal(rm.stdout, `removed ${url}\n`);
    assert.deepEqual(await ls(cacheDir), []);
    const missing = await runCli(['cache', 'rm', url, '--cache-dir', cacheDir]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /INVALID_ARGUMENT.*not in the model cache/);
  });

  test('WASM_CHORD_CACHE_DIR and the Hub endpoint come from the environment; rm --all empties the cache', async () => {
    const hub = await fakeHub({ 'acme/stories-GGUF': { 'stories260K-Q8_0.gguf': FILE, 'stories260K-F32.gguf': FILE } });
    const cacheDir = join(dir, 'env');
    const env = { WASM_CHORD_CACHE_DIR: cacheDir, WASM_CHORD_HF_ENDPOINT: hub.url };
    try {
      for (const id of ['acme/stories-GGUF:Q8_0', 'hf://acme/stories-GGUF/stories260K-F32.gguf']) {
        const r = await runCli(['pull', id], { env });
        assert.equal(r.code, 0, r.stderr);
        assert.deepEqual(readFileSync(r.stdout.trim()), BYTES);
      }
      assert.deepEqual(
        (await ls(cacheDir)).map((e) => e.source),
        ['hf://acme/stories-GGUF/stories260K-F32.gguf', 'hf://acme/stories-GGUF/stories260K-Q8_0.gguf'],
      );
      const rm = await runCli(['cache', 'rm', '--all'], { env });
      assert.equal(rm.code, 0, rm.stderr);
      assert.equal(rm.stdout.split('\n').filter(Boolean).length, 2);
      assert.deepEqual(await ls(cacheDir), []);
    } finally {
      await hub.close();
    }
  });

  test('usage mistakes and failed downloads exit non-zero with one typed line', async () => {
    const cacheDir = join(dir, 'bad');
    const noModel = await runCli(['pull', '--cache-dir', cacheDir]);
    assert.equal(noModel.code, 2);
    assert.match(noModel.stderr, /INVALID_ARGUMENT/);
    const badSha = await runCli(['pull', `${server.url}/${FILE}`, '--sha256', 'xyz', '--cache-dir', cacheDir]);
    assert.equal(badSha.code, 2);
    assert.match(badSha.stderr, /sha256/);
    const wrongSha = await runCli(['pull', `${server.url}/${FILE}`, '--sha256', 'c'.repeat(64), '--cache-dir', cacheDir]);
    assert.equal(wrongSha.code, 1);
    assert.match(wrongSha.stderr, /\[INTEGRITY\]/);
    const missing = await runCli(['pull', `${server.url}/missing.gguf`, '--cache-dir', cacheDir]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /\[SOURCE_HTTP\].*404/);
    assert.deepEqual(await ls(cacheDir), []);
    const badAction = await runCli(['cache', 'frob']);
    assert.equal(badAction.code, 2);
  });
});
