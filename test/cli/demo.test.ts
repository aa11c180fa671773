// The main job: `wasm-chord demo` builds the demo model (a word-bigram model as a 1-layer
// llama GGUF) and generates from it through the real runtime.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildDemoModel } from '../../src/demo/bigram-model.js';
import { DEMO_CORPUS } from '../../src/demo/corpus.js';
import { WasmChord } from '../../src/index.js';
import { runCli } from '../helpers/cli.js';

test('the demo model continues like its corpus', async () => {
  const runtime = await WasmChord.init();
  try {
    const model = await runtime.loadModel(await buildDemoModel());
    assert.equal(model.info.architecture, 'llama');
    // In the corpus "Once" is always followed by "upon", "upon" by "a", "time" by ","; and "a time"
    // (5 times) is the most frequent pair starting with "a". A bigram model has no longer memory.
    assert.equal(DEMO_CORPUS.match(/\bOnce upon a time,/g)?.length, 5);
    const text = await model.infer('Once', { temperature: 0, maxTokens: 4 });
    assert.equal(text, ' upon a time,');
    // Sampled text only uses words of the corpus.
    const words = new Set(DEMO_CORPUS.match(/[A-Za-z']+/g));
    const sampled = await model.infer('Once upon a time', { seed: 7, maxTokens: 60 });
    for (const w of sampled.match(/[A-Za-z']+/g) ?? []) assert.ok(words.has(w), `"${w}" is not in the corpus`);
  } finally {
    await runtime.dispose();
  }
});

test('wasm-chord demo prints a generation and its speed', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'wasm-chord-demo-'));
  try {
    const r = await runCli(['demo', '--out', join(dir, 'demo.gguf'), '-n', '30', '--seed', '3']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Once upon a time\S* \w+/);
    assert.match(r.stderr, /decode: \d+ tokens, [\d.]+ tokens\/s/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
