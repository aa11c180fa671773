/**
 * `wasm-chord bench` for native llama.cpp: the same options, tests, token ids, context size,
 * measuring loop and output (src/cli/bench.ts), run through node-llama-cpp on the CPU, or with
 * `--backend webgpu` on llama.cpp's own GPU backend (Vulkan), the peer of our WebGPU backend.
 *
 *   node --import tsx bench/native-bench.ts -m MODEL [-p 512] [-n 128] [-t THREADS] [-r 5] [--backend cpu|webgpu] [--json]
 *
 * load_ms covers loading the model (node-llama-cpp memory-maps the file, as llama.cpp does) and
 * creating its context (the KV cache), as wasm-chord's loadModel does both. The tg steps sample
 * greedily inside llama.cpp and go on past end-of-generation tokens.
 */
import {
  benchContextSize,
  formatBench,
  parseBenchArgs,
  runBenchTests,
  summarizeModel,
  type BenchTarget,
} from '../src/cli/bench.js';
import { loadProgress } from '../src/cli/progress.js';
import { nativeLlama } from './peer.js';

const args = parseBenchArgs(process.argv.slice(2));
if (args === 'help') {
  process.stdout.write('usage: node --import tsx bench/native-bench.ts -m MODEL [-p N] [-n N] [-t N] [-b N] [-r N] [--json]\n');
  process.exit(0);
}
const { model: path, settings, json } = args;
const gpu = settings.backend === 'webgpu' ? 'vulkan' : false;
const llama = await nativeLlama(gpu);
if (!llama) process.exit(1);
const summary = await summarizeModel(path);
if (!summary.vocabSize) throw new Error(`${path} has no token_embd.weight to take the vocabulary size from`);

const progress = loadProgress(path, { announce: true });
const t0 = performance.now();
const model = await llama.loadModel({ modelPath: path });
const context = await model.createContext({ contextSize: benchContextSize(settings), batchSize: settings.batchSize ?? 512, threads: settings.threads });
const loadMs = performance.now() - t0;
progress.done(loadMs);
process.stderr.write(`llama.cpp context: flash attention ${context.flashAttention ? 'on' : 'off'}, ${settings.threads} thread(s)\n`);

const sequence = context.getSequence();
const target: BenchTarget = {
  reset: () => sequence.clearHistory(),
  prompt: (ids) => sequence.evaluateWithoutGeneratingNewTokens(ids),
  decode: async (n) => {
    // Each yielded token is one single-token evaluation (the first one of token 1).
    let steps = 0;
    for await (const token of sequence.evaluate([1], { temperature: 0, yieldEogToken: true })) {
      void token;
      if (++steps === n) break;
    }
    if (steps !== n) throw new Error(`llama.cpp stopped after ${steps} of ${n} steps`);
  },
};
const records = await runBenchTests(target, settings, summary.vocabSize, loadMs);
process.stdout.write(json ? `${JSON.stringify(records)}\n` : formatBench(summary, gpu ? 'llama.cpp Vulkan' : 'llama.cpp CPU', records));
await context.dispose();
await model.dispose();
