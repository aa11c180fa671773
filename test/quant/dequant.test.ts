/**
 * Dequantization against ggml's to_float: bit-exact on every type we decode, on the 4×512 vectors
 * of reference/quants and on the 128×256 real weights of quant-vectors.gguf.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { isWasmChordError } from '../../src/errors.js';
import { openByteSource, readGGUF } from '../../src/gguf/index.js';
import { canDequantize, dequantize, GGMLType, GGML_TYPES, typeByName } from '../../src/quant/index.js';
import { readBytes, readF32, readJson, SHARED } from '../helpers/shared.js';

interface QuantIndex {
  types: Record<string, { type_id: number; files: { q: string; dequant: string } }>;
  activations: Record<string, { type_id: number; file: string; dequant_file: string }>;
}
const Q = 'reference/quants/';
const index = readJson<QuantIndex>(Q + 'index.json');

/** The IQ types that need ggml's lookup grids: named in the type table, never decoded. */
const GRID_TYPES = ['IQ2_XXS', 'IQ2_XS', 'IQ2_S', 'IQ3_XXS', 'IQ3_S', 'IQ1_S', 'IQ1_M'];

/** Asserts bit equality (so −0 ≠ 0 and NaN payloads count), naming the first differing element. */
function assertBitExact(actual: Float32Array, expected: Float32Array, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  const a = new Uint32Array(actual.buffer, actual.byteOffset, actual.length);
  const e = new Uint32Array(expected.buffer, expected.byteOffset, expected.length);
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== e[i]) assert.fail(`${what}: element ${i} (row ${i >> 9}) is ${actual[i]}, expected ${expected[i]}`);
  }
}

function isCode(code: string, name?: string) {
  return (e: unknown) => isWasmChordError(e) && e.code === code && (name === undefined || e.message.includes(name));
}

const decodable = Object.entries(index.types).filter(([, t]) => canDequantize(t.type_id));

test('dequantizer coverage: every type with reference vectors except the 7 grid IQ types', (t) => {
  const covered = GGML_TYPES.filter((i) => canDequantize(i.id)).map((i) => i.name);
  t.diagnostic(`decoded: ${covered.join(', ')}`);
  t.diagnostic(`refused: ${GGML_TYPES.filter((i) => !canDequantize(i.id)).map((i) => i.name).join(', ')}`);
  assert.deepEqual(
    Object.keys(index.types).filter((n) => !canDequantize(index.types[n]!.type_id)).map((n) => n.toUpperCase()).sort(),
    [...GRID_TYPES].sort(),
  );
  for (const name of ['F32', 'Q8_1', 'Q8_K', 'MXFP4', 'F64', 'I8', 'I16', 'I32'] as const) {
    assert.ok(canDequantize(GGMLType[name]), name);
  }
});

for (const [name, t] of decodable) {
  test(`${name}: bit-exact with ggml to_float on reference/quants (4 rows × 512)`, () => {
    const out = dequantize(t.type_id, readBytes(Q + t.files.q), 2048);
    assertBitExact(out, readF32(Q + t.files.dequant), name);
  });
}

for (const [name, a] of Object.entries(index.activations)) {
  test(`activation ${name}: act.${name}.bin decodes bit-exactly to ggml's d·q`, () => {
    assertBitExact(dequantize(a.type_id, readBytes(Q + a.file), 512), readF32(Q + a.dequant_file), name);
  });
}

test('F32: decoding input.f32 returns the same floats', () => {
  const bytes = readBytes(Q + 'input.f32');
  assertBitExact(dequantize(GGMLType.F32, bytes, 2048), readF32(Q + 'input.f32'), 'F32');
});

const vectors = readGGUF(await openByteSource(SHARED + 'models/derived/quant-vectors.gguf'));
after(async () => (await vectors).source.close());

for (const [name] of decodable) {
  test(`${name}: bit-exact with ggml on quant-vectors.gguf (${name}.q → ${name}.deq, 128 × 256 real weights)`, async () => {
    const file = await vectors;
    const q = file.tensor(`${name}.q`)!, deq = file.tensor(`${name}.deq`)!;
    assert.equal(q.type, typeByName(name).id);
    const expected = await file.readTensor(deq);
    const out = dequantize(q.type, await file.readTensor(q), q.elementCount);
    assertBitExact(out, new Float32Array(expected.slice().buffer), name);
  });
}

