// `wasm-chord run`: JSON output against llama.cpp's reference, streaming output, prompt files,
// threads, the interactive chat (-cnv) against the API, and option errors before loading.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { WasmChord } from '../../src/index.js';
import type { ChatMessage } from '../../src/chat/index.js';
import { CLI_ENV, runCli } from '../helpers/cli.js';
import { RUN_OPTIONS } from '../../src/cli/run-options.js';
import { readJson, SHARED } from '../helpers/shared.js';
import { webgpuUnavailable } from '../backends/backends.js';
import { serveFolder } from '../helpers/http-server.js';

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
  for (const args of [['run', '-m', MODEL], ['run', '-m', MODEL, '-p', 'x', '--temp', 'hot'], ['run', '-m', MODEL, '-p', 'x', '--top-p', '2'], ['run', '-m', MODEL, '-p', 'x', '--backend', 'gpu']]) {
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

const dir = mkdtempSync(join(tmpdir(), 'wasm-chord-run-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** `run --json` with greedy settings; returns the parsed result. */
async function runJson(args: string[], model = MODEL): Promise<{ prompt_tokens: number[]; tokens: number[] }> {
  const r = await runCli(['run', '-m', model, '-n', '16', '--temp', '0', '--ignore-eos', '--json', ...args]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
}

test('--version prints package.json\'s version', async () => {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  const r = await runCli(['--version']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, `${pkg.version}\n`);
});

test('-f FILE gives the same tokens as -p with its text (one trailing newline dropped)', async () => {
  const file = join(dir, 'prompt.txt');
  writeFileSync(file, 'Once upon a time\n');
  const [fromFile, fromFlag] = await Promise.all([runJson(['-f', file]), runJson(['-p', 'Once upon a time'])]);
  assert.deepEqual(fromFile.prompt_tokens, REF.prompt_tokens);
  assert.deepEqual(fromFlag.prompt_tokens, fromFile.prompt_tokens);
  assert.deepEqual(fromFlag.tokens, fromFile.tokens);
});

test('--json-schema and --grammar(-file) constrain the output as the API options do', async () => {
  const schema = { type: 'object', properties: { n: { type: 'integer' }, ok: { type: 'boolean' } }, required: ['n', 'ok'], additionalProperties: false };
  const r = await runCli(['run', '-m', MODEL, '-p', 'Once upon a time', '-n', '60', '--temp', '1', '--seed', '4', '--json-schema', JSON.stringify(schema), '--json']);
  assert.equal(r.code, 0, r.stderr);
  const value = JSON.parse((JSON.parse(r.stdout) as { text: string }).text) as { n: unknown; ok: unknown };
  assert.deepEqual(Object.keys(value), ['n', 'ok']);
  assert.ok(Number.isInteger(value.n) && typeof value.ok === 'boolean');
  const grammar = 'root ::= ("yes" | "no") "."';
  const dir = mkdtempSync(join(tmpdir(), 'grammar-'));
  try {
    writeFileSync(join(dir, 'g.gbnf'), grammar);
    const inline = await runCli(['run', '-m', MODEL, '-p', 'Is it?', '--temp', '1', '--seed', '2', '--grammar', grammar, '--json']);
    const fromFile = await runCli(['run', '-m', MODEL, '-p', 'Is it?', '--temp', '1', '--seed', '2', '--grammar-file', join(dir, 'g.gbnf'), '--json']);
    const tokens = (out: string) => (JSON.parse(out) as { text: string; tokens: number[] });
    assert.match(tokens(inline.stdout).text, /^(yes|no)\.$/);
    assert.deepEqual(tokens(fromFile.stdout).tokens, tokens(inline.stdout).tokens);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const both = await runCli(['run', '-m', MODEL, '-p', 'x', '--grammar', grammar, '--json-schema', '{}']);
  assert.equal(both.code, 2);
  const bad = await runCli(['run', '-m', MODEL, '-p', 'x', '--grammar', 'root ::= undefined-rule']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /GRAMMAR_INVALID|undefined/);
});

test('-t 1 and -t 2 give the same tokens', async () => {
  const [one, two] = await Promise.all([runJson(['-p', 'Once upon a time', '-t', '1']), runJson(['-p', 'Once upon a time', '-t', '2'])]);
  assert.deepEqual(one.tokens, two.tokens);
  assert.equal(one.tokens.length, 16);
});

test('-cnv: two piped user turns give two replies, as the API gives them for the same history', async () => {
  const system = 'You tell short stories.';
  const turns = ['Tell me about a cat.', 'What did the cat do next?'];
  const r = await runCli(['run', '-m', MODEL, '-cnv', '-sys', system, '-n', '12', '--temp', '0'], { input: turns.map((t) => `${t}\n`).join('') });
  assert.equal(r.code, 0, r.stderr);

  const runtime = await WasmChord.init({ backend: 'cpu' });
  try {
    const model = await runtime.loadModel(MODEL);
    const history: ChatMessage[] = [{ role: 'system', content: system }];
    const replies: string[] = [];
    for (const content of turns) {
      history.push({ role: 'user', content });
      const { text, tokens } = await model.generate(history, { maxTokens: 12, temperature: 0 });
      assert.ok(tokens.length > 0);
      replies.push(text);
      history.push({ role: 'assistant', content: text });
    }
    assert.equal(r.stdout, replies.map((t) => `${t}\n`).join(''));
  } finally {
    await runtime.dispose();
  }
});

test('-cnv: Ctrl-C stops a reply and returns to the prompt; Ctrl-C at the prompt ends the chat', async () => {
  // A reply this long would take minutes: only the first Ctrl-C can end it early.
  const args = ['run', '-m', MODEL, '-cnv', '-c', '8192', '-n', '8000', '--ignore-eos', '--temp', '0'];
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url)), ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: CLI_ENV,
    timeout: 60_000,
  });
  let stdout = '';
  let stderr = '';
  let quiet: NodeJS.Timeout | undefined;
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    if (stdout === '') child.kill('SIGINT');
    stdout += d;
    // Once the reply has stopped (no output for a while), the chat waits at its prompt.
    clearTimeout(quiet);
    quiet = setTimeout(() => child.kill('SIGINT'), 1000);
  });
  child.stdin.write('Hello\n'); // stdin stays open: only Ctrl-C can end the chat
  const code = await new Promise((resolve) => child.on('close', resolve));
  clearTimeout(quiet);
  assert.equal(code, 0, stderr);
  assert.ok(stdout.endsWith('\n') && stdout.length > 1, JSON.stringify(stdout));
});

