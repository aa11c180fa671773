// The writer reproduces every file in ../shared/models byte for byte, and writes what the
// reader reads back.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { isWasmChordError } from '../../src/errors.js';
import { encodeGGUF, kv, MemorySource, readGGUF, type GGUFFile } from '../../src/gguf/index.js';
import { GGMLType } from '../../src/quant/types.js';
import { SHARED } from '../helpers/shared.js';

const MODELS = join(SHARED, 'models');

function listGGUF(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? listGGUF(join(dir, e.name)) : e.name.endsWith('.gguf') ? [join(dir, e.name)] : [],
  );
}

function rewrite(f: GGUFFile): Promise<Uint8Array> {
  return encodeGGUF({
    version: f.version as 2 | 3,
    metadata: f.metadata,
    tensors: f.tensors.map((t) => ({ name: t.name, type: t.type, shape: t.shape, data: () => f.readTensor(t) })),
  });
}

test('every model, vocab and vector file is rewritten byte-identically', async (t) => {
  const files = listGGUF(MODELS).filter((p) => !p.includes('/legacy/'));
  for (const path of files) {
    const original = new Uint8Array(readFileSync(path));
    const f = await readGGUF(new MemorySource(original));
    const written = await rewrite(f);
    assert.equal(written.length, original.length, relative(MODELS, path));
    assert.ok(Buffer.compare(written, original) === 0, `${relative(MODELS, path)} differs`);
  }
  t.diagnostic(`${files.length} files identical`);
});

test('tensor data is aligned, and the data length is checked against type and shape', async () => {
  const bytes = await encodeGGUF({
    metadata: [['general.alignment', kv.u32(64)]],
    tensors: [
      { name: 'a', type: GGMLType.F32, shape: [3], data: new Uint8Array(12).fill(1) },
      { name: 'b', type: GGMLType.Q8_0, shape: [32], data: new Uint8Array(34).fill(2) },
    ],
  });
  const f = await readGGUF(new MemorySource(bytes));
  assert.equal(f.alignment, 64);
  assert.equal(f.dataOffset % 64, 0);
  assert.deepEqual(f.tensors.map((t) => t.offset), [0, 64]);
  assert.deepEqual(await f.readTensor(f.tensor('b')!), new Uint8Array(34).fill(2));
  await assert.rejects(
    encodeGGUF({ metadata: [], tensors: [{ name: 'x', type: GGMLType.Q4_0, shape: [32], data: new Uint8Array(17) }] }),
    (e) => isWasmChordError(e, 'INVALID_ARGUMENT'),
  );
});
