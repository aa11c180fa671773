// Hostile model files: every file here is crafted on the spot (a tiny llama written by our own
// writer, then changed, or header bytes assembled field by field). Each must end, within a few
// seconds and a few hundred MB, in a WasmChordError whose code is stable and whose message names
// the problem, or load and run sanely. Nothing is generated only to fail half-way.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { WasmChord, type Model } from '../../src/index.js';
import { GGUFMetadata, GGUFValueType, kv, MemorySource, readGGUF, type GGUFKeyValue } from '../../src/gguf/index.js';
import { GGUF_LIMITS } from '../../src/gguf/reader.js';
import { defineModel } from '../../src/model/model.js';
import { validateModel } from '../../src/model/validate-model.js';
import { Tokenizer } from '../../src/tokenizer/index.js';
import { GGUFBytes } from '../helpers/gguf-bytes.js';
import { buildTinyModel, tinyVocab, type TinyModelOptions } from '../helpers/tiny-model.js';
import { bounded, refuses } from './bounds.js';
import { claimingSource } from '../helpers/claiming-source.js';

let runtime: WasmChord;
before(async () => {
  // The reference backend: these tests are about the model files, not the kernels (one case
  // below runs the CPU backend too).
  runtime = await WasmChord.init({ backend: 'reference' });
});
after(() => runtime.dispose());

const load = async (options: TinyModelOptions = {}): Promise<Model> => runtime.loadModel(await buildTinyModel(options));
const meta = (entries: Record<string, GGUFKeyValue | undefined>): TinyModelOptions => ({ metadata: entries });
const greedy = { temperature: 0, maxTokens: 4, ignoreEos: true } as const;

describe('counts read from a file are checked against what the file holds', () => {
  test('block_count 4e9 in a 40 KB file', async () => {
    await refuses('block_count', () => load(meta({ 'llama.block_count': kv.u32(4e9) })), 'MODEL_INVALID', /block_count is 4000000000, but the file has only \d+ tensors/);
  });

  test('OpenELM with block_count 4e9 (per-layer arrays sized by it)', async () => {
    await refuses(
      'openelm block_count',
      () =>
        load(
          meta({
            'general.architecture': kv.string('openelm'),
            'openelm.block_count': kv.u32(4e9),
            'openelm.embedding_length': kv.u32(32),
            'openelm.attention.head_count': kv.u32(2),
            'openelm.attention.head_count_kv': kv.u32(2),
            'openelm.feed_forward_length': kv.u32(64),
            'openelm.attention.key_length': kv.u32(16),
            'openelm.context_length': kv.u32(256),
            'openelm.attention.layer_norm_rms_epsilon': kv.f32(1e-5),
          }),
        ),
      'MODEL_INVALID',
      /openelm\.block_count is 4000000000/,
    );
  });

  test('head, FFN, expert and RoPE counts of 4e9 are refused by the tensor shapes', async () => {
    for (const [key, pattern] of [
      ['llama.attention.head_count', /head size/],
      ['llama.feed_forward_length', /ffn_gate.*4000000000/],
      ['llama.rope.dimension_count', /RoPE dimensions 4000000000/],
    ] as const) {
      await refuses(key, () => load(meta({ [key]: kv.u32(4e9) })), 'MODEL_INVALID', pattern);
    }
    await refuses('experts', () => load(meta({ 'llama.expert_count': kv.u32(4e9), 'llama.expert_used_count': kv.u32(2) })), 'MODEL_INVALID', /ffn_gate_inp/);
  });

  test('a context_length of 4e9 is capped, not allocated', async () => {
    const { value: model } = await bounded('context 4e9', () => load(meta({ 'llama.context_length': kv.u32(4e9) })));
    assert.equal(model!.info.contextSize, 4096);
    assert.equal(model!.info.trainedContextSize, 4e9);
  });

  test('an array of 3e9 items in a source that claims 4 GB: refused before any allocation', async () => {
    const head = new GGUFBytes().header(3, 0, 1).str('k').u32(GGUFValueType.ARRAY).u32(GGUFValueType.UINT8).u64(3e9).bytes();
    await refuses('3e9 u8', () => readGGUF(claimingSource(head, 4e9)), 'GGUF_LIMIT_EXCEEDED', /3000000000 is more than/);
    const strings = new GGUFBytes().header(3, 0, 1).str('k').u32(GGUFValueType.ARRAY).u32(GGUFValueType.STRING).u64(3e9).bytes();
    await refuses('3e9 strings', () => readGGUF(claimingSource(strings, 64e9)), 'GGUF_LIMIT_EXCEEDED');
    await refuses('1e9 tensors', () => readGGUF(claimingSource(new GGUFBytes().header(3, 1e9, 0).bytes(), 64e9)), 'GGUF_LIMIT_EXCEEDED', /tensor count/);
  });

  test('a header that runs on for gigabytes (of a claimed source) stops at the header limit', async () => {
    // Two arrays, each under the item limit, whose bytes together pass the header limit.
    const items = GGUF_LIMITS.maxArrayLength;
    const head = new GGUFBytes().header(3, 0, 2).str('a').u32(GGUFValueType.ARRAY).u32(GGUFValueType.UINT32).u64(items).bytes();
    await refuses('header size', () => readGGUF(claimingSource(head, 64e9)), 'GGUF_LIMIT_EXCEEDED', /header .* runs past/);
  });

  test('special token ids of 4e9 are ignored, not indexed', async () => {
    const { value: model } = await bounded('bos 4e9', () => load(meta({ 'tokenizer.ggml.bos_token_id': kv.u32(4e9), 'tokenizer.ggml.eos_token_id': kv.u32(4e9) })));
    assert.deepEqual(model!.tokenize('hello').slice(0, 1), [1]); // the SentencePiece default BOS
  });
});

