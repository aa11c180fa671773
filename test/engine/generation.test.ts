// The public generation API on a real model (stories260K): streaming, abort, determinism,
// stop rules, context limits and option checking.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { WasmChord, isWasmChordError, type Model } from '../../src/index.js';
import { readFileSync } from 'node:fs';
import { GGUFBytes } from '../helpers/gguf-bytes.js';
import { serveFolder } from '../helpers/http-server.js';
import { readJson, SHARED } from '../helpers/shared.js';

const MODEL = join(SHARED, 'models/stories260K.gguf');
const REF = readJson<{ generated_tokens: number[]; generated_text: string }>('reference/models/stories260K/once_upon_a_time.json');

let runtime: WasmChord;
let model: Model;
before(async () => {
  runtime = await WasmChord.init();
  model = await runtime.loadModel(MODEL, { kvType: 'f32', contextSize: 256 });
});
after(() => runtime.dispose());

const sampled = { temperature: 0.9, topK: 40, topP: 0.95, minP: 0.05, seed: 1234, maxTokens: 48 };

describe('streaming', () => {
  test('greedy infer reproduces llama.cpp\'s text', async () => {
    const text = await model.infer('Once upon a time', { temperature: 0, maxTokens: 64, ignoreEos: true });
    assert.equal(text, REF.generated_text);
  });

  test('inferStream pieces concatenate to infer\'s text for the same seed', async () => {
    const whole = await model.infer('Once upon a time', sampled);
    const pieces: string[] = [];
    for await (const piece of model.inferStream('Once upon a time', sampled)) pieces.push(piece);
    assert.ok(pieces.length > 10, `${pieces.length} pieces`);
    assert.equal(pieces.join(''), whole);
  });

  test('generate reports tokens, prompt tokens, stop reason and timings', async () => {
    const r = await model.generate('Once upon a time', { temperature: 0, maxTokens: 10, ignoreEos: true });
    assert.deepEqual(r.promptTokens, [1, 403, 407, 261, 378]);
    assert.deepEqual(r.tokens, REF.generated_tokens.slice(0, 10));
    assert.equal(r.stopReason, 'length');
    assert.equal(r.text, model.tokenizer.decode(r.tokens, { stripLeadingSpace: false }));
    assert.ok(r.timings.prefillTokensPerSecond > 0 && r.timings.decodeTokensPerSecond > 0);
  });
});

describe('model sources', () => {
  test('a URL (HTTP ranges on loopback), bytes and a Blob load the same model', async () => {
    const server = await serveFolder(join(SHARED, 'models'));
    const bytes = new Uint8Array(readFileSync(MODEL));
    try {
      for (const source of [`${server.url}/stories260K.gguf`, bytes, new Blob([bytes])]) {
        const m = await runtime.loadModel(source, { kvType: 'f32', contextSize: 128 });
        try {
          assert.equal(await m.infer('Once upon a time', { temperature: 0, maxTokens: 64, ignoreEos: true }), REF.generated_text);
        } finally {
          await m.dispose();
        }
      }
    } finally {
      await server.close();
    }
  });

  test('loading reports progress and can be aborted', async () => {
    const seen: number[] = [];
    const m = await runtime.loadModel(MODEL, { onProgress: (p) => seen.push(p.loadedBytes / p.totalBytes) });
    await m.dispose();
    assert.equal(seen.at(-1), 1);
    await assert.rejects(runtime.loadModel(MODEL, { signal: AbortSignal.abort() }), (e) => isWasmChordError(e, 'ABORTED'));
  });

  test('a file that is not a model, or of an unsupported architecture, is refused clearly', async () => {
    // A vocabulary-only file: refused as unsupported or, where its architecture is known, for
    // its missing weights.
    await assert.rejects(runtime.loadModel(join(SHARED, 'models/vocab/ggml-vocab-gpt-2.gguf')), (e) =>
      isWasmChordError(e, 'MODEL_UNSUPPORTED') || isWasmChordError(e, 'MODEL_INVALID'));
    const STRING = 8;
    const unknownArch = new GGUFBytes().header(3, 0, 1).str('general.architecture').u32(STRING).str('no-such-arch').bytes();
    await assert.rejects(runtime.loadModel(unknownArch), (e) => isWasmChordError(e, 'MODEL_UNSUPPORTED'));
    await assert.rejects(runtime.loadModel(new Uint8Array(100)), (e) => isWasmChordError(e, 'GGUF_BAD_MAGIC'));
  });
});

