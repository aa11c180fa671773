// The stream decoder's edge cases, token by token: a character spelled by byte tokens comes out
// whole once its last byte arrives; text the space clean-up may still change is held back; the
// leading-space strip applies only to the start of a text.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { readGGUFHeader } from '../../src/gguf/index.js';
import { Tokenizer } from '../../src/tokenizer/index.js';
import { SHARED, readJson } from '../helpers/shared.js';

async function load(relPath: string): Promise<Tokenizer> {
  return Tokenizer.fromGGUF((await readGGUFHeader(join(SHARED, relPath))).metadata);
}

function stream(tok: Tokenizer, ids: number[], options = {}): string[] {
  const decoder = tok.createStreamDecoder(options);
  return [...ids.map((id) => decoder.push(id)), decoder.flush()];
}

describe('stream decoding', () => {
  let spm: Tokenizer;
  let gpt2: Tokenizer;
  before(async () => {
    spm = await load('models/vocab/ggml-vocab-llama-spm.gguf');
    gpt2 = await load('models/vocab/ggml-vocab-gpt-2.gguf');
  });

  test('an emoji spelled by four byte tokens appears whole with its last byte', () => {
    const ids = spm.encode('a🦙b', { addSpecial: false });
    assert.deepEqual(ids.map((id) => spm.tokenType(id)), ['normal', 'byte', 'byte', 'byte', 'byte', 'normal']);
    assert.deepEqual(stream(spm, ids), ['a', '', '', '', '🦙', 'b', '']);
  });

  test('a multi-byte character split across byte-level BPE tokens waits for its last byte', () => {
    const ids = gpt2.encode('\uFEFFhi');
    assert.equal(ids.length, 4, 'U+FEFF is three single-byte tokens, then "hi"');
    assert.deepEqual(stream(gpt2, ids), ['', '', '\uFEFF', 'hi', ''], 'and a leading U+FEFF is kept, not read as a BOM');
  });

  test('space clean-up: " ?" and " \'s" are held until they are settled', () => {
    // llama.cpp's clean_spaces for GPT-2: "Hi ?" decodes to "Hi?", "It 's" to "It's", "a ' b" to "a'b".
    assert.deepEqual(stream(gpt2, gpt2.encode('Hi ?')), ['Hi', '', '?']);
    assert.deepEqual(stream(gpt2, gpt2.encode("It 's")), ['It', '', '', "'s"]);
    assert.deepEqual(stream(gpt2, gpt2.encode("a ' b")), ['a', '', "'b", '']);
    assert.deepEqual(stream(gpt2, gpt2.encode('Hi ?'), { cleanSpaces: false }), ['Hi', ' ?', '']);
  });

  test('the first piece loses its leading space only at the start of a text', async () => {
    // stories260K generating from BOS alone: llama.cpp's pieces and its detokenized text.
    const c = readJson<{ generated_tokens: number[]; generated_pieces: string[]; generated_text: string }>(
      'reference/models/stories260K/bos_only.json',
    );
    const tok = await load('models/stories260K.gguf');
    const ids = c.generated_tokens;
    assert.equal(c.generated_pieces[0], ' Once');
    assert.equal(stream(tok, ids).join(''), c.generated_text);
    assert.equal(stream(tok, ids, { stripLeadingSpace: false }).join(''), ` ${c.generated_text}`);
    assert.equal(tok.decode(ids, { stripLeadingSpace: false }), ` ${c.generated_text}`);
  });

  test('after flush the decoder starts a new text', () => {
    const ids = spm.encode('Hello', { addSpecial: false });
    const decoder = spm.createStreamDecoder();
    assert.equal(ids.map((id) => decoder.push(id)).join('') + decoder.flush(), 'Hello');
    assert.equal(ids.map((id) => decoder.push(id)).join('') + decoder.flush(), 'Hello');
  });
});
