/**
 * Single-thread speed of the quant matmul kernels: an M×K weight matrix (4096×4096 unless
 * --shape says otherwise) times 1 token (decode, reported as GB/s of weights streamed) and times
 * 64 tokens (prefill, GFLOP/s with 2 flops per multiply-add). Weights are random bytes with
 * finite scales: speed does not depend on the values.
 *
 *   node --experimental-wasm-relaxed-simd --import tsx bench/quant-matmul.bench.ts [options] [type ...]
 * (the flag only on Node 20; build the kernels first: node scripts/build-kernels.mjs)
 *
 * Times are this process's CPU time (BENCH_WALL=1: wall time), the median of the trials
 * (BENCH_BEST=1: the minimum).
 *
 * Options:
 *   --against DIR   also time the builds DIR/kernels-{baseline,relaxed}.wasm (e.g. a copy of an
 *                   earlier build) in the same run: old and new calls alternate (which goes first
 *                   alternates too), the speed-up printed is the median of the per-trial ratios
 *                   (adjacent calls, so drifting load mostly cancels), and the outputs of both
 *                   must be bit-identical (decode and prefill), else the run fails.
 *   --variant V     only this build (relaxed or baseline).
 *   --shape MxK     weight rows × row length (K a multiple of 256 for the K-quants).
 *   --tokens N      prefill tokens (default 64).
 *
 * A block type with the suffix _x8 or _x4 (q8_0_x8, q4_K_x4, q4_0_x4, ...) times the kernels over
 * weights interleaved in groups of that many rows (repack_rows; repack_q4_0_x4 for q4_0); against
 * an earlier build without them, its plain kernel.
 *   --trials N      decode trials per build (default 31; prefill gets a fifth of them, at least 3).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { KERNEL_VARIANTS, compileKernels, instantiateKernels, type KernelExports, type KernelVariant } from '../src/backends/cpu/kernel-module.js';
import { f32ToBF16Bits, f32ToF16Bits, rowByteSize, typeByName, typeName, vecDotType } from '../src/quant/index.js';
import { activationFormat, type ActivationFormat } from '../src/backends/cpu/activations.js';

// Compile straight to optimised code: with lazy tier-up, a warm-up call may still run baseline
// (Liftoff) code, and the first builds timed would look slower than they are.
setFlagsFromString('--no-liftoff');

const ALL_TYPES = ['q4_0', 'q4_1', 'q5_0', 'q5_1', 'q8_0', 'iq4_nl', 'q2_K', 'q3_K', 'q4_K', 'q5_K', 'q6_K', 'iq4_xs', 'f16', 'bf16', 'f32'];

const args = process.argv.slice(2);
const option = (name: string): string | undefined => {
  const i = args.indexOf(name);
  if (i < 0) return undefined;
  const v = args[i + 1];
  args.splice(i, 2);
  return v;
};
const against = option('--against');
const onlyVariant = option('--variant') as KernelVariant | undefined;
const [M, K] = (option('--shape') ?? '4096x4096').split('x').map(Number) as [number, number];
const PREFILL = Number(option('--tokens') ?? 64);
const TRIALS = Number(option('--trials') ?? 31);
const TYPES = args.length ? args : ALL_TYPES;

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

/** The input format of `type`'s kernels in module k (an earlier build may predate q8_0s: ggml's vec_dot type then). */
function inputFormat(k: Record<string, unknown>, type: string): ActivationFormat | undefined {
  const id = typeByName(type).id, format = activationFormat(id);
  if (!format || typeof k[`quantize_${format.name}`] === 'function') return format;
  const act = vecDotType(id);
  return { name: typeName(act).toLowerCase(), rowBytes: (cols) => rowByteSize(act, cols) };
}

/** One kernel instance over its own memory holding the weights, activations and output of one type. */
interface Setup {
  mm: (w: number, x: number, y: number, k: number, m: number, r0: number, r1: number, n: number) => void;
  pw: number;
  /** The prefill tokens' input, and the decode token's (quantized alone: q8_k_x8 lays out several rows otherwise). */
  px: number;
  px1: number;
  py: number;
  memory: WebAssembly.Memory;
}

async function setup(module: WebAssembly.Module, name: string, w: Uint8Array, xf: Float32Array): Promise<Setup> {
  const type = baseType(name);
  const maxXBytes = PREFILL * K * 4; // f16w/bf16w, the largest input formats, keep each value as f32
  const pages = Math.ceil((w.length + xf.length * 4 + maxXBytes + PREFILL * M * 4 + (1 << 20)) / 65536);
  const memory = new WebAssembly.Memory({ initial: pages });
  const k = (await instantiateKernels(module, memory)) as KernelExports & Record<string, (...a: number[]) => void>;
  const act = inputFormat(k, type);
  let top = (k.heap_base() + 63) & ~63;
  const alloc = (n: number) => {
    const p = top;
    top = (top + n + 63) & ~63;
    return p;
  };
  const pw = alloc(w.length);
  new Uint8Array(memory.buffer).set(w, pw);
  const interleaved = name !== type && typeof k[`matmul_${name.toLowerCase()}`] === 'function';
  if (interleaved) {
    const rb = rowByteSize(typeByName(type).id, K), group = Number(name.slice(name.lastIndexOf('_x') + 2));
    if (type === 'q4_0') k.repack_q4_0_x4!(pw, alloc(group * rb), M, rb);
    else k.repack_rows!(pw, alloc(group * rb), M, rb, typeByName(type).typeSize, group);
  }
  const pxf = alloc(xf.length * 4);
  new Float32Array(memory.buffer, pxf, xf.length).set(xf);
  let px = pxf, px1 = pxf;
  if (act) {
    px = alloc(act.rowBytes(K) * PREFILL);
    k[`quantize_${act.name}`]!(pxf, px, PREFILL, K);
    px1 = alloc(act.rowBytes(K));
    k[`quantize_${act.name}`]!(pxf, px1, 1, K);
  }
  const py = alloc(PREFILL * M * 4);
  return { mm: k[`matmul_${(interleaved ? name : type).toLowerCase()}`]!, pw, px, px1, py, memory };
}

