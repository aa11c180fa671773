// Split GGUF sets (llama.cpp's gguf-split layout): our writer cuts real models as gguf-split
// does, a set loads from any shard's path, a file URL or an array of Blobs/buffers and generates
// exactly what the unsplit file does, and broken sets give typed errors naming the shard.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { isWasmChordError, WasmChord, type ModelSource } from '../../src/index.js';
import { encodeGGUF, GGUFValueType, MemorySource, parseSplitName, readGGUF, readGGUFShards, splitFileName, splitWriteSpec } from '../../src/gguf/index.js';
import { tensorByteSize } from '../../src/quant/types.js';
import { runCli } from '../helpers/cli.js';
import { readBytes, SHARED } from '../helpers/shared.js';
import { modelSpec, splitBytes, writeShards } from '../helpers/split-set.js';

const MODEL = 'stories260K.gguf';
const PROMPT = 'Once upon a time';
const GREEDY = { temperature: 0, maxTokens: 32, ignoreEos: true };
const LOAD = { kvType: 'f32', contextSize: 128 } as const;

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'wasm-chord-split-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

const read = (bytes: Uint8Array, name?: string) => readGGUF(new MemorySource(bytes, name));

describe('writing split sets', () => {
  test('shards are named and keyed as gguf-split writes them', async () => {
    const original = await read(readBytes(`models/${MODEL}`));
    const shards = await Promise.all((await splitBytes(MODEL, { maxTensors: 16 })).map((b) => read(b)));
    assert.equal(shards.length, 3);
    shards.forEach((shard, no) => {
      // split.no u16 (0-based), split.count u16, split.tensors.count i32: llama.cpp's types, after the model's keys.
      const keys = [...shard.metadata.entries()];
      assert.deepEqual(keys.slice(-3), [
        ['split.no', { type: GGUFValueType.UINT16, value: no }],
        ['split.count', { type: GGUFValueType.UINT16, value: 3 }],
        ['split.tensors.count', { type: GGUFValueType.INT32, value: 48 }],
      ]);
      // The first shard keeps every key of the model, in order; the others only the split keys.
      assert.deepEqual(keys.slice(0, -3).map(([k]) => k), no === 0 ? [...original.metadata.keys()] : []);
      assert.deepEqual(shard.tensors.map((t) => t.name), original.tensors.slice(16 * no, 16 * no + 16).map((t) => t.name));
      // Each shard's offsets address its own data section, from 0.
      assert.equal(shard.tensors[0]!.offset, 0);
    });
    for (const shard of shards) {
      for (const t of shard.tensors) assert.deepEqual(await shard.readTensor(t), await original.readTensor(original.tensor(t.name)!), t.name);
    }
  });

  test('--split-max-size: tensors in order, a new shard when the next padded tensor would pass the limit', async () => {
    const spec = await modelSpec(MODEL);
    const padded = (t: { type: number; shape: readonly number[] }) => Math.ceil(tensorByteSize(t.type as never, t.shape) / 32) * 32;
    const shards = splitWriteSpec(spec, { maxBytes: 300_000 });
    assert.ok(shards.length >= 4);
    assert.deepEqual(shards.flatMap((s) => s.tensors.map((t) => t.name)), spec.tensors.map((t) => t.name));
    shards.forEach((s, i) => {
      const bytes = s.tensors.reduce((n, t) => n + padded(t), 0);
      assert.ok(bytes <= 300_000);
      const next = shards[i + 1]?.tensors[0];
      if (next) assert.ok(bytes + padded(next) > 300_000, 'cut only when the next tensor does not fit');
    });
    // A soft limit: a tensor larger than it gets a shard of its own.
    const alone = splitWriteSpec(spec, { maxBytes: 1000 });
    assert.equal(alone.length, spec.tensors.length);
    assert.throws(() => splitWriteSpec(spec, { maxTensors: 0 }), (e) => isWasmChordError(e, 'INVALID_ARGUMENT'));
  });

  test('names: prefix-0000i-of-0000n.gguf, 1-based', () => {
    assert.equal(splitFileName('dir/model-Q4_K', 0, 3), 'dir/model-Q4_K-00001-of-00003.gguf');
    assert.deepEqual(parseSplitName('dir/m-00012-of-00020.gguf'), { prefix: 'dir/m', no: 11, count: 20 });
    assert.deepEqual(parseSplitName('https://h/x/m-00001-of-00002.gguf?download=1'), { prefix: '/x/m', no: 0, count: 2 });
    for (const name of ['m.gguf', 'm-00000-of-00002.gguf', 'm-00003-of-00002.gguf', 'm-1-of-2.gguf']) assert.equal(parseSplitName(name), undefined, name);
  });

  test('wasm-chord split writes the set and refuses to overwrite it', async () => {
    const prefix = join(dir, 'cli', 'stories');
    mkdirSync(join(dir, 'cli'));
    const r = await runCli(['split', '--split-max-size', '1M', join(SHARED, 'models', MODEL), prefix]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(readdirSync(join(dir, 'cli')).sort(), ['stories-00001-of-00002.gguf', 'stories-00002-of-00002.gguf']);
    const again = await runCli(['split', '--split-max-size', '1M', join(SHARED, 'models', MODEL), prefix]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /SOURCE_IO.*cannot create/);
    const bad = await runCli(['split', '--split-max-size', '1K', join(SHARED, 'models', MODEL), prefix]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /M or G/);
  });
});

describe('loading split sets', () => {
  let runtime: WasmChord;
  let expected: { text: string; logits: Float32Array };
  let paths: string[];
  let shards: Uint8Array[];

  before(async () => {
    runtime = await WasmChord.init({ backend: 'cpu', threads: 1 });
    expected = await run(join(SHARED, 'models', MODEL));
    shards = await splitBytes(MODEL, { maxTensors: 16 });
    paths = writeShards(dir, 'stories260K', shards);
  });
  after(() => runtime.dispose());

  async function run(source: ModelSource): Promise<{ text: string; logits: Float32Array }> {
    const model = await runtime.loadModel(source, LOAD);
    try {
      const logits = await model.evaluate(model.tokenize(PROMPT));
      await model.resetContext();
      return { text: await model.infer(PROMPT, GREEDY), logits };
    } finally {
      await model.dispose();
    }
  }

  test('from the path of any shard, and a file URL: the unsplit file\'s tokens and logits', async () => {
    for (const source of [paths[0]!, paths[2]!, pathToFileURL(paths[1]!).href]) {
      const got = await run(source);
      assert.equal(got.text, expected.text, source);
      assert.deepEqual(got.logits, expected.logits, source);
    }
  });

  test('from an array of Blobs or buffers, in any order', async () => {
    const got = await run([2, 0, 1].map((i) => new Blob([shards[i]! as BlobPart])));
    assert.equal(got.text, expected.text);
    assert.deepEqual(got.logits, expected.logits);
    assert.equal((await run(shards.map((s) => s.slice().buffer))).text, expected.text);
  });

  test('an array of buffers crosses to the engine\'s worker (the built package)', async () => {
    const lib = (await import(new URL('../../dist/index.js', import.meta.url).href)) as typeof import('../../src/index.js');
    const remote = await lib.WasmChord.init({ worker: true, backend: 'cpu', threads: 1 });
    try {
      const model = await remote.loadModel(shards.map((s) => s.slice().buffer), LOAD);
      assert.equal(await model.infer(PROMPT, GREEDY), expected.text);
      await model.dispose();
    } finally {
      await remote.dispose();
    }
  });

  test('a quantized model split by size loads the same', async () => {
    const file = 'TinyStories-656K-Q8_0.gguf';
    const set = writeShards(dir, 'q8', await splitBytes(file, { maxBytes: 200_000 }));
    assert.ok(set.length >= 3);
    const whole = await run(join(SHARED, 'models', file));
    const split = await run(set[0]!);
    assert.equal(split.text, whole.text);
    assert.deepEqual(split.logits, whole.logits);
  });

  test('a missing shard file fails naming it', async () => {
    const missing = writeShards(dir, 'missing', shards);
    unlinkSync(missing[1]!);
    await assert.rejects(runtime.loadModel(missing[0]!, LOAD), (e) => isWasmChordError(e, 'SOURCE_IO') && e.message.includes('shard 2 of 3') && e.message.includes(missing[1]!));
  });

  test('a shard renamed out of its place is refused', async () => {
    const [wrong] = writeShards(dir, 'renamed', [shards[1]!]); // shard 2's bytes named 00001-of-00001
    await assert.rejects(runtime.loadModel(wrong!, LOAD), (e) => isWasmChordError(e, 'GGUF_MALFORMED') && /named shard 1 of 1.*shard 2 of 3/.test(e.message));
  });

  test('one shard alone, as bytes, asks for the others', async () => {
    await assert.rejects(runtime.loadModel(shards[0]!, LOAD), (e) => isWasmChordError(e, 'INVALID_ARGUMENT') && /shard 1 of 3 of a split GGUF set/.test(e.message));
  });
});

describe('broken sets give typed errors naming the shard', () => {
  let shards: Uint8Array[];
  before(async () => {
    shards = await splitBytes(MODEL, { maxTensors: 16 });
  });

  /** The set with shard `no`'s split keys (or tensors) changed. */
  async function altered(no: number, change: { keys?: Record<string, number>; dropTensor?: boolean; addTensorOf?: number }): Promise<Uint8Array[]> {
    const specs = splitWriteSpec(await modelSpec(MODEL), { maxTensors: 16 });
    const spec = specs[no]!;
    const metadata = [...(spec.metadata as Iterable<[string, { type: number; value: unknown }]>)].map(([k, v]) => [k, k in (change.keys ?? {}) ? { ...v, value: change.keys![k] } : v]);
    let tensors = change.dropTensor ? spec.tensors.slice(1) : spec.tensors;
    if (change.addTensorOf !== undefined) tensors = [...tensors, specs[change.addTensorOf]!.tensors[0]!];
    const out = [...shards];
    out[no] = await encodeGGUF({ ...spec, metadata: metadata as never, tensors });
    return out;
  }

  const open = (set: readonly Uint8Array[]) => readGGUFShards(set.map((b, i) => new MemorySource(b, `shard-${i + 1}`)));
  const fails = async (set: readonly Uint8Array[], pattern: RegExp, code = 'GGUF_MALFORMED') =>
    assert.rejects(open(set), (e) => isWasmChordError(e, code as never) && pattern.test(e.message));

  test('missing, extra and duplicated shards', async () => {
    await fails([shards[0]!, shards[2]!], /lacks shard 2/);
    await fails([...shards, shards[1]!], /shard-2 and shard-4 both say they are shard 2 of 3/);
    await fails([...shards, readBytes(`models/${MODEL}`)], /shard-4 is not a shard of a split GGUF set/);
    await fails([], /an empty array/, 'INVALID_ARGUMENT');
  });

  test('a shard of another set: another split.count, another cut of the tensors', async () => {
    await fails(await altered(1, { keys: { 'split.count': 4 } }), /shard-2 says it is shard 2 of 4, where shard 2 of 3 belongs \(a shard of another set\?\)/);
    const other = await splitBytes(MODEL, { maxTensors: 20 }); // 3 shards too, cut elsewhere
    await fails([shards[0]!, other[1]!, shards[2]!], /tensor "blk\.\d\.[a-z_.]+" is in both shard-\d and shard-\d/);
  });

  test('duplicate tensors across shards, and split.tensors.count that does not add up', async () => {
    await fails(await altered(2, { addTensorOf: 1 }), /tensor "[^"]+" is in both shard-2 and shard-3/);
    await fails(await altered(2, { dropTensor: true }), /hold 47 tensors, but split\.tensors\.count says 48/);
    await fails(await altered(1, { keys: { 'split.tensors.count': 47 } }), /shard-2 says the set has 47 tensors, shard-1 says 48/);
    await fails(await altered(2, { keys: { 'split.no': 7 } }), /shard-3: split\.no is 7 in a set of 3 shards/);
  });

  test('a merged set reads every tensor from its own shard', async () => {
    const set = await open(shards);
    const original = await read(readBytes(`models/${MODEL}`));
    assert.equal(set.tensors.length, 48);
    for (const t of set.tensors) assert.deepEqual(await set.readTensor(t), await original.readTensor(original.tensor(t.name)!), t.name);
    // One read across shard boundaries (as the CPU backend loads): padding between shards reads as zeros.
    const all = new Uint8Array(set.source.size);
    await set.source.readInto(0, all);
    for (const t of set.tensors) assert.deepEqual(all.subarray(t.offset, t.offset + t.byteLength), await original.readTensor(original.tensor(t.name)!));
  });
});
