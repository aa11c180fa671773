/**
 * The op kernels (kernels/ops) on both builds against the TypeScript references in
 * reference-ops.ts. Where kernel and reference perform the same f32 operations in the same order
 * the comparison is exact; the exceptions, each with its reason, are:
 *  - transcendentals: the kernels use AssemblyScript's Mathf (musl-derived f32 code), the
 *    references the f64 Math functions rounded to f32; measured and bounded below in ulps;
 *  - attention, whose dot products and sums run in SIMD lane order (and fused in the relaxed
 *    build): compared with an exact f64 reference under a first-order error bound.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { KERNEL_VARIANTS } from '../../src/backends/cpu/kernel-module.js';
import { bf16BitsToF32, bitsToF32, f16BitsToF32, f32Bits, f32ToBF16Bits, f32ToF16Bits, roundToF16 } from '../../src/quant/half.js';
import { kernelHarness, type KernelHarness } from '../helpers/kernel-harness.js';
import * as ref from './reference-ops.js';
import { prng } from '../helpers/prng.js';

const fr = Math.fround;
const U = 2 ** -24; // unit roundoff of f32


function randn(r: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
}

function randomF32(n: number, seed: number, scale = 1, offset = 0): Float32Array {
  const r = prng(seed);
  return Float32Array.from({ length: n }, () => offset + scale * randn(r));
}

/** Distance in f32 ulps (0 for two NaNs, Infinity for NaN against a number; -0 equals +0). */
function ulps(a: number, b: number): number {
  if (Number.isNaN(a) || Number.isNaN(b)) return Number.isNaN(a) && Number.isNaN(b) ? 0 : Infinity;
  const ord = (x: number) => {
    const i = f32Bits(x) | 0;
    return i < 0 ? -(i & 0x7fffffff) : i;
  };
  return Math.abs(ord(a) - ord(b));
}

/** ulp of an f32 value (spacing above |x|). */
function ulpOf(x: number): number {
  const a = Math.abs(fr(x));
  return a === Infinity ? Infinity : bitsToF32(f32Bits(a) + 1) - a;
}

function assertBitsEqual(actual: Float32Array, expected: Float32Array, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    if (Object.is(actual[i], expected[i]) || (Number.isNaN(actual[i]) && Number.isNaN(expected[i]))) continue;
    assert.fail(`${what}: element ${i} is ${actual[i]}, expected ${expected[i]}`);
  }
}

/** Largest ulp distance; fails beyond maxUlps. */
function assertUlps(actual: Float32Array, expected: ArrayLike<number>, maxUlps: number, what: string): number {
  let worst = 0;
  for (let i = 0; i < actual.length; i++) {
    const d = ulps(actual[i]!, expected[i]!);
    if (d > maxUlps) assert.fail(`${what}: element ${i} is ${actual[i]}, expected ${expected[i]} (${d} ulps)`);
    worst = Math.max(worst, d);
  }
  return worst;
}

function u16(h: KernelHarness, ptr: number, n: number): Uint16Array {
  return new Uint16Array(h.memory.buffer.slice(ptr, ptr + 2 * n));
}

function allocU16(h: KernelHarness, data: ArrayLike<number>): number {
  const ptr = h.alloc(data.length * 2);
  new Uint16Array(h.memory.buffer, ptr, data.length).set(data);
  return ptr;
}

function allocI32(h: KernelHarness, data: ArrayLike<number>): number {
  const ptr = h.alloc(data.length * 4);
  new Int32Array(h.memory.buffer, ptr, data.length).set(data);
  return ptr;
}

const TAIL_LENGTHS = [1, 2, 3, 5, 7, 8, 9, 15, 16, 17, 31, 33, 67];

