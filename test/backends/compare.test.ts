/**
 * The divergence tool on real models: the CPU backend and the reference agree node by node
 * (each node within its op's bound, judged on the CPU's own inputs); a backend with one broken
 * op is caught at exactly that op's first node; the CLI reports both ways.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { compareBackends } from '../../src/backends/compare.js';
import { CpuBackend } from '../../src/backends/cpu/backend.js';
import { ReferenceBackend } from '../../src/backends/reference/backend.js';
import { WasmChordError } from '../../src/errors.js';
import { runCli } from '../helpers/cli.js';
import { SHARED } from '../helpers/shared.js';
import { BrokenReference, type Breakage } from './broken.js';

const STORIES = join(SHARED, 'models/stories260K.gguf');
/** BOS "Once upon a time, there was" in stories260K's vocabulary. */
const TOKENS = [1, 403, 407, 261, 378, 432, 383, 286];

const MODELS = [
  'models/stories260K.gguf',
  'models/derived/stories260K-Q8_0.gguf',
  'models/derived/pad256/stories260K-pad256-q4_K.gguf', // Q8_K activations
].map((m) => join(SHARED, m));

describe('compare: cpu vs reference', () => {
  for (const model of MODELS) {
    for (const kvType of ['f32', 'f16'] as const) {
      test(`${model.split('/').pop()} (${kvType} KV) agrees within every op's bound`, { skip: !existsSync(model) && 'model not present' }, async (t) => {
        const reference = ReferenceBackend.create();
        const cpu = await CpuBackend.create();
        const r = await compareBackends({ model, tokens: TOKENS, backends: [{ name: 'cpu', backend: cpu }, { name: 'reference', backend: reference }], judge: reference, kvType });
        await cpu.dispose();
        await reference.dispose();
        assert.equal(r.divergence, undefined, JSON.stringify(r.divergence));
        assert.equal(r.agree, true);
        assert.deepEqual(r.steps.map((s) => [s.pos0, s.nTokens]), [[0, TOKENS.length - 1], [TOKENS.length - 1, 1]]);
        // Every node of the CPU was judged (the reference side is the judge itself).
        for (const op of ['embed', 'rms_norm', 'matmul', 'rope', 'attention', 'glu', 'add', 'rows'] as const) assert.ok(r.ops[op], `no ${op} node was checked`);
        for (const [op, e] of Object.entries(r.ops)) t.diagnostic(`${op}: NMSE ${e.nmse.toExponential(1)} (bound ${e.bound.toExponential(1)}), max abs ${e.maxAbs.toExponential(1)}`);
        t.diagnostic(`logits: max abs ${r.steps.at(-1)!.output.maxAbs.toExponential(1)}`);
      });
    }
  }
});

describe('compare: a broken backend is named at its first broken node', () => {
  const expected: Record<Breakage, string> = { add: 'ffn_inp-0', rope: 'Qcur_rope-0' };
  for (const breakage of ['add', 'rope'] as const) {
    test(`broken ${breakage}`, async () => {
      const cpu = await CpuBackend.create();
      const broken = new BrokenReference(breakage);
      // No judge given: the tool makes its own reference backend.
      const r = await compareBackends({ model: STORIES, tokens: TOKENS, backends: [{ name: 'cpu', backend: cpu }, { name: 'broken', backend: broken }] });
      await cpu.dispose();
      await broken.dispose();
      assert.equal(r.agree, false);
      assert.equal(r.divergence?.label, expected[breakage]);
      assert.equal(r.divergence?.op, breakage);
      assert.equal(r.divergence?.backend, 'broken');
      assert.equal(r.divergence?.pos0, 0);
      assert.ok(r.divergence!.between.nmse > 0);
      assert.equal(r.steps.length, 1, 'stops at the first divergent step');
    });
  }

  test('an empty prompt or a token outside the vocabulary is refused', async () => {
    const reference = ReferenceBackend.create();
    for (const tokens of [[], [1, 512]]) {
      await assert.rejects(
        compareBackends({ model: STORIES, tokens, backends: [{ name: 'a', backend: reference }, { name: 'b', backend: reference }], judge: reference }),
        (e) => e instanceof WasmChordError && e.code === 'INVALID_ARGUMENT',
      );
    }
  });
});

describe('wasm-chord compare', () => {
  test('--json reports agreement and exits 0', async () => {
    const r = await runCli(['compare', '-m', STORIES, '-p', 'Once upon a time', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout) as { agree: boolean; backends: string[]; steps: unknown[] };
    assert.equal(report.agree, true);
    assert.deepEqual(report.backends, ['cpu', 'reference']);
    assert.equal(report.steps.length, 2);
  });

  test('text report, f16 KV', async () => {
    const r = await runCli(['compare', '-m', STORIES, '-p', 'Once upon a time', '--kv-type', 'f16']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /cpu vs reference, f16 KV cache/);
    assert.match(r.stdout, /^agree: /m);
  });

  test('usage errors exit 2 with one line', async () => {
    for (const args of [['-p', 'x'], ['-m', STORIES, '-p', 'x', '--backends', 'cpu,gpu'], ['-m', STORIES, '-p', 'x', '--backends', 'cpu'], ['-m', STORIES, '-p', 'x', '--kv-type', 'q8']]) {
      const r = await runCli(['compare', ...args]);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /^wasm-chord: error \[INVALID_ARGUMENT\]/);
    }
  });

  test('a missing model file is one line, exit 1', async () => {
    const r = await runCli(['compare', '-m', join(SHARED, 'models/no-such.gguf'), '-p', 'x']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^wasm-chord: error \[SOURCE_IO\]/);
  });
});
