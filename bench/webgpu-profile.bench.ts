/**
 * Where a WebGPU decode step's time goes, by op: the model's 1-token graph after a prompt of
 * `-p` tokens, run as a whole step (submit + read-back, as generation does: wall time), and
 * profiled with GPU timestamp queries around each node (one compute pass per node: GPU time),
 * summed per op and averaged over `-r` repetitions. The difference between the wall time and the
 * sum of the GPU times is the host's share: encoding, submit, read-back, and the gaps between
 * dispatches. (A matmul fused into the add that reads it counts under add.)
 *
 *   node --import tsx bench/webgpu-profile.bench.ts -m MODEL [-p 512] [-r 5]
 *   node --import tsx bench/webgpu-profile.bench.ts --shape tinyllama --type q4_0 [...]   (a synthetic model)
 */
import { parseArgs } from 'node:util';
import { WebGPUBackend } from '../src/backends/webgpu/backend.js';
import { openByteSource } from '../src/gguf/open-source.js';
import { readGGUF } from '../src/gguf/reader.js';
import { defineModel } from '../src/model/model.js';
import { SHAPES, syntheticModel } from './synthetic-model.js';

const { values: v } = parseArgs({
  options: {
    model: { type: 'string', short: 'm' },
    shape: { type: 'string' },
    type: { type: 'string', default: 'q4_0' },
    prompt: { type: 'string', short: 'p', default: '512' },
    reps: { type: 'string', short: 'r', default: '5' },
  },
});
const shape = v.shape === undefined ? undefined : SHAPES[v.shape];
if (v.shape !== undefined && !shape) throw new Error(`--shape must be one of ${Object.keys(SHAPES).join(', ')}`);
const path = v.model ?? (shape && (await syntheticModel(shape, v.type)));
if (!path) throw new Error('-m MODEL or --shape SHAPE is required');
const [nPrompt, reps] = [Number(v.prompt), Number(v.reps)];
const source = await openByteSource(path);
const file = await readGGUF(source);
const definition = defineModel(file);
const backend = await WebGPUBackend.create();
if (typeof backend === 'string') throw new Error(backend);
await backend.loadWeights(file, definition.tensors);
await source.close();
console.log(`# ${backend.description}`);
const cache = backend.createKVCache({ contextSize: nPrompt + reps + 3, type: 'f16', layers: definition.kvLayers });
const tokens = (n: number, from: number) => Int32Array.from({ length: n }, (_, i) => 3 + ((from + i) % (definition.vocabSize - 3)));
if (nPrompt > 0) await backend.run(backend.compile(definition.buildGraph({ nTokens: nPrompt, allLogits: false })), { tokens: tokens(nPrompt, 0), pos0: 0 }, cache);
const step = backend.compile(definition.buildGraph({ nTokens: 1, allLogits: false }));

let whole = 0;
let gpu = 0;
const byOp = new Map<string, { ms: number; nodes: number }>();
await backend.run(step, { tokens: tokens(1, nPrompt), pos0: nPrompt }, cache); // warm-up
for (let r = 0; r < reps; r++) {
  const pos0 = nPrompt + r;
  const t0 = performance.now();
  await backend.run(step, { tokens: tokens(1, pos0), pos0 }, cache);
  whole += performance.now() - t0;
  if (!backend.info.timestamps) continue;
  for (const { node, ms } of await backend.profile(step, { tokens: tokens(1, pos0), pos0 }, cache)) {
    const e = byOp.get(node.op) ?? { ms: 0, nodes: 0 };
    byOp.set(node.op, { ms: e.ms + ms, nodes: e.nodes + 1 });
    gpu += ms;
  }
}
console.log(`whole step (wall): ${(whole / reps).toFixed(2)} ms at position ${nPrompt}; ${backend.dispatchCount(step)} dispatches for ${step.graph.nodes.length} nodes`);
if (!backend.info.timestamps) console.log('no timestamp queries on this device: no GPU times');
else console.log(`GPU time of the nodes: ${(gpu / reps).toFixed(2)} ms (each node in its own pass)`);
for (const [op, e] of [...byOp].sort((a, b) => b[1].ms - a[1].ms)) {
  console.log(`${op.padEnd(14)} ${(e.ms / reps).toFixed(3).padStart(8)} ms  ${(e.nodes / reps).toFixed(0).padStart(4)} nodes  ${((e.ms / e.nodes) * 1000).toFixed(1).padStart(7)} us/node`);
}
await backend.dispose();
