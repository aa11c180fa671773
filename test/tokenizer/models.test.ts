// The tokenizers of the real model files in ../shared/models against llama.cpp's outputs in
// ../shared/reference: prompt tokens with and without BOS, token pieces, and detokenized text.
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { isWasmChordError } from '../../src/errors.js';
import { readGGUFHeader, type GGUFMetadata } from '../../src/gguf/index.js';
import { Tokenizer } from '../../src/tokenizer/index.js';
import { SHARED, readJson } from '../helpers/shared.js';

async function readMetadata(relPath: string): Promise<GGUFMetadata> {
  return (await readGGUFHeader(join(SHARED, relPath))).metadata;
}

const loaded = new Map<string, Promise<Tokenizer>>();
function tokenizerOf(relPath: string): Promise<Tokenizer> {
  let t = loaded.get(relPath);
  if (t === undefined) loaded.set(relPath, (t = readMetadata(relPath).then((m) => Tokenizer.fromGGUF(m))));
  return t;
}

const utf8 = new TextDecoder();

/**
 * A piece as the reference prints it. The reference writes each invalid UTF-8 byte as its own
 * U+FFFD where TextDecoder writes one per broken sequence, so runs of U+FFFD compare as one.
 */
function shownPiece(tok: Tokenizer, id: number): string {
  return utf8.decode(tok.tokenToPiece(id)).replace(/\uFFFD+/g, '\uFFFD');
}
const shownReference = (piece: string) => piece.replace(/\uFFFD+/g, '\uFFFD');

interface ModelCase {
  prompt: string;
  error?: string;
  tokens_add_special: number[];
  tokens_no_special: number[];
  prompt_tokens: number[];
  prompt_pieces: string[];
  generated_tokens: number[];
  generated_pieces: string[];
  generated_text_utf8_hex: string;
  full_text: string;
}

interface ModelIndex {
  models: { dir: string; model_file: string | null }[];
}

const modelIndex = readJson<ModelIndex>('reference/models/index.json');
const present = modelIndex.models.filter((m) => m.model_file !== null && existsSync(join(SHARED, m.model_file)));

describe('llama.cpp references for the model files', () => {
  test('the reference index names model files that are present', () => {
    assert.ok(present.length >= 10, `${present.length} present`);
  });

  for (const model of present) {
    const dir = join(SHARED, model.dir);
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.json'))) {
      const c = readJson<ModelCase>(join(dir, file));
      if (c.error !== undefined) continue; // covered by the TinyStories test below
      test(`${model.dir.split('/').pop()} ${file.replace('.json', '')}`, async () => {
        const tok = await tokenizerOf(model.model_file!);
        assert.deepEqual(tok.encode(c.prompt), c.tokens_add_special, 'tokens with add_special');
        assert.deepEqual(tok.encode(c.prompt, { addSpecial: false }), c.tokens_no_special, 'tokens without');
        assert.deepEqual(c.prompt_tokens.map((id) => shownPiece(tok, id)), c.prompt_pieces.map(shownReference));
        assert.deepEqual(c.generated_tokens.map((id) => shownPiece(tok, id)), c.generated_pieces.map(shownReference));
        // llama_detokenize without special tokens: the first token's leading space is dropped...
        const generated = tok.decode(c.generated_tokens, { skipSpecial: true });
        assert.equal(Buffer.from(generated, 'utf8').toString('hex'), c.generated_text_utf8_hex);
        // ...unless that first token is BOS, which renders as nothing and keeps the next space.
        assert.equal(tok.decode([...c.prompt_tokens, ...c.generated_tokens], { skipSpecial: true }), c.full_text);
        const stream = tok.createStreamDecoder({ skipSpecial: true });
        assert.equal(c.generated_tokens.map((id) => stream.push(id)).join('') + stream.flush(), generated);
      });
    }
  }
});

interface ArchCase {
  input_tokens: number[];
  input_pieces: string[];
  generated_tokens: number[];
  generated_pieces: string[];
}

