/**
 * Reference dot products against ggml's CPU vec_dot (index.json `vec_dot`, from an AVX-512 build):
 * |ours − ggml| ≤ 1e-5·max(1, Σ|dequant·dotvec|), with the activation quantized by our own
 * quantizer after checking that it reproduces act.<vec_dot_type>.bin byte for byte.
 * The tolerance covers summation order only: ggml's SIMD code adds the same terms in another order.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isWasmChordError } from '../../src/errors.js';
import { canDequantize, GGMLType, quantize, typeByName, typeName, vecDot, vecDotType } from '../../src/quant/index.js';
import { readBytes, readF32, readJson } from '../helpers/shared.js';

interface QuantIndex {
  cols: number;
  input_dot_f64: number[];
  types: Record<string, {
    type_id: number; row_bytes: number; vec_dot_type: string; files: { q: string };
    vec_dot: number[]; dot_dequant_sum_abs_products: number[];
  }>;
  activations: Record<string, { type_id: number; file: string; dequant_file: string }>;
}
const Q = 'reference/quants/';
const index = readJson<QuantIndex>(Q + 'index.json');
const input = readF32(Q + 'input.f32');
const dotvec = readF32(Q + 'dotvec.f32');
const N = index.cols;

function tolerance(sumAbs: number): number {
  return 1e-5 * Math.max(1, sumAbs);
}

function isCode(code: string, name?: string) {
  return (e: unknown) => isWasmChordError(e) && e.code === code && (name === undefined || e.message.includes(name));
}

for (const [name, t] of Object.entries(index.types).filter(([, t]) => canDequantize(t.type_id))) {
  test(`${name} · ${t.vec_dot_type}: within 1e-5·Σ|products| of ggml's CPU vec_dot (4 rows × 512)`, () => {
    const act = index.activations[t.vec_dot_type]!;
    assert.equal(vecDotType(t.type_id), act.type_id, `vec_dot_type of ${name}`);
    const activation = quantize(act.type_id, dotvec);
    assert.deepEqual(activation, readBytes(Q + act.file), `our ${t.vec_dot_type} quantizer reproduces act.${t.vec_dot_type}.bin`);
    const rows = readBytes(Q + t.files.q);
    for (let r = 0; r < 4; r++) {
      const ours = vecDot(t.type_id, rows.subarray(r * t.row_bytes, (r + 1) * t.row_bytes), activation, N);
      const err = Math.abs(ours - t.vec_dot[r]!);
      assert.ok(err <= tolerance(t.dot_dequant_sum_abs_products[r]!), `${name} row ${r}: ${ours} vs ggml ${t.vec_dot[r]} (off by ${err})`);
    }
  });
}

test('F32 · F32: within 1e-5·Σ|products| of the float64 dot of input.f32 with dotvec.f32', () => {
  assert.equal(vecDotType(GGMLType.F32), GGMLType.F32);
  const a = new Uint8Array(dotvec.slice().buffer);
  for (let r = 0; r < 4; r++) {
    const row = input.subarray(r * N, (r + 1) * N);
    const sumAbs = row.reduce((s, x, i) => s + Math.abs(x * dotvec[i]!), 0);
    const ours = vecDot(GGMLType.F32, new Uint8Array(row.slice().buffer), a, N);
    assert.ok(Math.abs(ours - index.input_dot_f64[r]!) <= tolerance(sumAbs), `row ${r}: ${ours} vs ${index.input_dot_f64[r]}`);
  }
});

test('MXFP4 · q8_0 (no ggml vectors): hand-built weights dotted with act.q8_0.bin match Σ value·act in float64', () => {
  // Weight values by the OCP definition, E2M1(code)·2^(e−127); activation values from ggml's d·q.
  const e2m1 = [0, 0.5, 1, 1.5, 2, 3, 4, 6, 0, -0.5, -1, -1.5, -2, -3, -4, -6];
  const actValues = readF32(Q + 'act.q8_0.dequant.f32');
  const weights = new Uint8Array(17 * (N / 32));
  let expected = 0, sumAbs = 0;
  for (let b = 0; b < N / 32; b++) {
    const e = 120 + b; // a different shared exponent per block
    weights[17 * b] = e;
    for (let j = 0; j < 32; j++) {
      const code = (b * 5 + j * 3) & 15;
      weights[17 * b + 1 + (j & 15)]! |= code << (j < 16 ? 0 : 4);
      const p = e2m1[code]! * 2 ** (e - 127) * actValues[32 * b + j]!;
      expected += p;
      sumAbs += Math.abs(p);
    }
  }
  assert.equal(vecDotType(GGMLType.MXFP4), GGMLType.Q8_0);
  const ours = vecDot(GGMLType.MXFP4, weights, quantize(GGMLType.Q8_0, dotvec), N);
  assert.ok(Math.abs(ours - expected) <= tolerance(sumAbs), `${ours} vs ${expected}`);
});

test('activation-only, grid and read-only types have no vec_dot: UNSUPPORTED_TENSOR_TYPE naming the type', () => {
  for (const name of ['Q8_1', 'Q8_K', 'IQ2_XXS', 'IQ3_S', 'IQ1_M', 'Q4_0_4_4', 'F64', 'I8']) {
    const info = typeByName(name);
    assert.throws(() => vecDotType(info.id), isCode('UNSUPPORTED_TENSOR_TYPE', name));
    assert.throws(
      () => vecDot(info.id, new Uint8Array(info.typeSize * 8), new Uint8Array(4096), info.blockSize * 8),
      isCode('UNSUPPORTED_TENSOR_TYPE', name),
    );
  }
  assert.throws(() => vecDotType(99), isCode('UNKNOWN_TENSOR_TYPE'));
});

test('lengths: rows that are not whole blocks or are too short are INVALID_ARGUMENT', () => {
  const q8k = typeByName('Q8_K');
  assert.throws(() => vecDot(GGMLType.Q4_K, new Uint8Array(144), new Uint8Array(q8k.typeSize), 128), isCode('INVALID_ARGUMENT'));
  assert.throws(() => vecDot(GGMLType.Q4_K, new Uint8Array(143), new Uint8Array(q8k.typeSize), 256), isCode('INVALID_ARGUMENT'));
  assert.throws(() => vecDot(GGMLType.Q4_K, new Uint8Array(144), new Uint8Array(q8k.typeSize - 1), 256), isCode('INVALID_ARGUMENT', typeName(q8k.id)));
  assert.throws(() => vecDot(GGMLType.F16, new Uint8Array(8), new Uint8Array(6), 4), isCode('INVALID_ARGUMENT'));
});
