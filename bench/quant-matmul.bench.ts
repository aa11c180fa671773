/**
 * Single-thread speed of the quant matmul kernels: a 4096×4096 weight matrix times 1 token
 * (decode, reported as GB/s of weights streamed) and times 64 tokens (prefill, GFLOP/s with
 * 2 flops per multiply-add), best of several trials. Weights are random bytes with finite
 * scales: speed does not depend on the values.
 *
 *   node --experimental-wasm-relaxed-simd --import tsx bench/quant-matmul.bench.ts [type ...]
 * (the flag only on Node 20; build the kernels first: node scripts/build-kernels.mjs)
 */
import { KERNEL_VARIANTS } from '../src/backends/cpu/kernel-module.js';
import { f32ToBF16Bits, f32ToF16Bits, rowByteSize, typeByName, vecDotType } from '../src/quant/index.js';
import { kernelHarness } from '../test/helpers/kernel-harness.js';

const K = 4096, M = 4096, PREFILL = 64;
const TYPES = process.argv.slice(2).length
  ? process.argv.slice(2)
  : ['q4_0', 'q4_1', 'q5_0', 'q5_1', 'q8_0', 'iq4_nl', 'q2_K', 'q3_K', 'q4_K', 'q5_K', 'q6_K', 'iq4_xs', 'f16', 'bf16', 'f32'];

/** Byte offsets of the f16 scale fields in one block (random bits there could be NaN/inf). */
const F16_FIELDS: Record<string, number[]> = {
  q4_0: [0], q4_1: [0, 2], q5_0: [0], q5_1: [0, 2], q8_0: [0], iq4_nl: [0],
  q2_K: [80, 82], q3_K: [108], q4_K: [0, 2], q5_K: [0, 2], q6_K: [208], iq4_xs: [0],
};

function randomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  let s = 0x9e3779b9;
  for (let i = 0; i < n; i++) {
    s ^= s << 13; s ^= s >>> 17; s ^= s << 5;
    out[i] = s & 0xff;
  }
  return out;
}

/** Valid rows of `type`: random bits, with every float field set to a small finite value. */
function weights(type: string, rows: number, k: number): Uint8Array {
  const info = typeByName(type);
  const w = randomBytes(rowByteSize(info.id, k) * rows);
  const dv = new DataView(w.buffer);
  if (type === 'f32') {
    for (let i = 0; i < w.length; i += 4) dv.setFloat32(i, ((i % 97) - 48) / 64, true);
  } else if (type === 'f16' || type === 'bf16') {
    const conv = type === 'f16' ? f32ToF16Bits : f32ToBF16Bits;
    for (let i = 0; i < w.length; i += 2) dv.setUint16(i, conv(((i % 97) - 48) / 64), true);
  } else {
    for (let b = 0; b < w.length; b += info.typeSize) for (const o of F16_FIELDS[type]!) dv.setUint16(b + o, f32ToF16Bits(0.01), true);
  }
  return w;
}

function activationName(type: string): string {
  const id = vecDotType(typeByName(type).id);
  return ({ 0: 'f32', 1: 'f16', 30: 'bf16', 8: 'q8_0', 9: 'q8_1', 15: 'q8_k' } as Record<number, string>)[id]!;
}

for (const variant of KERNEL_VARIANTS) {
  const h = await kernelHarness(variant, 4096);
  const k = h.k as unknown as Record<string, (...a: number[]) => void>;
  for (const type of TYPES) {
    h.reset();
    const w = weights(type, M, K);
    const pw = h.allocBytes(w);
    const act = activationName(type);
    const xf = new Float32Array(PREFILL * K).map((_, i) => Math.sin(i * 0.37));
    const pxf = h.allocF32(xf);
    const px = h.alloc(PREFILL * K * 4);
    if (act === 'f32') h.allocF32(0);
    else k[`quantize_${act}`]!(pxf, px, PREFILL, K);
    const x = act === 'f32' ? pxf : px;
    const py = h.allocF32(PREFILL * M);
    const mm = k[`matmul_${type.toLowerCase()}`]!;

    // Best of several trials: the machine may be shared, and the minimum is the stable figure.
    const time = (n: number, trials: number) => {
      mm(pw, x, py, K, M, 0, M, n); // warm-up
      let best = Infinity;
      for (let i = 0; i < trials; i++) {
        const t0 = performance.now();
        mm(pw, x, py, K, M, 0, M, n);
        best = Math.min(best, performance.now() - t0);
      }
      return best / 1000;
    };
    const decode = time(1, 40);
    const prefill = time(PREFILL, 4);
    console.log(
      `${variant.padEnd(8)} ${type.padEnd(6)} decode ${(decode * 1e3).toFixed(2).padStart(7)} ms ` +
        `${(w.length / decode / 1e9).toFixed(2).padStart(6)} GB/s   ` +
        `prefill×${PREFILL} ${(prefill * 1e3).toFixed(1).padStart(7)} ms ${((2 * K * M * PREFILL) / prefill / 1e9).toFixed(1).padStart(5)} GFLOP/s`,
    );
  }
}
