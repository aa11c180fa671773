/**
 * CPU prefill and decode speed, wasm-chord versus native llama.cpp (node-llama-cpp) in the same
 * run, on the same synthetic model files (bench/synthetic-model.ts).
 *
 *   node scripts/build-kernels.mjs && npm ci --prefix bench/peer
 *   node --experimental-wasm-relaxed-simd --import tsx bench/cpu-generation.bench.ts [q4_0 q8_0 ...]
 *   (the flag only on Node 20)
 *
 * Both sides get the same token ids (no tokenizer in the measurement), a 512-token context with
 * an f16 KV cache, and greedy decoding. Reported: the median of RUNS runs, tokens per second.
 */
import { cpus } from 'node:os';
import { argmax, WasmChord } from '../src/index.js';
import { cpuLlama, type PeerLlama } from './peer.js';
import { SHAPE_350M, syntheticModel } from './synthetic-model.js';

const N_PROMPT = 128;
const N_GEN = 32;
const RUNS = 3;
const TYPES = process.argv.slice(2).length ? process.argv.slice(2) : ['q4_0', 'q8_0', 'q4_K'];

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const promptIds = Array.from({ length: N_PROMPT }, (_, i) => 300 + ((i * 7919) % 30000));

interface Speed {
  prefill: number;
  decode: number;
}

async function ours(path: string): Promise<Speed & { backend: string }> {
  const runtime = await WasmChord.init();
  const model = await runtime.loadModel(path, { contextSize: 512, kvType: 'f16' });
  const prefill: number[] = [];
  const decode: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    await model.resetContext();
    let t0 = performance.now();
    let logits = await model.evaluate(promptIds);
    prefill.push((N_PROMPT * 1000) / (performance.now() - t0));
    t0 = performance.now();
    for (let i = 0; i < N_GEN; i++) logits = await model.evaluate([argmax(logits)]);
    decode.push((N_GEN * 1000) / (performance.now() - t0));
  }
  const backend = model.info.backend;
  await runtime.dispose();
  return { prefill: median(prefill), decode: median(decode), backend };
}

async function peer(llama: PeerLlama, path: string, threads: number): Promise<Speed> {
  const model = await llama.loadModel({ modelPath: path });
  const context = await model.createContext({ contextSize: 512, batchSize: 512, threads });
  const sequence = context.getSequence();
  const prefill: number[] = [];
  const decode: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    await sequence.clearHistory();
    let t0 = performance.now();
    await sequence.evaluateWithoutGeneratingNewTokens(promptIds);
    prefill.push((N_PROMPT * 1000) / (performance.now() - t0));
    let n = 0;
    t0 = performance.now();
    for await (const token of sequence.evaluate([promptIds[0]!], { temperature: 0 })) {
      void token;
      if (++n === N_GEN) break;
    }
    decode.push((N_GEN * 1000) / (performance.now() - t0));
  }
  await context.dispose();
  await model.dispose();
  return { prefill: median(prefill), decode: median(decode) };
}

const fmt = (x: number) => x.toFixed(1).padStart(8);
console.log(`synthetic llama ${SHAPE_350M.name} (${SHAPE_350M.nLayer} layers, n_embd ${SHAPE_350M.nEmbd}), ${N_PROMPT}-token prompt, ${N_GEN} decoded tokens, median of ${RUNS}; ${cpus().length} cores`);
console.log('type     | wasm-chord prefill | llama.cpp 1t prefill | ratio | wasm-chord decode | llama.cpp 1t decode | ratio | llama.cpp all-cores decode');
const llama = await cpuLlama();
if (!llama) process.exit(1);
for (const type of TYPES) {
  const path = await syntheticModel(SHAPE_350M, type);
  const a = await ours(path);
  const b = await peer(llama, path, 1);
  const c = await peer(llama, path, cpus().length);
  console.log(
    `${type.padEnd(8)} | ${fmt(a.prefill)} t/s       | ${fmt(b.prefill)} t/s         | ${(a.prefill / b.prefill).toFixed(2)}  | ${fmt(a.decode)} t/s      | ${fmt(b.decode)} t/s        | ${(a.decode / b.decode).toFixed(2)}  | ${fmt(c.decode)} t/s   [${a.backend}]`,
  );
}
