/**
 * The WebGPU matmul kernel's work splits, timed on this machine's GPU: for each weight type and
 * MatmulShape, TinyLlama-sized FFN matrices (5632 × 2048) times 1 token (decode) or 64 tokens
 * (prefill), `reps` dispatches in one submit cycling over COPIES copies of the matrix (more bytes
 * than a GPU's L2 cache, as a model's weights are); reports weight bytes streamed per second
 * (decode) and tokens per second through one matrix (prefill). The weights are TS-quantized noise.
 *
 *   node --import tsx bench/webgpu-matmul.bench.ts [--types q4_0,q8_0,q4_K,q6_K] [--reps 50]
 */
import { parseArgs } from 'node:util';
import { acquireGpu } from '../src/backends/webgpu/gpu.js';
import { matmulKernel, packParams, WG, type MatmulShape } from '../src/backends/webgpu/kernels.js';
import { quantize, rowByteSize, typeByName, type GGMLTypeId } from '../src/quant/index.js';

const { values: v } = parseArgs({ options: { types: { type: 'string', default: 'q4_0,q8_0,q4_K,q6_K' }, reps: { type: 'string', default: '50' } } });
const [K, M] = [2048, 5632];
const COPIES = 16;
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
/**
 * Each shape runs twice: as the backend compiles it (k a uniform), and with k written into the
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

/** Seconds for `reps` dispatches and a 16-byte read-back (as a decode step ends), after a warm-up. */
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
  await run();
  const t0 = performance.now();
  await run();
  return (performance.now() - t0) / 1000;
}

for (const name of v.types.split(',')) {
  const type = typeByName(name).id as GGMLTypeId;
  let s = 12345;
  const values = Float32Array.from({ length: K * M }, () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32 - 0.5) * 0.1);
  const bytes = quantize(type, values);
  const copies = Array.from({ length: COPIES }, () => buffer(bytes, GPUBufferUsage.STORAGE));
  const weightBytes = rowByteSize(type, K) * M;
  for (const tokens of [1, 64]) {
    const x = buffer(new Uint8Array(Float32Array.from({ length: K * tokens }, (_, i) => Math.sin(i)).buffer), GPUBufferUsage.STORAGE);
    const y = buffer(M * tokens * 4, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC);
    const params = buffer(packParams([K, M, rowByteSize(type, K), 0, M, tokens]), GPUBufferUsage.UNIFORM);
    for (const [tile, shape, kVariant] of (tokens === 1 ? SHAPES.map((s) => [1, s] as const) : SHAPES.map((s) => [8, s] as const)).flatMap(([t, s]) => K_VARIANTS.map((k) => [t, s, k] as const))) {
      const compiled = matmulKernel(type, tile, shape);
      const source = kVariant === 'uniform k' ? compiled : { ...compiled, code: compiled.code.replaceAll('p.k', `${K}u`) };
      const layout = device.createBindGroupLayout({
        entries: source.bindings.map((kind, binding) => ({ binding, visibility: GPUShaderStage.COMPUTE, buffer: { type: kind === 'read' ? 'read-only-storage' : kind === 'write' ? 'storage' : 'uniform' } })),
      });
      const pipeline = await device.createComputePipelineAsync({ layout: device.createPipelineLayout({ bindGroupLayouts: [layout] }), compute: { module: device.createShaderModule({ code: source.code }), entryPoint: 'main' } });
      const groups = copies.map((w) => device.createBindGroup({ layout, entries: [w, x, y, params].map((buffer, binding) => ({ binding, resource: { buffer } })) }));
      const rowsPerGroup = WG / shape.lanes;
      const seconds = await time(pipeline, groups, [Math.ceil(M / rowsPerGroup), 1, Math.ceil(tokens / tile)], y);
      const perDispatch = (seconds / reps) * 1e6;
      const figure = tokens === 1 ? `${((weightBytes * reps) / seconds / 1e9).toFixed(1)} GB/s` : `${((tokens * reps) / seconds).toFixed(0)} tok/s`;
      console.log(`${name} ${tokens === 1 ? 'decode ' : `prefill tile=${tile}`} lanes=${shape.lanes} groups=${shape.groups} ${kVariant}: ${perDispatch.toFixed(1)} us/dispatch, ${figure}`);
    }
  }
}
device.destroy();
