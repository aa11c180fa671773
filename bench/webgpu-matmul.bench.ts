/**
 * The WebGPU matmul kernels, timed on this machine's GPU: for each weight type, TinyLlama-sized
 * FFN matrices (5632 × 2048) times 1 token (the generic decode kernel for each MatmulShape, and the
 * slice kernels for their types, for each of SLICE_LANES) or --tokens
 * tokens (default 64: prefill's tiled GEMM), `reps` dispatches in one submit cycling over COPIES
 * copies of the matrix (more bytes than a GPU's L2 cache, as a model's weights are); reports
 * weight bytes streamed per second (decode), and tokens per second through one matrix and FLOP/s
 * (prefill). The weights are TS-quantized noise.
 *
 *   node --import tsx bench/webgpu-matmul.bench.ts [--types q4_0,q8_0,q4_K,q6_K] [--reps 50] [--tokens 64]
 */
import { parseArgs } from 'node:util';
import { acquireGpu } from '../src/backends/webgpu/gpu.js';
import { GEMM_ROWS, GEMM_TOKENS, gemmKernel } from '../src/backends/webgpu/gemm-kernel.js';
import { matmulKernel, packParams, WG, type KernelSource, type MatmulShape } from '../src/backends/webgpu/kernels.js';
import { SLICE_MATVEC_TYPES, sliceMatvecKernel, sliceMatvecRows } from '../src/backends/webgpu/matvec-kernel.js';
import { quantize, rowByteSize, typeByName, type GGMLTypeId } from '../src/quant/index.js';

const { values: v } = parseArgs({ options: { types: { type: 'string', default: 'q4_0,q8_0,q4_K,q6_K' }, reps: { type: 'string', default: '50' }, tokens: { type: 'string', default: '64' } } });
const [K, M] = [2048, 5632];
const COPIES = 16;
const WARM_MS = 200;
const reps = Number(v.reps);
const gpu = await acquireGpu();
if (typeof gpu === 'string') throw new Error(gpu);
const { device } = gpu;
console.log(`# ${gpu.info.adapter} via ${gpu.info.implementation}; ${M}x${K}, ${reps} dispatches per submit`);

const SHAPES: MatmulShape[] = [
  { lanes: 8, groups: 1 },
  { lanes: 16, groups: 1 },
  { lanes: 32, groups: 1 },
  { lanes: 64, groups: 1 },
  { lanes: 16, groups: 2 },
  { lanes: 32, groups: 2 },
  { lanes: 32, groups: 4 },
  { lanes: 32, groups: 8 },
];
/** Threads per row group of the slice decode kernels (Q4_0, Q8_0, Q4_K, Q6_K). */
const SLICE_LANES = [16, 32, 64];
/**
 * Each kernel runs twice: as the backend compiles it (k a uniform), and with k written into the
 * code as a constant, so that the compiler knows every loop's trip count (unrolling, loads issued
 * together, the x4 bounds check gone).
 */
const K_VARIANTS = ['uniform k', 'constant k'] as const;

function buffer(bytes: Uint8Array | number, usage: number): GPUBuffer {
  const size = Math.ceil((typeof bytes === 'number' ? bytes : bytes.length) / 4) * 4;
  const b = device.createBuffer({ size, usage: usage | GPUBufferUsage.COPY_DST });
  if (typeof bytes !== 'number') {
    const padded = new Uint8Array(size);
    padded.set(bytes);
    device.queue.writeBuffer(b, 0, padded);
  }
  return b;
}

const probe = device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });

/**
 * Seconds for `reps` dispatches and a 16-byte read-back (as a decode step ends): the best of 3,
 * after WARM_MS of the same work (an idle GPU's clocks ramp up over milliseconds: an H200 idles at
 * 345 MHz, and one warm-up run of a fast kernel left later rows up to 4x slow).
 */
