// Byte sources: file, memory, Blob and HTTP ranges over a real loopback server give the same
// header and tensor bytes; HTTP reads transfer only what they need.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { isWasmChordError } from '../../src/errors.js';
import { BlobSource, HttpSource, MemorySource, openByteSource, readGGUF } from '../../src/gguf/index.js';
import { serveFolder, type TestServer } from '../helpers/http-server.js';
import { SHARED } from '../helpers/shared.js';

const MODELS = join(SHARED, 'models');
const MODEL = 'TinyStories-656K-Q8_0.gguf';
const bytes = readFileSync(join(MODELS, MODEL));

describe('every source yields the same file', () => {
  test('path, file URL, memory, Blob and HTTP agree on metadata and tensor bytes', async () => {
    const server = await serveFolder(MODELS);
    try {
      const inputs = {
        path: join(MODELS, MODEL),
        fileUrl: new URL(`file://${join(MODELS, MODEL)}`),
        uint8: new Uint8Array(bytes),
        arrayBuffer: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength),
        blob: new Blob([bytes]),
        http: `${server.url}/${MODEL}`,
      };
      for (const [kind, input] of Object.entries(inputs)) {
        const source = await openByteSource(input);
        const f = await readGGUF(source);
        assert.equal(source.size, bytes.length, kind);
        assert.equal(f.metadata.getString('general.name'), 'Raincandy U TinyStories 656K', kind);
        assert.equal(f.tensors.length, 20, kind);
        for (const t of [f.tensors[0]!, f.tensor('blk.1.ffn_up.weight')!]) {
          const got = await f.readTensor(t);
          const start = f.dataOffset + t.offset;
          assert.deepEqual(got, new Uint8Array(bytes.subarray(start, start + t.byteLength)), `${kind} ${t.name}`);
        }
        await source.close();
      }
    } finally {
      await server.close();
    }
  });

  test('a Node file handle is read without being closed', async () => {
    const handle = await open(join(MODELS, MODEL), 'r');
    try {
      const source = await openByteSource(handle);
      const f = await readGGUF(source);
      const t = f.tensor('blk.1.ffn_up.weight')!;
      const start = f.dataOffset + t.offset;
      assert.deepEqual(await f.readTensor(t), new Uint8Array(bytes.subarray(start, start + t.byteLength)));
      await source.close();
      assert.equal((await handle.stat()).size, bytes.length, 'the caller\'s handle is still open');
    } finally {
      await handle.close();
    }
  });

  test('reads past the end are refused', async () => {
    for (const source of [new MemorySource(new Uint8Array(10)), new BlobSource(new Blob([new Uint8Array(10)]))]) {
      await assert.rejects(source.readInto(5, new Uint8Array(6)), (e) => isWasmChordError(e, 'SOURCE_OUT_OF_BOUNDS'));
    }
  });

  test('a missing file is a SOURCE_IO error naming the path', async () => {
    await assert.rejects(openByteSource('/no/such/model.gguf'), (e) => {
      assert.ok(isWasmChordError(e, 'SOURCE_IO'));
      assert.match(e.message, /\/no\/such\/model\.gguf/);
      return true;
    });
  });

  test('an unknown URL scheme is refused', async () => {
    await assert.rejects(openByteSource('ftp://example.com/m.gguf'), (e) => isWasmChordError(e, 'INVALID_ARGUMENT'));
  });
});

describe('HTTP range reads', () => {
  let server: TestServer;
  before(async () => {
    server = await serveFolder(MODELS);
  });
  after(() => server.close());

  test('parsing the header reads only header bytes, in few requests', async () => {
    server.log.length = 0;
    const source = await HttpSource.open(`${server.url}/${MODEL}`);
    const f = await readGGUF(source);
    assert.ok(server.log.length <= 2, `${server.log.length} requests`);
    assert.ok(server.bytesSent() < f.dataOffset + 64 * 1024, `${server.bytesSent()} bytes for a ${f.dataOffset}-byte header`);
    assert.ok(server.log.every((e) => e.status === 206));
  });

  test('reading one tensor transfers exactly its bytes in one range request', async () => {
    const source = await HttpSource.open(`${server.url}/${MODEL}`);
    const f = await readGGUF(source);
    for (const name of ['blk.1.ffn_up.weight', 'token_embd.weight', 'output_norm.weight']) {
      const t = f.tensor(name)!;
      server.log.length = 0;
      await f.readTensor(t);
      const inPrefix = f.dataOffset + t.offset + t.byteLength <= 64 * 1024;
      assert.equal(server.log.length, inPrefix ? 0 : 1, name);
      assert.equal(server.bytesSent(), inPrefix ? 0 : t.byteLength, name);
      if (!inPrefix) {
        const start = f.dataOffset + t.offset;
        assert.equal(server.log[0]!.range, `bytes=${start}-${start + t.byteLength - 1}`);
      }
    }
  });

  test('a server that ignores Range is refused clearly', async () => {
    const plain = await serveFolder(MODELS, { ignoreRange: true });
    try {
      await assert.rejects(HttpSource.open(`${plain.url}/${MODEL}`), (e) => {
        assert.ok(isWasmChordError(e, 'SOURCE_RANGE_UNSUPPORTED'));
        assert.match(e.message, /Range/);
        return true;
      });
    } finally {
      await plain.close();
    }
  });

  test('HTTP 404 is a SOURCE_HTTP error with the status', async () => {
    await assert.rejects(HttpSource.open(`${server.url}/missing.gguf`), (e) => {
      assert.ok(isWasmChordError(e, 'SOURCE_HTTP'));
      assert.match(e.message, /404/);
      return true;
    });
  });

  test('a download cut off mid-body is a SOURCE_HTTP error', async () => {
    const broken = await serveFolder(MODELS, { cutAfterBytes: 100_000 });
    try {
      const source = await HttpSource.open(`${broken.url}/${MODEL}`);
      const f = await readGGUF(source);
      const t = f.tensor('token_embd.weight')!;
      await assert.rejects(f.readTensor(t), (e) => isWasmChordError(e, 'SOURCE_HTTP'));
    } finally {
      await broken.close();
    }
  });

  test('an aborted read is an ABORTED error', async () => {
    const source = await HttpSource.open(`${server.url}/${MODEL}`);
    const f = await readGGUF(source);
    const controller = new AbortController();
    controller.abort();
    await assert.rejects(f.readTensor(f.tensor('token_embd.weight')!, controller.signal), (e) => isWasmChordError(e, 'ABORTED'));
  });

  test('the connection refused is a SOURCE_HTTP error', async () => {
    const closed = await serveFolder(MODELS);
    const url = `${closed.url}/${MODEL}`;
    await closed.close();
    await assert.rejects(HttpSource.open(url), (e) => isWasmChordError(e, 'SOURCE_HTTP'));
  });
});
