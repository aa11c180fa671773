// The main job: `wasm-chord demo` (and `run` without -m) generates from the demo model that ships
// with the package (assets/demo.gguf; its logits are checked in test/model/demo-model.test.ts).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { DEMO_MODEL_PATH } from '../../src/cli/demo-model.js';
import { runCli } from '../helpers/cli.js';
import { logitBound } from '../helpers/model-bounds.js';

const reference = JSON.parse(readFileSync(new URL('../../tools/train-demo-model/reference.json', import.meta.url), 'utf8')) as {
  prompts: { top_logits: number[][] }[];
  greedy: { prompt_ids: number[]; ids: number[] };
};

test('wasm-chord demo prints a story and its speed', async () => {
  const r = await runCli(['demo', '-n', '40', '--seed', '3']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^Once upon a time[,.]? \w+/);
  assert.match(r.stderr, /decode: \d+ tokens, [\d.]+ tokens\/s/);
});

test('wasm-chord run without -m is the demo model, and starts the greedy story of its training run', async () => {
  const greedy = async (args: string[]) => {
    const r = await runCli(['run', ...args, '-p', 'Once upon a time', '-n', '24', '--temp', '0', '--json']);
    assert.equal(r.code, 0, r.stderr);
    return (JSON.parse(r.stdout) as { tokens: number[] }).tokens;
  };
  const tokens = await greedy([]);
  assert.deepEqual(tokens, await greedy(['-m', DEMO_MODEL_PATH]));
  // PyTorch's greedy story, up to its first near-tie (a top-1/top-2 margin below the Q8_0 logit
  // bound, where Q8_0 may rightly choose otherwise; test/model/demo-model.test.ts checks the rest
  // teacher-forced). Its last prompt is that story, teacher-forced.
  const forced = reference.prompts.at(-1)!.top_logits.slice(reference.greedy.prompt_ids.length - 1);
  const firstTie = forced.findIndex(([first, second]) => first! - second! < logitBound({ Q8_0: 1 }).maxAbs);
  assert.ok(firstTie > 0);
  assert.deepEqual(tokens.slice(0, firstTie), reference.greedy.ids.slice(0, firstTie));
});