describe('token pieces of the architecture models (truncated real vocabularies)', () => {
  for (const indexFile of ['index.json', 'index-hf.json']) {
    const index = readJson<{ models: { dir: string; model_file: string; json: string }[] }>(`reference/archs/${indexFile}`);
    for (const m of index.models.filter((x) => existsSync(join(SHARED, x.model_file)))) {
      test(m.dir.split('/').pop()!, async () => {
        const tok = await tokenizerOf(m.model_file);
        const c = readJson<ArchCase>(join(m.dir, m.json));
        assert.deepEqual(c.input_tokens.map((id) => shownPiece(tok, id)), c.input_pieces.map(shownReference));
        assert.deepEqual(c.generated_tokens.map((id) => shownPiece(tok, id)), c.generated_pieces.map(shownReference));
      });
    }
  }
});

describe('TinyStories-656K: "é" has no token and no byte tokens', () => {
  const UNICODE = 'reference/models/TinyStories-656K-Q8_0/digits_punct_unicode.json';
  const ASCII = 'reference/models/TinyStories-656K-Q8_0/digits_punct_ascii.json';

  test('llama.cpp refuses the prompt; we give UNK for the one character and tokenize the rest as llama.cpp does', async () => {
    const tok = await tokenizerOf('models/TinyStories-656K-Q8_0.gguf');
    const unicode = readJson<ModelCase>(UNICODE);
    const ascii = readJson<ModelCase>(ASCII);
    assert.match(unicode.error!, /threw/);
    const ids = tok.encode(unicode.prompt);
    // "Tom had 3 apples. He gave 2 to " is common to both prompts: llama.cpp's tokens for it.
    const common = ascii.tokens_add_special.slice(0, 13);
    assert.deepEqual(ids.slice(0, 13), common);
    assert.equal(ids.filter((id) => id === tok.unk).length, 1, 'one UNK, for é');
    assert.equal(tok.decode(ids, { skipSpecial: true }), ' Tom had 3 apples. He gave 2 to Su!');
  });

});

describe('special tokens from metadata', () => {
  test('Phi-3: BOS/EOS from metadata, <|end|> is EOT and ends generation', async () => {
    const tok = await tokenizerOf('models/vocab/ggml-vocab-phi-3.gguf');
    assert.equal(tok.bos, 1);
    assert.equal(tok.eos, 32000);
    assert.equal(tok.eot, 32007, '<|end|>');
    assert.equal(tok.unk, 0);
    assert.equal(tok.addBos, true);
    assert.equal(tok.addEos, false);
    assert.ok(tok.isEndOfGeneration(32000) && tok.isEndOfGeneration(32007));
    assert.ok(!tok.isEndOfGeneration(1) && !tok.isEndOfGeneration(32010));
    assert.equal(tok.tokenType(32010), 'control');
    assert.equal(tok.tokenType(2), 'user-defined', '</s> is user-defined in this file');
    assert.equal(tok.tokenType(3), 'byte');
    assert.equal(tok.tokenType(300), 'normal');
  });

  test('GPT-2: <|endoftext|> is BOS, EOS and the only end of generation; no BOS is added', async () => {
    const tok = await tokenizerOf('models/vocab/ggml-vocab-gpt-2.gguf');
    assert.equal(tok.bos, 50256);
    assert.equal(tok.eos, 50256);
    assert.equal(tok.addBos, false);
    assert.deepEqual(tok.endOfGenerationIds, [50256]);
    assert.deepEqual(tok.encode('Hello world'), [15496, 995], 'the .out ids, nothing added');
  });

  test('DeepSeek-Coder: FIM tokens typed user-defined are control, as llama.cpp overrides them', async () => {
    const tok = await tokenizerOf('models/vocab/ggml-vocab-deepseek-coder.gguf');
    assert.deepEqual([tok.bos, tok.eos, tok.eot], [32013, 32014, 32014]);
    assert.deepEqual(tok.endOfGenerationIds, [32014]);
    // <｜fim▁hole｜> (32015) is user-defined in the file; <|User|> (32019) stays user-defined.
    assert.equal(tok.tokenType(32015), 'control');
    assert.equal(tok.tokenType(32019), 'user-defined');
    assert.ok(!tok.encode('a<｜fim▁hole｜>b', { addSpecial: false }).includes(32015), 'control: only with parseSpecial');
    assert.ok(tok.encode('a<｜fim▁hole｜>b', { addSpecial: false, parseSpecial: true }).includes(32015));
    assert.ok(tok.encode('a<|User|>b', { addSpecial: false }).includes(32019), 'user-defined: always');
  });

  test('BERT: add_special wraps the text in CLS (101) and SEP (102)', async () => {
    const tok = await tokenizerOf('models/vocab/ggml-vocab-bert-bge.gguf');
    assert.deepEqual(tok.encode('Hello world'), [101, 7592, 2088, 102]);
    assert.deepEqual(tok.encode('Hello world', { addSpecial: false }), [7592, 2088]);
  });
});

