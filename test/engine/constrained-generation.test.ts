// Grammar-constrained generation on real model files: stories260K and TinyStories-656K
// (SentencePiece with byte fallback), llama-2-tiny-random (the Llama-2 32k SentencePiece
// vocabulary), and random-weight architecture models with SentencePiece (phi3, gemma) and
// byte-level BPE vocabularies (qwen2, qwen3, starcoder2, llama3, gpt2). Random weights want to emit garbage; under a
// JSON Schema every completed output must parse and validate (Ajv), under a GBNF grammar match
// both our matcher and an equivalent RegExp, over 20 seeds at temperature 1 with no top-k.
// A run cut short (token budget, a full context) must still be a prefix of a valid sentence.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Ajv } from 'ajv';
import { WasmChord, isWasmChordError, type Model } from '../../src/index.js';
import { GrammarMatcher } from '../../src/engine/grammar/matcher.js';
import { jsonSchemaToGrammar } from '../../src/engine/grammar/json-schema.js';
import { parseGrammar } from '../../src/engine/grammar/parser.js';
import { SHARED } from '../helpers/shared.js';

const SEEDS = 20;
const RANDOM = { temperature: 1, topK: 0, topP: 1, minP: 0 };
const PROMPT = 'Once upon a time';

// At most 41 UTF-8 bytes: every run completes, even one byte per token in a 64-token context.
const GREETING = String.raw`
root ::= greeting " " name ( "," " "? number ){0,3} "."
greeting ::= "hi" | "hello" | "h\u00e9llo" | "こんにちは"
name ::= [A-Z] [a-z]{1,5}
number ::= "-"? [0-9]{1,3}
`;
const GREETING_RE = /^(hi|hello|héllo|こんにちは) [A-Z][a-z]{1,5}(, ?-?[0-9]{1,3}){0,3}\.$/u;

const SCHEMA = {
  type: 'object',
  properties: {
    name: { type: 'string', maxLength: 6 },
    kind: { enum: ['cat', 'dog', null, 3] },
    ok: { type: 'boolean' },
    n: { type: 'integer' },
    tags: { type: 'array', items: { type: 'string', maxLength: 3 }, maxItems: 2 },
    when: { type: 'string', format: 'date' },
  },
  required: ['name', 'kind'],
};
// For gpt2-tiny's 64-token context (and no RoPE, so no context shift).
const SMALL_SCHEMA = { type: 'object', properties: { ok: { type: 'boolean' }, k: { enum: ['a', 'b'] } }, required: ['ok', 'k'] };
const SCALAR_SCHEMA = { anyOf: [{ type: 'string', maxLength: 8 }, { type: 'integer' }, { type: 'null' }, { enum: ['cat', 'dog'] }] };

interface Case {
  file: string;
  schema: object;
  /** At least this many of the SEEDS JSON runs must complete within the budget. */
  minComplete: number;
}

const CASES: Case[] = [
  { file: 'stories260K.gguf', schema: SCHEMA, minComplete: SEEDS },
  // Its vocabulary has no "{" or "[" (and no byte tokens): JSON scalars only (see below).
  { file: 'TinyStories-656K-Q8_0.gguf', schema: SCALAR_SCHEMA, minComplete: SEEDS },
  { file: 'llama-2-tiny-random.gguf', schema: SCHEMA, minComplete: SEEDS },
  { file: 'archs/phi3-tiny-Q8_0.gguf', schema: SCHEMA, minComplete: SEEDS },
  { file: 'archs/gemma-tiny-Q8_0.gguf', schema: SCHEMA, minComplete: SEEDS },
  { file: 'archs/qwen2-tiny-Q8_0.gguf', schema: SCHEMA, minComplete: SEEDS },
  { file: 'archs/qwen3-tiny-Q8_0.gguf', schema: SCHEMA, minComplete: SEEDS },
  { file: 'archs/starcoder2-tiny-Q8_0.gguf', schema: SCHEMA, minComplete: SEEDS },
  { file: 'archs/llama3-hfrope-tiny-Q8_0.gguf', schema: SCHEMA, minComplete: SEEDS },
  { file: 'archs/gpt2-tiny-Q8_0.gguf', schema: SMALL_SCHEMA, minComplete: SEEDS / 2 },
  { file: 'archs/gemma2-tiny-Q8_0.gguf', schema: SCHEMA, minComplete: SEEDS },
  { file: 'archs/gemma3-tiny-Q8_0.gguf', schema: SCHEMA, minComplete: SEEDS },
  { file: 'archs/openelm-tiny-Q8_0.gguf', schema: SCHEMA, minComplete: SEEDS },
  { file: 'archs/qwen3moe-tiny-Q8_0.gguf', schema: SCHEMA, minComplete: SEEDS },
  { file: 'archs/llama-linrope-tiny-Q8_0.gguf', schema: SCHEMA, minComplete: SEEDS },
  { file: 'archs/llama3-ropefreqs-256-Q4_K_M.gguf', schema: SCHEMA, minComplete: SEEDS },
];

