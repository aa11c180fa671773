// Hostile GGUF input: every case must end in a typed WasmChordError with a stable code, quickly,
// without a huge allocation. Crafted cases check the exact code; fuzzed cases check the kind.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ERROR_CODES, WasmChordError } from '../../src/errors.js';
import { encodeGGUF, GGUFValueType, kv, MemorySource, readGGUF, type GGUFKeyValue } from '../../src/gguf/index.js';
import { GGMLType } from '../../src/quant/types.js';
import { GGUFBytes } from '../helpers/gguf-bytes.js';
import { prng } from '../helpers/prng.js';

const STRING = GGUFValueType.STRING;
const ARRAY = GGUFValueType.ARRAY;
const U32 = GGUFValueType.UINT32;
const U64 = GGUFValueType.UINT64;

async function parse(bytes: Uint8Array) {
  return readGGUF(new MemorySource(bytes, 'hostile.gguf'));
}

async function expectCode(bytes: Uint8Array, code: string, message?: RegExp): Promise<void> {
  await assert.rejects(parse(bytes), (err: unknown) => {
    assert.ok(err instanceof WasmChordError, `expected WasmChordError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (message) assert.match(err.message, message);
    return true;
  });
}

describe('crafted hostile headers', () => {
  test('not GGUF at all', () => expectCode(new TextEncoder().encode('PK\x03\x04 not a model'), 'GGUF_BAD_MAGIC'));
  test('empty file', () => expectCode(new Uint8Array(0), 'GGUF_TRUNCATED'));
  test('version 1 is refused, naming the version', () =>
    expectCode(new GGUFBytes().header(1, 0, 0).bytes(), 'GGUF_UNSUPPORTED_VERSION', /version 1\b/));
  test('a future version is refused', () =>
    expectCode(new GGUFBytes().header(4, 0, 0).bytes(), 'GGUF_UNSUPPORTED_VERSION', /version 4\b/));
  test('a big-endian file is named as such', () =>
    expectCode(new GGUFBytes().header(0x03000000, 0, 0).bytes(), 'GGUF_UNSUPPORTED_VERSION', /big-endian/));
  test('2^40 tensors', () => expectCode(new GGUFBytes().header(3, 2n ** 40n, 0).zeros(64).bytes(), 'GGUF_LIMIT_EXCEEDED'));
  test('2^62 key/values', () => expectCode(new GGUFBytes().header(3, 0, 2n ** 62n).zeros(64).bytes(), 'GGUF_LIMIT_EXCEEDED'));
  test('a 2^62-byte key', () =>
    expectCode(new GGUFBytes().header(3, 0, 1).str('k', 2n ** 62n).zeros(64).bytes(), 'GGUF_TRUNCATED'));
  test('a 2^62-byte string value', () =>
    expectCode(new GGUFBytes().header(3, 0, 1).str('k').u32(STRING).str('v', 2n ** 62n).bytes(), 'GGUF_TRUNCATED'));
  test('an array of 2^40 u64', () =>
    expectCode(new GGUFBytes().header(3, 0, 1).str('k').u32(ARRAY).u32(U64).u64(2n ** 40n).zeros(64).bytes(), 'GGUF_LIMIT_EXCEEDED'));
  test('an array of 2^40 strings', () =>
    expectCode(new GGUFBytes().header(3, 0, 1).str('k').u32(ARRAY).u32(STRING).u64(2n ** 40n).zeros(64).bytes(), 'GGUF_LIMIT_EXCEEDED'));
  test('arrays nested 1000 deep', () => {
    const b = new GGUFBytes().header(3, 0, 1).str('k').u32(ARRAY);
    for (let i = 0; i < 1000; i++) b.u32(ARRAY).u64(1);
    return expectCode(b.u32(U32).u64(0).bytes(), 'GGUF_LIMIT_EXCEEDED', /nested/);
  });
  test('unknown value type', () => expectCode(new GGUFBytes().header(3, 0, 1).str('k').u32(99).u32(0).bytes(), 'GGUF_MALFORMED'));
  test('bool that is neither 0 nor 1', () =>
    expectCode(new GGUFBytes().header(3, 0, 1).str('k').u32(GGUFValueType.BOOL).u8(7).bytes(), 'GGUF_MALFORMED'));
  test('duplicate keys', () =>
    expectCode(new GGUFBytes().header(3, 0, 2).str('k').u32(U32).u32(1).str('k').u32(U32).u32(2).bytes(), 'GGUF_MALFORMED', /duplicate/));
  test('alignment 0', () =>
    expectCode(new GGUFBytes().header(3, 0, 1).str('general.alignment').u32(U32).u32(0).bytes(), 'GGUF_MALFORMED', /power of two/));
  test('alignment not a power of two', () =>
    expectCode(new GGUFBytes().header(3, 0, 1).str('general.alignment').u32(U32).u32(48).bytes(), 'GGUF_MALFORMED', /power of two/));
  test('alignment of the wrong value type', () =>
    expectCode(new GGUFBytes().header(3, 0, 1).str('general.alignment').u32(STRING).str('32').bytes(), 'GGUF_MALFORMED', /UINT32/));

  const tensorFile = (info: (b: GGUFBytes) => GGUFBytes, data = 64) =>
    info(new GGUFBytes().header(3, 1, 0)).padTo(32).zeros(data).bytes();
  test('unknown tensor type', () => expectCode(tensorFile((b) => b.tensorInfo('t', [4], 99, 0)), 'UNKNOWN_TENSOR_TYPE'));
  test('five dimensions', () => expectCode(tensorFile((b) => b.tensorInfo('t', [1, 1, 1, 1, 1], GGMLType.F32, 0)), 'GGUF_MALFORMED'));
  test('zero dimensions', () => expectCode(tensorFile((b) => b.tensorInfo('t', [], GGMLType.F32, 0)), 'GGUF_MALFORMED'));
  test('a 2^62-element dimension', () =>
    expectCode(tensorFile((b) => b.tensorInfo('t', [2n ** 62n], GGMLType.F32, 0)), 'GGUF_LIMIT_EXCEEDED'));
  test('dimensions whose product overflows', () =>
    expectCode(tensorFile((b) => b.tensorInfo('t', [2 ** 30, 2 ** 30, 2 ** 30], GGMLType.F32, 0)), 'GGUF_LIMIT_EXCEEDED'));
  test('a row that is not a whole number of blocks', () =>
    expectCode(tensorFile((b) => b.tensorInfo('t', [33, 2], GGMLType.Q4_0, 0)), 'GGUF_MALFORMED', /block size/));
  test('offset not a multiple of the alignment', () =>
    expectCode(tensorFile((b) => b.tensorInfo('t', [4], GGMLType.F32, 3)), 'GGUF_MALFORMED', /alignment/));
  test('tensor data past the end of the file', () =>
    expectCode(tensorFile((b) => b.tensorInfo('t', [4], GGMLType.F32, 2n ** 40n)), 'GGUF_TRUNCATED'));
  test('tensor data past 2^53', () =>
    expectCode(tensorFile((b) => b.tensorInfo('t', [4], GGMLType.F32, 2n ** 63n)), 'GGUF_MALFORMED'));
  test('overlapping tensors', () =>
    expectCode(
      new GGUFBytes().header(3, 2, 0).tensorInfo('a', [16], GGMLType.F32, 0).tensorInfo('b', [16], GGMLType.F32, 32)
        .padTo(32).zeros(128).bytes(),
      'GGUF_MALFORMED',
      /overlap/,
    ));
  test('duplicate tensor names', () =>
    expectCode(
      new GGUFBytes().header(3, 2, 0).tensorInfo('a', [8], GGMLType.F32, 0).tensorInfo('a', [8], GGMLType.F32, 32)
        .padTo(32).zeros(64).bytes(),
      'GGUF_MALFORMED',
      /duplicate/,
    ));
});

/** A small but varied valid file: every value type, nested arrays, a few tensors. */
async function seedFile(): Promise<Uint8Array> {
  const nested: GGUFKeyValue = {
    type: ARRAY,
    value: {
      itemType: ARRAY,
      items: [
        { itemType: U32, items: Uint32Array.of(1, 2, 3) },
        { itemType: STRING, items: ['a', 'bc'] },
      ],
    },
  };
  const metadata: [string, GGUFKeyValue][] = [
    ['general.architecture', kv.string('llama')],
    ['general.alignment', kv.u32(32)],
    ['u8', { type: GGUFValueType.UINT8, value: 200 }],
    ['i8', { type: GGUFValueType.INT8, value: -5 }],
    ['u16', { type: GGUFValueType.UINT16, value: 60000 }],
    ['i16', { type: GGUFValueType.INT16, value: -300 }],
    ['i32', kv.i32(-70000)],
    ['f32', kv.f32(1.5)],
    ['f64', { type: GGUFValueType.FLOAT64, value: Math.PI }],
    ['bool', kv.bool(true)],
    ['u64', kv.u64(2n ** 40n)],
    ['i64', { type: GGUFValueType.INT64, value: -(2n ** 40n) }],
    ['tokens', kv.stringArray(['<s>', '</s>', 'hello', 'wörld', '\uFEFF'])],
    ['scores', kv.f32Array([0, -1, -2.5, 3, 4])],
    ['flags', { type: ARRAY, value: { itemType: GGUFValueType.BOOL, items: [true, false, true] } }],
    ['nested', nested],
  ];
  return encodeGGUF({
    metadata,
    tensors: [
      { name: 'a', type: GGMLType.F32, shape: [8, 2], data: new Uint8Array(64) },
      { name: 'b', type: GGMLType.Q8_0, shape: [32, 2], data: new Uint8Array(68) },
      { name: 'c', type: GGMLType.F16, shape: [5], data: new Uint8Array(10) },
    ],
  });
}

const KNOWN_CODES = new Set<string>(ERROR_CODES);

/** Parses a mutated file: success or a typed error are fine, anything else fails the test. */
async function survives(bytes: Uint8Array, label: string): Promise<'ok' | string> {
  const start = performance.now();
  try {
    await parse(bytes);
    return 'ok';
  } catch (err) {
    if (!(err instanceof WasmChordError) || !KNOWN_CODES.has(err.code)) {
      assert.fail(`${label}: untyped failure ${err instanceof Error ? err.stack : String(err)}`);
    }
    return err.code;
  } finally {
    const ms = performance.now() - start;
    assert.ok(ms < 250, `${label}: took ${ms.toFixed(0)} ms`);
  }
}

describe('fuzzed headers', () => {
  test('the seed file itself parses and reads back every value', async () => {
    const f = await parse(await seedFile());
    assert.equal(f.metadata.getNumber('u8'), 200);
    assert.equal(f.metadata.get('i64')?.value, -(2n ** 40n));
    assert.deepEqual(f.metadata.getStringArray('tokens'), ['<s>', '</s>', 'hello', 'wörld', '\uFEFF']);
    assert.deepEqual(f.metadata.getArray('flags')?.items, [true, false, true]);
    const nested = f.metadata.getArray('nested')!.items as unknown as { items: unknown }[];
    assert.deepEqual(Array.from(nested[0]!.items as Uint32Array), [1, 2, 3]);
    assert.deepEqual(nested[1]!.items, ['a', 'bc']);
    assert.equal(f.tensors.length, 3);
  });

  test('every truncation of the file is refused with a typed error', async () => {
    const seed = await seedFile();
    const f = await parse(seed);
    // The padding after the last tensor is optional: cutting it off leaves a valid file.
    const end = Math.max(...f.tensors.map((t) => f.dataOffset + t.offset + t.byteLength));
    const codes = new Map<string, number>();
    for (let n = 0; n < end; n++) {
      const code = await survives(seed.subarray(0, n), `truncated to ${n} bytes`);
      assert.notEqual(code, 'ok', `truncated to ${n} bytes parsed`);
      codes.set(code, (codes.get(code) ?? 0) + 1);
    }
    assert.ok(codes.has('GGUF_TRUNCATED'));
  });

  test('5000 random bit flips and byte overwrites: parse or typed error, bounded time and memory', async (t) => {
    const seed = await seedFile();
    const f = await parse(seed);
    const headerEnd = f.dataOffset;
    const rand = prng(0x5eed);
    const before = process.memoryUsage().rss;
    const outcomes = new Map<string, number>();
    for (let i = 0; i < 5000; i++) {
      const bytes = seed.slice();
      const edits = 1 + Math.floor(rand() * 4);
      for (let e = 0; e < edits; e++) {
        const at = Math.floor(rand() * headerEnd);
        if (rand() < 0.5) bytes[at]! ^= 1 << Math.floor(rand() * 8);
        else bytes[at] = [0x00, 0xff, 0x7f, 0x80, 0x40][Math.floor(rand() * 5)]!;
      }
      const code = await survives(bytes, `mutation ${i}`);
      outcomes.set(code, (outcomes.get(code) ?? 0) + 1);
    }
    t.diagnostic(`outcomes: ${JSON.stringify(Object.fromEntries(outcomes))}`);
    const grown = (process.memoryUsage().rss - before) / 2 ** 20;
    assert.ok(grown < 256, `RSS grew by ${grown.toFixed(0)} MiB`);
    // The mutations must reach deep enough to exercise several kinds of refusal.
    assert.ok(outcomes.size >= 4, `outcomes: ${JSON.stringify([...outcomes])}`);
  });
});
