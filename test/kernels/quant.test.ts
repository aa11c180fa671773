/**
 * Quant kernels (kernels/quant) against llama.cpp's own vectors in shared/reference/quants and
 * against the TS reference codecs (src/quant), on both kernel builds.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { KERNEL_VARIANTS, type KernelVariant } from '../../src/backends/cpu/kernel-module.js';
import type { QuantKernelExports } from '../../src/backends/cpu/quant-kernels.js';
import {
  GGMLType, dequantize, f16BitsToF32, f32Bits, f32ToBF16Bits, f32ToF16Bits, quantize, rowByteSize, typeByName, vecDot,
  vecDotType,
} from '../../src/quant/index.js';
import { activationFormat, Q8_0S_BLOCK_BYTES } from '../../src/backends/cpu/activations.js';
import { kernelHarness, type KernelHarness } from '../helpers/kernel-harness.js';
import { SHARED, readF32, readJson } from '../helpers/shared.js';

const QDIR = join(SHARED, 'reference/quants');

interface QuantIndex {
  rows: number;
  cols: number;
  input_dot_f64: number[];
  types: Record<string, { vec_dot_type: string; vec_dot: number[]; dot_dequant_sum_abs_products: number[] }>;
}
const INDEX = readJson<QuantIndex>(join(QDIR, 'index.json'));
const ROWS = INDEX.rows, COLS = INDEX.cols;

const bytes = (name: string) => new Uint8Array(readFileSync(join(QDIR, name)));
const f32file = (name: string) => readF32(join(QDIR, name));

/** Weight types with a matmul kernel, by their ggml name as index.json spells it. */
const MATMUL_TYPES = ['f16', 'bf16', 'q4_0', 'q4_1', 'q5_0', 'q5_1', 'q8_0', 'iq4_nl', 'q2_K', 'q3_K', 'q4_K', 'q5_K', 'q6_K', 'iq4_xs'];

type MatmulFn = (w: number, x: number, y: number, k: number, m: number, row0: number, row1: number, n: number) => void;
type DequantFn = (w: number, ids: number, n: number, k: number, out: number) => void;
type QuantizeFn = (x: number, out: number, rows: number, len: number) => void;

const kname = (t: string) => t.toLowerCase();
const matmulOf = (k: QuantKernelExports, t: string) => (k as unknown as Record<string, MatmulFn>)[`matmul_${kname(t)}`]!;
const dequantOf = (k: QuantKernelExports, t: string) => (k as unknown as Record<string, DequantFn>)[`dequantize_rows_${kname(t)}`]!;
// q8_K rows come from quantize_q8_k_x8, in the octet layout the K-quant kernels read (q8KOctets);
// f16/bf16 rows come from quantize_f16w/quantize_bf16w, as f32 in the float kernels' order (wideRows).
const KERNEL_QUANTIZER: Record<string, string> = { q8_K: 'q8_k_x8', f16: 'f16w', bf16: 'bf16w' };
const quantizerOf = (k: QuantKernelExports, t: string) => (k as unknown as Record<string, QuantizeFn>)[`quantize_${KERNEL_QUANTIZER[t] ?? kname(t)}`]!;

const harnesses = new Map<KernelVariant, Promise<KernelHarness>>();
function harness(v: KernelVariant): Promise<KernelHarness> {
  let h = harnesses.get(v);
  if (!h) harnesses.set(v, (h = kernelHarness(v, 512)));
  return h.then((x) => (x.reset(), x));
}

/**
 * Quantizes f32 rows with the kernel for activation type `t` (blockBytes per 32 values where t is
 * no ggml type), as plain rows (q8_K: `octets` keeps the kernel's own layout).
 */
function kernelQuantize(h: KernelHarness, t: string, data: Float32Array, rowLen: number, blockBytes?: number, octets = false): Uint8Array {
  const n = data.length / rowLen;
  const wide = t === 'f16' || t === 'bf16';
  const rowBytes = wide ? rowLen * 4 : blockBytes ? (rowLen / 32) * blockBytes : rowByteSize(typeByName(t).id, rowLen);
  const out = h.allocBytes(rowBytes * n);
  const x = h.allocF32(data);
  quantizerOf(h.k, t)(x, out, n, rowLen);
  const q = h.u8(out, rowBytes * n);
  if (wide) return wideRows(q, rowLen, t, false, n === 1);
  return t === 'q8_K' && !octets ? q8KOctets(q, rowBytes, false) : q;
}

/**
 * The f16w/bf16w rows (src/backends/cpu/activations.ts) of plain f16/bf16 rows of rowLen values
 * (toKernel), or plain rows back from them: each value widened to f32 (f16 of a single row,
 * `scaled`: times 2^112, as decode reads it), each whole chunk of eight of a row with its even
 * elements first. Worked on bits where they are inf or NaN, so NaN payloads survive.
 */