describe('work from a vocabulary is bounded by the input, not by the vocabulary', () => {
  test('200000 special tokens: a 10 KB chat prompt still tokenizes in milliseconds', async () => {
    // Each special token was tried in turn over the whole text: 4.7 s for this prompt.
    const v = tinyVocab();
    const extra = Array.from({ length: 200_000 }, (_, i) => `<|x${i}|>`);
    const tokenizer = Tokenizer.fromGGUF(
      new GGUFMetadata([
        ['tokenizer.ggml.model', kv.string('llama')],
        ['tokenizer.ggml.tokens', kv.stringArray([...v.tokens, ...extra])],
        ['tokenizer.ggml.token_type', kv.i32Array([...v.types, ...extra.map(() => 3)])],
      ]),
    );
    const text = 'hello world <|im_start|> <|x17|> '.repeat(300);
    const { value: ids, ms } = await bounded('encode', () => tokenizer.encode(text, { parseSpecial: true }));
    assert.ok(ms < 1500, `${ms} ms`);
    assert.equal(ids!.filter((id) => id === v.tokens.length + 17).length, 300);
    const { ms: escapeMs } = await bounded('escape', () => tokenizer.escapeSpecialText(text));
    assert.ok(escapeMs < 1500, `${escapeMs} ms`);
  });
});