for (const variant of KERNEL_VARIANTS) {
  describe(`op kernels, ${variant} build`, () => {
    let h: KernelHarness;
    const setup = async () => {
      h ??= await kernelHarness(variant, 512);
      h.reset();
      return h;
    };

    test('elementwise: add, mul, broadcast rows, scale, copies (exact, in place too)', async () => {
      const h = await setup();
      for (const n of TAIL_LENGTHS) {
        const a = randomF32(n, n), b = randomF32(n, n + 100);
        const pa = h.allocF32(a), pb = h.allocF32(b), out = h.allocF32(n);
        h.k.add_f32(pa, pb, out, n);
        assertBitsEqual(h.f32(out, n), a.map((x, i) => x + b[i]!), `add n=${n}`);
        h.k.mul_f32(pa, pb, out, n);
        assertBitsEqual(h.f32(out, n), a.map((x, i) => x * b[i]!), `mul n=${n}`);
        h.k.scale_f32(pa, out, n, 0.3);
        assertBitsEqual(h.f32(out, n), a.map((x) => x * fr(0.3)), `scale n=${n}`);
        h.k.copy_f32(pa, out, n);
        assertBitsEqual(h.f32(out, n), a, `copy n=${n}`);
        const rows = 3, x = randomF32(rows * n, n + 7), px = h.allocF32(x), po = h.allocF32(rows * n);
        h.k.add_row_f32(px, pb, po, n, rows);
        assertBitsEqual(h.f32(po, rows * n), x.map((v, i) => v + b[i % n]!), `add_row n=${n}`);
        h.k.mul_row_f32(px, pb, px, n, rows); // in place
        assertBitsEqual(h.f32(px, rows * n), x.map((v, i) => v * b[i % n]!), `mul_row in place n=${n}`);
      }
      // copy_rows: the Q part of a fused [token][Q|K|V] buffer into a contiguous one.
      const rows = 5, width = 23, n = 13, src = randomF32(rows * width, 9), ps = h.allocF32(src), pd = h.allocF32(rows * n);
      h.k.copy_rows_f32(ps + 4 * 3, width, pd, n, n, rows);
      const expected = new Float32Array(rows * n);
      for (let r = 0; r < rows; r++) expected.set(src.subarray(r * width + 3, r * width + 3 + n), r * n);
      assertBitsEqual(h.f32(pd, rows * n), expected, 'copy_rows');
    });

    test('rms_norm_f32 matches ggml bit for bit, with and without the weight, any row split', async () => {
      const h = await setup();
      for (const n of [1, 7, 16, 67, 288, 4099]) {
        for (const eps of [1e-6, 1e-5]) {
          const rows = 6, x = randomF32(rows * n, n, 2, 0.5), w = randomF32(n, n + 1, 0.1, 1);
          const px = h.allocF32(x), pw = h.allocF32(w), out = h.allocF32(rows * n);
          h.k.rms_norm_f32(px, 0, out, n, eps, 0, rows);
          assertBitsEqual(h.f32(out, rows * n), ref.rmsNorm(x, n, eps), `rms_norm n=${n}`);
          const want = ref.rmsNorm(x, n, eps, w);
          h.k.rms_norm_f32(px, pw, out, n, eps, 0, 2);
          h.k.rms_norm_f32(px, pw, out, n, eps, 2, 5);
          h.k.rms_norm_f32(px, pw, out, n, eps, 5, rows);
          assertBitsEqual(h.f32(out, rows * n), want, `rms_norm*w split n=${n}`);
          h.k.rms_norm_f32(px, pw, px, n, eps, 0, rows); // in place
          assertBitsEqual(h.f32(px, rows * n), want, `rms_norm*w in place n=${n}`);
        }
      }
    });

    test('layer_norm_f32 matches ggml bit for bit (weight, bias optional), any row split', async () => {
      const h = await setup();
      for (const n of [1, 5, 32, 67, 1030]) {
        const rows = 4, x = randomF32(rows * n, 3 * n, 3, -1), w = randomF32(n, n + 2, 0.1, 1), b = randomF32(n, n + 3, 0.1);
        const px = h.allocF32(x), pw = h.allocF32(w), pb = h.allocF32(b), out = h.allocF32(rows * n);
        for (const [useW, useB] of [[false, false], [true, false], [false, true], [true, true]] as const) {
          h.k.layer_norm_f32(px, useW ? pw : 0, useB ? pb : 0, out, n, 1e-5, 0, 1);
          h.k.layer_norm_f32(px, useW ? pw : 0, useB ? pb : 0, out, n, 1e-5, 1, rows);
          const want = ref.layerNorm(x, n, 1e-5, useW ? w : undefined, useB ? b : undefined);
          assertBitsEqual(h.f32(out, rows * n), want, `layer_norm n=${n} w=${useW} b=${useB}`);
        }
        h.k.layer_norm_f32(px, pw, pb, px, n, 1e-5, 0, rows);
        assertBitsEqual(h.f32(px, rows * n), ref.layerNorm(x, n, 1e-5, w, b), `layer_norm in place n=${n}`);
      }
    });

    // RoPE tolerance: the angles are formed with the same f32 operations (exactly equal here),
    // but Mathf.cos/sin may differ from the correctly rounded values by 1 ulp (<= 2^-24 absolute
    // for |c|, |s| < 1, 2^-23 at 1); each output x0*c - x1*s then moves by at most
    // (|x0| + |x1|) * 2^-23 plus a flip of its own final rounding, so (|x0|+|x1|) * 2^-22 bounds it.
    test('rope_norm_f32 / rope_neox_f32 against ggml angles: modes, partial n_rot, factors, strides, splits', async (ctx) => {
      const h = await setup();
      const configs = [
        { nHeads: 4, headDim: 16, nRot: 16, freqBase: 10000, freqScale: 1 },
        { nHeads: 3, headDim: 12, nRot: 10, freqBase: 10000, freqScale: 1 }, // n_rot/2 = 5: vector + tail
        { nHeads: 2, headDim: 64, nRot: 64, freqBase: 1e6, freqScale: 1 },
        { nHeads: 2, headDim: 64, nRot: 32, freqBase: 500000, freqScale: 0.25 },
        { nHeads: 5, headDim: 128, nRot: 128, freqBase: 500000, freqScale: 1, ff: true },
        { nHeads: 1, headDim: 6, nRot: 2, freqBase: 100000, freqScale: 1 },
      ];
      const positions = [0, 1, 2, 7, 100, 511, 4095, 65535, 500000];
      let worst = 0, inexact = 0, total = 0;
      for (const c of configs) {
        for (const neox of [false, true]) {
          const freqFactors = c.ff ? Float32Array.from({ length: c.nRot / 2 }, (_, i) => (i < 8 ? 1 : i < 40 ? 1 + (i - 8) / 4 : 8)) : undefined;
          const p: ref.RopeParams = { neox, nHeads: c.nHeads, headDim: c.headDim, nRot: c.nRot, freqBase: c.freqBase, freqScale: c.freqScale, freqFactors };
          const nt = positions.length, width = c.nHeads * c.headDim;
          const x = randomF32(nt * width, c.headDim + c.nRot, 1.5);
          const want = ref.rope(x, positions, p);
          const fn = neox ? h.k.rope_neox_f32 : h.k.rope_norm_f32;
          const pff = freqFactors ? h.allocF32(freqFactors) : 0;
          const ppos = allocI32(h, positions);
          // Strided input (as inside a fused QKV row) into a contiguous output, split over tokens.
          const stride = width + 9;
          const xs = new Float32Array(nt * stride).fill(NaN);
          for (let t = 0; t < nt; t++) xs.set(x.subarray(t * width, (t + 1) * width), t * stride + 3);
          const pxs = h.allocF32(xs), out = h.allocF32(nt * width);
          fn(pxs + 12, stride, out, width, ppos, c.nHeads, c.headDim, c.nRot, c.freqBase, c.freqScale, pff, 0, 4);
          fn(pxs + 12, stride, out, width, ppos, c.nHeads, c.headDim, c.nRot, c.freqBase, c.freqScale, pff, 4, nt);
          const got = h.f32(out, nt * width);
          const half = c.nRot / 2;
          for (let i = 0; i < got.length; i++) {
            const d = i % c.headDim;
            let tol = 0;
            if (d < c.nRot) {
              const base = i - d, k = neox ? d % half : d >> 1;
              const i0 = neox ? base + k : base + 2 * k, i1 = neox ? i0 + half : i0 + 1;
              tol = (Math.abs(x[i0]!) + Math.abs(x[i1]!)) * 2 ** -22;
            }
            const err = Math.abs(got[i]! - want[i]!);
            if (!(err <= tol)) assert.fail(`rope ${JSON.stringify(c)} neox=${neox} element ${i}: ${got[i]} vs ${want[i]}`);
            worst = Math.max(worst, ulps(got[i]!, want[i]!));
            if (err !== 0) inexact++;
            total++;
          }
          // In place on a contiguous buffer, one call: the same bits as the strided run.
          const pin = h.allocF32(x);
          fn(pin, width, pin, width, ppos, c.nHeads, c.headDim, c.nRot, c.freqBase, c.freqScale, pff, 0, nt);
          assertBitsEqual(h.f32(pin, nt * width), got, `rope in place ${JSON.stringify(c)} neox=${neox}`);
        }
      }
      ctx.diagnostic(`rope: ${inexact}/${total} outputs differ from the reference, worst ${worst} ulps`);
    });

    test('rope: cos/sin and theta_scale agree with the correctly rounded f32 values (measured)', async (ctx) => {
      const h = await setup();
      // Pairs (1, 0) rotate to (cos, sin) exactly: the kernel's cos and sin come out unrounded.
      let worst = 0, off = 0, total = 0;
      const configs = [
        { nRot: 64, base: 10000 }, { nRot: 128, base: 10000 }, { nRot: 128, base: 500000 }, { nRot: 16, base: 1e6 },
        { nRot: 64, base: 100000 }, { nRot: 96, base: 10000 }, { nRot: 80, base: 1e6 },
      ];
      const r = prng(5);
      const positions = [0, 1, 3, 17, 255, 1000, 4096, 32767, 131071, ...Array.from({ length: 40 }, () => Math.floor(r() * 1e6))];
      for (const { nRot, base } of configs) {
        const p: ref.RopeParams = { neox: false, nHeads: 1, headDim: nRot, nRot, freqBase: base, freqScale: 1 };
        const x = new Float32Array(positions.length * nRot);
        for (let i = 0; i < x.length; i += 2) x[i] = 1;
        const px = h.allocF32(x), ppos = allocI32(h, positions);
        h.k.rope_norm_f32(px, nRot, px, nRot, ppos, 1, nRot, nRot, base, 1, 0, 0, positions.length);
        const got = h.f32(px, x.length);
        for (let t = 0; t < positions.length; t++) {
          const { cos, sin } = ref.ropeAngles(positions[t]!, p);
          for (let i = 0; i < nRot / 2; i++) {
            for (const [g, w] of [[got[t * nRot + 2 * i]!, cos[i]!], [got[t * nRot + 2 * i + 1]!, sin[i]!]]) {
              const d = ulps(g!, w!);
              // 1 ulp: Mathf.cos/sin are musl's f32 routines (f64 polynomials, < 1 ulp error).
              if (d > 1) assert.fail(`rope angle nRot=${nRot} base=${base} pos=${positions[t]} i=${i}: ${g} vs ${w}`);
              worst = Math.max(worst, d);
              if (d) off++;
              total++;
            }
          }
        }
      }
      ctx.diagnostic(`cos/sin: ${off}/${total} differ from correctly rounded, worst ${worst} ulp`);
    });

    // Softmax tolerance: kernel and reference perform the same f32 operations except expf
    // (Mathf.exp vs the rounded f64 exp, <= 1 ulp apart); a 1-ulp change in one term can move
    // the f64 sum's f32 reciprocal by 1 ulp, so an output moves by at most 1 + 1 ulp plus the
    // rounding of the product: 3 ulps.
    test('softmax_f32: scale, masks (-inf, finite, broadcast or per row), row splits, in place', async (ctx) => {
      const h = await setup();
      let worst = 0;
      for (const n of [1, 3, 4, 17, 100, 1001]) {
        const rows = 5, x = randomF32(rows * n, n + 40, 4);
        const mask = new Float32Array(rows * n);
        const r = prng(n);
        for (let i = 0; i < mask.length; i++) mask[i] = r() < 0.3 ? -Infinity : r() < 0.5 ? 0 : randn(r);
        for (let row = 0; row < rows; row++) mask[row * n + (row % n)] = 0; // at least one visible entry
        const px = h.allocF32(x), pm = h.allocF32(mask), out = h.allocF32(rows * n);
        for (const [scale, useMask, stride] of [[1, false, 0], [0.125, true, n], [2.5, true, 0]] as const) {
          h.k.softmax_f32(px, out, n, scale, useMask ? pm : 0, stride, 0, 2);
          h.k.softmax_f32(px, out, n, scale, useMask ? pm : 0, stride, 2, rows);
          const want = ref.softmax(x, n, scale, useMask ? mask : undefined, stride);
          const got = h.f32(out, rows * n);
          worst = Math.max(worst, assertUlps(got, want, 3, `softmax n=${n} scale=${scale} mask=${useMask}`));
          for (let row = 0; row < rows; row++) {
            const s = got.subarray(row * n, (row + 1) * n).reduce((a, b) => a + b, 0);
            assert.ok(Math.abs(s - 1) < 1e-5 * Math.max(1, Math.sqrt(n)), `softmax row sum ${s}`);
          }
        }
        h.k.softmax_f32(px, px, n, 0.5, pm, n, 0, rows);
        assertUlps(h.f32(px, rows * n), ref.softmax(x, n, 0.5, mask, n), 3, `softmax in place n=${n}`);
      }
      ctx.diagnostic(`softmax: worst ${worst} ulps`);
    });

    test('kv_store_f32 / kv_store_f16 write [kv_head][position][head_dim] at pos0 (f16: nearest even)', async () => {
      const h = await setup();
      const nTok = 3, nKv = 2, hd = 13, cap = 9, pos0 = 4, srcStride = 40;
      const src = randomF32(nTok * srcStride, 77, 100);
      src[5] = 65519; src[6] = 65520; src[7] = 1e-8; src[8] = -(2 ** -24) * 1.5; // f16 edge cases
      const ps = h.allocF32(src);
      const c32 = h.allocF32(new Float32Array(nKv * cap * hd).fill(-7));
      const c16 = allocU16(h, new Uint16Array(nKv * cap * hd).fill(0xabcd));
      h.k.kv_store_f32(ps, srcStride, c32, nTok, nKv, hd, cap, pos0);
      h.k.kv_store_f16(ps, srcStride, c16, nTok, nKv, hd, cap, pos0);
      const g32 = h.f32(c32, nKv * cap * hd), g16 = u16(h, c16, nKv * cap * hd);
      for (let kv = 0; kv < nKv; kv++) {
        for (let pos = 0; pos < cap; pos++) {
          for (let d = 0; d < hd; d++) {
            const at = (kv * cap + pos) * hd + d, t = pos - pos0;
            if (t >= 0 && t < nTok) {
              const v = src[t * srcStride + kv * hd + d]!;
              assert.ok(Object.is(g32[at], v), `kv_store_f32 at kv=${kv} pos=${pos} d=${d}`);
              assert.equal(g16[at], f32ToF16Bits(v), `kv_store_f16 at kv=${kv} pos=${pos} d=${d}`);
            } else {
              assert.equal(g32[at], -7, 'kv_store_f32 wrote outside its rows');
              assert.equal(g16[at], 0xabcd, 'kv_store_f16 wrote outside its rows');
            }
          }
        }
      }
    });

    // Attention is compared with an exact (f64) reference under a first-order bound of the
    // kernel's f32 error, built from the data (u = 2^-24, g(n) = n*u/(1-n*u)):
    //   score:   |ds_j| <= scale*(g(hd)*sum|q_i k_ji| [+ 2u|dot| + 5u*cap*|tanh| with soft-cap]) + u|s_j|
    //            (summation in any order; tanhf within 2 ulps; the 1/cap and *cap roundings)
    //   weight:  rel(w_j) <= E_j + max E + 3u, E_j = |ds_j| + max|ds| + u|s_j - max| + 2u
    //            (the shift by the max, expf within 1 ulp, the reciprocal and the product)
    //   output:  |d out_d| <= sum_j w_j |v_jd| (rel(w_j) + g(n_keys))
    // For an f16 cache q is rounded to f16 exactly as the reference does, k/v are f16 values, and
    // the products are exact; a weight's f16 rounding can differ from the reference's only when
    // the exact weight lies within rel(w_j) of an f16 rounding boundary, which adds one f16 ulp
    // of that weight times |v_jd| to the bound.
    function attentionTolerance(q: Float32Array, k: ArrayLike<number>, v: ArrayLike<number>, a: ref.AttentionParams): Float64Array {
      const g = (n: number) => (n * U) / (1 - n * U);
      const tol = new Float64Array(a.nTokens * a.nHead * a.headDim);
      const group = a.nHead / a.nKvHead;
      for (let t = 0; t < a.nTokens; t++) {
        const { j0, p } = ref.visibleKeys(a.pos0 + t, a.nSwa);
        for (let hh = 0; hh < a.nHead; hh++) {
          const kvh = Math.floor(hh / group);
          const qrow = Array.from(q.subarray((t * a.nHead + hh) * a.headDim, (t * a.nHead + hh + 1) * a.headDim), (x) =>
            a.f16 ? roundToF16(x) : x,
          );
          const s: number[] = [], ds: number[] = [];
          for (let j = j0; j <= p; j++) {
            let dot = 0, abs = 0;
            for (let i = 0; i < a.headDim; i++) {
              const prod = qrow[i]! * k[(kvh * a.kvStride + j) * a.headDim + i]!;
              dot += prod;
              abs += Math.abs(prod);
            }
            let err = g(a.headDim) * abs, val = dot;
            if (a.softcap > 0) {
              val = a.softcap * Math.tanh(dot / a.softcap);
              err += 2 * U * Math.abs(dot) + 5 * U * Math.abs(val);
            }
            s.push(val * a.scale);
            ds.push(a.scale * err + U * Math.abs(val * a.scale));
          }
          const m = Math.max(...s), dsMax = Math.max(...ds);
          const E = s.map((sj, j) => ds[j]! + dsMax + U * Math.abs(sj - m) + 2 * U);
          const eMax = Math.max(...E);
          const e = s.map((x) => Math.exp(x - m));
          const sum = e.reduce((x, y) => x + y, 0);
          for (let jj = 0; jj < e.length; jj++) {
            const w = e[jj]! / sum, rel = E[jj]! + eMax + 3 * U;
            let wUsed = w, wErr = w * rel;
            if (a.f16) {
              const lo = roundToF16(w * (1 - rel)), hi = roundToF16(w * (1 + rel));
              wUsed = roundToF16(w);
              wErr = hi - lo; // 0 unless the rounding is ambiguous
            }
            for (let i = 0; i < a.headDim; i++) {
              const vv = Math.abs(v[(kvh * a.kvStride + j0 + jj) * a.headDim + i]!);
              tol[(t * a.nHead + hh) * a.headDim + i] += (wErr + wUsed * g(e.length)) * vv;
            }
          }
        }
      }
      return tol.map((x) => x * 1.01 + 1e-30);
    }

    const attentionCases: Array<Omit<ref.AttentionParams, 'f16'> & { name: string }> = [
      { name: 'prefill GQA hd16', nTokens: 12, pos0: 0, nHead: 4, nKvHead: 2, headDim: 16, kvStride: 64, scale: 0.25, nSwa: 0, softcap: 0 },
      { name: 'continuation MQA hd32', nTokens: 7, pos0: 5, nHead: 4, nKvHead: 1, headDim: 32, kvStride: 20, scale: 1 / Math.sqrt(32), nSwa: 0, softcap: 0 },
      { name: 'sliding window 5', nTokens: 12, pos0: 3, nHead: 4, nKvHead: 2, headDim: 16, kvStride: 16, scale: 0.25, nSwa: 5, softcap: 0 },
      { name: 'soft-cap 5, window 6', nTokens: 9, pos0: 4, nHead: 4, nKvHead: 2, headDim: 16, kvStride: 32, scale: 1, nSwa: 6, softcap: 5 },
      { name: 'hd 20 (16 + 4 columns)', nTokens: 5, pos0: 2, nHead: 8, nKvHead: 2, headDim: 20, kvStride: 8, scale: 0.2, nSwa: 0, softcap: 0 },
      { name: 'hd 6 (4 + 2 scalar)', nTokens: 4, pos0: 1, nHead: 4, nKvHead: 1, headDim: 6, kvStride: 5, scale: 0.4, nSwa: 0, softcap: 0 },
      { name: 'hd 10, MHA', nTokens: 3, pos0: 6, nHead: 3, nKvHead: 3, headDim: 10, kvStride: 9, scale: 0.3, nSwa: 0, softcap: 0 },
      { name: 'decode hd128 long', nTokens: 1, pos0: 300, nHead: 8, nKvHead: 2, headDim: 128, kvStride: 333, scale: 1 / Math.sqrt(128), nSwa: 0, softcap: 0 },
      { name: 'decode hd64 soft-cap 50', nTokens: 2, pos0: 61, nHead: 4, nKvHead: 4, headDim: 64, kvStride: 70, scale: 0.125, nSwa: 0, softcap: 50 },
    ];

    for (const f16 of [false, true]) {
      test(`attention_${f16 ? 'f16' : 'f32'}kv: causal GQA, windows, soft-cap, tails; head splits are bit-identical`, async (ctx) => {
        const h = await setup();
        let worstRatio = 0;
        for (const c of attentionCases) {
          const a: ref.AttentionParams = { ...c, f16 };
          const nKeys = a.pos0 + a.nTokens, kvw = a.nKvHead * a.headDim;
          const seed = a.headDim * 1000 + a.pos0;
          const q = randomF32(a.nTokens * a.nHead * a.headDim, seed, 1.2);
          // New K/V rows for every position 0..nKeys-1, [token][kv_head][head_dim].
          const kNew = randomF32(nKeys * kvw, seed + 1, 1.5), vNew = randomF32(nKeys * kvw, seed + 2);
          const cacheLen = a.nKvHead * a.kvStride * a.headDim;
          // The unwritten capacity is NaN: reading a key the kernel should not see poisons the output.
          const kc = f16 ? allocU16(h, new Uint16Array(cacheLen).fill(0x7e00)) : h.allocF32(new Float32Array(cacheLen).fill(NaN));
          const vc = f16 ? allocU16(h, new Uint16Array(cacheLen).fill(0x7e00)) : h.allocF32(new Float32Array(cacheLen).fill(NaN));
          const store = f16 ? h.k.kv_store_f16 : h.k.kv_store_f32;
          const pk = h.allocF32(kNew), pv = h.allocF32(vNew);
          // History in one call, the current batch in another, as an engine would.
          store(pk, kvw, kc, a.pos0, a.nKvHead, a.headDim, a.kvStride, 0);
          store(pv, kvw, vc, a.pos0, a.nKvHead, a.headDim, a.kvStride, 0);
          store(pk + 4 * a.pos0 * kvw, kvw, kc, a.nTokens, a.nKvHead, a.headDim, a.kvStride, a.pos0);
          store(pv + 4 * a.pos0 * kvw, kvw, vc, a.nTokens, a.nKvHead, a.headDim, a.kvStride, a.pos0);
          // The cache as the reference sees it: [kv_head][position][head_dim] values.
          const kRef = new Float64Array(cacheLen), vRef = new Float64Array(cacheLen);
          for (let pos = 0; pos < nKeys; pos++) {
            for (let kv = 0; kv < a.nKvHead; kv++) {
              for (let d = 0; d < a.headDim; d++) {
                const at = (kv * a.kvStride + pos) * a.headDim + d, from = pos * kvw + kv * a.headDim + d;
                kRef[at] = f16 ? roundToF16(kNew[from]!) : kNew[from]!;
                vRef[at] = f16 ? roundToF16(vNew[from]!) : vNew[from]!;
              }
            }
          }
          const scratchBytes = h.k.attention_scratch_bytes(nKeys, a.headDim);
          assert.ok(scratchBytes >= 4 * (nKeys + a.headDim));
          const scratch = h.alloc(scratchBytes);
          const pq = h.allocF32(q), n = a.nTokens * a.nHead * a.headDim;
          const outAll = h.allocF32(n), outSplit = h.allocF32(n);
          const attn = f16 ? h.k.attention_f16kv : h.k.attention_f32kv;
          attn(pq, kc, vc, outAll, scratch, a.nTokens, a.pos0, a.nHead, a.nKvHead, a.headDim, a.kvStride, a.scale, a.nSwa, a.softcap, 0, a.nHead);
          const cuts = [0, 1, Math.max(1, a.nHead - 1), a.nHead];
          for (let i = 0; i + 1 < cuts.length; i++) {
            attn(pq, kc, vc, outSplit, scratch, a.nTokens, a.pos0, a.nHead, a.nKvHead, a.headDim, a.kvStride, a.scale, a.nSwa, a.softcap, cuts[i]!, cuts[i + 1]!);
          }
          const got = h.f32(outAll, n);
          assertBitsEqual(h.f32(outSplit, n), got, `${c.name}: split over heads`);
          const want = ref.attention(q, kRef, vRef, a);
          const tol = attentionTolerance(q, kRef, vRef, a);
          for (let i = 0; i < n; i++) {
            const err = Math.abs(got[i]! - want[i]!);
            if (!(err <= tol[i]!)) assert.fail(`${c.name}: element ${i} is ${got[i]}, expected ${want[i]} (error ${err}, bound ${tol[i]})`);
            worstRatio = Math.max(worstRatio, err / tol[i]!);
          }
        }
        ctx.diagnostic(`attention ${f16 ? 'f16' : 'f32'}: worst error / bound = ${worstRatio.toFixed(3)}`);
      });
    }

    test('attention_f16kv rounds q and the weights to f16 (distinguishable from the f32 path)', async (ctx) => {
      const h = await setup();
      // Same f16-valued cache through both kernels paths' math: the f16 path must match the
      // f16-mirroring reference better than the plain one, over many outputs.
      const a: ref.AttentionParams = { nTokens: 6, pos0: 10, nHead: 4, nKvHead: 2, headDim: 32, kvStride: 16, scale: 0.3, nSwa: 0, softcap: 0, f16: true };
      const nKeys = a.pos0 + a.nTokens, kvw = a.nKvHead * a.headDim;
      const q = randomF32(a.nTokens * a.nHead * a.headDim, 1234, 1.3);
      const kNew = randomF32(nKeys * kvw, 1235, 1.5), vNew = randomF32(nKeys * kvw, 1236);
      const cacheLen = a.nKvHead * a.kvStride * a.headDim;
      const kc = allocU16(h, new Uint16Array(cacheLen)), vc = allocU16(h, new Uint16Array(cacheLen));
      h.k.kv_store_f16(h.allocF32(kNew), kvw, kc, nKeys, a.nKvHead, a.headDim, a.kvStride, 0);
      h.k.kv_store_f16(h.allocF32(vNew), kvw, vc, nKeys, a.nKvHead, a.headDim, a.kvStride, 0);
      const kRef = Array.from(u16(h, kc, cacheLen), f16BitsToF32), vRef = Array.from(u16(h, vc, cacheLen), f16BitsToF32);
      const n = a.nTokens * a.nHead * a.headDim, out = h.allocF32(n);
      const scratch = h.alloc(h.k.attention_scratch_bytes(nKeys, a.headDim));
      h.k.attention_f16kv(h.allocF32(q), kc, vc, out, scratch, a.nTokens, a.pos0, a.nHead, a.nKvHead, a.headDim, a.kvStride, a.scale, 0, 0, 0, a.nHead);
      const got = h.f32(out, n);
      const mirrored = ref.attention(q, kRef, vRef, a), plain = ref.attention(q, kRef, vRef, { ...a, f16: false });
      let eM = 0, eP = 0;
      for (let i = 0; i < n; i++) {
        eM += (got[i]! - mirrored[i]!) ** 2;
        eP += (got[i]! - plain[i]!) ** 2;
      }
      assert.ok(eM * 100 < eP, `f16 path error ${eM} should be far below its distance to the unrounded math ${eP}`);
      ctx.diagnostic(`f16 path: squared error ${eM.toExponential(2)} vs the f16-mirroring reference, ${eP.toExponential(2)} vs unrounded math`);
    });

    // A prompt step over an f16 cache widens the K/V rows it reads to f32 once per KV head (up to
    // 2048 rows); a decode step reads the f16 rows. Both must give the same bits, so a prompt run
    // as one step equals the same tokens run one step each.
    test('attention_f16kv: a prompt step gives the bits of the same tokens decoded one by one', async () => {
      const h = await setup();
      const cases: Array<Omit<ref.AttentionParams, 'f16'> & { name: string }> = [
        { name: 'GQA hd64', nTokens: 9, pos0: 7, nHead: 8, nKvHead: 2, headDim: 64, kvStride: 20, scale: 0.125, nSwa: 0, softcap: 0 },
        { name: 'window 5, soft-cap 5', nTokens: 8, pos0: 6, nHead: 4, nKvHead: 2, headDim: 16, kvStride: 16, scale: 1, nSwa: 5, softcap: 5 },
        { name: 'MHA hd 10', nTokens: 4, pos0: 0, nHead: 3, nKvHead: 3, headDim: 10, kvStride: 6, scale: 0.3, nSwa: 0, softcap: 0 },
        { name: 'past the widened rows', nTokens: 3, pos0: 2050, nHead: 4, nKvHead: 1, headDim: 8, kvStride: 2060, scale: 0.35, nSwa: 0, softcap: 0 },
      ];
      for (const a of cases) {
        const nKeys = a.pos0 + a.nTokens, kvw = a.nKvHead * a.headDim, qRow = a.nHead * a.headDim;
        const q = randomF32(a.nTokens * qRow, a.headDim + a.pos0, 1.2);
        const cacheLen = a.nKvHead * a.kvStride * a.headDim;
        const kc = allocU16(h, new Uint16Array(cacheLen).fill(0x7e00)), vc = allocU16(h, new Uint16Array(cacheLen).fill(0x7e00));
        h.k.kv_store_f16(h.allocF32(randomF32(nKeys * kvw, 7, 1.5)), kvw, kc, nKeys, a.nKvHead, a.headDim, a.kvStride, 0);
        h.k.kv_store_f16(h.allocF32(randomF32(nKeys * kvw, 8)), kvw, vc, nKeys, a.nKvHead, a.headDim, a.kvStride, 0);
        const scratch = h.alloc(h.k.attention_scratch_bytes(nKeys, a.headDim));
        const pq = h.allocF32(q), n = a.nTokens * qRow, prompt = h.allocF32(n), steps = h.allocF32(n);
        h.k.attention_f16kv(pq, kc, vc, prompt, scratch, a.nTokens, a.pos0, a.nHead, a.nKvHead, a.headDim, a.kvStride, a.scale, a.nSwa, a.softcap, 0, a.nHead);
        for (let t = 0; t < a.nTokens; t++) {
          h.k.attention_f16kv(pq + 4 * t * qRow, kc, vc, steps + 4 * t * qRow, scratch, 1, a.pos0 + t, a.nHead, a.nKvHead, a.headDim, a.kvStride, a.scale, a.nSwa, a.softcap, 0, a.nHead);
        }
        assertBitsEqual(h.f32(prompt, n), h.f32(steps, n), a.name);
      }
    });

    // Measured accuracy of the f32 transcendentals the kernels use, against the correctly rounded
    // f32 values. Bounds: Mathf.exp is musl's expf (ARM's table method, < 0.51 ulp): 1 ulp;
    // Mathf.tanh is musl's tanhf through expm1f: 2 ulps.
    test('exp_f32 / tanh_f32: Mathf.exp within 1 ulp, Mathf.tanh within 2 ulps (measured)', async (ctx) => {
      const h = await setup();
      const r = prng(99);
      const xs = new Float32Array(200003);
      for (let i = 0; i < xs.length; i++) xs[i] = fr((r() * 2 - 1) * (i % 3 === 0 ? 1 : i % 3 === 1 ? 10 : 88));
      xs.set([0, -0, 1e-30, -1e-30, 88.7, 88.8, -103, -104, Infinity, -Infinity, NaN, 9, 9.01, 0.55, -0.55, 0.27, 0.28], 0);
      const px = h.allocF32(xs), out = h.allocF32(xs.length);
      h.k.exp_f32(px, out, xs.length);
      let got = h.f32(out, xs.length);
      let off = 0;
      const worstExp = assertUlps(got, Array.from(xs, ref.expf), 1, 'exp');
      for (let i = 0; i < xs.length; i++) if (ulps(got[i]!, ref.expf(xs[i]!))) off++;
      ctx.diagnostic(`expf: ${off}/${xs.length} not correctly rounded, worst ${worstExp} ulp`);
      h.k.tanh_f32(px, out, xs.length);
      got = h.f32(out, xs.length);
      off = 0;
      const worstTanh = assertUlps(got, Array.from(xs, ref.tanhf), 2, 'tanh');
      for (let i = 0; i < xs.length; i++) if (ulps(got[i]!, ref.tanhf(xs[i]!))) off++;
      ctx.diagnostic(`tanhf: ${off}/${xs.length} not correctly rounded, worst ${worstTanh} ulps`);
    });

    // Activation tolerances follow from the ones above: silu = x/(1+e) with e within 1 ulp moves
    // 1+e by at most 1 ulp and the quotient by at most 2; a product with u adds 1 more. gelu has
    // 1 + tanh, which cancels for negative x: |d gelu| <= |0.5x| * (2 ulps of tanh (<= 2^-23)
    // + 1 ulp of 1 + tanh (<= 2^-23)) + its final rounding, bounded by |x| * 2^-22 + 2 ulp(y).
    // soft-cap: 2 ulps of tanh, times cap, plus the product's rounding: 3 ulps.
    test('silu, gelu, swiglu, geglu, softcap on every tail length and special values', async () => {
      const h = await setup();
      const specials = [0, -0, 1e-30, -1e-30, 1, -1, 9.99, -9.99, 10, -10, 10.5, -10.5, 20, -20, 88, -88, 100, -100, Infinity, -Infinity, NaN];
      for (const n of [...TAIL_LENGTHS, 5000]) {
        const x = Float32Array.from({ length: n }, (_, i) => (i < specials.length && n > 30 ? specials[i]! : 0));
        const rnd = randomF32(n, n * 7 + 1, 4);
        for (let i = n > 30 ? specials.length : 0; i < n; i++) x[i] = rnd[i]!;
        const u = randomF32(n, n * 7 + 2, 2);
        const px = h.allocF32(x), pu = h.allocF32(u), out = h.allocF32(n);
        h.k.silu_f32(px, out, n);
        assertUlps(h.f32(out, n), Array.from(x, ref.silu), 2, `silu n=${n}`);
        h.k.swiglu_f32(px, pu, out, n);
        assertUlps(h.f32(out, n), Array.from(x, (v, i) => fr(ref.silu(v) * u[i]!)), 3, `swiglu n=${n}`);
        h.k.softcap_f32(px, out, n, 30);
        assertUlps(h.f32(out, n), Array.from(x, (v) => ref.softcap(v, 30)), 3, `softcap n=${n}`);
        const geluTol = (v: number, y: number) => (Number.isFinite(v) ? Math.abs(v) * 2 ** -22 + 2 * ulpOf(y) : 0);
        h.k.gelu_f32(px, out, n);
        let got = h.f32(out, n);
        for (let i = 0; i < n; i++) {
          const want = ref.gelu(x[i]!);
          const ok = Object.is(got[i], want) || Math.abs(got[i]! - want) <= geluTol(x[i]!, want) || (Number.isNaN(got[i]) && Number.isNaN(want));
          if (!ok) assert.fail(`gelu(${x[i]}) = ${got[i]}, expected ${want}`);
        }
        h.k.geglu_f32(px, pu, out, n);
        got = h.f32(out, n);
        for (let i = 0; i < n; i++) {
          const want = fr(ref.gelu(x[i]!) * u[i]!);
          const tol = geluTol(x[i]!, ref.gelu(x[i]!)) * Math.abs(u[i]!) + ulpOf(want);
          const ok = Math.abs(got[i]! - want) <= tol || (Number.isNaN(got[i]) && Number.isNaN(want)) || Object.is(got[i], want);
          if (!ok) assert.fail(`geglu(${x[i]}, ${u[i]}) = ${got[i]}, expected ${want}`);
        }
        // Split at an odd offset (as a host dividing the work would): the same bits.
        if (n > 6) {
          const whole = h.allocF32(n), parts = h.allocF32(n);
          for (const [name, run] of [
            ['silu', (o: number, a: number, m: number) => h.k.silu_f32(px + a, o + a, m)],
            ['gelu', (o: number, a: number, m: number) => h.k.gelu_f32(px + a, o + a, m)],
            ['swiglu', (o: number, a: number, m: number) => h.k.swiglu_f32(px + a, pu + a, o + a, m)],
            ['softcap', (o: number, a: number, m: number) => h.k.softcap_f32(px + a, o + a, m, 5)],
          ] as const) {
            run(whole, 0, n);
            run(parts, 0, 5);
            run(parts, 20, n - 5);
            assertBitsEqual(h.f32(parts, n), h.f32(whole, n), `${name} split n=${n}`);
          }
        }
        // In place.
        h.k.silu_f32(px, px, n);
        assertUlps(h.f32(px, n), Array.from(x, ref.silu), 2, `silu in place n=${n}`);
      }
    });

    // ggml's f16 GELU table is gelu() of each f16 input rounded to f16; gelu_ggml_table_init builds
    // the same table with Mathf.tanh. An entry can differ only if the f32 gelu lies within its
    // error of an f16 rounding boundary; such entries may be one f16 ulp off, all others must be
    // exact. (Measured once against a table built with glibc's tanhf, as llama.cpp on Linux
    // builds it: all 63490 finite entries equal.)
    test('gelu_ggml_f32 / geglu_ggml_f32 reproduce the f16 table over every f16 input', async (ctx) => {
      const h = await setup();
      const xs: number[] = [];
      for (let b = 0; b < 0x10000; b++) {
        const v = f16BitsToF32(b);
        if (!Number.isNaN(v)) xs.push(v);
      }
      const r = prng(3);
      for (let i = 0; i < 20000; i++) xs.push(fr((r() * 2 - 1) * 12)); // between f16 values, and the cut-offs
      xs.push(-10, 10, fr(-10.000001), fr(9.999999), NaN);
      const n = xs.length, x = Float32Array.from(xs), u = randomF32(n, 17, 2);
      const px = h.allocF32(x), pu = h.allocF32(u), out = h.allocF32(n), table = h.alloc(0x20000);
      h.k.gelu_ggml_table_init(table);
      h.k.gelu_ggml_f32(px, out, n, table);
      const got = h.f32(out, n);
      h.k.geglu_ggml_f32(px, pu, out, n, table);
      const gotG = h.f32(out, n);
      // A split at an odd offset moves elements between the vector body and the tail: same bits.
      h.k.gelu_ggml_f32(px, out, 7, table);
      h.k.gelu_ggml_f32(px + 28, out + 28, n - 7, table);
      assertBitsEqual(h.f32(out, n), got, 'gelu_ggml split');
      let ambiguous = 0, differing = 0;
      for (let i = 0; i < n; i++) {
        const want = ref.geluGgml(x[i]!);
        assert.ok(Object.is(gotG[i], fr(got[i]! * u[i]!)) || Number.isNaN(want), `geglu_ggml(${x[i]})`);
        if (Object.is(got[i], want) || (Number.isNaN(got[i]) && Number.isNaN(want))) continue;
        const y = ref.gelu(roundToF16(x[i]!)), tol = geluTolerance(roundToF16(x[i]!), y);
        const amb = roundToF16(y - tol) !== roundToF16(y + tol);
        if (!amb || ulps16(got[i]!, want) > 1) assert.fail(`gelu_ggml(${x[i]}) = ${got[i]}, expected ${want}`);
        differing++;
      }
      for (const v of xs) {
        const y = ref.gelu(roundToF16(v));
        if (Math.abs(v) < 10 && roundToF16(y - geluTolerance(v, y)) !== roundToF16(y + geluTolerance(v, y))) ambiguous++;
      }
      ctx.diagnostic(`gelu f16 table: ${differing} entries differ (${ambiguous} inputs within the tolerance of an f16 boundary)`);
    });

    test('f32_to_f16 / f16_to_f32 / bf16_to_f32 are bit-exact with src/quant/half.ts', async () => {
      const h = await setup();
      // Every f16 pattern widens exactly (NaN payloads kept: sign, all-ones exponent, payload << 13).
      const all = Uint16Array.from({ length: 0x10000 }, (_, i) => i);
      const p16 = allocU16(h, all), p32 = h.allocF32(0x10000);
      h.k.f16_to_f32(p16, p32, 0x10000);
      const wide = new Uint32Array(h.memory.buffer.slice(p32, p32 + 4 * 0x10000));
      for (let b = 0; b < 0x10000; b++) {
        const isNaN = (b & 0x7c00) === 0x7c00 && (b & 0x3ff) !== 0;
        const want = isNaN ? (((b & 0x8000) << 16) | 0x7f800000 | ((b & 0x3ff) << 13)) >>> 0 : f32Bits(f16BitsToF32(b));
        if (wide[b] !== want) assert.fail(`f16_to_f32(0x${b.toString(16)}) = 0x${wide[b]!.toString(16)}, expected 0x${want.toString(16)}`);
      }
      // f32 -> f16: random bit patterns, every f16 value, midpoints between neighbours (ties to
      // even), their f32 neighbours, and the overflow / subnormal edges.
      const r = prng(11);
      const bits: number[] = [];
      for (let i = 0; i < 100000; i++) bits.push(Math.floor(r() * 2 ** 32));
      for (let b = 0; b < 0x7c00; b++) {
        const lo = f16BitsToF32(b), hi = f16BitsToF32(b + 1);
        const mid = f32Bits((lo + hi) / 2);
        for (const s of [0, 0x80000000]) bits.push((f32Bits(lo) | s) >>> 0, (mid | s) >>> 0, ((mid - 1) | s) >>> 0, ((mid + 1) | s) >>> 0);
      }
      bits.push(0x477fe000, 0x477fefff, 0x477ff000, 0x477fffff, 0x47800000, 0x7f7fffff, 0x7f800000, 0xff800000, 0x7fc00000, 0x7f800001, 0xffbfffff, 0x33000000, 0x33000001, 0x32ffffff, 0x387fe000, 0x387ff000, 0x387fffff, 0x38800000, 0);
      bits.push(1, 2, 3); // odd length: exercises the scalar tail after blocks of 8
      const src = new Uint32Array(bits), ps = h.alloc(4 * src.length), pd = h.alloc(2 * src.length);
      new Uint32Array(h.memory.buffer, ps, src.length).set(src);
      h.k.f32_to_f16(ps, pd, src.length);
      const got = u16(h, pd, src.length);
      for (let i = 0; i < src.length; i++) {
        const want = f32ToF16Bits(bitsToF32(src[i]!));
        if (got[i] !== want) assert.fail(`f32_to_f16(0x${src[i]!.toString(16)}) = 0x${got[i]!.toString(16)}, expected 0x${want.toString(16)}`);
      }
      // bf16 widening.
      const bf = Uint16Array.from({ length: 1003 }, () => Math.floor(r() * 0x10000));
      const pb = allocU16(h, bf), pbo = h.allocF32(bf.length);
      h.k.bf16_to_f32(pb, pbo, bf.length);
      const bo = new Uint32Array(h.memory.buffer.slice(pbo, pbo + 4 * bf.length));
      for (let i = 0; i < bf.length; i++) assert.equal(bo[i], (bf[i]! << 16) >>> 0, `bf16_to_f32(0x${bf[i]!.toString(16)})`);
      assert.ok(Object.is(bf16BitsToF32(f32ToBF16Bits(1.5)), 1.5));
    });

    test('argmax_f32: first maximum, NaN skipped, all -inf/NaN -> 0, every lane and tail position', async () => {
      const h = await setup();
      const cases: number[][] = [
        [], [5], [NaN], [-Infinity, -Infinity], [NaN, NaN, NaN, NaN, NaN], [NaN, 1, NaN, 2, 2, NaN], [0, -0, 0], [-0, 0],
        [1, 2, 3, 3, 3, 3, 2, 3], [3, 1, 1, 1, 3, 1, 1, 1, 3], [1, 1, 1, 7, 1, 1, 1, 7], [-Infinity, NaN, -5, Infinity, Infinity],
        [-Infinity, -Infinity, -Infinity, -Infinity, -Infinity, -3],
      ];
      const r = prng(21);
      for (const n of TAIL_LENGTHS) {
        for (let at = 0; at < n; at++) {
          const v = Array.from({ length: n }, () => Math.floor(r() * 5));
          v[at] = 9;
          if (at + 2 < n) v[at + 2] = 9; // a later tie never wins
          cases.push(v);
        }
        cases.push(Array.from({ length: n }, () => Math.floor(r() * 3) - 1)); // many ties
      }
      cases.push(Array.from(randomF32(100000, 4)));
      for (const c of cases) {
        const p = h.allocF32(c);
        assert.equal(h.k.argmax_f32(p, c.length), ref.argmax(Float32Array.from(c)), `argmax [${c.length <= 20 ? c.join(',') : c.length}]`);
      }
    });
  });
}

function geluTolerance(x: number, y: number): number {
  return Math.abs(x) * 2 ** -22 + 2 * ulpOf(y);
}

function ulps16(a: number, b: number): number {
  const ord = (x: number) => {
    const hb = f32ToF16Bits(x);
    return hb & 0x8000 ? -(hb & 0x7fff) : hb;
  };
  return Math.abs(ord(a) - ord(b));
}
