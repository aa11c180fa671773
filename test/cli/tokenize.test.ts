// `wasm-chord tokenize` as a subprocess: in --inp mode it must reproduce llama.cpp's .out files byte
// for byte for every vocab GGUF present; in text mode it prints ids and pieces.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { runCli } from '../helpers/cli.js';
import { SHARED, readJson } from '../helpers/shared.js';

const VOCAB_DIR = join(SHARED, 'models/vocab');

describe('tokenize --inp reproduces the .out files', { concurrency: 4 }, () => {
  const names = readdirSync(VOCAB_DIR)
    .filter((f) => f.endsWith('.gguf.inp'))
    .map((f) => f.slice(0, -'.inp'.length))
    .sort();
  for (const gguf of names) {
    const path = join(VOCAB_DIR, gguf);
    if (!existsSync(path)) {
      test(gguf, { skip: `${gguf} is not in ../shared (over the 4 MiB snapshot limit, see SOURCES.md)` }, () => {});
      continue;
    }
    test(gguf, async () => {
      const r = await runCli(['tokenize', '-m', path, '--inp', `${path}.inp`]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, readFileSync(`${path}.out`, 'utf8'));
    });
  }
});

describe('tokenize TEXT', () => {
  const MODEL = join(SHARED, 'models/llama-2-tiny-random.gguf');
  const reference = readJson<{ prompt: string; tokens_add_special: number[]; prompt_pieces: string[] }>(
    'reference/models/llama-2-tiny-random/digits_punct_unicode.json',
  );

  test('--json prints the ids (with BOS) and pieces llama.cpp gives', async () => {
    const r = await runCli(['tokenize', '-m', MODEL, '--json', reference.prompt]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { ids: reference.tokens_add_special, pieces: reference.prompt_pieces });
  });

  test('prints one "id -> piece" line per token', async () => {
    const r = await runCli(['tokenize', '-m', MODEL, reference.prompt]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.equal(lines.length, reference.tokens_add_special.length);
    assert.equal(lines[0]!.trim(), '1 -> "<s>"');
    assert.equal(lines[1]!.trim(), '4335 -> " Tom"');
  });

  test('--special parses special-token text', async () => {
    const plain = await runCli(['tokenize', '-m', MODEL, '--json', '</s>']);
    const special = await runCli(['tokenize', '-m', MODEL, '--json', '--special', '</s>']);
    assert.ok(!(JSON.parse(plain.stdout) as { ids: number[] }).ids.includes(2));
    assert.deepEqual((JSON.parse(special.stdout) as { ids: number[] }).ids, [1, 2]);
  });

  test('bad usage exits with 2 and a usage line', async () => {
    for (const args of [['tokenize', 'text'], ['tokenize', '-m', MODEL], ['tokenize', '-m', MODEL, '--inp', 'x', '--json']]) {
      const r = await runCli(args);
      assert.equal(r.code, 2, args.join(' '));
      assert.match(r.stderr, /usage: wasm-chord tokenize/);
    }
  });

  test('a missing model or .inp file exits with 1 and names it', async () => {
    const r = await runCli(['tokenize', '-m', join(VOCAB_DIR, 'nope.gguf'), 'x']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /SOURCE_IO.*nope\.gguf/);
    const r2 = await runCli(['tokenize', '-m', MODEL, '--inp', join(VOCAB_DIR, 'nope.inp')]);
    assert.equal(r2.code, 1);
    assert.match(r2.stderr, /SOURCE_IO.*nope\.inp/);
  });
});
