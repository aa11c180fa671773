// `wasm-chord inspect`: text and JSON output for real files (path and URL), one-line errors for
// hostile ones.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { GGMLType } from '../../src/quant/types.js';
import { runCli } from '../helpers/cli.js';
import { GGUFBytes } from '../helpers/gguf-bytes.js';
import { serveFolder } from '../helpers/http-server.js';
import { SHARED } from '../helpers/shared.js';

const MODELS = join(SHARED, 'models');

interface InspectJson {
  version: number;
  metadata: Record<string, unknown>;
  tensors: { name: string; type: string; shape: number[]; offset: number; bytes: number }[];
}

describe('inspect on real files', () => {
  test('--json prints one object with version, metadata and the tensor table', async () => {
    const path = join(MODELS, 'derived/pad256/stories260K-pad256-Q4_K_M-mix.gguf');
    const r = await runCli(['inspect', path, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout) as InspectJson;
    assert.equal(j.version, 3);
    assert.equal(j.metadata['general.architecture'], 'llama');
    assert.equal(j.metadata['llama.embedding_length'], 256);
    assert.equal(j.metadata['llama.attention.layer_norm_rms_epsilon'], 2.5e-6, 'f32 values print in shortest form');
    assert.deepEqual(j.metadata['tokenizer.ggml.tokens'], { type: 'array<string>', length: 512 });
    assert.equal(j.tensors.length, 48);
    const types = new Set(j.tensors.map((t) => t.type));
    assert.deepEqual([...types].sort(), ['F32', 'Q4_K', 'Q6_K']);
    const size = readFileSync(path).length;
    const embd = j.tensors.find((t) => t.name === 'token_embd.weight')!;
    assert.deepEqual(embd.shape, [256, 512]);
    for (const t of j.tensors) assert.ok(t.offset + t.bytes <= size, t.name);
  });

  test('text output names keys, tensors and totals', async () => {
    const r = await runCli(['inspect', join(MODELS, 'stories260K.gguf')]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /GGUF v3/);
    assert.match(r.stdout, /llama\.block_count \(uint32\) = 5/);
    assert.match(r.stdout, /tokenizer\.ggml\.tokens \(array\) = \[string\] \["<unk>", "<s>", "<\/s>"/);
    assert.match(r.stdout, /blk\.4\.ffn_down\.weight\s+F32\s+\[172, 64\]/);
    assert.match(r.stdout, /totals: 48 tensors, 292,800 parameters/);
  });

  test('works on a URL served over loopback HTTP', async () => {
    const server = await serveFolder(MODELS);
    try {
      const r = await runCli(['inspect', `${server.url}/TinyStories-656K-Q8_0.gguf`, '--json']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal((JSON.parse(r.stdout) as InspectJson).tensors.length, 20);
    } finally {
      await server.close();
    }
  });
});

describe('inspect on bad input: one line on stderr, non-zero exit, no stack trace', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wasm-chord-inspect-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const cases: Record<string, [Uint8Array, string]> = {
    'not-gguf': [new TextEncoder().encode('hello world, not a model'), 'GGUF_BAD_MAGIC'],
    'v1': [readFileSync(join(MODELS, 'legacy/tinyllamas-stories-260k-f32.gguf')), 'GGUF_UNSUPPORTED_VERSION'],
    'huge-tensor-count': [new GGUFBytes().header(3, 2n ** 40n, 0).zeros(32).bytes(), 'GGUF_LIMIT_EXCEEDED'],
    'huge-string': [new GGUFBytes().header(3, 0, 1).str('k', 2n ** 62n).zeros(32).bytes(), 'GGUF_TRUNCATED'],
    'bad-alignment': [new GGUFBytes().header(3, 0, 1).str('general.alignment').u32(4).u32(3).bytes(), 'GGUF_MALFORMED'],
    'offset-past-end': [
      new GGUFBytes().header(3, 1, 0).tensorInfo('t', [8], GGMLType.F32, 2n ** 40n).padTo(32).bytes(),
      'GGUF_TRUNCATED',
    ],
    'truncated-model': [readFileSync(join(MODELS, 'stories260K.gguf')).subarray(0, 5000), 'GGUF_TRUNCATED'],
  };
  for (const [name, [bytes, code]] of Object.entries(cases)) {
    test(name, async () => {
      const path = join(dir, `${name}.gguf`);
      writeFileSync(path, bytes);
      for (const args of [['inspect', path], ['inspect', path, '--json']]) {
        const r = await runCli(args);
        assert.equal(r.code, 1);
        assert.equal(r.stdout, '');
        const lines = r.stderr.trimEnd().split('\n');
        assert.equal(lines.length, 1, r.stderr);
        assert.match(lines[0]!, new RegExp(`^wasm-chord: error \\[${code}\\]: `));
        assert.doesNotMatch(r.stderr, /\n\s+at /);
      }
    });
  }

  test('usage errors exit with 2', async () => {
    assert.equal((await runCli(['inspect'])).code, 2);
    assert.equal((await runCli(['inspect', 'a', '--bogus'])).code, 2);
    assert.equal((await runCli(['no-such-command'])).code, 2);
  });
});