function wideRows(x: Uint8Array, rowLen: number, t: 'f16' | 'bf16', toKernel: boolean, scaled: boolean): Uint8Array {
  const scale = t === 'f16' && scaled ? 2 ** 112 : 1;
  const count = toKernel ? x.length / 2 : x.length / 4;
  const halves = toKernel ? new Uint16Array(x.buffer.slice(x.byteOffset, x.byteOffset + x.length)) : new Uint16Array(count);
  const wide = toKernel ? new Uint32Array(count) : new Uint32Array(x.buffer.slice(x.byteOffset, x.byteOffset + x.length));
  const f = new Float32Array(1), fb = new Uint32Array(f.buffer);
  const chunked = rowLen - (rowLen % 8);
  for (let i = 0; i < count; i++) {
    const j = i % rowLen;
    const at = j < chunked ? i - (j % 8) + ((j % 8) >> 1) + (j % 2) * 4 : i;
    if (toKernel) {
      const h = halves[i]!;
      if (t === 'bf16') wide[at] = h << 16;
      else if ((h & 0x7c00) === 0x7c00) wide[at] = (((h & 0x8000) << 16) | 0x7f800000 | ((h & 0x3ff) << 13)) >>> 0;
      else {
        f[0] = f16BitsToF32(h) * scale;
        wide[at] = fb[0]!;
      }
    } else {
      const b = wide[at]!;
      if (t === 'bf16') halves[i] = b >>> 16;
      else if ((b & 0x7f800000) === 0x7f800000) halves[i] = ((b >>> 16) & 0x8000) | 0x7c00 | ((b >>> 13) & 0x3ff);
      else {
        fb[0] = b;
        halves[i] = f32ToF16Bits(f[0]! / scale);
      }
    }
  }
  return new Uint8Array(toKernel ? wide.buffer : halves.buffer);
}

/**
 * The q8_k_x8 layout (src/backends/cpu/activations.ts) of plain q8_K rows (toKernel), or plain
 * rows back from it: block b of row r of a whole octet of rows sits at (r & ~7)·rowBytes +
 * (8b + r % 8)·292; the rows after the last whole octet stay where they are.
 */
function q8KOctets(x: Uint8Array, rowBytes: number, toKernel: boolean): Uint8Array {
  const out = x.slice(), n = x.length / rowBytes;
  for (let r = 0; r < (n & ~7); r++) {
    for (let b = 0; b < rowBytes / 292; b++) {
      const plain = r * rowBytes + b * 292, octet = (r & ~7) * rowBytes + (8 * b + (r % 8)) * 292;
      const [from, to] = toKernel ? [plain, octet] : [octet, plain];
      out.set(x.subarray(from, from + 292), to);
    }
  }
  return out;
}

/**
 * q8_0 rows as q8_0s, the input of the Q4_0 kernels (src/backends/cpu/activations.ts): each
 * block followed by Σq (i32) and d·2^112 (f32), computed here from ggml's bytes.
 */
function q8_0s(q8: Uint8Array): Uint8Array {
  const blocks = q8.length / 34;
  const out = new Uint8Array(blocks * Q8_0S_BLOCK_BYTES);
  const src = new DataView(q8.buffer, q8.byteOffset, q8.length), dst = new DataView(out.buffer);
  for (let b = 0; b < blocks; b++) {
    out.set(q8.subarray(b * 34, b * 34 + 34), b * Q8_0S_BLOCK_BYTES);
    let sum = 0;
    for (let i = 0; i < 32; i++) sum += src.getInt8(b * 34 + 2 + i);
    dst.setInt32(b * Q8_0S_BLOCK_BYTES + 34, sum, true);
    dst.setFloat32(b * Q8_0S_BLOCK_BYTES + 38, f16BitsToF32(src.getUint16(b * 34, true)) * 2 ** 112, true);
  }
  return out;
}

/**
 * Runs matmul_<type> over rows [row0,row1) and returns the whole y (untouched entries stay NaN).
 * x: rows of the weight type's vec_dot type, given to the kernel in its own input format.
 */
function runMatmul(
  h: KernelHarness, type: string, w: Uint8Array, x: Uint8Array, k: number, m: number, n: number,
  ranges: [number, number][] = [[0, m]], misalign = 0,
): Float32Array {
  const format = activationFormat(typeByName(type.replace(/_x[48]$/, '')).id)?.name;
  if (format === 'q8_0s') x = q8_0s(x);
  if (format === 'q8_k_x8') x = q8KOctets(x, x.length / n, true);
  if (format === 'f16w' || format === 'bf16w') x = wideRows(x, x.length / n / 2, type === 'f16' ? 'f16' : 'bf16', true, n === 1);
  const pw = h.alloc(w.length + misalign) + misalign, px = h.alloc(x.length + misalign) + misalign;
  new Uint8Array(h.memory.buffer).set(w, pw);
  new Uint8Array(h.memory.buffer).set(x, px);
  const py = h.allocF32(new Float32Array(n * m).fill(NaN));
  for (const [a, b] of ranges) matmulOf(h.k, type)(pw, px, py, k, m, a, b, n);
  return h.f32(py, n * m);
}

/** A deterministic PRNG (xorshift32) so failures reproduce. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 2 ** 32;
  };
}

/** Rows of random f32 with a different scale per row, some sparse outliers and exact zeros. */
function randomRows(rand: () => number, rows: number, len: number): Float32Array {
  const out = new Float32Array(rows * len);
  for (let r = 0; r < rows; r++) {
    const scale = 10 ** (rand() * 6 - 3);
    for (let i = 0; i < len; i++) {
      const u = rand();
      out[r * len + i] = u < 0.02 ? 0 : (2 * rand() - 1) * scale * (u > 0.98 ? 8 : 1);
    }
  }
  return out;
}

/** Byte offsets of the f16 scale fields inside one block, per weight type. */
const F16_FIELDS: Record<string, number[]> = {
  q4_0: [0], q4_1: [0, 2], q5_0: [0], q5_1: [0, 2], q8_0: [0], iq4_nl: [0],
  q2_K: [80, 82], q3_K: [108], q4_K: [0, 2], q5_K: [0, 2], q6_K: [208], iq4_xs: [0],
};

/**
 * Random bytes for `rows` rows of `type`: every bit pattern of the quants and sub-scales, with
 * the f16 scales set to finite values of moderate size (random f16 bits would be NaN/inf).
 */