test('grid IQ types, removed interleaved ids and I64 are refused with UNSUPPORTED_TENSOR_TYPE naming the type', () => {
  const refused = [...GRID_TYPES, 'Q4_0_4_4', 'Q4_0_4_8', 'Q4_0_8_8', 'IQ4_NL_4_4', 'IQ4_NL_4_8', 'IQ4_NL_8_8', 'I64'];
  for (const name of refused) {
    const info = typeByName(name);
    assert.equal(canDequantize(info.id), false, name);
    assert.throws(() => dequantize(info.id, new Uint8Array(info.typeSize), info.blockSize), isCode('UNSUPPORTED_TENSOR_TYPE', name));
  }
  assert.throws(() => dequantize(GGMLType.IQ2_XXS, new Uint8Array(66), 256), /grids/);
});

test('unknown type ids throw UNKNOWN_TENSOR_TYPE', () => {
  for (const id of [4, 5, 40, 1000]) {
    assert.equal(canDequantize(id), false);
    assert.throws(() => dequantize(id, new Uint8Array(64), 32), isCode('UNKNOWN_TENSOR_TYPE'));
  }
});

/** OCP MX E2M1: sign bit 3, exponent bits 2..1 (bias 1), mantissa bit 0; exponent 0 is subnormal. */
function e2m1(code: number): number {
  const sign = code & 8 ? -1 : 1, exp = (code >> 1) & 3, man = code & 1;
  if (exp === 0 && man === 0) return 0; // ggml's integer level table turns −0 (code 8) into +0
  return sign * (exp === 0 ? man * 0.5 : 2 ** (exp - 1) * (1 + man / 2));
}

test('MXFP4 (no ggml vectors): hand-built blocks decode to E2M1(code)·2^(e−127) by the OCP definition', () => {
  const exps = [0, 1, 100, 127, 130, 200];
  const bytes = new Uint8Array(17 * exps.length);
  const expected = new Float32Array(32 * exps.length);
  exps.forEach((e, b) => {
    bytes[17 * b] = e;
    for (let j = 0; j < 16; j++) {
      const lo = j, hi = (j * 7 + 3) & 15; // every code in both nibbles
      bytes[17 * b + 1 + j] = lo | (hi << 4);
      expected[32 * b + j] = e2m1(lo) * 2 ** (e - 127);
      expected[32 * b + 16 + j] = e2m1(hi) * 2 ** (e - 127);
    }
  });
  assertBitExact(dequantize(GGMLType.MXFP4, bytes, expected.length), expected, 'MXFP4');
});

test('plain integer and F64 elements convert to the nearest f32', () => {
  const i8 = Int8Array.of(-128, -1, 0, 127);
  assert.deepEqual([...dequantize(GGMLType.I8, new Uint8Array(i8.buffer), 4)], [-128, -1, 0, 127]);
  const i16 = Int16Array.of(-32768, 1234, 32767);
  assert.deepEqual([...dequantize(GGMLType.I16, new Uint8Array(i16.buffer), 3)], [-32768, 1234, 32767]);
  const i32 = Int32Array.of(-5, 2 ** 24 + 1, 2 ** 24 + 3); // odd values past 2^24 round to even
  assert.deepEqual([...dequantize(GGMLType.I32, new Uint8Array(i32.buffer), 3)], [-5, 2 ** 24, 2 ** 24 + 4]);
  const f64 = Float64Array.of(0.1, -1e300);
  assert.deepEqual([...dequantize(GGMLType.F64, new Uint8Array(f64.buffer), 2)], [Math.fround(0.1), -Infinity]);
});

test('lengths: partial blocks, short sources and short destinations are INVALID_ARGUMENT; dst is reused', () => {
  assert.throws(() => dequantize(GGMLType.Q4_K, new Uint8Array(144), 255), isCode('INVALID_ARGUMENT'));
  assert.throws(() => dequantize(GGMLType.Q4_0, new Uint8Array(17), 32), isCode('INVALID_ARGUMENT'));
  assert.throws(() => dequantize(GGMLType.Q4_0, new Uint8Array(18), 32, new Float32Array(31)), isCode('INVALID_ARGUMENT'));
  assert.throws(() => dequantize(GGMLType.F16, new Uint8Array(4), -2), isCode('INVALID_ARGUMENT'));
  const dst = new Float32Array(40).fill(7);
  assert.equal(dequantize(GGMLType.Q8_0, new Uint8Array(34), 32, dst), dst);
  assert.equal(dst[31], 0);
  assert.equal(dst[32], 7); // only `count` elements are written
});
