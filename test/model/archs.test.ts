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
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { WasmChord, type Model } from '../../src/index.js';
import { readF32, readJson, SHARED } from '../helpers/shared.js';

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
  maxAbs: number;
  nmse: number;
}

const GELU_ARCHS = new Set(['gemma', 'gemma2', 'gemma3', 'starcoder2', 'gpt2']);

function boundFor(entry: ArchEntry, oracle: 'llama.cpp' | 'hf'): Bound {
  const stem = entry.dir.split('/').pop()!;
  if (entry.weights === 'F32') {
    if (!GELU_ARCHS.has(entry.arch)) return { maxAbs: 1e-4, nmse: 1e-9 };
    if (oracle === 'hf') return { maxAbs: 1e-2, nmse: 1e-6 };
    if (entry.arch === 'gemma2') return { maxAbs: 5e-3, nmse: 1e-6 };
    return { maxAbs: 1e-3, nmse: 1e-7 };
  }
  if (oracle === 'hf') return { maxAbs: 1.0, nmse: 3e-3 };
  return { maxAbs: stem.startsWith('llama3-ropefreqs-256') ? 2.0 : 0.7, nmse: 3e-3 };
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

function compare(ours: Float32Array, ref: Float32Array): Bound {
  let maxAbs = 0;
  let num = 0;
  let den = 0;
  for (let i = 0; i < ref.length; i++) {
    const d = ours[i]! - ref[i]!;
    maxAbs = Math.max(maxAbs, Math.abs(d));
    num += d * d;
    den += ref[i]! * ref[i]!;
  }
  return { maxAbs, nmse: num / den };
}

const oracles = [
  ['llama.cpp', readJson<{ models: ArchEntry[] }>('reference/archs/index.json').models],
  ['hf', readJson<{ models: ArchEntry[] }>('reference/archs/index-hf.json').models],
] as const;

let runtime: WasmChord;
before(async () => {
  runtime = await WasmChord.init();
});
after(() => runtime.dispose());

for (const [oracle, entries] of oracles) {
  for (const entry of entries) {
    const stem = entry.dir.split('/').pop()!;
    const bound = boundFor(entry, oracle);
    const exact = entry.weights === 'F32';
    describe(`${stem} (${entry.arch}, ${oracle}, max abs ${bound.maxAbs})`, () => {
      const ref = readJson<ArchCase>(join(entry.dir, entry.json));
      const vocab = 512;
      let model: Model;
      before(async () => {
        model = await runtime.loadModel(join(SHARED, entry.model_file), { kvType: 'f32' });
      });
      after(() => model?.dispose());

      test('logits at every prompt position', async (t) => {
        await model.resetContext();
        const logits = await model.evaluate(ref.input_tokens, { allLogits: true });
        const expected = readF32(join(entry.dir, entry.prompt_logits));
        const err = compare(logits, expected);
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
          if (exact || ref.top1_top2_margin_per_step[step]! > bound.maxAbs) {
            assert.equal(argmax(logits), ref.generated_tokens[step], `step ${step}`);
          }
        }
        t.diagnostic(`top-5 logits: max abs ${worst.toExponential(2)}`);
        assert.ok(worst <= bound.maxAbs, `top-5 logits off by ${worst}`);
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
        else if (first >= 0) assert.ok(ref.top1_top2_margin_per_step[first]! <= bound.maxAbs, `diverged at step ${first} past a clear margin`);
      });
    });
  }
}