function randomWeights(rand: () => number, type: string, rows: number, k: number): Uint8Array {
  const info = typeByName(type);
  const out = new Uint8Array(rowByteSize(info.id, k) * rows);
  for (let i = 0; i < out.length; i++) out[i] = (rand() * 256) | 0;
  const dv = new DataView(out.buffer);
  const finite = () => (rand() < 0.5 ? -1 : 1) * 10 ** (rand() * 3 - 3);
  if (type === 'f16' || type === 'bf16') {
    for (let i = 0; i < out.length; i += 2) dv.setUint16(i, type === 'f16' ? f32ToF16Bits(finite()) : f32ToBF16Bits(finite()), true);
    return out;
  }
  for (let b = 0; b < out.length; b += info.typeSize) {
    for (const o of F16_FIELDS[type]!) dv.setUint16(b + o, f32ToF16Bits(finite()), true);
  }
  return out;
}

test('activation quantizers reproduce llama.cpp bytes (act.*.bin, q8_0/f16/bf16 q.bin)', async () => {
  const dotvec = f32file('dotvec.f32'), input = f32file('input.f32');
  for (const v of KERNEL_VARIANTS) {
    const h = await harness(v);
    for (const t of ['q8_0', 'q8_1', 'q8_K', 'f16', 'bf16']) {
      assert.deepEqual(kernelQuantize(h, t, dotvec, COLS), bytes(`act.${t}.bin`), `${v} ${t} of dotvec`);
    }
    assert.deepEqual(kernelQuantize(h, 'q8_0s', dotvec, COLS, Q8_0S_BLOCK_BYTES), q8_0s(bytes('act.q8_0.bin')), `${v} q8_0s of dotvec`);
    // For these three, ggml_quantize_chunk is the same reference quantizer, on 4 varied rows.
    for (const t of ['q8_0', 'f16', 'bf16']) {
      assert.deepEqual(kernelQuantize(h, t, input, COLS), bytes(`${t}.q.bin`), `${v} ${t} of input.f32`);
    }
  }
});

test('activation quantizers match the TS reference on random rows, zero blocks and ties', async () => {
  const rand = rng(7);
  const rows = randomRows(rand, 6, 512);
  rows.fill(0, 512, 1024); // an all-zero row: d = 0 paths
  // Exact halves of the q8_0 step (amax 127 -> step 1): roundf must round them away from zero.
  for (let i = 0; i < 32; i++) rows[2048 + i] = i === 0 ? 127 : ((i % 5) - 2) + 0.5;
  // q8_K takes the sign of the first element of largest magnitude: ties of opposite signs in
  // different vectors (block 5) and in one vector (block 6).
  for (let i = 1280; i < 1792; i++) rows[i] = Math.sin(i);
  for (const [at, v] of [[1280 + 37, -5], [1280 + 200, 5], [1536 + 12, 5], [1536 + 13, -5]] as const) rows[at] = v;
  for (const v of KERNEL_VARIANTS) {
    const h = await harness(v);
    for (const t of ['q8_0', 'q8_1', 'q8_K', 'f16', 'bf16']) {
      const len = t === 'q8_K' ? 256 : 512;
      const ours = kernelQuantize(h, t, rows, len);
      const ref = quantize(typeByName(t).id, rows);
      if (t === 'q8_K') {
        // ggml leaves bsums of an all-zero block unwritten; we write zeros. Compare the rest.
        for (const b of [2, 3]) {
          assert.deepEqual(ours.subarray(b * 292, b * 292 + 260), ref.subarray(b * 292, b * 292 + 260), `${v} q8_K zero block ${b}`);
          assert.ok(ours.subarray(b * 292 + 260, b * 292 + 292).every((x) => x === 0));
          ref.set(ours.subarray(b * 292 + 260, b * 292 + 292), b * 292 + 260);
        }
      }
      assert.deepEqual(ours, ref, `${v} ${t}`);
    }
    // q8_K of a block so small that -127/max overflows to -inf: every quant is ggml's int8 of
    // nearest_int(±inf), 0, never the -128 the kernels' dots must not see.
    const tiny = new Float32Array(512).map((_, i) => (i < 256 ? Math.fround(Math.sin(i + 1) * 1e-39) : Math.sin(i)));
    assert.deepEqual(kernelQuantize(h, 'q8_K', tiny, 512), quantize(GGMLType.Q8_K, tiny), `${v} q8_K of a tiny block`);
  }
});

test('quantize_q8_k_x8 interleaves each whole octet of rows block by block and leaves the rest plain', async () => {
  // 19 rows of three blocks: two octets and three plain rows.
  const rows = randomRows(rng(8), 19, 768);
  const want = q8KOctets(quantize(GGMLType.Q8_K, rows), rowByteSize(GGMLType.Q8_K, 768), true);
  assert.notDeepEqual(want, quantize(GGMLType.Q8_K, rows));
  for (const v of KERNEL_VARIANTS) assert.deepEqual(kernelQuantize(await harness(v), 'q8_K', rows, 768, undefined, true), want, v);
});

