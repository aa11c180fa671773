/**
 * The WGSL block decoders against the TS reference codecs, on a real WebGPU device (Dawn; Mesa
 * lavapipe on CI machines): every value bit-identical to `dequantize`, for rows of one block
 * (so most rows start off a word boundary), for rows of several blocks, and with the tensor placed
 * at every byte offset 0..3 of the buffer with garbage around it.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { create, globals } from 'webgpu';
import { dequantWGSL, WGSL_DEQUANT_TYPES } from '../../src/backends/webgpu/dequant-wgsl.js';
import { dequantize, GGMLType, quantize, rowByteSize, typeInfo, typeName, type GGMLTypeId } from '../../src/quant/index.js';
import { prng } from '../helpers/prng.js';
import { webgpuUnavailable } from './backends.js';

Object.assign(globalThis, globals); // GPUBufferUsage, GPUMapMode, ...

// The GPU and adapter objects are kept referenced for the whole run: Dawn's node binding can crash
// when they are garbage-collected while their device is still in use.
let gpu: GPU;
let adapter: GPUAdapter | null;
let device: GPUDevice;

// Without an adapter the decoder tests are skipped, saying why (CI requires one: webgpuUnavailable).
const skip = await webgpuUnavailable();

before(async () => {
  if (skip) return;
  gpu = create([]);
  adapter = await gpu.requestAdapter();
  assert.ok(adapter, 'no WebGPU adapter');
  device = await adapter.requestDevice();
});

after(() => device?.destroy());

const REQUIRED: readonly GGMLTypeId[] = [
  GGMLType.F32, GGMLType.F16, GGMLType.BF16, GGMLType.Q4_0, GGMLType.Q4_1, GGMLType.Q5_0, GGMLType.Q5_1,
  GGMLType.Q8_0, GGMLType.Q2_K, GGMLType.Q3_K, GGMLType.Q4_K, GGMLType.Q5_K, GGMLType.Q6_K,
  GGMLType.IQ4_NL, GGMLType.IQ4_XS,
];

const ROWS = 7; // odd, so consecutive rows of most types start at every offset mod 4

/**
 * Row magnitudes: ordinary, tiny (f16 scales go subnormal or to zero), large (f16 scales near
 * their top, still finite), an all-zero row. F32 and BF16 also get extremes beyond f16's range,
 * down to f32 subnormals.
 */
const MAGNITUDES = [1, 1e-6, 2000, 0.03, 2e-4, 250, 0];
const FLOAT_EXTREMES = [1e30, 1e-41];

function makeValues(type: GGMLTypeId, width: number, seed: number): Float32Array {
  const rnd = prng(seed);
  const mags = type === GGMLType.F32 || type === GGMLType.BF16 ? [...MAGNITUDES, ...FLOAT_EXTREMES] : MAGNITUDES;
  const x = new Float32Array(ROWS * width);
  for (let r = 0; r < ROWS; r++) {
    const mag = mags[(r + seed) % mags.length]!;
    for (let c = 0; c < width; c += 32) {
      // vary the scale between 32-element groups, so sub-block scales of K-quants differ
      const groupMag = mag * 2 ** (Math.floor(rnd() * 7) - 3);
      for (let j = c; j < Math.min(c + 32, width); j++) {
        const outlier = rnd() < 1 / 16 ? 4 : 1;
        x[r * width + j] = groupMag * outlier * (2 * rnd() - 1);
      }
    }
  }
  return x;
}

/** Row widths: the smallest row (one block; four elements for float types) and a few blocks. */
function widths(type: GGMLTypeId): number[] {
  const block = typeInfo(type).blockSize;
  return block === 1 ? [4, 36] : block === 32 ? [32, 160] : [256, 768];
}

function shaderFor(type: GGMLTypeId): string {
  return /* wgsl */ `
@group(0) @binding(0) var<storage, read> W: array<u32>;
@group(0) @binding(1) var<storage, read_write> OUT: array<vec4<f32>>;
@group(0) @binding(2) var<uniform> P: vec4<u32>; // rows, vec4s per row, bytes per row, base offset
${dequantWGSL(type)}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  let k = g.x;
  if (k >= P.x * P.y) { return; }
  OUT[k] = dq4(P.w + (k / P.y) * P.z, 4u * (k % P.y));
}
`;
}

