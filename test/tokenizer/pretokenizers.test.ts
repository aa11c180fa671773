// The Llama-3 and Qwen2 pre-tokenizers have no vocab file in ../shared (their vectors are skipped in
// tokenizer-vocab.test.ts), so their word splits are checked here against splits worked out by hand
// from the regexes in those models' tokenizer.json, alternative by alternative.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isWasmChordError } from '../../src/errors.js';
import { bpePreset, splitWords } from '../../src/tokenizer/pretokenizers.js';

const split = (pre: string, text: string) => splitWords(text, bpePreset(pre).regexes);

const MIXED = "I'VE seen 12345 cats!!\n\n  ok";

describe('llama3 pre-tokenizer', () => {
  test('case-insensitive contractions, letters with one leading non-letter, digits in threes', () => {
    assert.deepEqual(split('llama-bpe', MIXED), ['I', "'VE", ' seen', ' ', '123', '45', ' cats', '!!\n\n', ' ', ' ok']);
  });

  test('a newline run ends a whitespace piece; a tab may lead a word', () => {
    assert.deepEqual(split('llama3', 'hello\r\n\tworld  \n'), ['hello', '\r\n', '\tworld', '  \n']);
  });

  test('an apostrophe that starts no contraction is punctuation', () => {
    assert.deepEqual(split('llama3', "don't 'x'"), ['don', "'t", " '", 'x', "'"]);
  });

  test('any Unicode digits group in threes', () => {
    assert.deepEqual(split('llama3', '٣٤٥٦'), ['٣٤٥', '٦']);
  });

  test('llama-bpe presets take known words whole and add BOS by default', () => {
    const preset = bpePreset('llama-bpe');
    assert.equal(preset.ignoreMerges, true);
    assert.equal(preset.addBos, true);
  });
});

describe('qwen2 pre-tokenizer', () => {
  test('like llama3 but one digit per piece', () => {
    assert.deepEqual(split('qwen2', MIXED), ['I', "'VE", ' seen', ' ', '1', '2', '3', '4', '5', ' cats', '!!\n\n', ' ', ' ok']);
  });

  test('qwen2 keeps spaces when detokenizing', () => {
    assert.equal(bpePreset('qwen2').cleanSpaces, false);
  });
});

describe('gpt-2 pre-tokenizer', () => {
  test('lower-case contractions only; a whitespace run leaves one space to the next word', () => {
    assert.deepEqual(split('gpt-2', MIXED), ['I', "'", 'VE', ' seen', ' 12345', ' cats', '!!', '\n\n ', ' ok']);
  });

  test('only an ASCII space joins the next word; other whitespace stands alone', () => {
    assert.deepEqual(split('gpt-2', 'a  b'), ['a', ' ', ' b']);
    assert.deepEqual(split('gpt-2', 'a\u3000\u3000b'), ['a', '\u3000', '\u3000', 'b']);
  });
});

test('an unknown pre-tokenizer is a TOKENIZER_UNSUPPORTED error naming it', () => {
  assert.throws(
    () => bpePreset('no-such-pre'),
    (e: unknown) => isWasmChordError(e, 'TOKENIZER_UNSUPPORTED') && e.message.includes('no-such-pre'),
  );
});
