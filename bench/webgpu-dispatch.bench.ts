/**
 * The fixed cost of one dispatch on this machine's GPU: `n` dispatches of a one-workgroup kernel
 * that reads and writes 256 floats, encoded in one compute pass and submitted once, then a
 * 16-byte read-back, as a decode step is. Two cases: each dispatch reads what the one before it
 * wrote (a chain: the implementation must put a barrier between them, as between a model's
 * nodes), and every dispatch on its own buffer (no dependency). Also the cost of the submit and
 * read-back alone (n = 0), and the CPU's share: the time to encode the step (up to finish()).
 * Medians of `reps` runs.
 *
 *   node --import tsx bench/webgpu-dispatch.bench.ts [--n 400] [--reps 9]
 */
import { parseArgs } from 'node:util';
import { acquireGpu } from '../src/backends/webgpu/gpu.js';

const { values: v } = parseArgs({ options: { n: { type: 'string', default: '400' }, reps: { type: 'string', default: '9' } } });
const [n, reps] = [Number(v.n), Number(v.reps)];
const gpu = await acquireGpu();
if (typeof gpu === 'string') throw new Error(gpu);
const { device } = gpu;
console.log(`# ${gpu.info.adapter} via ${gpu.info.implementation}`);

const code = `
@group(0) @binding(0) var<storage, read> A: array<f32>;
@group(0) @binding(1) var<storage, read_write> B: array<f32>;
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32) { B[lid] = A[lid] * 0.5 + 1.0; }`;
const pipeline = await device.createComputePipelineAsync({ layout: 'auto', compute: { module: device.createShaderModule({ code }), entryPoint: 'main' } });
const buffers = Array.from({ length: n + 1 }, () => device.createBuffer({ size: 1024, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC }));
const probe = device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
const bind = (a: GPUBuffer, b: GPUBuffer) => device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [a, b].map((buffer, binding) => ({ binding, resource: { buffer } })) });
// Chain: i reads buffer i and writes i + 1. Independent: each reads buffer 0 and writes its own.
const chain = Array.from({ length: n }, (_, i) => bind(buffers[i]!, buffers[i + 1]!));
const independent = Array.from({ length: n }, (_, i) => bind(buffers[0]!, buffers[i + 1]!));

/** CPU time of the last step's encoding (up to finish), ms. */
let encodeMs = 0;

async function step(groups: GPUBindGroup[]): Promise<number> {
  const t0 = performance.now();
  const enc = device.createCommandEncoder();
  const pass = enc.beginComputePass();
  pass.setPipeline(pipeline);
  for (const g of groups) {
    pass.setBindGroup(0, g);
    pass.dispatchWorkgroups(1);
  }
  pass.end();
  enc.copyBufferToBuffer(buffers[n]!, 0, probe, 0, 16);
  const commands = enc.finish();
  encodeMs = performance.now() - t0;
  device.queue.submit([commands]);
  await probe.mapAsync(GPUMapMode.READ);
  probe.unmap();
  return performance.now() - t0;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
/** Median step time and median encoding time, ms. */
async function measure(groups: GPUBindGroup[]): Promise<[number, number]> {
  await step(groups);
  const times: number[] = [];
  const encodes: number[] = [];
  for (let r = 0; r < reps; r++) {
    times.push(await step(groups));
    encodes.push(encodeMs);
  }
  return [median(times), median(encodes)];
}

const [empty] = await measure([]);
console.log(`submit + read-back alone: ${(empty * 1000).toFixed(0)} us`);
for (const [name, groups] of [['chained', chain], ['independent', independent]] as const) {
  const [ms, encode] = await measure(groups);
  console.log(`${n} ${name} dispatches: ${ms.toFixed(2)} ms a step, ${(((ms - empty) * 1000) / n).toFixed(1)} us a dispatch; encoding ${encode.toFixed(2)} ms (${((encode * 1000) / n).toFixed(1)} us a dispatch)`);
}
device.destroy();