/** One matmul call of setup s over n tokens (1: the decode token). */
const runMatmul = (s: Setup, n: number) => s.mm(s.pw, n === 1 ? s.px1 : s.px, s.py, K, M, 0, M, n);

/** The weight type of a type name that may carry an _x8 / _x4 suffix. */
const baseType = (name: string) => name.replace(/_x[48]$/, '');

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const BEST = process.env.BENCH_BEST === '1'; // min instead of median
// CPU time of this process (user + system, precise on Linux) rather than wall time: on a shared
// machine, time spent preempted by other processes is not counted. BENCH_WALL=1 for wall time.
const WALL = process.env.BENCH_WALL === '1';
const now = (): number => {
  if (WALL) return performance.now();
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

/**
 * Seconds of `trials` calls of each setup with n tokens, the setups taking turns: the median (or
 * best) per setup, and the median over trials of the first setup's speed-up over each other one
 * in the same trial (adjacent calls, so drifting load on a shared machine mostly cancels).
 */
function timeAlternating(setups: Setup[], n: number, trials: number): { times: number[]; ratios: number[] } {
  const times = setups.map(() => [] as number[]);
  for (const s of setups) runMatmul(s, n); // warm-up (and tier-up)
  for (let i = 0; i < trials; i++) {
    // Alternate which goes first, too.
    const order = i % 2 ? [...setups.keys()].reverse() : [...setups.keys()];
    for (const j of order) {
      const s = setups[j]!;
      const t0 = now();
      runMatmul(s, n);
      times[j]!.push((now() - t0) / 1000);
    }
  }
  const ratios = setups.slice(1).map((_, j) => median(times[j + 1]!.map((t, i) => t / times[0]![i]!)));
  return { times: times.map((t) => (BEST ? Math.min(...t) : median(t))), ratios };
}

function sameOutput(a: Setup, b: Setup, n: number): boolean {
  for (const s of [a, b]) {
    new Float32Array(s.memory.buffer, s.py, n * M).fill(NaN);
    runMatmul(s, n);
  }
  const x = new Uint32Array(a.memory.buffer, a.py, n * M), y = new Uint32Array(b.memory.buffer, b.py, n * M);
  return x.every((v, i) => v === y[i]);
}

console.log(
  `matmul ${M}x${K}, decode = 1 token, prefill = ${PREFILL} tokens; ${BEST ? 'best' : 'medians'} of ${TRIALS} / ${Math.max(3, Math.round(TRIALS / 5))} trials, ` +
    `${WALL ? 'wall' : 'process CPU'} time` +
    (against ? `, alternating with ${against}` : ''),
);
let failed = false;
for (const variant of onlyVariant ? [onlyVariant] : KERNEL_VARIANTS) {
  const module = await compileKernels(variant);
  if (!module) {
    console.log(`${variant}: not supported by this engine`);
    continue;
  }
  const old = against ? await WebAssembly.compile(readFileSync(join(against, `kernels-${variant}.wasm`))) : undefined;
  for (const type of TYPES) {
    const w = weights(baseType(type), M, K);
    const xf = new Float32Array(PREFILL * K).map((_, i) => Math.sin(i * 0.37));
    const setups = [await setup(module, type, w, xf)];
    if (old) setups.push(await setup(old, type, w, xf));
    if (old && !(sameOutput(setups[0]!, setups[1]!, 1) && sameOutput(setups[0]!, setups[1]!, PREFILL))) {
      console.log(`${variant.padEnd(8)} ${type.padEnd(6)} OUTPUT DIFFERS from ${against}`);
      failed = true;
    }
    const { times: decode, ratios: dr } = timeAlternating(setups, 1, TRIALS);
    const { times: prefill, ratios: pr } = timeAlternating(setups, PREFILL, Math.max(3, Math.round(TRIALS / 5)));
    const gbs = (t: number) => (w.length / t / 1e9).toFixed(2).padStart(6);
    const gflops = (t: number) => ((2 * K * M * PREFILL) / t / 1e9).toFixed(1).padStart(5);
    let line = `${variant.padEnd(8)} ${type.padEnd(6)} decode ${(decode[0]! * 1e3).toFixed(2).padStart(7)} ms ${gbs(decode[0]!)} GB/s` +
      `   prefill ${(prefill[0]! * 1e3).toFixed(1).padStart(7)} ms ${gflops(prefill[0]!)} GFLOP/s`;
    if (old) {
      line += `   | old: ${gbs(decode[1]!)} GB/s ${gflops(prefill[1]!)} GFLOP/s | new/old (median of paired trials): decode ×${dr[0]!.toFixed(2)}` +
        ` prefill ×${pr[0]!.toFixed(2)}`;
    }
    console.log(line);
  }
}
if (failed) process.exit(1);