test('f16/bf16 conversion matches src/quant/half.ts on special values and random bit patterns', async () => {
  const rand = rng(11);
  const n = 1 << 16;
  const bits = new Uint32Array(n);
  const special = [
    0, 0x80000000, 0x7f800000, 0xff800000, 0x7fc00000, 0x7f800001, 0xffffffff, 0x00000001, 0x00800000,
    0x33000000, 0x33000001, 0x337fffff, 0x387fc000, 0x387fe000, 0x38800000, 0x477fe000, 0x477fefff,
    0x477ff000, 0x47800000, 0x3f801000, 0x3f803000, 0x3f808000, 0x3f818000,
  ];
  bits.set(special);
  for (let i = special.length; i < n; i++) {
    // Half of them in the f16 range (exponents 100..150), the rest anywhere.
    const e = i & 1 ? (100 + rand() * 50) | 0 : (rand() * 256) | 0;
    bits[i] = (((rand() * 2) | 0) << 31) | (e << 23) | ((rand() * 0x800000) | 0);
  }
  const values = new Float32Array(bits.buffer);
  for (const v of KERNEL_VARIANTS) {
    const h = await harness(v);
    for (const [t, ref] of [['f16', f32ToF16Bits], ['bf16', f32ToBF16Bits]] as const) {
      // n + 3 values: the last three go through the scalar tail.
      const data = new Float32Array(n + 3);
      data.set(values);
      data.set(values.subarray(0, 3), n);
      const out = new Uint16Array(kernelQuantize(h, t, data, data.length).buffer);
      for (let i = 0; i < data.length; i++) {
        if (out[i] !== ref(data[i]!)) assert.fail(`${v} ${t}(0x${bits[i % n]!.toString(16)}) = 0x${out[i]!.toString(16)}, want 0x${ref(data[i]!).toString(16)}`);
      }
    }
  }
});

test('f16 -> f32 is exact for all 65536 f16 values, vector and scalar paths (NaN payloads kept)', async () => {
  const all = new Uint16Array(65536).map((_, i) => i);
  const want = new Uint32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const nan = (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
    want[h] = nan ? (((h & 0x8000) << 16) | 0x7f800000 | ((h & 0x3ff) << 13)) >>> 0 : f32Bits(f16BitsToF32(h));
  }
  for (const v of KERNEL_VARIANTS) {
    const h = await harness(v);
    const pw = h.allocBytes(new Uint8Array(all.buffer)), out = h.allocF32(65536);
    const ids = h.allocBytes(new Uint8Array(Int32Array.from(all).buffer));
    h.k.dequantize_rows_f16(pw, ids, 1, 65536, out); // one row: 8-wide path
    assert.deepEqual(new Uint32Array(h.f32(out, 65536).buffer), want, `${v} vector`);
    h.k.dequantize_rows_f16(pw, ids, 65536, 1, out); // 65536 rows of one element: scalar path
    assert.deepEqual(new Uint32Array(h.f32(out, 65536).buffer), want, `${v} scalar`);
  }
});

test('row dequantizers are bit-exact with llama.cpp (dequant.f32) and follow the ids', async () => {
  const ids = [3, 1, 0, 2, 1];
  for (const v of KERNEL_VARIANTS) {
    const h = await harness(v);
    for (const t of MATMUL_TYPES) {
      h.reset();
      const w = h.allocBytes(bytes(`${t}.q.bin`));
      const pids = h.allocBytes(new Uint8Array(new Int32Array(ids).buffer));
      const out = h.allocF32(ids.length * COLS);
      dequantOf(h.k, t)(w, pids, ids.length, COLS, out);
      const got = new Uint32Array(h.f32(out, ids.length * COLS).buffer);
      const want = new Uint32Array(f32file(`${t}.dequant.f32`).buffer);
      ids.forEach((r, i) => {
        for (let j = 0; j < COLS; j++) {
          if (got[i * COLS + j] !== want[r * COLS + j]) assert.fail(`${v} ${t} row ${r} element ${j}`);
        }
      });
    }
    // F32 rows are copied; odd k checks the f16/bf16 scalar tails against the TS reference too.
    h.reset();
    const rand = rng(3);
    const k = 37;
    const data = randomRows(rand, 4, k);
    const pids = h.allocBytes(new Uint8Array(new Int32Array(ids).buffer));
    const pf = h.allocF32(data), out = h.allocF32(ids.length * k);
    h.k.dequantize_rows_f32(pf, pids, ids.length, k, out);
    assert.deepEqual(h.f32(out, ids.length * k), Float32Array.from(ids.flatMap((r) => Array.from(data.subarray(r * k, r * k + k)))));
    for (const t of ['f16', 'bf16']) {
      const type = typeByName(t).id;
      const q = quantize(type, data);
      const pq = h.allocBytes(q);
      dequantOf(h.k, t)(pq, pids, ids.length, k, out);
      const ref = dequantize(type, q, data.length);
      assert.deepEqual(h.f32(out, ids.length * k), Float32Array.from(ids.flatMap((r) => Array.from(ref.subarray(r * k, r * k + k)))), `${v} ${t}`);
    }
  }
});

test('row dequantizers match the TS reference on raw random blocks (every quant and scale pattern)', async () => {
  const rand = rng(5);
  const ids = [2, 0, 3, 1, 3];
  for (const t of MATMUL_TYPES) {
    const info = typeByName(t);
    const k = info.blockSize === 256 ? 1024 : info.blockSize === 1 ? 200 : 256;
    const w = randomWeights(rand, t, 4, k);
    const ref = dequantize(info.id, w, 4 * k);
    const want = new Uint32Array(Float32Array.from(ids.flatMap((r) => Array.from(ref.subarray(r * k, r * k + k)))).buffer);
    for (const v of KERNEL_VARIANTS) {
      const h = await harness(v);
      const pw = h.alloc(w.length + 1) + 1; // rows at odd addresses
      new Uint8Array(h.memory.buffer).set(w, pw);
      const pids = h.allocBytes(new Uint8Array(new Int32Array(ids).buffer));
      const out = h.allocF32(ids.length * k);
      dequantOf(h.k, t)(pw, pids, ids.length, k, out);
      assert.deepEqual(new Uint32Array(h.f32(out, ids.length * k).buffer), want, `${v} ${t}`);
    }
  }
});