test('-m URL downloads into --cache-dir once; the next run needs no network', async () => {
  const server = await serveFolder(join(SHARED, 'models'));
  const url = `${server.url}/stories260K.gguf`;
  const cacheDir = join(dir, 'cache');
  const args = ['--cache-dir', cacheDir, '-p', 'Once upon a time'];
  const local = await runJson(['-p', 'Once upon a time']);
  try {
    assert.deepEqual((await runJson(args, url)).tokens, local.tokens);
    assert.ok(server.bytesSent() > 0);
  } finally {
    await server.close();
  }
  assert.deepEqual((await runJson(args, url)).tokens, local.tokens);
});

test('option errors are reported before the model is touched', async () => {
  const prompt = join(dir, 'p.txt');
  writeFileSync(prompt, 'x');
  const cases: [string[], RegExp][] = [
    [['-p', 'x', '-f', prompt], /-p and -f/],
    [['-cnv', '--json'], /--json and -cnv/],
    [['-p', 'x', '--no-cache', '--cache-dir', dir], /--no-cache and --cache-dir/],
    [['-p', 'x', '-sys', 'be brief'], /-sys needs --chat or -cnv/],
    [['-p', 'x', '--top-p', '2'], /--top-p must be at most 1/],
    [['-p', 'x', '-t', '0'], /--threads must be at least 1/],
    [['-p', 'x', '-n', '1.5'], /--n-predict must be an integer/],
    [['-p', 'x', '-c', 'big'], /--ctx-size needs a number/],
    [['-f', '/nowhere/prompt.txt', '--seed=-1'], /--seed must be at least 0/],
    [[], /-p PROMPT or -f FILE is required/],
  ];
  for (const [args, message] of cases) {
    const r = await runCli(['run', '-m', '/nowhere/model.gguf', ...args]);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /^wasm-chord: error \[INVALID_ARGUMENT\]: /);
    assert.match(r.stderr, message);
  }
});

test('an unreadable -f file is named, before the model is touched', async () => {
  const r = await runCli(['run', '-m', '/nowhere/model.gguf', '-f', '/nowhere/prompt.txt']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^wasm-chord: error \[SOURCE_IO\]: cannot read the prompt file \/nowhere\/prompt\.txt/);
});

test('run --help lists every option run accepts', async () => {
  const r = await runCli(['run', '--help']);
  assert.equal(r.code, 0);
  for (const [name, o] of Object.entries(RUN_OPTIONS)) {
    assert.match(r.stdout, new RegExp(`--${name}\\b`), `--${name} is not in run --help`);
    if ('short' in o) assert.match(r.stdout, new RegExp(` -${o.short}, --${name}\\b`), `-${o.short} is not in run --help`);
  }
  for (const flag of ['-cnv, --conversation', '-sys, --system-prompt']) assert.ok(r.stdout.includes(flag), flag);
});
