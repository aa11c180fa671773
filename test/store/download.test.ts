// Downloads into the file-system model store, against real HTTP servers on loopback: exact
// bytes, parallel ranges, a server without ranges, resume after a cut, restart on a changed
// ETag, integrity and quota errors, aborts, retries, and writers that meet.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { isWasmChordError } from '../../src/errors.js';
import { downloadToStore, type DownloadOptions, type DownloadProgress } from '../../src/runtime/download.js';
import { defaultCacheDir, openFsStore } from '../../src/runtime/store/fs-store.js';
import { entryName, storageError, type ModelStore } from '../../src/runtime/store/model-store.js';
import { serveFolder, type ServerOptions, type TestServer } from '../helpers/http-server.js';
import { SHARED } from '../helpers/shared.js';

const MODELS = join(SHARED, 'models');
const FILE = 'stories260K.gguf';
const BYTES = readFileSync(join(MODELS, FILE));
const SHA = createHash('sha256').update(BYTES).digest('hex');
const PIECE = 128 << 10;
const PIECES = Math.ceil(BYTES.length / PIECE);

let root: string;
before(() => {
  root = mkdtempSync(join(tmpdir(), 'wasm-chord-store-'));
});
after(() => rmSync(root, { recursive: true, force: true }));

const servers: TestServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

let n = 0;
async function setup(options: ServerOptions = {}) {
  const dir = join(root, `s${n++}`);
  const store = await openFsStore({ dir });
  const server = await serveFolder(MODELS, options);
  servers.push(server);
  const url = `${server.url}/${FILE}`;
  const pull = (extra: DownloadOptions = {}) => downloadToStore(store, url, url, { pieceBytes: PIECE, retryDelayMs: 1, ...extra });
  return { dir, store, server, url, pull, files: () => readdirSync(join(dir, 'v1')) };
}

/** Body bytes of GET requests other than the 1-byte probe. */
const rangeGets = (server: TestServer) => server.log.filter((e) => e.range !== 'bytes=0-0');