test('matmuls agree with llama.cpp vec_dot on the reference vectors (both builds)', async (t) => {
  const report: string[] = [];
  for (const v of KERNEL_VARIANTS) {
    const h = await harness(v);
    for (const type of MATMUL_TYPES) {
      h.reset();
      const ref = INDEX.types[type]!;
      const y = runMatmul(h, type, bytes(`${type}.q.bin`), bytes(`act.${ref.vec_dot_type}.bin`), COLS, ROWS, 1);
      let worst = 0, worstAbs = 0;
      for (let r = 0; r < ROWS; r++) {
        const err = Math.abs(y[r]! - ref.vec_dot[r]!);
        const tol = 1e-5 * Math.max(1, ref.dot_dequant_sum_abs_products[r]!);
        assert.ok(err <= tol, `${v} ${type} row ${r}: ${y[r]} vs vec_dot ${ref.vec_dot[r]} (err ${err}, tol ${tol})`);
        worst = Math.max(worst, err / tol);
        worstAbs = Math.max(worstAbs, err);
      }
      report.push(`${v} ${type}: max |err| ${worstAbs.toExponential(2)}, max |err|/tol ${worst.toExponential(2)}`);
    }
    // F32: no ggml vector; compare with the float64 dot of input.f32 rows and dotvec.
    h.reset();
    const input = f32file('input.f32'), dotvec = f32file('dotvec.f32');
    const y = runMatmul(h, 'f32', new Uint8Array(input.buffer), new Uint8Array(dotvec.buffer), COLS, ROWS, 1);
    let worst = 0, worstAbs = 0;
    for (let r = 0; r < ROWS; r++) {
      let abs = 0;
      for (let i = 0; i < COLS; i++) abs += Math.abs(input[r * COLS + i]! * dotvec[i]!);
      const err = Math.abs(y[r]! - INDEX.input_dot_f64[r]!), tol = 1e-5 * Math.max(1, abs);
      assert.ok(err <= tol, `${v} f32 row ${r}`);
      worst = Math.max(worst, err / tol);
      worstAbs = Math.max(worstAbs, err);
    }
    report.push(`${v} f32 (vs input_dot_f64): max |err| ${worstAbs.toExponential(2)}, max |err|/tol ${worst.toExponential(2)}`);
  }
  for (const line of report) t.diagnostic(line);
});

/** Σ|w_i·a_i| of the dequantized operands, the tolerance scale (as dot_dequant_sum_abs_products). */
function sumAbsProducts(wType: number, aType: number, w: Uint8Array, a: Uint8Array, k: number): number {
  const dw = dequantize(wType, w, k), da = dequantize(aType, a, k);
  let s = 0;
  for (let i = 0; i < k; i++) s += Math.abs(dw[i]! * da[i]!);
  return s;
}

test('matmuls agree with the TS vecDot on random multi-row data (quantized and raw-byte weights)', async (t) => {
  const rand = rng(1234);
  const report: string[] = [];
  for (const type of ['f32', ...MATMUL_TYPES]) {
    const info = typeByName(type);
    const act = vecDotType(info.id);
    const actName = ({ [GGMLType.Q8_0]: 'q8_0', [GGMLType.Q8_1]: 'q8_1', [GGMLType.Q8_K]: 'q8_K', [GGMLType.F16]: 'f16', [GGMLType.BF16]: 'bf16' } as Record<number, string>)[act];
    const block = info.blockSize === 256 ? 256 : 32;
    for (const [k, m, n] of [[block * 2, 5, 3], [block * 5, 9, 6], [4096, 3, 1]] as const) {
      const xf = randomRows(rand, n, k);
      const weightSets = [quantize(info.id, randomRows(rand, m, k))];
      if (type !== 'f32') weightSets.push(randomWeights(rand, type, m, k));
      for (const w of weightSets) {
        const wrb = rowByteSize(info.id, k), xrb = rowByteSize(act, k);
        const x = actName ? quantize(act, xf) : new Uint8Array(xf.buffer.slice(0));
        let worst = 0;
        for (const v of KERNEL_VARIANTS) {
          const h = await harness(v);
          if (actName) assert.deepEqual(kernelQuantize(h, actName, xf, k), x, `${v} ${actName} activations`);
          const y = runMatmul(h, type, w, x, k, m, n);
          for (let ti = 0; ti < n; ti++) {
            for (let r = 0; r < m; r++) {
              const wr = w.subarray(r * wrb, (r + 1) * wrb), xr = x.subarray(ti * xrb, (ti + 1) * xrb);
              const want = vecDot(info.id, wr, xr, k);
              const tol = 1e-5 * Math.max(1, sumAbsProducts(info.id, act, wr, xr, k));
              const err = Math.abs(y[ti * m + r]! - want);
              assert.ok(err <= tol, `${v} ${type} k=${k} token ${ti} row ${r}: ${y[ti * m + r]} vs ${want}`);
              worst = Math.max(worst, err / tol);
            }
          }
        }
        report.push(`${type} k=${k} m=${m} n=${n} ${w === weightSets[0] ? 'quantized' : 'raw bytes'}: max |err|/tol ${worst.toExponential(2)}`);
      }
    }
  }
  for (const line of report) t.diagnostic(line);
});

