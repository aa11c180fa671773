/**
 * The llama.cpp reference cases on this machine's real GPU (the test suite runs them on lavapipe
 * in CI; this runs them where the bundle is carried, e.g. the H200): every model of
 * reference/models/index.json on the WebGPU backend (its canary included), last-prompt logits
 * against llama.cpp's with test/model/reference.test.ts's bounds, and 16 greedy tokens; then
 * greedy generation (token ids chosen on the GPU, in chains) must give exactly the tokens that
 * reading every step's logits gives.
 *
 *   node --import tsx bench/gpu-reference-check.ts [SHARED_DIR]
 *
 * Prints one line per case and exits 1 on any failure.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { WasmChord } from '../src/index.js';
import { measureError } from '../src/backends/op-tolerances.js';
import { logitBound } from '../test/helpers/model-bounds.js';

const shared = process.argv[2] ?? new URL('../../shared/', import.meta.url).pathname;
const read = (p: string) => readFileSync(join(shared, p));
const json = <T>(p: string) => JSON.parse(read(p).toString('utf8')) as T;
const f32 = (p: string) => {
  const b = read(p);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
};

interface Entry {
  dir: string;
  model_file: string | null;
  tensor_type_counts: Record<string, number>;
  cases: Record<string, { json: string; logits: string; error?: string }>;
}

const runtime = await WasmChord.init({ backend: 'webgpu' });
let failed = 0;
for (const entry of json<{ models: Entry[] }>('reference/models/index.json').models) {
  if (!entry.model_file) continue;
  const b = logitBound(entry.tensor_type_counts);
  const model = await runtime.loadModel(join(shared, entry.model_file), { kvType: 'f32', contextSize: 512 });
  for (const [name, c] of Object.entries(entry.cases)) {
    if (c.error) continue;
    const ref = json<{ prompt: string; prompt_tokens: number[]; generated_tokens: number[]; top1_top2_margin_per_step: number[] }>(join(entry.dir, c.json));
    await model.resetContext();
    let logits = await model.evaluate(ref.prompt_tokens);
    const e = measureError(f32(join(entry.dir, c.logits)), logits);
    // Teacher-forced: each step's top-1 is llama.cpp's, unless llama.cpp's own margin is a near-tie.
    let same = 0;
    for (; same < 16; same++) {
      const best = logits.reduce((bi, x, i, a) => (x > a[bi]! ? i : bi), 0);
      if (best !== ref.generated_tokens[same] && ref.top1_top2_margin_per_step[same]! >= b.maxAbs) break;
      logits = await model.evaluate([ref.generated_tokens[same]!]);
    }
    // Greedy generation against step-by-step argmax of read-back logits, on this GPU: equal.
    await model.resetContext();
    const generated = await model.generate(ref.prompt, { temperature: 0, maxTokens: 16, ignoreEos: true });
    await model.resetContext();
    const argmax = (l: Float32Array) => l.reduce((bi, x, i, a) => (x > a[bi]! ? i : bi), 0);
    const stepwise = [argmax(await model.evaluate(generated.promptTokens))];
    while (stepwise.length < 16) stepwise.push(argmax(await model.evaluate([stepwise.at(-1)!])));
    const chained = generated.tokens.join() === stepwise.join();
    const ok = e.maxAbs <= b.maxAbs && e.nmse <= b.nmse && same === 16 && chained;
    failed += ok ? 0 : 1;
    process.stdout.write(`${ok ? 'PASS' : 'FAIL'} ${entry.dir.split('/').pop()} ${name}: max abs ${e.maxAbs.toExponential(2)} (≤ ${b.maxAbs}), NMSE ${e.nmse.toExponential(2)}, ${same}/16 greedy tokens, GPU greedy ${chained ? 'equal' : `differs: ${generated.tokens.join()} vs ${stepwise.join()}`}\n`);
  }
  process.stdout.write(`  on ${model.info.backend}\n`);
  await model.dispose();
}
await runtime.dispose();
process.exit(failed > 0 ? 1 : 0);
