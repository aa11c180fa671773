// End-to-end agreement with llama.cpp (c392e50, CPU) on every reference model present in
// ../shared/models: prompt tokens, last-prompt logits, greedy continuation, teacher forcing.
//
// Tolerances (see ../shared/reference/README.md sections 2-3):
// - F32: 1e-4 max abs, as the README suggests (llama.cpp vs the same math in another summation
//   order differs by <= 6e-6). All 64 greedy tokens must match.
// - F16: 0.02 (README's bound for f16 weights; llama.cpp's own f32-activation variant differs by
//   0.006 on these models).
// - Quantized: we quantize activations exactly as ggml does (Q8_0/Q8_1/Q8_K, byte-exact in the
//   quant tests), so most cases agree to ~1e-5. But one ulp of difference upstream (our expf,
//   cosf and summation orders are not ggml's AVX-512 ones) can flip one 8-bit activation
//   rounding, which the quantized layers amplify to a few tenths: the same size as llama.cpp's
//   own batch-vs-token (<= 0.18) and f16-KV (0.17-0.5) variations on these models. So the bound
//   is the README's whole-graph criterion: NMSE <= 2e-3 and max abs <= 0.5 for types of 3+ bits,
//   and 1.0 for Q2_K (README: llama.cpp itself moves Q2_K logits by 0.95 under an f16 KV cache).
// - A greedy or teacher-forced token may differ from llama.cpp's only where the reference's
//   top-1/top-2 margin at that step is below the type's max-abs bound (a near-tie), and then it
//   must be a token llama.cpp scores within that bound of its best.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { WasmChord, type Model } from '../../src/index.js';
import { measureError } from '../../src/backends/op-tolerances.js';
import { readF32, readJson, SHARED } from '../helpers/shared.js';
import { logitBound, type LogitBound } from '../helpers/model-bounds.js';
import { webgpuUnavailable } from '../backends/backends.js';

interface CaseIndex {
  json: string;
  logits: string;
  error?: string;
  checks?: { kv_f16_vs_f32_last_prompt_logits_max_abs_diff: number };
}
interface ModelIndex {
  dir: string;
  model_file: string | null;
  tensor_type_counts: Record<string, number>;
  cases: Record<string, CaseIndex>;
}
interface CaseJson {
  prompt: string;
  prompt_tokens: number[];
  generated_tokens: number[];
  top1_top2_margin_per_step: number[];
  topk: { step: number; top: [number, number][] }[];
}

const argmax = (l: Float32Array) => l.reduce((best, v, i) => (v > l[best]! ? i : best), 0);

/**
 * Our token at `step` must be llama.cpp's, or, at a near-tie, one that llama.cpp itself scores
 * within the bound of its best (checked on the recorded top-20 where the step has one).
 */
function checkToken(ours: number, ref: CaseJson, step: number, bound: LogitBound, what: string): void {
  if (ours === ref.generated_tokens[step]) return;
  const margin = ref.top1_top2_margin_per_step[step]!;
  assert.ok(margin < bound.maxAbs, `${what} step ${step}: ${ours} instead of ${ref.generated_tokens[step]} with a clear margin of ${margin}`);
  const recorded = ref.topk.find((t) => t.step === step);
  if (recorded) {
    const [, best] = recorded.top[0]!;
    const mine = recorded.top.find(([id]) => id === ours);
    assert.ok(mine && best - mine[1] < bound.maxAbs, `${what} step ${step}: ${ours} is not among llama.cpp's near-tied choices`);
  }
}

const index = readJson<{ models: ModelIndex[] }>('reference/models/index.json');
const present = index.models.filter((m) => m.model_file !== null);

type BackendName = 'cpu' | 'reference' | 'webgpu';
const noWebGPU = await webgpuUnavailable();
const runtimes = new Map<BackendName, WasmChord>();
before(async () => {
  for (const backend of ['cpu', 'reference', 'webgpu'] as const) {
    if (backend !== 'webgpu' || !noWebGPU) runtimes.set(backend, await WasmChord.init({ backend }));
  }
});
after(async () => {
  for (const r of runtimes.values()) await r.dispose();
});

