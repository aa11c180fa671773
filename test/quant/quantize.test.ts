/**
 * Quantizers against ggml. Every quantizer we have reproduces ggml's deterministic reference
 * (ggml_quantize_chunk without an importance matrix) byte for byte, so these tests compare bytes.
 * MXFP4 has no ggml vectors: it is checked against the format's definition instead.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { isWasmChordError } from '../../src/errors.js';
import { openByteSource, readGGUF } from '../../src/gguf/index.js';
import { canQuantize, dequantize, GGMLType, GGML_TYPES, quantize, typeByName } from '../../src/quant/index.js';
import { readBytes, readF32, readJson, SHARED } from '../helpers/shared.js';

interface QuantIndex {
  types: Record<string, { type_id: number; type_size: number; files: { q: string } }>;
  activations: Record<string, { type_id: number; type_size: number; file: string }>;
}
const Q = 'reference/quants/';
const index = readJson<QuantIndex>(Q + 'index.json');
const input = readF32(Q + 'input.f32');
const dotvec = readF32(Q + 'dotvec.f32');

/** Byte equality that names the first differing block and byte instead of dumping arrays. */
function assertSameBytes(actual: Uint8Array, expected: Uint8Array, typeSize: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    if (actual[i] !== expected[i]) {
      const diff = actual.reduce((n, v, j) => n + (v !== expected[j] ? 1 : 0), 0);
      assert.fail(`${what}: ${diff} bytes differ; first at block ${Math.floor(i / typeSize)} byte ${i % typeSize}: ${actual[i]} vs ${expected[i]}`);
    }
  }
}

function isCode(code: string, name?: string) {
  return (e: unknown) => isWasmChordError(e) && e.code === code && (name === undefined || e.message.includes(name));
}

const quantizable = Object.entries(index.types).filter(([, t]) => canQuantize(t.type_id));

test('quantizer coverage: every non-grid type with reference vectors, the activation types and MXFP4', (t) => {
  const covered = GGML_TYPES.filter((i) => canQuantize(i.id)).map((i) => i.name);
  t.diagnostic(`quantized: ${covered.join(', ')}`);
  assert.deepEqual(
    covered.sort(),
    ['F32', 'F16', 'BF16', 'Q4_0', 'Q4_1', 'Q5_0', 'Q5_1', 'Q8_0', 'Q8_1', 'Q2_K', 'Q3_K', 'Q4_K', 'Q5_K', 'Q6_K', 'Q8_K', 'IQ4_NL', 'IQ4_XS', 'TQ1_0', 'TQ2_0', 'MXFP4'].sort(),
  );
});

for (const [name, t] of quantizable) {
  test(`${name}: byte-identical to ggml_quantize_chunk on reference/quants (deterministic reference, 4 × 512)`, () => {
    assertSameBytes(quantize(t.type_id, input), readBytes(Q + t.files.q), t.type_size, name);
  });
}

for (const [name, a] of Object.entries(index.activations)) {
  test(`activation ${name}: byte-identical to ggml's CPU from_float (act.${name}.bin, deterministic)`, () => {
    assertSameBytes(quantize(a.type_id, dotvec), readBytes(Q + a.file), a.type_size, name);
  });
}

const vectors = readGGUF(await openByteSource(SHARED + 'models/derived/quant-vectors.gguf'));
after(async () => (await vectors).source.close());

for (const [name] of quantizable) {
  test(`${name}: byte-identical to ggml on quant-vectors.gguf (src.f32 → ${name}.q, deterministic, 128 × 256 real weights)`, async () => {
    const file = await vectors;
    const src = new Float32Array((await file.readTensor(file.tensor('src.f32')!)).slice().buffer);
    const info = typeByName(name);
    assertSameBytes(quantize(info.id, src), await file.readTensor(file.tensor(`${name}.q`)!), info.typeSize, name);
  });
}