describe('downloads', () => {
  test('a download is the file byte for byte, fetched as parallel ranges, with progress', async () => {
    const { store, server, url, pull } = await setup();
    const seen: DownloadProgress[] = [];
    const entry = await pull({ connections: 4, onProgress: (p) => seen.push(p) });
    assert.deepEqual(readFileSync(entry.path), BYTES);
    assert.equal(entry.bytes, BYTES.length);
    assert.equal(entry.source, url);
    // One probe, then one range request per piece.
    assert.equal(server.log.length, 1 + PIECES);
    assert.equal(rangeGets(server).length, PIECES);
    assert.ok(rangeGets(server).every((e) => e.status === 206));
    assert.equal(server.bytesSent(), BYTES.length + 1);
    const last = seen.at(-1)!;
    assert.equal(last.loadedBytes, BYTES.length);
    assert.equal(last.totalBytes, BYTES.length);
    assert.equal(last.etaSeconds, 0);
    assert.ok(seen.every((p) => p.bytesPerSecond >= 0));
    assert.deepEqual(
      (await store.list()).map((e) => [e.source, e.bytes, e.path]),
      [[url, BYTES.length, entry.path]],
    );
    const source = await store.open(url);
    assert.equal(source.size, BYTES.length);
    await source.close();
  });

  test('several connections really overlap', async () => {
    const { server, pull } = await setup();
    let open = 0;
    let most = 0;
    const fetchCounting: typeof fetch = async (input, init) => {
      open++;
      most = Math.max(most, open);
      try {
        const res = await fetch(input, init);
        const body = new Uint8Array(await res.arrayBuffer());
        return new Response(body, { status: res.status, headers: res.headers });
      } finally {
        open--;
      }
    };
    await pull({ connections: 3, fetch: fetchCounting });
    assert.equal(most, 3);
    assert.equal(rangeGets(server).length, PIECES);
  });

  test('a server without Range support gets one plain download', async () => {
    const { server, pull } = await setup({ ignoreRange: true });
    const entry = await pull();
    assert.deepEqual(readFileSync(entry.path), BYTES);
    assert.deepEqual(
      server.log.map((e) => e.status),
      [200],
    );
    assert.equal(server.bytesSent(), BYTES.length);
  });

  test('after a cut connection the next download resumes from the stored pieces', async () => {
    const options: ServerOptions = { cutAfterTotalBytes: 600_000 };
    const { store, server, pull, files } = await setup(options);
    await assert.rejects(pull({ connections: 2, retries: 0 }), (e) => isWasmChordError(e, 'SOURCE_HTTP'));
    assert.deepEqual(await store.list(), []);
    assert.equal(files().filter((f) => f.endsWith('.partial')).length, 1);
    options.cutAfterTotalBytes = undefined;
    const before = server.bytesSent();
    const entry = await pull({ connections: 2 });
    const second = server.bytesSent() - before;
    assert.ok(second < BYTES.length - 3 * PIECE, `the second download sent ${second} of ${BYTES.length} bytes`);
    assert.deepEqual(readFileSync(entry.path), BYTES);
    assert.deepEqual(files().filter((f) => f.endsWith('.partial')), []);
  });

  test('a changed ETag starts over instead of mixing two files', async () => {
    const options: ServerOptions = { cutAfterTotalBytes: 600_000, etag: '"one"' };
    const { server, pull, files } = await setup(options);
    await assert.rejects(pull({ connections: 2, retries: 0 }), (e) => isWasmChordError(e, 'SOURCE_HTTP'));
    options.cutAfterTotalBytes = undefined;
    options.etag = '"two"';
    const before = server.bytesSent();
    const entry = await pull({ connections: 2 });
    assert.equal(server.bytesSent() - before, BYTES.length + 1);
    assert.deepEqual(readFileSync(entry.path), BYTES);
    assert.deepEqual(files().filter((f) => f.endsWith('.partial')), []);
  });

  test('the right sha256 commits; a wrong one is INTEGRITY and leaves nothing behind', async () => {
    const good = await setup();
    assert.equal((await good.pull({ sha256: SHA })).sha256, SHA);
    const bad = await setup();
    await assert.rejects(bad.pull({ sha256: '0'.repeat(64) }), (e) => isWasmChordError(e, 'INTEGRITY') && /sha256/.test(e.message) && e.message.includes(SHA));
    assert.deepEqual(await bad.store.list(), []);
    assert.deepEqual(bad.files(), []);
  });

  test('a size other than the expected one is INTEGRITY before the body is fetched', async () => {
    const { store, server, pull, files } = await setup();
    await assert.rejects(pull({ expectedBytes: BYTES.length + 1 }), (e) => isWasmChordError(e, 'INTEGRITY'));
    assert.equal(server.bytesSent(), 1);
    assert.deepEqual(await store.list(), []);
    assert.deepEqual(files(), []);
  });

  test('an abort leaves no entry, and the download resumes later', async () => {
    const { store, server, pull } = await setup();
    const abort = new AbortController();
    // Aborted as the fifth piece is asked for (the probe is call 1): four pieces are stored.
    let calls = 0;
    const fetchAborting: typeof fetch = (input, init) => {
      if (++calls === 6) abort.abort();
      return fetch(input, init);
    };
    await assert.rejects(pull({ connections: 1, signal: abort.signal, fetch: fetchAborting }), (e) => isWasmChordError(e, 'ABORTED'));
    assert.deepEqual(await store.list(), []);
    await assert.rejects(store.open(`${server.url}/${FILE}`), (e) => isWasmChordError(e, 'SOURCE_IO'));
    const before = server.bytesSent();
    const entry = await pull();
    assert.equal(server.bytesSent() - before, BYTES.length - 4 * PIECE + 1);
    assert.deepEqual(readFileSync(entry.path), BYTES);
  });

  test('503 answers are retried with back-off, then the download succeeds', async () => {
    const { server, pull } = await setup({ failFirst: 3 });
    const entry = await pull({ connections: 1 });
    assert.deepEqual(readFileSync(entry.path), BYTES);
    assert.deepEqual(
      server.log.slice(0, 3).map((e) => e.status),
      [503, 503, 503],
    );
    const spent = await setup({ failFirst: 10 });
    await assert.rejects(spent.pull({ retries: 2 }), (e) => isWasmChordError(e, 'SOURCE_HTTP') && /503/.test(e.message));
    assert.equal(spent.server.log.length, 3);
  });

  test('a server that stops sending mid-piece fails after the idle timeout, and is retried first', async () => {
    const { store } = await setup();
    const { createServer } = await import('node:http');
    // Answers the probe, then sends 1000 bytes of each range and nothing more.
    const stall = createServer((req, res) => {
      const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '')!;
      const [start, end] = [Number(m[1]), Number(m[2])];
      res.writeHead(206, { 'Content-Range': `bytes ${start}-${end}/${BYTES.length}`, 'Content-Length': end - start + 1 });
      if (end === 0) res.end(BYTES.subarray(0, 1));
      else res.write(BYTES.subarray(start, start + 1000));
    });
    await new Promise<void>((resolve) => stall.listen(0, '127.0.0.1', resolve));
    const stallUrl = `http://127.0.0.1:${(stall.address() as import('node:net').AddressInfo).port}/${FILE}`;
    let requests = 0;
    stall.on('request', () => requests++);
    try {
      const started = performance.now();
      await assert.rejects(
        downloadToStore(store, stallUrl, stallUrl, { connections: 1, timeoutMs: 200, retries: 1, retryDelayMs: 1 }),
        (e) => isWasmChordError(e, 'SOURCE_HTTP') && /stopped sending/.test(e.message),
      );
      assert.ok(performance.now() - started < 3000);
      assert.equal(requests, 3, 'the probe, the piece, and its one retry');
      assert.deepEqual(await store.list(), []);
    } finally {
      stall.closeAllConnections();
      await new Promise((resolve) => stall.close(resolve));
    }
  });

  test('a 404 is not retried', async () => {
    const { store, server } = await setup();
    const url = `${server.url}/missing.gguf`;
    await assert.rejects(downloadToStore(store, url, url, { retryDelayMs: 1 }), (e) => isWasmChordError(e, 'SOURCE_HTTP') && /404/.test(e.message));
    assert.equal(server.log.length, 1);
  });

  test('too little room is QUOTA_EXCEEDED before any of the body is fetched', async () => {
    const { store, server, url, files } = await setup();
    const small: ModelStore = {
      kind: store.kind,
      location: store.location,
      list: () => store.list(),
      get: (s) => store.get(s),
      open: (s) => store.open(s),
      delete: (s) => store.delete(s),
      estimate: async () => ({ availableBytes: 1000 }),
      openPartial: (s, r, p) => store.openPartial(s, r, p),
    };
    await assert.rejects(downloadToStore(small, url, url), (e) => isWasmChordError(e, 'QUOTA_EXCEEDED') && /free/.test(e.message));
    assert.equal(server.bytesSent(), 1); // the probe's one byte
    assert.deepEqual(files(), []);
    // A full disk while writing is the same error.
    assert.equal(storageError('writing', Object.assign(new Error('no space left on device'), { code: 'ENOSPC' })).code, 'QUOTA_EXCEEDED');
    assert.equal(storageError('writing', new DOMException('quota', 'QuotaExceededError')).code, 'QUOTA_EXCEEDED');
  });

  test('two writers of one model at once both finish, and the entry is exact', async () => {
    const { dir, store, url, pull } = await setup();
    const other = await openFsStore({ dir });
    const [a, b] = await Promise.all([pull({ connections: 2 }), downloadToStore(other, url, url, { pieceBytes: PIECE * 2 })]);
    assert.equal(a.path, b.path);
    assert.deepEqual(readFileSync(a.path), BYTES);
    assert.equal((await store.list()).length, 1);
  });

  test('a partial of a live process is left alone; one of a dead process is resumed', async () => {
    const options: ServerOptions = { cutAfterTotalBytes: 600_000 };
    const { server, url, pull, files, dir } = await setup(options);
    await assert.rejects(pull({ connections: 2, retries: 0 }), (e) => isWasmChordError(e, 'SOURCE_HTTP'));
    options.cutAfterTotalBytes = undefined;
    const [partial] = files().filter((f) => f.endsWith('.partial'));
    const owned = (pid: number) => partial!.replace(/-(\d+)-([0-9a-z]+)\.partial$/, `-${pid}-$2.partial`);
    // The parent process (the test runner) is alive: its partial must not be taken.
    renameSync(join(dir, 'v1', partial!), join(dir, 'v1', owned(process.ppid)));
    let before = server.bytesSent();
    await pull();
    assert.equal(server.bytesSent() - before, BYTES.length + 1);
    assert.ok(files().includes(owned(process.ppid)));
    // A process that has exited: its partial is claimed and resumed.
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout;
    renameSync(join(dir, 'v1', owned(process.ppid)), join(dir, 'v1', owned(Number(dead))));
    rmSync(join(dir, 'v1', `${entryName(url)}.json`));
    before = server.bytesSent();
    const entry = await pull();
    assert.ok(server.bytesSent() - before < BYTES.length - 3 * PIECE);
    assert.deepEqual(readFileSync(entry.path), BYTES);
    assert.deepEqual(files().filter((f) => f.endsWith('.partial')), []);
  });
});

