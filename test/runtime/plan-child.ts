// Run by plan.test.ts in a fresh child: loads one model on the CPU backend, runs a full prompt
// batch and a decode step, and prints one JSON line: the plan, the backend's Wasm memory after
// the steps, and the growth of the resident set across the load and the steps.
import { readFileSync } from 'node:fs';
import { chooseBackend } from '../../src/runtime/backend-registry.js';
import { loadModel } from '../../src/runtime/load-model.js';
import { planModel } from '../../src/runtime/plan.js';
import type { CpuBackend } from '../../src/backends/cpu/backend.js';
import { buildTinyModel } from '../helpers/tiny-model.js';

const [which, ctxArg] = process.argv.slice(2);
const contextSize = Number(ctxArg);
const options = { contextSize, batchSize: 64, kvType: 'f32' as const };
const request = { backend: 'cpu' as const, threads: 1 };
// A path, or "tiny:EMBD:TOKENS": a generated model held in memory before the baseline is taken.
const source = which!.startsWith('tiny:')
  ? await buildTinyModel({ embd: Number(which!.split(':')[1]), extraTokens: Number(which!.split(':')[2]) })
  : new Uint8Array(readFileSync(which!));
const plan = await planModel(source, { ...options, threads: request.threads });
let backend: CpuBackend | undefined;
const load = () =>
  loadModel(
    async (definition, session, refused) => {
      const choice = await chooseBackend(request, definition, session, refused);
      backend = choice.backend as CpuBackend;
      return choice;
    },
    source,
    options,
    { adopt() {}, release() {} },
  );
// A first load and dispose before the baseline: the kernels compiled, a worker thread started
// and stopped, the JIT warm. What the second load adds is the model's.
await (await load()).dispose();
const before = process.memoryUsage().rss;
let peak = before;
const sample = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
const model = await load();
const prompt = Array.from({ length: Math.min(options.batchSize, contextSize - 1) }, (_, i) => 3 + (i % 200));
await model.evaluate(prompt);
await model.evaluate([5]);
peak = Math.max(peak, process.memoryUsage().rss);
clearInterval(sample);
console.log(JSON.stringify({ total: plan.totalBytes, weights: plan.weightsBytes, kv: plan.kvBytes, scratch: plan.scratchBytes, memory: backend!.memoryBytes, rssGrowth: peak - before }));
await model.dispose();