describe('special-token text in the input', () => {
  test('is plain text by default and becomes the token with parseSpecial (llama-spm)', async () => {
    const tok = await tokenizerOf('models/vocab/ggml-vocab-llama-spm.gguf');
    // " Hello" is 15043 in llama-spm's .out vectors; the space prefix follows a special token.
    assert.deepEqual(tok.encode('<s>Hello</s>', { addSpecial: false, parseSpecial: true }), [1, 15043, 2]);
    const plain = tok.encode('<s>Hello</s>', { addSpecial: false });
    assert.ok(!plain.includes(1) && !plain.includes(2));
    assert.equal(tok.decode(plain), '<s>Hello</s>');
  });

  test('user-defined tokens are split out even without parseSpecial (MPT whitespace tokens)', async () => {
    const tok = await tokenizerOf('models/vocab/ggml-vocab-mpt.gguf');
    // 50276 is the user-defined token "  " (two spaces); see the mpt .out for "   Hello".
    assert.ok(tok.encode('a  b', { addSpecial: false }).includes(50276));
    assert.equal(tok.tokenType(50276), 'user-defined');
  });

  test("Phi-3's special tokens swallow the whitespace after them", async () => {
    const tok = await tokenizerOf('models/vocab/ggml-vocab-phi-3.gguf');
    const tight = tok.encode('<|user|>Hi<|end|>', { addSpecial: false, parseSpecial: true });
    const spaced = tok.encode('<|user|>   Hi<|end|>\n', { addSpecial: false, parseSpecial: true });
    assert.equal(tight[0], 32010);
    assert.equal(tight.at(-1), 32007);
    assert.deepEqual(spaced, tight);
  });

  test('decode renders control tokens unless skipSpecial', async () => {
    const tok = await tokenizerOf('models/vocab/ggml-vocab-phi-3.gguf');
    const ids = tok.encode('<|user|>Hi<|end|>', { parseSpecial: true });
    assert.equal(tok.decode(ids), '<s><|user|> Hi<|end|>');
    assert.equal(tok.decode(ids, { skipSpecial: true }), ' Hi');
  });
});

describe('bad input', () => {
  test('an id outside the vocabulary is a TOKENIZER_INPUT error', async () => {
    const tok = await tokenizerOf('models/stories260K.gguf');
    for (const bad of [-1, 512, 1.5, Number.NaN]) {
      assert.throws(() => tok.decode([1, bad]), (e: unknown) => isWasmChordError(e, 'TOKENIZER_INPUT'));
      assert.throws(() => tok.createStreamDecoder().push(bad), (e: unknown) => isWasmChordError(e, 'TOKENIZER_INPUT'));
    }
  });

  test('lone surrogates read as U+FFFD, like TextEncoder', async () => {
    const tok = await tokenizerOf('models/vocab/ggml-vocab-gpt-2.gguf');
    assert.deepEqual(tok.encode('a\uD800b'), tok.encode('a\uFFFDb'));
  });
});