describe('determinism', () => {
  test('the same seed and options give the same tokens, run after run', async () => {
    const runs = [];
    for (let i = 0; i < 3; i++) runs.push((await model.generate('The quick brown fox', sampled)).tokens);
    assert.deepEqual(runs[1], runs[0]);
    assert.deepEqual(runs[2], runs[0]);
    const other = (await model.generate('The quick brown fox', { ...sampled, seed: 99 })).tokens;
    assert.notDeepEqual(other, runs[0]);
  });

  test('a fresh model instance gives the same tokens as a reused one', async () => {
    const reused = (await model.generate('The quick brown fox', sampled)).tokens;
    const fresh = await runtime.loadModel(MODEL, { kvType: 'f32', contextSize: 256 });
    try {
      assert.deepEqual((await fresh.generate('The quick brown fox', sampled)).tokens, reused);
    } finally {
      await fresh.dispose();
    }
  });
});

describe('abort', () => {
  test('an abort mid-stream stops within one token and the model stays usable', async () => {
    const controller = new AbortController();
    const seen: string[] = [];
    await assert.rejects(
      (async () => {
        for await (const piece of model.inferStream('Once upon a time', { temperature: 0, maxTokens: 64, ignoreEos: true, signal: controller.signal })) {
          seen.push(piece);
          if (seen.length === 5) controller.abort();
        }
      })(),
      (e) => isWasmChordError(e, 'ABORTED'),
    );
    assert.equal(seen.length, 5, 'no piece after the abort');
    const text = await model.infer('Once upon a time', { temperature: 0, maxTokens: 64, ignoreEos: true });
    assert.equal(text, REF.generated_text);
  });

  test('an already-aborted signal refuses to start', async () => {
    await assert.rejects(model.infer('Once upon a time', { signal: AbortSignal.abort() }), (e) => isWasmChordError(e, 'ABORTED'));
  });

  test('breaking out of a stream releases the model', async () => {
    for await (const piece of model.inferStream('Once upon a time', { temperature: 0 })) {
      assert.ok(piece);
      break;
    }
    assert.equal(await model.infer('Once upon a time', { temperature: 0, maxTokens: 3, ignoreEos: true }), ', there was');
  });
});

describe('stop rules', () => {
  test('a stop string ends generation before it and is not emitted', async () => {
    const r = await model.generate('Once upon a time', { temperature: 0, maxTokens: 64, stop: [' Lily'] });
    assert.equal(r.text, ', there was a little girl named');
    assert.equal(r.stopReason, 'stop');
    const streamed: string[] = [];
    for await (const p of model.inferStream('Once upon a time', { temperature: 0, maxTokens: 64, stop: [' Lily'] })) streamed.push(p);
    assert.equal(streamed.join(''), r.text);
  });

  test('maxTokens bounds the generation; 0 generates nothing', async () => {
    assert.equal((await model.generate('Once upon a time', { temperature: 0, maxTokens: 7, ignoreEos: true })).tokens.length, 7);
    assert.equal(await model.infer('Once upon a time', { maxTokens: 0 }), '');
  });

  test('the end-of-sequence token ends generation unless ignored', async () => {
    // A banned-everything-but-EOS bias makes the model choose EOS (id 2) at once.
    const bias = Object.fromEntries(Array.from({ length: 512 }, (_, i) => [i, i === 2 ? 0 : -Infinity]));
    const r = await model.generate('Once upon a time', { temperature: 0, logitBias: bias });
    assert.equal(r.stopReason, 'eos');
    assert.deepEqual(r.tokens, []);
  });
});