describe('the store', () => {
  test('delete removes the entry and list no longer shows it', async () => {
    const { store, url, pull, files } = await setup();
    await pull();
    assert.equal(await store.delete(url), true);
    assert.equal(await store.delete(url), false);
    assert.deepEqual(await store.list(), []);
    assert.deepEqual(files(), []);
  });

  test('an entry whose file was truncated is not listed', async () => {
    const { store, pull } = await setup();
    const entry = await pull();
    const { truncateSync } = await import('node:fs');
    truncateSync(entry.path, 1000);
    assert.deepEqual(await store.list(), []);
    assert.equal(await store.get(entry.source), undefined);
  });

  test('keys are versioned and readable; the default directory follows the environment', async () => {
    assert.match(entryName('https://example.com/models/Llama-3.2-1B-Q4_K_M.gguf?download=true'), /^[0-9a-f]{16}-Llama-3\.2-1B-Q4_K_M$/);
    assert.match(entryName('hf://a/b@v1.0/x y.gguf'), /^[0-9a-f]{16}-x_y$/);
    assert.notEqual(entryName('hf://a/b/x.gguf'), entryName('hf://a/c/x.gguf'));
    assert.equal(defaultCacheDir({ WASM_CHORD_CACHE_DIR: '/tmp/x' }), '/tmp/x');
    if (process.platform === 'linux') {
      assert.equal(defaultCacheDir({ XDG_CACHE_HOME: '/xdg' }), '/xdg/wasm-chord');
      assert.match(defaultCacheDir({}), /\/\.cache\/wasm-chord$/);
    }
    const store = await openFsStore({ dir: join(root, 'fresh') });
    assert.ok(readdirSync(join(root, 'fresh')).includes('v1'));
    assert.ok(((await store.estimate()).availableBytes ?? 0) > 0);
  });
});