test('an all-zero input quantizes to a block that decodes to zeros (no 0/0) for every quantizer', () => {
  for (const info of GGML_TYPES.filter((i) => canQuantize(i.id))) {
    const out = dequantize(info.id, quantize(info.id, new Float32Array(256)), 256);
    assert.ok(out.every((v) => v === 0), info.name);
  }
});

// MXFP4: OCP Microscaling. A block shares the scale 2^(e−127) with e = floor(log2 amax) − 2 + 127,
// and each element is an E2M1 value: ±{0, 0.5, 1, 1.5, 2, 3, 4, 6}.
const E2M1 = [0, 0.5, 1, 1.5, 2, 3, 4, 6];

test('MXFP4 (statistics, no ggml vectors): values on the E2M1 grid round-trip exactly', () => {
  const x = new Float32Array(64);
  for (let j = 0; j < 64; j++) {
    const k = j < 32 ? -3 : 5; // the block's power of two
    x[j] = (j % 3 === 1 ? -1 : 1) * E2M1[j % 8]! * 2 ** k;
    if (x[j] === 0) x[j] = 0; // −0 has no code of its own in ggml's table: it decodes as +0
  }
  x[5] = 6 * 2 ** -3; // the largest magnitude fixes e = floor(log2 amax) − 2 + 127 = k + 127
  x[40] = -6 * 2 ** 5;
  const q = quantize(GGMLType.MXFP4, x);
  assert.deepEqual([q[0], q[17]], [124, 132]);
  assert.deepEqual(dequantize(GGMLType.MXFP4, q, 64), x);
});

test('MXFP4 (statistics, no ggml vectors): each value of input.f32 lands on a nearest point of its block grid', (t) => {
  const deq = dequantize(GGMLType.MXFP4, quantize(GGMLType.MXFP4, input), input.length);
  let se = 0;
  for (let b = 0; b < input.length / 32; b++) {
    const block = input.subarray(32 * b, 32 * b + 32);
    const amax = Math.max(...block.map(Math.abs));
    const scale = 2 ** (Math.floor(Math.log2(amax)) - 2);
    for (let j = 0; j < 32; j++) {
      const x = block[j]!, y = deq[32 * b + j]!;
      const best = Math.min(...E2M1.map((m) => Math.min(Math.abs(m * scale - x), Math.abs(-m * scale - x))));
      assert.ok(E2M1.includes(Math.abs(y) / scale), `block ${b} element ${j}: ${y} is off the grid`);
      assert.equal(Math.abs(y - x), best, `block ${b} element ${j}: ${y} is not a nearest grid point to ${x}`);
      se += (y - x) ** 2;
    }
  }
  t.diagnostic(`MXFP4 rmse over input.f32: ${Math.sqrt(se / input.length).toPrecision(4)}`);
});

test('types without a quantizer are refused with UNSUPPORTED_TENSOR_TYPE naming the type', () => {
  for (const name of ['IQ2_XXS', 'IQ2_XS', 'IQ2_S', 'IQ3_XXS', 'IQ3_S', 'IQ1_S', 'IQ1_M', 'Q4_0_8_8', 'F64', 'I32']) {
    const info = typeByName(name);
    assert.equal(canQuantize(info.id), false, name);
    assert.throws(() => quantize(info.id, new Float32Array(info.blockSize)), isCode('UNSUPPORTED_TENSOR_TYPE', name));
  }
  assert.equal(canQuantize(77), false);
  assert.throws(() => quantize(77, new Float32Array(32)), isCode('UNKNOWN_TENSOR_TYPE'));
});

test('lengths: partial blocks and short destinations are INVALID_ARGUMENT; dst is reused', () => {
  assert.throws(() => quantize(GGMLType.Q4_K, new Float32Array(300)), isCode('INVALID_ARGUMENT'));
  assert.throws(() => quantize(GGMLType.Q8_0, new Float32Array(32), new Uint8Array(33)), isCode('INVALID_ARGUMENT'));
  const dst = new Uint8Array(36).fill(0xee);
  assert.equal(quantize(GGMLType.Q8_0, new Float32Array(32), dst), dst);
  assert.deepEqual([dst[33], dst[34]], [0, 0xee]);
});