test('f16 rows holding inf/NaN weights come out as the TS vecDot; finite rows beside them keep their bits', async () => {
  // The F16 kernels' fast widening loses inf/NaN (float.ts); rows holding one are computed again
  // exactly. Specials in a whole chunk and in the tail; subnormal and largest finite weights.
  const rand = rng(77);
  const k = 45, m = 6, n = 5;
  const w = randomWeights(rand, 'f16', m, k);
  const h16 = new Uint16Array(w.buffer, w.byteOffset, m * k);
  h16[9] = 0x7c00; // row 0: +inf, odd element of chunk 1
  h16[2 * k + 42] = 0xfc00; // row 2: -inf in the tail
  h16[3 * k + 16] = 0x7e01; // row 3: NaN, even element of chunk 2
  h16[4 * k + 3] = 0x0001; // row 4: finite, the smallest subnormal and the largest value
  h16[4 * k + 4] = 0x7bff;
  const xf = randomRows(rand, n, k);
  xf[k + 9] = 0; // token 1 meets row 0's inf with 0: NaN
  xf[2 * k + 4] = 60000; // token 2: row 4's largest weight times a large activation
  const x = quantize(GGMLType.F16, xf);
  const wrb = rowByteSize(GGMLType.F16, k), xrb = rowByteSize(GGMLType.F16, k);
  for (const v of KERNEL_VARIANTS) {
    const h = await harness(v);
    const all = runMatmul(h, 'f16', w, x, k, m, n);
    const alone = runMatmul(h, 'f16', w, x, k, m, n, [[0, 1], [1, 2], [2, 3], [3, 4], [4, 5], [5, 6]]);
    const decode = new Float32Array(n * m);
    for (let ti = 0; ti < n; ti++) decode.set(runMatmul(h, 'f16', w, x.subarray(ti * xrb, (ti + 1) * xrb), k, m, 1), ti * m);
    for (let ti = 0; ti < n; ti++) {
      for (let r = 0; r < m; r++) {
        const wr = w.subarray(r * wrb, (r + 1) * wrb), xr = x.subarray(ti * xrb, (ti + 1) * xrb);
        const want = vecDot(GGMLType.F16, wr, xr, k);
        const got = all[ti * m + r]!;
        const what = `${v} token ${ti} row ${r}: ${got} vs ${want}`;
        if (!Number.isFinite(want)) assert.ok(Object.is(got, want), what);
        else assert.ok(Math.abs(got - want) <= 1e-5 * Math.max(1, sumAbsProducts(GGMLType.F16, GGMLType.F16, wr, xr, k)), what);
        // Rows grouped with special ones (recomputed exactly) and alone, tiled and one token at a time: the same bits.
        for (const other of [alone, decode]) assert.ok(Object.is(other[ti * m + r], got), `${what}: ${other[ti * m + r]} elsewhere`);
      }
    }
    const infinite = (y: number) => Math.abs(y) === Infinity;
    assert.ok(infinite(all[0]!) && Number.isNaN(all[m]!) && infinite(all[2]!) && Number.isNaN(all[3]!), `${v}: the specials reach the results`);
  }
});

test('matmul results are bit-identical across row splits, token counts and builds', async () => {
  const rand = rng(99);
  for (const type of ['f32', ...MATMUL_TYPES]) {
    const info = typeByName(type);
    const act = vecDotType(info.id);
    const k = info.blockSize === 256 ? 512 : type === 'f32' || type === 'f16' || type === 'bf16' ? 45 : 96;
    const m = 7, n = 6;
    const w = type === 'f32' ? quantize(info.id, randomRows(rand, m, k)) : randomWeights(rand, type, m, k);
    const xf = randomRows(rand, n, k);
    const x = quantize(act, xf);
    const xrb = rowByteSize(act, k);
    const runs: Float32Array[] = [];
    for (const v of KERNEL_VARIANTS) {
      const h = await harness(v);
      runs.push(runMatmul(h, type, w, x, k, m, n));
      runs.push(runMatmul(h, type, w, x, k, m, n, [[0, 2], [2, 3], [3, 7]]));
      // Rows and activation blocks at odd byte addresses (f32/f16/bf16 rows keep their element alignment).
      runs.push(runMatmul(h, type, w, x, k, m, n, [[0, m]], info.blockSize === 1 ? 4 : 3));
      // Token by token: each token alone must give the same column.
      const single = new Float32Array(n * m);
      for (let ti = 0; ti < n; ti++) {
        h.reset();
        single.set(runMatmul(h, type, w, x.subarray(ti * xrb, (ti + 1) * xrb), k, m, 1), ti * m);
      }
      runs.push(single);
      // Rows outside the range stay untouched.
      const part = runMatmul(h, type, w, x, k, m, n, [[2, 5]]);
      for (let ti = 0; ti < n; ti++) {
        for (let r = 0; r < m; r++) assert.equal(Number.isNaN(part[ti * m + r]!), r < 2 || r >= 5, `${v} ${type} row ${r} written`);
      }
    }
    const want = new Uint32Array(runs[0]!.buffer);
    for (const [i, run] of runs.entries()) {
      assert.deepEqual(new Uint32Array(run.buffer), want, `${type}: run ${i} differs (bitwise)`);
    }
  }
});

