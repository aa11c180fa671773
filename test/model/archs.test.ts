// Every architecture in ../shared/models/archs against its reference (../shared/reference/archs):
// llama.cpp c392e50 for index.json (section 4 of reference/README.md), Hugging Face transformers
// for index-hf.json (section 5). The models get fixed token ids; we compare the logits at all 12
// prompt positions, then teacher-force the reference's greedy tokens and compare the recorded
// top-5 logits and the argmax at every step, then run greedy generation ourselves.
//
// Bounds (README 4 "Suggested pass criteria" and 5.6):
// - F32 weights: 1e-4 max abs (an independent f64 implementation lands within 1.4e-5). GELU archs
//   compute GELU through ggml's f16 table exactly as llama.cpp does, for which the README gives
//   1e-3 (gemma2, 26 layers: 5e-3). The HF oracle uses exact tanh-GELU, and we use ggml's table:
//   README 5.6 suggests 5e-3 for gemma3, an estimate from the 2-layer models. Measured on the
//   6-layer gemma3-tiny with a float64 evaluation of our own graph: exact tanh-GELU lands 3.9e-6
//   from HF, and ggml's f16 table alone moves the logits by 6.0e-3 (we measure 5.4e-3). So the
//   bound there is 1e-2, the README's bound for the same table effect on gemma2; a semantic error
//   would cost >= 1.36 (feature_sensitivity_exact_f64). All argmaxes and greedy tokens must match.
// - Quantized weights: we quantize activations to Q8_0/Q8_K as llama.cpp does. Against llama.cpp
//   (index.json) the README bound is NMSE <= 3e-3 and max abs <= 0.7 for the 32/64-wide files, 2.0
//   for the 256-wide llama (logits up to ±23). Against the HF oracle (index-hf.json: exact math on
//   the dequantized weights, activations NOT quantized) README 5.6 gives NMSE <= 3e-3 and max abs
//   <= 1.0 (llama.cpp itself lands at 0.40/0.66 there). Top-1 must agree wherever the reference's
//   top-1/top-2 margin exceeds the bound; greedy tokens may part only at such a near-tie.
// - The reference backend runs the same files with exact math: see referenceBound. So does the
//   WebGPU backend (f32 activations, exact tanh-GELU, weights decoded as the TS codecs do), its sums
//   in f32 instead of f64: the same bounds, whose slack (1e-4, 1e-3 quantized) covers that.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { WasmChord, type Model } from '../../src/index.js';
import { measureError } from '../../src/backends/op-tolerances.js';
import { readF32, readJson, SHARED } from '../helpers/shared.js';
import { webgpuUnavailable } from '../backends/backends.js';

interface ArchEntry {
  dir: string;
  model_file: string;
  arch: string;
  weights: string;
  json: string;
  prompt_logits: string;
}

interface ArchCase {
  input_tokens: number[];
  generated_tokens: number[];
  top1_top2_margin_per_step: number[];
  top5_per_step: { step: number; top: [number, number][] }[];
}

interface Bound {
  /** Max abs over the prompt logits, and over the recorded top-5 logits of the steps. */
  maxAbs: number;
  stepMaxAbs: number;
  nmse: number;
  /** Every argmax and greedy token must match (else only where the margin exceeds the bound). */
  strict: boolean;
}

type Checks = Record<string, number | boolean | null>;

const GELU_ARCHS = new Set(['gemma', 'gemma2', 'gemma3', 'starcoder2', 'gpt2']);

/** The CPU backend: ggml's numerics (f16 GELU table, activations quantized as llama.cpp does). */
function cpuBound(entry: ArchEntry, oracle: Oracle): Bound {
  const stem = entry.dir.split('/').pop()!;
  const b = (maxAbs: number, nmse: number, strict: boolean) => ({ maxAbs, stepMaxAbs: maxAbs, nmse, strict });
  if (entry.weights === 'F32') {
    if (!GELU_ARCHS.has(entry.arch)) return b(1e-4, 1e-9, true);
    if (oracle === 'hf') return b(1e-2, 1e-6, true);
    if (entry.arch === 'gemma2') return b(5e-3, 1e-6, true);
    return b(1e-3, 1e-7, true);
  }
  if (oracle === 'hf') return b(1.0, 3e-3, false);
  return b(stem.startsWith('llama3-ropefreqs-256') ? 2.0 : 0.7, 3e-3, false);
}

/**
 * The reference backend: exact math (f64 sums, exact tanh-GELU, weights expanded by to_float,
 * activations never quantized). That is the HF oracle's computation on every file, so 1e-4
 * there. Against llama.cpp it is the "exact f64 NumPy" implementation whose distance from
 * llama.cpp each file records in its checks (README section 4): we must land at that distance,
 * give or take 1e-4 (1e-3 on quantized files, whose larger logits carry larger rounding): our
 * activations are stored as f32 between ops, NumPy's as f64.
 */