async function pipelineFor(type: GGMLTypeId): Promise<GPUComputePipeline> {
  const module = device.createShaderModule({ code: shaderFor(type) });
  const info = await module.getCompilationInfo();
  const errors = info.messages.filter((m) => m.type === 'error');
  if (errors.length) assert.fail(`${typeName(type)} WGSL: ${errors.map((m) => `${m.lineNum}:${m.linePos} ${m.message}`).join('; ')}`);
  device.pushErrorScope('validation');
  const pipeline = await device.createComputePipelineAsync({ layout: 'auto', compute: { module, entryPoint: 'main' } });
  const err = await device.popErrorScope();
  if (err) assert.fail(`${typeName(type)} pipeline: ${err.message}`);
  return pipeline;
}

/** Runs dq4 over every element of ROWS rows stored from byte `base` of `data`; returns the f32 bits. */
async function decodeOnGPU(
  pipeline: GPUComputePipeline, data: Uint8Array, base: number, rowBytes: number, width: number,
): Promise<Uint32Array> {
  const n = ROWS * width;
  // garbage before the tensor and in the padding after it: the decoder must not depend on either
  const padded = new Uint8Array((base + data.length + 3) & ~3).fill(0xa5);
  padded.set(data, base);
  const w = device.createBuffer({ size: padded.length, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
  device.queue.writeBuffer(w, 0, padded);
  const out = device.createBuffer({ size: 4 * n, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
  const read = device.createBuffer({ size: 4 * n, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const params = device.createBuffer({ size: 16, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
  device.queue.writeBuffer(params, 0, new Uint32Array([ROWS, width / 4, rowBytes, base]));
  const bind = device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: [
      { binding: 0, resource: { buffer: w } },
      { binding: 1, resource: { buffer: out } },
      { binding: 2, resource: { buffer: params } },
    ],
  });
  const enc = device.createCommandEncoder();
  const pass = enc.beginComputePass();
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, bind);
  pass.dispatchWorkgroups(Math.ceil(n / 4 / 64));
  pass.end();
  enc.copyBufferToBuffer(out, 0, read, 0, 4 * n);
  device.queue.submit([enc.finish()]);
  await read.mapAsync(GPUMapMode.READ);
  const bits = new Uint32Array(read.getMappedRange().slice(0));
  read.unmap();
  for (const b of [w, out, read, params]) b.destroy();
  return bits;
}

test('WGSL_DEQUANT_TYPES is exactly the required set', () => {
  assert.deepEqual([...WGSL_DEQUANT_TYPES].sort((a, b) => a - b), [...REQUIRED].sort((a, b) => a - b));
});

test('dequantWGSL returns undefined for types without a WGSL decoder', () => {
  for (const t of [GGMLType.Q8_K, GGMLType.Q8_1, GGMLType.IQ2_XXS, GGMLType.IQ3_S, GGMLType.TQ1_0, GGMLType.MXFP4]) {
    assert.equal(dequantWGSL(t), undefined, typeName(t));
    assert.equal(WGSL_DEQUANT_TYPES.has(t), false, typeName(t));
  }
});

test('every top-level name but dq4 is prefixed dq_, and the snippet does not declare W', () => {
  for (const t of WGSL_DEQUANT_TYPES) {
    const src = dequantWGSL(t)!;
    const names = [...src.matchAll(/^\s*(?:fn|const|var|override|alias|struct)\s*(?:<[^>]*>\s*)?(\w+)/gm)].map((m) => m[1]!);
    assert.ok(names.includes('dq4'), `${typeName(t)} defines dq4`);
    for (const name of names) assert.ok(name === 'dq4' || name.startsWith('dq_'), `${typeName(t)}: ${name}`);
    assert.doesNotMatch(src, /var\s*<\s*storage/, typeName(t));
  }
});

for (const type of REQUIRED) {
  test(`dq4 matches dequantize bit for bit: ${typeName(type)}`, { skip }, async () => {
    const pipeline = await pipelineFor(type);
    for (const width of widths(type)) {
      const values = makeValues(type, width, width + type);
      const data = quantize(type, values);
      const expected = dequantize(type, data, values.length);
      const want = new Uint32Array(expected.buffer);
      const rowBytes = rowByteSize(type, width);
      for (let base = 0; base < 4; base++) {
        const got = await decodeOnGPU(pipeline, data, base, rowBytes, width);
        for (let k = 0; k < want.length; k++) {
          if (got[k] !== want[k]) {
            const g = new Float32Array(got.buffer)[k];
            assert.fail(
              `${typeName(type)} width ${width} base ${base}: row ${Math.floor(k / width)} element ${k % width} is ` +
                `${g} (0x${got[k]!.toString(16)}), expected ${expected[k]} (0x${want[k]!.toString(16)})`,
            );
          }
        }
      }
    }
  });
}