describe('context', () => {
  test('a prompt extending the cached one reuses its prefix', async () => {
    await model.resetContext();
    await model.generate('Once upon a time', { temperature: 0, maxTokens: 4, ignoreEos: true });
    const before = model.contextTokens.length;
    assert.ok(before >= 5);
    const r = await model.generate('Once upon a time, there was', { temperature: 0, maxTokens: 4, ignoreEos: true });
    assert.deepEqual(r.tokens, REF.generated_tokens.slice(3, 7));
  });

  test('a prompt longer than the context is a CONTEXT_FULL error, and the model recovers', async () => {
    const small = await runtime.loadModel(MODEL, { contextSize: 8 });
    try {
      await assert.rejects(small.infer('Once upon a time there was a little girl named Lily'), (e) => isWasmChordError(e, 'CONTEXT_FULL'));
      assert.equal(await small.infer('Once upon a time', { temperature: 0, maxTokens: 3, ignoreEos: true }), ', there was');
    } finally {
      await small.dispose();
    }
  });

  test('a generation that fills the context ends with stopReason "context" and keeps its text', async () => {
    const small = await runtime.loadModel(MODEL, { contextSize: 8, kvType: 'f32' });
    try {
      // 5 prompt tokens + 3 evaluated generated ones fill 8 positions; the 4th is sampled from
      // the last position's logits and returned, but cannot be evaluated.
      const r = await small.generate('Once upon a time', { temperature: 0, maxTokens: 10, ignoreEos: true });
      assert.equal(r.stopReason, 'context');
      assert.deepEqual(r.tokens, REF.generated_tokens.slice(0, 4));
      assert.equal(r.text, small.tokenizer.decode(r.tokens, { stripLeadingSpace: false }));
      assert.equal(small.contextTokens.length, 8);
      await assert.rejects(small.evaluate([r.tokens.at(-1)!]), (e) => isWasmChordError(e, 'CONTEXT_FULL'));
    } finally {
      await small.dispose();
    }
  });

  test('evaluate gives logits for every token with allLogits', async () => {
    await model.resetContext();
    const all = await model.evaluate([1, 403, 407], { allLogits: true });
    assert.equal(all.length, 3 * 512);
    await model.resetContext();
    const last = await model.evaluate([1, 403, 407]);
    assert.deepEqual(all.subarray(2 * 512), last);
  });
});

describe('options are checked', () => {
  const bad: [string, object][] = [
    ['unknown option', { temprature: 0.5 }],
    ['negative maxTokens', { maxTokens: -1 }],
    ['temperature', { temperature: -0.1 }],
    ['topP', { topP: 1.5 }],
    ['seed', { seed: 1.5 }],
  ];
  for (const [what, options] of bad) {
    test(what, async () => {
      await assert.rejects(model.infer('Hi', options as never), (e) => isWasmChordError(e, 'INVALID_ARGUMENT'));
    });
  }
  test('loadModel options', async () => {
    await assert.rejects(runtime.loadModel(MODEL, { kvType: 'q8' as never }), (e) => isWasmChordError(e, 'INVALID_ARGUMENT'));
    await assert.rejects(runtime.loadModel(MODEL, { contextSize: 0 }), (e) => isWasmChordError(e, 'INVALID_ARGUMENT'));
    await assert.rejects(runtime.loadModel(MODEL, { ctx: 5 } as never), (e) => isWasmChordError(e, 'INVALID_ARGUMENT'));
  });
  test('bad token ids for evaluate', async () => {
    await assert.rejects(model.evaluate([1, 512]), (e) => isWasmChordError(e, 'INVALID_ARGUMENT'));
    await assert.rejects(model.evaluate([]), (e) => isWasmChordError(e, 'INVALID_ARGUMENT'));
  });
  test('a disposed model refuses calls', async () => {
    const m = await runtime.loadModel(MODEL);
    await m.dispose();
    await assert.rejects(m.infer('Hi'), (e) => isWasmChordError(e, 'DISPOSED'));
  });
});