function referenceBound(entry: ArchEntry, oracle: Oracle, checks: Checks): Bound {
  if (oracle === 'hf') return { maxAbs: 1e-4, stepMaxAbs: 1e-4, nmse: 1e-9, strict: true };
  const quantized = entry.weights !== 'F32';
  const key = (what: string) => {
    const name = quantized
      ? `exact_f64_numpy_on_dequantized_weights_vs_this_${what}`
      : GELU_ARCHS.has(entry.arch) ? `exact_f64_numpy_with_float64_tanh_gelu_vs_this_${what}` : `exact_f64_numpy_vs_this_${what}`;
    const v = checks[name];
    assert.equal(typeof v, 'number', `${name} is recorded`);
    return v as number;
  };
  // NMSE: as recorded; with exact GELU none is recorded, and README 5.6's two-oracle table gives
  // 1.4e-6 for gemma2 (26 layers) against llama.cpp's f16 table, so 1e-5 there.
  const nmse = quantized ? key('prompt_logits_nmse') * 1.05 + 1e-9 : GELU_ARCHS.has(entry.arch) ? 1e-5 : key('prompt_logits_nmse') * 1.05 + 1e-10;
  const slack = quantized ? 1e-3 : 1e-4;
  const strict = !quantized && !GELU_ARCHS.has(entry.arch);
  return { maxAbs: key('prompt_logits_max_abs_diff') + slack, stepMaxAbs: key('generation_logits_max_abs_diff') + slack, nmse, strict };
}

const argmax = (l: ArrayLike<number>) => {
  let best = 0;
  for (let i = 1; i < l.length; i++) if (l[i]! > l[best]!) best = i;
  return best;
};

/** The gap between the best and second-best value. */
function margin(l: ArrayLike<number>): number {
  const sorted = Array.from(l).sort((a, b) => b - a);
  return sorted[0]! - sorted[1]!;
}

type Oracle = 'llama.cpp' | 'hf';
const oracles = [
  ['llama.cpp', readJson<{ models: ArchEntry[] }>('reference/archs/index.json').models],
  ['hf', readJson<{ models: ArchEntry[] }>('reference/archs/index-hf.json').models],
] as const;

const BACKENDS = ['cpu', 'reference', 'webgpu'] as const;
const noWebGPU = await webgpuUnavailable();
const runtimes = new Map<(typeof BACKENDS)[number], WasmChord>();
before(async () => {
  for (const backend of BACKENDS) if (backend !== 'webgpu' || !noWebGPU) runtimes.set(backend, await WasmChord.init({ backend }));
});
after(async () => {
  for (const r of runtimes.values()) await r.dispose();
});

for (const backend of BACKENDS) {
for (const [oracle, entries] of oracles) {
  for (const entry of entries) {
    const stem = entry.dir.split('/').pop()!;
    const ref = readJson<ArchCase & { checks: Checks }>(join(entry.dir, entry.json));
    const bound = backend === 'cpu' ? cpuBound(entry, oracle) : referenceBound(entry, oracle, ref.checks);
    const exact = bound.strict;
    describe(`${backend}: ${stem} (${entry.arch}, ${oracle}, max abs ${bound.maxAbs.toPrecision(3)})`, { skip: backend === 'webgpu' && noWebGPU }, () => {
      const vocab = 512;
      let model: Model;
      before(async () => {
        model = await runtimes.get(backend)!.loadModel(join(SHARED, entry.model_file), { kvType: 'f32' });
      });
      after(() => model?.dispose());

      test('logits at every prompt position', async (t) => {
        await model.resetContext();
        const logits = await model.evaluate(ref.input_tokens, { allLogits: true });
        const expected = readF32(join(entry.dir, entry.prompt_logits));
        const err = measureError(expected, logits);
        t.diagnostic(`max abs ${err.maxAbs.toExponential(2)}, NMSE ${err.nmse.toExponential(2)}`);
        assert.ok(err.maxAbs <= bound.maxAbs, `max abs ${err.maxAbs}`);
        assert.ok(err.nmse <= bound.nmse, `NMSE ${err.nmse}`);
        for (let i = 0; i < ref.input_tokens.length; i++) {
          const row = expected.subarray(i * vocab, (i + 1) * vocab);
          if (exact || margin(row) > bound.maxAbs) {
            assert.equal(argmax(logits.subarray(i * vocab, (i + 1) * vocab)), argmax(row), `argmax at position ${i}`);
          }
        }
      });

      test('teacher forcing over the generated tokens', async (t) => {
        await model.resetContext();
        let logits = await model.evaluate(ref.input_tokens);
        let worst = 0;
        for (let step = 0; step < ref.generated_tokens.length; step++) {
          if (step > 0) logits = await model.evaluate([ref.generated_tokens[step - 1]!]);
          for (const [id, value] of ref.top5_per_step[step]!.top) worst = Math.max(worst, Math.abs(logits[id]! - value));
          if (exact || ref.top1_top2_margin_per_step[step]! > bound.stepMaxAbs) {
            assert.equal(argmax(logits), ref.generated_tokens[step], `step ${step}`);
          }
        }
        t.diagnostic(`top-5 logits: max abs ${worst.toExponential(2)}`);
        assert.ok(worst <= bound.stepMaxAbs, `top-5 logits off by ${worst}`);
      });

      test('greedy generation', async (t) => {
        await model.resetContext();
        const n = ref.generated_tokens.length;
        const out: number[] = [];
        let logits = await model.evaluate(ref.input_tokens);
        for (let i = 0; i < n; i++) {
          out.push(argmax(logits));
          if (i + 1 < n) logits = await model.evaluate([out[i]!]);
        }
        const first = out.findIndex((id, i) => id !== ref.generated_tokens[i]);
        t.diagnostic(first < 0 ? `all ${n} tokens match` : `first difference at step ${first} (margin ${ref.top1_top2_margin_per_step[first]})`);
        if (exact) assert.equal(first, -1, `an F32 model must match all ${n} tokens`);
        else if (first >= 0) assert.ok(ref.top1_top2_margin_per_step[first]! <= bound.stepMaxAbs, `diverged at step ${first} past a clear margin`);
      });
    });
  }
}
}