describe('a model is validated as a whole at load, with MODEL_INVALID naming the field', () => {
  const vocab = tinyVocab();
  const tokens = (list: string[]) =>
    meta({
      'tokenizer.ggml.tokens': kv.stringArray(list),
      'tokenizer.ggml.scores': kv.f32Array(list.map(() => 0)),
      'tokenizer.ggml.token_type': kv.i32Array(list.map((_, i) => vocab.types[i] ?? 1)),
    });

  test('a tokenizer larger or smaller than token_embd', async () => {
    await refuses('larger', () => load(tokens([...vocab.tokens, 'x', 'y'])), 'MODEL_INVALID', /tokenizer has \d+ tokens .* token_embd\.weight has \d+ rows/);
    await refuses('smaller', () => load(tokens(vocab.tokens.slice(0, -5))), 'MODEL_INVALID', /tokenizer.ggml.tokens/);
  });

  test('no layers, no context', async () => {
    await refuses('0 layers', () => load({ layers: 0 }), 'MODEL_INVALID', /block_count is 0/);
    await refuses('context 0', () => load(meta({ 'llama.context_length': kv.u32(0) })), 'MODEL_INVALID', /llama\.context_length is 0/);
  });

  test('epsilons that are negative, zero, NaN or infinite', async () => {
    for (const eps of [-1, 0, NaN, Infinity]) {
      await refuses(`eps ${eps}`, () => load(meta({ 'llama.attention.layer_norm_rms_epsilon': kv.f32(eps) })), 'MODEL_INVALID', /layer_norm_rms_epsilon/);
    }
  });

  test('a RoPE base that is zero, negative or NaN; a zero scaling factor', async () => {
    for (const base of [0, -5, NaN]) {
      await refuses(`base ${base}`, () => load(meta({ 'llama.rope.freq_base': kv.f32(base) })), 'MODEL_INVALID', /llama\.rope\.freq_base/);
    }
    await refuses(
      'scaling 0',
      () => load(meta({ 'llama.rope.scaling.type': kv.string('linear'), 'llama.rope.scaling.factor': kv.f32(0) })),
      'MODEL_INVALID',
      /rope\.scaling\.factor/,
    );
  });

  test('the graph-level safety net refuses non-finite parameters any architecture might pass', async () => {
    const file = await readGGUF(new MemorySource(await buildTinyModel()));
    const def = defineModel(file);
    const tokenizer = Tokenizer.fromGGUF(file.metadata);
    validateModel(def, tokenizer);
    const poisoned = {
      ...def,
      buildGraph: (step: Parameters<typeof def.buildGraph>[0]) => {
        const g = def.buildGraph(step);
        return { ...g, nodes: g.nodes.map((n) => (n.op === 'rope' ? { ...n, params: { ...n.params, freqScale: NaN } } : n)) } as typeof g;
      },
    };
    assert.throws(() => validateModel(poisoned, tokenizer), /RoPE frequency scale is NaN/);
  });
});

describe('NaN weights give a typed error during generation, not token 0 forever', () => {
  const nanIn = (tensor: string) => ({ values: (name: string, v: Float32Array) => (name === tensor ? v.fill(NaN) : v) });

  test('greedy, sampled and custom-sampled generation', async () => {
    const model = await load(nanIn('blk.0.ffn_down.weight'));
    for (const options of [greedy, { ...greedy, temperature: 0.8, seed: 1 }, { ...greedy, sampler: () => 5 }]) {
      await refuses('NaN logits', () => model.generate('hello', options), 'MODEL_INVALID', /logit of NaN .* weights or hyper-parameters are invalid/);
    }
    // The model stays usable for what does not need sane logits.
    assert.ok(model.tokenize('hello').length > 0);
    await model.dispose();
  });

  test('on the CPU backend too', async () => {
    const cpu = await WasmChord.init();
    try {
      const model = await cpu.loadModel(await buildTinyModel(nanIn('output.weight')));
      await refuses('NaN logits (cpu)', () => model.infer('hello', greedy), 'MODEL_INVALID', /NaN/);
    } finally {
      await cpu.dispose();
    }
  });

  test('a sane model generates', async () => {
    const model = await load();
    const r = await model.generate('hello', greedy);
    assert.equal(r.tokens.length, 4);
    await model.dispose();
  });
});

describe('names from the file are looked up as own keys only', () => {
  test('general.architecture = constructor, __proto__, toString, hasOwnProperty', async () => {
    for (const arch of ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf']) {
      await refuses(arch, () => load(meta({ 'general.architecture': kv.string(arch) })), 'MODEL_UNSUPPORTED', new RegExp(`architecture "${arch}" is not supported`));
    }
  });

  test('tokenizer.ggml.pre and tokenizer.ggml.model = constructor, __proto__', async () => {
    for (const name of ['constructor', '__proto__', 'toString']) {
      const pre = { ...meta({ 'tokenizer.ggml.model': kv.string('gpt2'), 'tokenizer.ggml.pre': kv.string(name), 'tokenizer.ggml.merges': kv.stringArray([]) }) };
      await refuses(`pre ${name}`, () => load(pre), 'TOKENIZER_UNSUPPORTED', /pre-tokenizer/);
      await refuses(`model ${name}`, () => load(meta({ 'tokenizer.ggml.model': kv.string(name) })), 'TOKENIZER_UNSUPPORTED', /tokenizer model/);
    }
  });
});
