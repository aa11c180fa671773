// `wasm-chord run`: JSON output against llama.cpp's reference, streaming output, bad usage.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { runCli } from '../helpers/cli.js';
import { readJson, SHARED } from '../helpers/shared.js';
import { webgpuUnavailable } from '../backends/backends.js';

const MODEL = join(SHARED, 'models/stories260K.gguf');
const REF = readJson<{ prompt_tokens: number[]; generated_tokens: number[]; generated_pieces: string[] }>('reference/models/stories260K/once_upon_a_time.json');

test('--json: prompt tokens, greedy tokens and text as llama.cpp, with timings', async () => {
  const r = await runCli(['run', '-m', MODEL, '-p', 'Once upon a time', '-n', '24', '--temp', '0', '--ignore-eos', '--kv-type', 'f32', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.deepEqual(j.prompt_tokens, REF.prompt_tokens);
  assert.deepEqual(j.tokens, REF.generated_tokens.slice(0, 24));
  assert.match(j.text, /^, there was a little girl named Lily/);
  assert.ok(j.timings.prefill_tps > 0 && j.timings.decode_tps > 0);
});

test('streams the prompt and its continuation, and speeds on stderr', async () => {
  const r = await runCli(['run', '-m', MODEL, '-p', 'Once upon a time', '-n', '8', '--temp', '0']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, `Once upon a time${REF.generated_pieces.slice(0, 8).join('')}\n`);
  assert.match(r.stderr, /^prefill: 5 tokens, [\d.]+ tokens\/s; decode: 8 tokens, [\d.]+ tokens\/s/);
});

test('sampling with a seed is reproducible across processes', async () => {
  const args = ['run', '-m', MODEL, '-p', 'Once upon a time', '-n', '16', '--temp', '1', '--seed', '11', '--json'];
  const [a, b] = await Promise.all([runCli(args), runCli(args)]);
  assert.deepEqual(JSON.parse(a.stdout).tokens, JSON.parse(b.stdout).tokens);
});

test('--backend webgpu runs on the GPU (lavapipe in CI) and gives llama.cpp\'s tokens', { skip: await webgpuUnavailable() }, async () => {
  const r = await runCli(['run', '-m', MODEL, '-p', 'Once upon a time', '-n', '24', '--temp', '0', '--ignore-eos', '--kv-type', 'f32', '--json', '--backend', 'webgpu']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout).tokens, REF.generated_tokens.slice(0, 24));
});

test('bad usage exits with 2 and one line', async () => {
  for (const args of [['run', '-p', 'x'], ['run', '-m', MODEL, '-p', 'x', '--temp', 'hot'], ['run', '-m', MODEL, '-p', 'x', '--top-p', '2'], ['run', '-m', MODEL, '-p', 'x', '--backend', 'gpu']]) {
    const r = await runCli(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /^wasm-chord: /);
  }
});

test('a missing model exits with 1 and names it', async () => {
  const r = await runCli(['run', '-m', '/nowhere/model.gguf', '-p', 'x']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^wasm-chord: error \[SOURCE_IO\]: .*\/nowhere\/model\.gguf/);
});