// Every backend is held to the same bounds: the README gives them for f32 activations (the
// reference and WebGPU backends) and they hold for ggml's quantized activations (the CPU) too.
for (const backend of ['cpu', 'reference', 'webgpu'] as const) for (const entry of present) {
  const stem = entry.dir.split('/').pop()!;
  const bound = logitBound(entry.tensor_type_counts);
  describe(`${backend}: ${stem} (max abs ${bound.maxAbs})`, { skip: backend === 'webgpu' && noWebGPU }, () => {
    let model: Model;
    before(async () => {
      model = await runtimes.get(backend)!.loadModel(join(SHARED, entry.model_file!), { kvType: 'f32', contextSize: 512 });
    });
    after(() => model.dispose());

    for (const [name, c] of Object.entries(entry.cases)) {
      if (c.error) continue; // llama.cpp gives no reference there (README section 2); the tokenizer tests cover it
      const ref = readJson<CaseJson>(join(entry.dir, c.json));

      test(`${name}: prompt tokens, last-prompt logits and top-1`, async (t) => {
        if (name !== 'bos_only') assert.deepEqual(model.tokenize(ref.prompt), ref.prompt_tokens);
        await model.resetContext();
        const logits = await model.evaluate(ref.prompt_tokens);
        const err = measureError(readF32(join(entry.dir, c.logits)), logits);
        t.diagnostic(`max abs ${err.maxAbs.toExponential(2)}, NMSE ${err.nmse.toExponential(2)}`);
        assert.ok(err.maxAbs <= bound.maxAbs, `max abs ${err.maxAbs}`);
        assert.ok(err.nmse <= bound.nmse, `NMSE ${err.nmse}`);
        checkToken(argmax(logits), ref, 0, bound, 'last-prompt top-1');
      });

      test(`${name}: teacher forcing over 64 steps`, async (t) => {
        await model.resetContext();
        // One array for every step's logits (evaluate's `output`), as a decoding loop keeps one.
        const logits = await model.evaluate(ref.prompt_tokens, { output: new Float32Array(model.info.vocabSize) });
        let worst = 0;
        for (let step = 0; step < 64; step++) {
          if (step > 0) await model.evaluate([ref.generated_tokens[step - 1]!], { output: logits });
          checkToken(argmax(logits), ref, step, bound, 'teacher-forced');
          const recorded = ref.topk.find((r) => r.step === step);
          for (const [id, value] of recorded?.top ?? []) worst = Math.max(worst, Math.abs(logits[id]! - value));
        }
        t.diagnostic(`recorded top-20 logits: max abs ${worst.toExponential(2)}`);
        assert.ok(worst <= bound.maxAbs, `top-20 logits off by ${worst}`);
      });

      test(`${name}: greedy continuation`, async (t) => {
        await model.resetContext();
        const prompt = name === 'bos_only' ? ref.prompt_tokens : undefined;
        const result = prompt
          ? await greedyFromTokens(model, prompt)
          : (await model.generate(ref.prompt, { temperature: 0, maxTokens: 64, ignoreEos: true })).tokens;
        const first = result.findIndex((id, i) => id !== ref.generated_tokens[i]);
        t.diagnostic(first < 0 ? 'all 64 tokens match' : `first difference at step ${first} (margin ${ref.top1_top2_margin_per_step[first]})`);
        if (bound.maxAbs === 1e-4) assert.equal(first, -1, 'an F32 model must match all 64 tokens');
        if (first >= 0) checkToken(result[first]!, ref, first, bound, 'greedy');
        else assert.equal(result.length, 64);
      });
    }
  });
}

// With an f16 KV cache llama.cpp's logits move away from its f32-cache reference by a recorded
// amount (checks.kv_f16_*). Mirroring ggml's f16 attention, our f16-cache logits must sit at that
// same distance from the f32 reference, within the type's bound.
//
// The CPU backend forms the softmax weights as ggml does (f64 sum in key order, times an f32
// reciprocal) before rounding them to f16, and lands within 1e-5 of llama.cpp. WebGPU has no f64:
// its sums (f32, in a tree) differ in the last bits, which flips a few of those f16 roundings
// (2^-11 each), as it does for the exact-math reference backend: on stories260K's
// digits_punct_unicode both move the logits by 0.0079 where llama.cpp moves them by 0.0068. So a
// backend without ggml's summation must land at llama.cpp's distance within a quarter of it (or
// the type's bound, when larger): a cache that does not really hold f16 values misses by the whole
// distance. (Leaving out the weights' rounding alone moved them by 5% of it, which this cannot
// see; the conformance suite's f16 attention cases show it: NMSE 5e-8 from the reference's f16
// semantics without the rounding, 1e-15 with it.)
const F16_PATH_SLACK = 0.25;
for (const backend of ['cpu', 'webgpu'] as const) for (const entry of present) {
  const stem = entry.dir.split('/').pop()!;
  const bound = logitBound(entry.tensor_type_counts);
  test(`${backend}: ${stem}: an f16 KV cache moves the logits as llama.cpp's does`, { skip: backend === 'webgpu' && noWebGPU }, async (t) => {
    const model = await runtimes.get(backend)!.loadModel(join(SHARED, entry.model_file!), { kvType: 'f16', contextSize: 512 });
    try {
      for (const [name, c] of Object.entries(entry.cases)) {
        if (!c.checks) continue;
        const ref = readJson<CaseJson>(join(entry.dir, c.json));
        await model.resetContext();
        const ours = measureError(readF32(join(entry.dir, c.logits)), await model.evaluate(ref.prompt_tokens)).maxAbs;
        const theirs = c.checks.kv_f16_vs_f32_last_prompt_logits_max_abs_diff;
        t.diagnostic(`${name}: ${ours.toFixed(5)} here, ${theirs.toFixed(5)} in llama.cpp`);
        const allowed = backend === 'cpu' ? bound.maxAbs : Math.max(bound.maxAbs, F16_PATH_SLACK * theirs);
        assert.ok(Math.abs(ours - theirs) <= allowed, `${name}: f16 cache moved logits by ${ours}, llama.cpp by ${theirs}`);
      }
    } finally {
      await model.dispose();
    }
  });
}

/** Greedy decoding from raw token ids through the low-level API. */
async function greedyFromTokens(model: Model, prompt: number[]): Promise<number[]> {
  const out: number[] = [];
  let logits = await model.evaluate(prompt);
  for (let i = 0; i < 64; i++) {
    out.push(argmax(logits));
    if (i < 63) logits = await model.evaluate([out[i]!]);
  }
  return out;
}