const ajv = new Ajv({ strict: false });
ajv.addFormat('date', /^\d{4}-\d{2}-\d{2}$/);

let runtime: WasmChord;
before(async () => {
  runtime = await WasmChord.init();
});
after(() => runtime.dispose());

/** True when `text` is a prefix of some sentence of `grammar`. */
function isPrefix(grammar: string, text: string): boolean {
  return new GrammarMatcher(parseGrammar(grammar)).acceptString(text);
}

for (const c of CASES) {
  describe(c.file, () => {
    let model: Model;
    before(async () => {
      model = await runtime.loadModel(join(SHARED, 'models', c.file));
    });
    after(() => model.dispose());

    test(`JSON Schema: ${SEEDS} seeds, every completed output parses and validates`, async (t) => {
      const validate = ajv.compile(c.schema);
      const grammar = jsonSchemaToGrammar(c.schema);
      let complete = 0;
      for (let seed = 0; seed < SEEDS; seed++) {
        const r = await model.generate(PROMPT, { ...RANDOM, seed, jsonSchema: c.schema, maxTokens: 400, contextShift: true });
        if (r.stopReason === 'eos') {
          complete++;
          const value: unknown = JSON.parse(r.text);
          assert.ok(validate(value), `seed ${seed}: ${r.text} ${JSON.stringify(validate.errors)}`);
          assert.ok(new GrammarMatcher(parseGrammar(grammar)).acceptString(r.text));
        } else {
          assert.ok(['length', 'context'].includes(r.stopReason), r.stopReason);
          assert.ok(isPrefix(grammar, r.text), `seed ${seed}: cut output ${JSON.stringify(r.text)} left the grammar`);
        }
      }
      t.diagnostic(`${complete} of ${SEEDS} completed`);
      assert.ok(complete >= c.minComplete, `${complete} of ${SEEDS} completed`);
    });

    test(`GBNF: ${SEEDS} seeds, every output matches the grammar and an equivalent RegExp`, async () => {
      const g = parseGrammar(GREETING);
      for (let seed = 0; seed < SEEDS; seed++) {
        const r = await model.generate(PROMPT, { ...RANDOM, seed, grammar: GREETING, maxTokens: 64 });
        assert.equal(r.stopReason, 'eos', `seed ${seed}: ${JSON.stringify(r.text)}`);
        assert.match(r.text, GREETING_RE, `seed ${seed}`);
        const m = new GrammarMatcher(g);
        assert.ok(m.acceptString(r.text) && m.isComplete, `seed ${seed}: ${JSON.stringify(r.text)}`);
      }
    });
  });
}

test('a vocabulary that cannot write what the grammar needs gives GRAMMAR_INVALID, not a bad output', async () => {
  const model = await runtime.loadModel(join(SHARED, 'models/TinyStories-656K-Q8_0.gguf'));
  try {
    for (const options of [{ grammar: 'root ::= "{}"' }, { jsonSchema: SCHEMA }]) {
      await assert.rejects(model.generate(PROMPT, { ...RANDOM, seed: 0, maxTokens: 50, ...options }), (e) =>
        isWasmChordError(e, 'GRAMMAR_INVALID') && /no token of this vocabulary can continue/.test(e.message));
    }
  } finally {
    await model.dispose();
  }
});

