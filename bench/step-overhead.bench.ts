/**
 * Host overhead per decoded token: the time one decode step spends outside the kernels. A model of
 * realistic depth (24 layers, as the 350M shape) but tiny widths (n_embd 64, vocab 512) makes the
 * kernels' share negligible, so the median step time is the engine's own cost per token: building
 * and planning the graph (before graphs were compiled once) or patching positions into a compiled
 * plan (after). The 350M shape shows the same cost next to real kernel work.
 *
 * Usage: node --experimental-wasm-relaxed-simd --import tsx bench/step-overhead.bench.ts
 */
import { WasmChord } from '../src/index.js';
import { SHAPE_350M, syntheticModel, type SyntheticShape } from './synthetic-model.js';

const DEEP_TINY: SyntheticShape = { name: 'deep-tiny', nEmbd: 64, nLayer: 24, nHead: 4, nHeadKv: 2, nFf: 128, vocab: 512 };

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

async function stepTimes(path: string, steps: number): Promise<number[]> {
  const runtime = await WasmChord.init();
  const model = await runtime.loadModel(path, { contextSize: 512 });
  try {
    let token = 1;
    await model.evaluate([1, 300, 301, 302]);
    const times: number[] = [];
    for (let i = 0; i < steps; i++) {
      const t0 = performance.now();
      const logits = await model.evaluate([token]);
      times.push(performance.now() - t0);
      token = 259 + (i % 200) + (logits.length > 0 ? 0 : 1);
    }
    return times;
  } finally {
    await runtime.dispose();
  }
}

for (const [shape, type, steps] of [[DEEP_TINY, 'f32', 400], [SHAPE_350M, 'q4_0', 24]] as const) {
  const path = await syntheticModel(shape, type);
  const times = await stepTimes(path, steps);
  // The first steps warm up the JIT (and, before, the planner); the median ignores them.
  console.log(`${shape.name} ${type}: median decode step ${median(times.slice(steps >> 2)).toFixed(3)} ms over ${steps} steps`);
}