async function time(pipeline: GPUComputePipeline, groups: GPUBindGroup[], size: [number, number, number], y: GPUBuffer): Promise<number> {
  const run = async () => {
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass();
    pass.setPipeline(pipeline);
    for (let i = 0; i < reps; i++) {
      pass.setBindGroup(0, groups[i % groups.length]!);
      pass.dispatchWorkgroups(...size);
    }
    pass.end();
    enc.copyBufferToBuffer(y, 0, probe, 0, 16);
    device.queue.submit([enc.finish()]);
    await probe.mapAsync(GPUMapMode.READ);
    probe.unmap();
  };
  for (const t0 = performance.now(); performance.now() - t0 < WARM_MS; ) await run();
  let best = Infinity;
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    await run();
    best = Math.min(best, (performance.now() - t0) / 1000);
  }
  return best;
}

for (const name of v.types.split(',')) {
  const type = typeByName(name).id as GGMLTypeId;
  let s = 12345;
  const values = Float32Array.from({ length: K * M }, () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32 - 0.5) * 0.1);
  const bytes = quantize(type, values);
  const copies = Array.from({ length: COPIES }, () => buffer(bytes, GPUBufferUsage.STORAGE));
  const weightBytes = rowByteSize(type, K) * M;
  for (const tokens of [1, Number(v.tokens)]) {
    const x = buffer(new Uint8Array(Float32Array.from({ length: K * tokens }, (_, i) => Math.sin(i)).buffer), GPUBufferUsage.STORAGE);
    const y = buffer(M * tokens * 4, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC);
    const params = buffer(packParams([K, M, rowByteSize(type, K), 0, M, tokens]), GPUBufferUsage.UNIFORM);
    const kernels: { name: string; kernel: KernelSource; size: [number, number, number] }[] =
      tokens === 1
        ? [
            ...SHAPES.map((shape) => ({ name: `decode  lanes=${shape.lanes} groups=${shape.groups}`, kernel: matmulKernel(type, shape), size: [Math.ceil(M / (WG / shape.lanes)), 1, 1] as [number, number, number] })),
            ...(SLICE_MATVEC_TYPES.has(type) ? SLICE_LANES : []).map((lanes) => ({ name: `decode  slices lanes=${lanes}`, kernel: sliceMatvecKernel(type, lanes), size: [Math.ceil(M / sliceMatvecRows(lanes)), 1, 1] as [number, number, number] })),
          ]
        : [{ name: `prefill gemm ${GEMM_ROWS}x${GEMM_TOKENS}`, kernel: gemmKernel(type), size: [Math.ceil(M / GEMM_ROWS), 1, Math.ceil(tokens / GEMM_TOKENS)] }];
    for (const { name: kernelName, kernel, size } of kernels) {
      for (const kVariant of K_VARIANTS) {
        const source = kVariant === 'uniform k' ? kernel : { ...kernel, code: kernel.code.replaceAll('p.k', `${K}u`) };
        const layout = device.createBindGroupLayout({
          entries: source.bindings.map((kind, binding) => ({ binding, visibility: GPUShaderStage.COMPUTE, buffer: { type: kind === 'read' ? 'read-only-storage' : kind === 'write' ? 'storage' : 'uniform' } })),
        });
        const pipeline = await device.createComputePipelineAsync({ layout: device.createPipelineLayout({ bindGroupLayouts: [layout] }), compute: { module: device.createShaderModule({ code: source.code }), entryPoint: 'main' } });
        const groups = copies.map((w) => device.createBindGroup({ layout, entries: [w, x, y, params].map((buffer, binding) => ({ binding, resource: { buffer } })) }));
        const seconds = await time(pipeline, groups, size, y);
        const perDispatch = (seconds / reps) * 1e6;
        const figure =
          tokens === 1
            ? `${((weightBytes * reps) / seconds / 1e9).toFixed(1)} GB/s`
            : `${((tokens * reps) / seconds).toFixed(0)} tok/s, ${((2 * K * M * tokens * reps) / seconds / 1e9).toFixed(1)} GFLOP/s`;
        console.log(`${name} ${kernelName} ${kVariant}: ${perDispatch.toFixed(1)} us/dispatch, ${figure}`);
      }
    }
  }
}
device.destroy();