describe('options (stories260K)', () => {
  let model: Model;
  before(async () => {
    model = await runtime.loadModel(join(SHARED, 'models/stories260K.gguf'));
  });
  after(() => model.dispose());

  test('the same seed gives the same constrained output; greedy works too', async () => {
    const a = await model.generate(PROMPT, { ...RANDOM, seed: 5, jsonSchema: SCHEMA, maxTokens: 300 });
    const b = await model.generate(PROMPT, { ...RANDOM, seed: 5, jsonSchema: SCHEMA, maxTokens: 300 });
    assert.deepEqual(a.tokens, b.tokens);
    const greedy = await model.generate(PROMPT, { temperature: 0, grammar: GREETING, maxTokens: 64 });
    assert.match(greedy.text, GREETING_RE);
  });

  test('characters the vocabulary has only as byte tokens: UTF-8 assembled across tokens', async () => {
    for (let seed = 0; seed < 5; seed++) {
      const r = await model.generate(PROMPT, { ...RANDOM, seed, grammar: 'root ::= "日本" [a-zé]{1,3} "ü"', maxTokens: 40 });
      assert.match(r.text, /^日本[a-zé]{1,3}ü$/u);
      assert.ok(r.tokens.length >= 8, `${r.tokens.length} tokens`); // 日 and 本 are 3 byte tokens each
    }
  });

  test('generation stops as at EOS when the grammar is complete and nothing can follow', async () => {
    const r = await model.generate(PROMPT, { ...RANDOM, seed: 1, grammar: 'root ::= "yes" | "no"', maxTokens: 20 });
    assert.equal(r.stopReason, 'eos');
    assert.ok(['yes', 'no'].includes(r.text), r.text);
    // Even when the last token of the sentence is also the last of the budget.
    const exact = await model.generate(PROMPT, { ...RANDOM, seed: 1, grammar: 'root ::= "yes" | "no"', maxTokens: r.tokens.length });
    assert.equal(exact.stopReason, 'eos');
    assert.equal(exact.text, r.text);
  });

  test('with ignoreEos, a complete sentence goes on while the grammar allows more', async () => {
    for (let seed = 0; seed < 5; seed++) {
      const r = await model.generate(PROMPT, { ...RANDOM, seed, grammar: 'root ::= "a"{1,6}', ignoreEos: true, maxTokens: 20 });
      assert.equal(r.text, 'aaaaaa');
      assert.equal(r.stopReason, 'eos');
    }
  });

  test('stop strings and streaming still apply', async () => {
    const r = await model.generate(PROMPT, { ...RANDOM, seed: 2, grammar: 'root ::= "ab" "c"{5}', stop: ['cc'], maxTokens: 20 });
    assert.equal(r.stopReason, 'stop');
    assert.equal(r.text, 'ab'); // "abccccc" ends before its first "cc"
    const pieces: string[] = [];
    for await (const piece of model.inferStream(PROMPT, { ...RANDOM, seed: 3, grammar: GREETING, maxTokens: 64 })) pieces.push(piece);
    assert.match(pieces.join(''), GREETING_RE);
  });

  test('bad options give typed errors before any token is generated', async () => {
    const expect = async (options: object, code: string, message?: RegExp) =>
      assert.rejects(model.generate(PROMPT, { maxTokens: 5, ...options }), (e) => isWasmChordError(e) && e.code === code && (!message || message.test(e.message)));
    await expect({ grammar: 'root ::= undefined-rule' }, 'GRAMMAR_INVALID', /undefined rule/);
    await expect({ grammar: 'root ::= root "x" | "x"' }, 'GRAMMAR_INVALID', /left recursion/);
    await expect({ grammar: 42 }, 'INVALID_ARGUMENT', /grammar must be a string/);
    await expect({ jsonSchema: { type: 'string', pattern: 'x' } }, 'SCHEMA_UNSUPPORTED', /pattern/);
    await expect({ jsonSchema: 'object' }, 'INVALID_ARGUMENT', /jsonSchema must be a JSON Schema object/);
    await expect({ grammar: 'root ::= "x"', jsonSchema: {} }, 'INVALID_ARGUMENT', /cannot be used together/);
    await expect({ grammar: 'root ::= "x"', sampler: () => 0 }, 'INVALID_ARGUMENT', /custom sampler/);
    await expect({ grammer: 'root ::= "x"' }, 'INVALID_ARGUMENT', /unknown infer option "grammer"/);
  });
});
