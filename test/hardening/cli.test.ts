// The CLI with hostile models and hostile surroundings: a model problem is one line and exit
// code 1 (never 2, which blames the user); a closed stdout stops the generation quietly; a FIFO
// given as a model is refused instead of hanging; the demo writes no fixed path under /tmp; and
// text from the model reaches a terminal without raw control characters.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { kv } from '../../src/gguf/index.js';
import { CLI_ENV, runCli } from '../helpers/cli.js';
import { buildTinyModel, tinyVocab } from '../helpers/tiny-model.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'wasm-chord-hardening-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

async function modelFile(name: string, options: Parameters<typeof buildTinyModel>[0] = {}): Promise<string> {
  const path = join(dir, name);
  writeFileSync(path, await buildTinyModel(options));
  return path;
}

/** One line on stderr, exit code 1, nothing like a stack trace. */
function assertOneLineError(r: { code: number | null; stderr: string }, code: string): void {
  assert.equal(r.code, 1, r.stderr);
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0]!, new RegExp(`^wasm-chord: error \\[${code}\\]: `));
}

describe('a model problem is one line and exit code 1', () => {
  test('a tokenizer that does not match the embeddings', async () => {
    const v = tinyVocab();
    const path = await modelFile('vocab.gguf', {
      metadata: {
        'tokenizer.ggml.tokens': kv.stringArray(v.tokens.slice(0, -3)),
        'tokenizer.ggml.scores': kv.f32Array(v.scores.slice(0, -3)),
        'tokenizer.ggml.token_type': kv.i32Array(v.types.slice(0, -3)),
      },
    });
    assertOneLineError(await runCli(['run', '-m', path, '-p', 'hello', '-n', '20']), 'MODEL_INVALID');
  });

  test('NaN weights', async () => {
    const path = await modelFile('nan.gguf', { values: (name, v) => (name === 'output.weight' ? v.fill(NaN) : v) });
    assertOneLineError(await runCli(['run', '-m', path, '-p', 'hello', '-n', '5', '--temp', '0']), 'MODEL_INVALID');
  });

  test('a hostile chat template', async () => {
    const path = await modelFile('template.gguf', { metadata: { 'tokenizer.chat_template': kv.string('{% for i in range(1000000000) %}{% endfor %}') } });
    assertOneLineError(await runCli(['run', '-m', path, '-p', 'hello', '--chat']), 'CHAT_TEMPLATE');
  });

  test('an unknown command named like an Object method', async () => {
    const r = await runCli(['constructor']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown command "constructor"/);
  });
});

describe('surroundings', () => {
  test('a closed stdout (| head -c 10) stops the generation quietly', async () => {
    // 50000 tokens would take long; the reader leaves after 10 bytes.
    const path = await modelFile('long.gguf', { metadata: { 'llama.context_length': kv.u32(60000) } });
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN, 'run', '-m', path, '-p', 'hello', '-n', '50000', '-c', '60000', '--ignore-eos', '--temp', '0'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: CLI_ENV,
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    let got = 0;
    let closedAt = 0;
    child.stdout.on('data', (d: Buffer) => {
      got += d.length;
      if (got >= 10 && !closedAt) {
        closedAt = performance.now();
        child.stdout.destroy();
      }
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    const ms = performance.now() - closedAt;
    assert.ok(closedAt > 0, 'no output');
    assert.equal(code, 0, stderr);
    assert.equal(stderr, '', 'nothing on stderr: no EPIPE trace, no timings of an unfinished run');
    assert.ok(ms < 5000, `exited ${ms.toFixed(0)} ms after stdout closed`);
  });

  test('a named pipe given as the model is refused, not opened (opening it would block)', { skip: process.platform === 'win32' }, async () => {
    const fifo = join(dir, 'model.fifo');
    spawnSync('mkfifo', [fifo]);
    assert.ok(existsSync(fifo));
    for (const args of [['run', '-m', fifo, '-p', 'x'], ['inspect', fifo]]) {
      const r = await runCli(args, { timeoutMs: 20_000 });
      assertOneLineError(r, 'SOURCE_IO');
      assert.match(r.stderr, /not a regular file/);
    }
  });

  const hasScript = spawnSync('script', ['--version']).status === 0;
  test('on a terminal, control characters from the model are shown, not sent raw; --json stays exact', { skip: !hasScript && 'needs util-linux script for a terminal' }, async () => {
    // Every word of the vocabulary carries a terminal escape (set the window title, red text).
    const v = tinyVocab();
    const evil = v.tokens.map((t, i) => (v.types[i] === 1 ? `${t}\u001b]0;pwned\u0007\u001b[31m` : t));
    const path = await modelFile('escapes.gguf', { metadata: { 'tokenizer.ggml.tokens': kv.stringArray(evil), 'general.name': kv.string('evil\u001b[2J') } });
    const cli = (args: string[]) => [process.execPath, '--import', 'tsx', MAIN, ...args].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ');
    const onTerminal = (args: string[]) => spawnSync('script', ['-qec', cli(args), '/dev/null'], { encoding: 'utf8', timeout: 60_000 });
    const run = onTerminal(['run', '-m', path, '-p', 'hello', '-n', '30', '--temp', '0', '--ignore-eos']);
    assert.equal(run.status, 0, run.stdout);
    assert.ok(!run.stdout.includes('\u001b]0;pwned'), 'a raw escape reached the terminal');
    assert.match(run.stdout, /\\x1B\]0;pwned\\x07/);
    const inspect = onTerminal(['inspect', path]);
    assert.ok(!/\u001b\[2J/.test(inspect.stdout));
    // Not a terminal: --json is exact JSON of the text, escapes included (JSON-escaped).
    const json = await runCli(['run', '-m', path, '-p', 'hello', '-n', '30', '--temp', '0', '--ignore-eos', '--json']);
    assert.equal(json.code, 0, json.stderr);
    assert.ok(JSON.parse(json.stdout).text.includes('\u001b]0;pwned\u0007'));
  });
});