test('matmul tilings agree with the TS vecDot and with each other (1, 3, 8, 17 tokens; odd row ranges)', async (t) => {
  // 29 rows: groups of eight and of four, a partial group, and ranges that start and end inside
  // groups; token counts below, at and past the kernels' token tiles.
  const rand = rng(4242);
  const m = 29;
  const splits: [number, number][][] = [[[0, m]], [[0, 5], [5, 6], [6, 19], [19, m]], [[3, 11], [0, 3], [11, 27], [27, m]]];
  const report: string[] = [];
  for (const type of ['f32', ...MATMUL_TYPES]) {
    const info = typeByName(type);
    const act = vecDotType(info.id);
    const k = info.blockSize === 256 ? 512 : info.blockSize === 1 ? 75 : 96;
    const w = type === 'f32' ? quantize(info.id, randomRows(rand, m, k)) : randomWeights(rand, type, m, k);
    const wrb = rowByteSize(info.id, k), xrb = rowByteSize(act, k);
    let worst = 0;
    for (const n of [1, 3, 8, 17]) {
      const x = quantize(act, randomRows(rand, n, k));
      const runs: Float32Array[] = [];
      for (const v of KERNEL_VARIANTS) {
        const h = await harness(v);
        for (const ranges of splits) runs.push(runMatmul(h, type, w, x, k, m, n, ranges));
        runs.push(runMatmul(h, type, w, x, k, m, n, splits[1], info.blockSize === 1 ? 4 : 3));
        const single = new Float32Array(n * m);
        for (let ti = 0; ti < n; ti++) {
          h.reset();
          single.set(runMatmul(h, type, w, x.subarray(ti * xrb, (ti + 1) * xrb), k, m, 1, splits[2]), ti * m);
        }
        runs.push(single);
      }
      const want = new Uint32Array(runs[0]!.buffer);
      for (const [i, run] of runs.entries()) {
        assert.deepEqual(new Uint32Array(run.buffer), want, `${type} n=${n}: run ${i} differs (bitwise)`);
      }
      const y = runs[0]!;
      for (let ti = 0; ti < n; ti++) {
        for (let r = 0; r < m; r++) {
          const wr = w.subarray(r * wrb, (r + 1) * wrb), xr = x.subarray(ti * xrb, (ti + 1) * xrb);
          const ref = vecDot(info.id, wr, xr, k);
          const tol = 1e-5 * Math.max(1, sumAbsProducts(info.id, act, wr, xr, k));
          const err = Math.abs(y[ti * m + r]! - ref);
          assert.ok(err <= tol, `${type} n=${n} token ${ti} row ${r}: ${y[ti * m + r]} vs ${ref}`);
          worst = Math.max(worst, err / tol);
        }
      }
    }
    report.push(`${type} k=${k} m=${m}: max |err|/tol ${worst.toExponential(2)}`);
  }
  for (const line of report) t.diagnostic(line);
});

const LEGACY_TYPES = ['q4_0', 'q4_1', 'q5_0', 'q5_1', 'q8_0', 'iq4_nl'];
/** Rows per interleaved group of the types with kernels over interleaved weights (*_x8, *_x4). */
const GROUPS: Record<string, number> = {
  ...Object.fromEntries(LEGACY_TYPES.map((t) => [t, t === 'q4_0' ? 4 : 8])),
  ...Object.fromEntries(['q2_K', 'q3_K', 'q4_K', 'q5_K', 'q6_K', 'iq4_xs'].map((t) => [t, 4])),
};

/**
 * Interleaves m rows of `type` in place (repack_q4_0_x4 for q4_0, else repack_rows with the
 * type's group) and returns the new bytes.
 */
function repack(h: KernelHarness, type: string, w: Uint8Array, m: number, k: number): Uint8Array {
  const info = typeByName(type);
  const rb = rowByteSize(info.id, k);
  const pw = h.alloc(w.length), tmp = h.alloc(GROUPS[type]! * rb);
  new Uint8Array(h.memory.buffer).set(w, pw);
  if (type === 'q4_0') assert.equal(h.k.repack_q4_0_x4(pw, tmp, m, rb), 1, 'q4_0 repacked');
  else h.k.repack_rows(pw, tmp, m, rb, info.typeSize, GROUPS[type]!);
  return h.u8(pw, w.length).slice();
}

/**
 * Where repacking puts byte j of row r's block b: repack_rows moves whole blocks (block b of row
 * r at group start + (b·rows + r mod group)·block bytes); repack_q4_0_x4 (groups of 4 whole
 * rows only) the scale to group start + 72b + 2(r mod 4) and quant byte 4i + c to + 8 + 16i +
 * 4(r mod 4) + c.
 */
function repackedAt(type: string, m: number, rb: number, r: number, b: number, j: number): number {
  const info = typeByName(type), group = GROUPS[type]!;
  const g = r - (r % group);
  if (type !== 'q4_0') return g * rb + (b * Math.min(group, m - g) + (r - g)) * info.typeSize + j;
  if (r >= m - (m % 4)) return r * rb + b * info.typeSize + j;
  return g * rb + 72 * b + (j < 2 ? 2 * (r - g) + j : 8 + 16 * ((j - 2) >> 2) + 4 * (r - g) + ((j - 2) & 3));
}

test('interleaved weights (repack_rows, repack_q4_0_x4) give the plain kernels\' bits: any rows, ranges, tokens, a short last group', async () => {
  const rand = rng(808);
  for (const type of Object.keys(GROUPS)) {
    const info = typeByName(type);
    const k = info.blockSize === 256 ? 512 : 96, group = GROUPS[type]!, il = `${type}_x${group}`;
    const act = vecDotType(info.id);
    const rb = rowByteSize(info.id, k);
    // 70 rows: decode walks parts of whole groups side by side (Q4_0: eight from 32 rows on; the
    // eight-row types and the K-quants: four, from 32 and 16 rows on).
    for (const m of [3, 8, 16, 29, 70]) {
      const w = randomWeights(rand, type, m, k);
      for (const v of KERNEL_VARIANTS) {
        const h = await harness(v);
        const packed = repack(h, type, w, m, k);
        for (const r of [0, m - 1, m - 2]) {
          for (let j = 0; j < info.typeSize; j++) {
            assert.equal(packed[repackedAt(type, m, rb, r, 1, j)], w[r * rb + info.typeSize + j], `${v} ${type} m=${m}: row ${r} block 1 byte ${j}`);
          }
        }
        for (const n of [1, 3, 8, 17]) {
          const x = quantize(act, randomRows(rand, n, k));
          const want = new Uint32Array(runMatmul(h, type, w, x, k, m, n).buffer);
          const cut = (r: number) => Math.min(m, r);
          for (const ranges of [[[0, m]], [[0, cut(5)], [cut(5), cut(6)], [cut(6), m]], [[cut(3), cut(11)], [0, cut(3)], [cut(11), m]]] as [number, number][][]) {
            const got = new Uint32Array(runMatmul(h, il, packed, x, k, m, n, ranges).buffer);
            assert.deepEqual(got, want, `${v} ${il} m=${m} n=${n} ranges ${JSON.stringify(ranges)}`);
          }
        }
        const ids = Array.from({ length: m }, (_, i) => (i * 5 + 3) % m);
        const pIds = h.alloc(ids.length * 4);
        new Int32Array(h.memory.buffer, pIds, ids.length).set(ids);
        const plain = h.alloc(ids.length * k * 4), inter = h.alloc(ids.length * k * 4);
        const pw = h.alloc(w.length), px8 = h.alloc(w.length);
        new Uint8Array(h.memory.buffer).set(w, pw);
        new Uint8Array(h.memory.buffer).set(packed, px8);
        dequantOf(h.k, type)(pw, pIds, ids.length, k, plain);
        (h.k as unknown as Record<string, (...a: number[]) => void>)[`dequantize_rows_${kname(il)}`]!(px8, pIds, ids.length, k, inter, m);
        assert.deepEqual(h.u8(inter, ids.length * k * 4), h.u8(plain, ids.length * k * 4), `${v} ${il} m=${m} dequantize_rows`);
      }
    }
  }
});

test('prefill over more tokens than a pass takes (128) gives each token its own bits, plain and interleaved', async () => {
  const rand = rng(4242);
  const n = 2 * 128 + 3, m = 9;
  for (const type of Object.keys(GROUPS)) {
    const info = typeByName(type);
    const k = info.blockSize === 256 ? 256 : 64, il = `${type}_x${GROUPS[type]}`;
    const act = vecDotType(info.id);
    const xrb = rowByteSize(act, k);
    const w = randomWeights(rand, type, m, k);
    const x = quantize(act, randomRows(rand, n, k));
    for (const v of KERNEL_VARIANTS) {
      const h = await harness(v);
      const packed = repack(h, type, w, m, k);
      const single = new Float32Array(n * m);
      for (let t = 0; t < n; t++) single.set(runMatmul(h, type, w, x.subarray(t * xrb, (t + 1) * xrb), k, m, 1), t * m);
      const want = new Uint32Array(single.buffer);
      assert.deepEqual(new Uint32Array(runMatmul(h, type, w, x, k, m, n).buffer), want, `${v} ${type} ${n} tokens`);
      assert.deepEqual(new Uint32Array(runMatmul(h, il, packed, x, k, m, n, [[0, 8], [8, m]]).buffer), want, `${v} ${il} ${n} tokens`);
    }
  }
});

test('legacy matmuls give ggml\'s inf/NaN where a weight scale is inf or NaN (decode takes its exact path; Q4_0 is not repacked)', async () => {
  const rand = rng(77);
  // 32 rows: decode over rows interleaved eight at a time walks four groups side by side.
  const k = 96, m = 32;
  for (const type of LEGACY_TYPES) {
    const info = typeByName(type);
    const act = vecDotType(info.id);
    const rb = rowByteSize(info.id, k);
    const w = randomWeights(rand, type, m, k);
    const dv = new DataView(w.buffer);
    dv.setUint16(3 * rb + info.typeSize, 0x7c00, true); // row 3, block 1: +inf
    dv.setUint16(12 * rb, 0x7e00, true); // row 12, block 0: NaN
    const x = quantize(act, randomRows(rand, 1, k));
    for (const v of KERNEL_VARIANTS) {
      const h = await harness(v);
      if (type === 'q4_0') {
        // Its repacked kernels take every scale as finite: the matrix stays as it is, for the plain
        // kernel, also where the first special scale comes after groups already repacked (the last group).
        const late = randomWeights(rand, type, m, k);
        new DataView(late.buffer).setUint16((m - 4) * rb + 2 * info.typeSize, 0x7c00, true);
        for (const [which, bytes] of [['inf in the first group', w], ['inf in the last group', late]] as const) {
          const pw = h.alloc(bytes.length), tmp = h.alloc(4 * rb);
          new Uint8Array(h.memory.buffer).set(bytes, pw);
          assert.equal(h.k.repack_q4_0_x4(pw, tmp, m, rb), 0, `${v} q4_0, ${which}: not repacked`);
          assert.deepEqual(h.u8(pw, bytes.length), bytes, `${v} q4_0, ${which}: left as it was`);
        }
      }
      const layouts: [string, Uint8Array][] = type === 'q4_0' ? [[type, w]] : [[type, w], [`${type}_x8`, repack(h, type, w, m, k)]];
      for (const [name, bytes] of layouts) {
        const y = runMatmul(h, name, bytes, x, k, m, 1);
        for (let r = 0; r < m; r++) {
          const want = vecDot(info.id, w.subarray(r * rb, (r + 1) * rb), x, k);
          if (!Number.isFinite(want)) assert.ok(Object.is(y[r], want) || (Number.isNaN(want) && Number.isNaN(y[r])), `${v} ${name} row ${r}: ${y[r]} vs ${want}`);
          else assert.ok(Math.abs(y[r]! - want) <= 1e-5 * Math.max(1, sumAbsProducts(info.id, act, w.subarray(r * rb, (r + 1) * rb), x, k)), `${v} ${name} row ${r}`);
        }
        assert.ok(!Number.isFinite(y[3]!) && Number.isNaN(y[12]!), `${v} ${name}: the special rows`);
      }
    }
  }
});
