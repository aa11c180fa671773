/**
 * The engine in a worker (WasmChord.init({ worker: true })), in Node: the same API as the
 * in-process engine and the same results, streams pulled step by step, aborts as messages,
 * errors with their codes. The browser runs the same client and server (test/browser).
 *
 * Node's workers cannot run TypeScript sources, so this runs the compiled package (dist/, built
 * by the test command).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type * as Api from '../../src/index.js';
import { SHARED } from '../helpers/shared.js';

const DIST = new URL('../../dist/index.js', import.meta.url).href;
const MODEL = join(SHARED, 'models/stories260K.gguf');
const PROMPT = 'Once upon a time';

describe('engine in a worker (Node)', () => {
  let lib: typeof Api;
  let local: Api.WasmChord;
  let remote: Api.WasmChord;
  let localModel: Api.Model;
  let model: Api.Model;

  before(async () => {
    lib = (await import(DIST)) as typeof Api;
    local = await lib.WasmChord.init({ worker: false, backend: 'cpu' });
    remote = await lib.WasmChord.init({ worker: true, backend: 'cpu' });
    localModel = await local.loadModel(MODEL);
    model = await remote.loadModel(MODEL);
  });
  after(async () => {
    await remote?.dispose();
    await local?.dispose();
  });

  it('reports where it runs', () => {
    assert.equal(model.info.engine, 'worker');
    assert.equal(localModel.info.engine, 'in-process');
    assert.deepEqual({ ...model.info, engine: 'in-process' }, localModel.info);
  });

  it('generates what the in-process engine generates, and streams the same steps', async () => {
    const options = { temperature: 0.8, seed: 7, maxTokens: 40 };
    const expected = await localModel.generate(PROMPT, options);
    const got = await model.generate(PROMPT, options);
    assert.deepEqual(got.tokens, expected.tokens);
    assert.equal(got.text, expected.text);
    assert.equal(got.stopReason, expected.stopReason);
    const steps: Api.GenerationStep[] = [];
    for await (const step of model.generateStream(PROMPT, options)) steps.push(step);
    assert.deepEqual(steps.map((s) => s.token).filter((t) => t !== undefined), expected.tokens);
    let text = '';
    for await (const piece of model.inferStream(PROMPT, options)) text += piece;
    assert.equal(text, expected.text);
    assert.deepEqual(model.contextTokens, localModel.contextTokens);
  });

  it('serves the OpenAI-shaped API: JSON-schema output, tool calls and logprobs cross the worker as they run in-process', async () => {
    const body = {
      messages: [{ role: 'user', content: PROMPT }],
      temperature: 1,
      seed: 3,
      max_tokens: 60,
      logprobs: true,
      top_logprobs: 2,
      response_format: { type: 'json_schema', json_schema: { name: 'n', schema: { type: 'object', properties: { n: { type: 'integer' } }, required: ['n'] } } },
    };
    const strip = (c: Api.ChatCompletion) => ({ ...c, id: '', created: 0 });
    const got = (await lib.openaiApi(model).chat.completions.create(body)) as Api.ChatCompletion;
    const expected = (await lib.openaiApi(localModel).chat.completions.create(body)) as Api.ChatCompletion;
    assert.deepEqual(strip(got), strip(expected));
    assert.equal(typeof (JSON.parse(got.choices[0]!.message.content!) as { n: unknown }).n, 'number');
    assert.equal(got.choices[0]!.logprobs!.content!.length, got.usage.completion_tokens);
  });

  it('tokenizes and applies the chat template on the calling side, as the engine does', async () => {
    const messages = [{ role: 'user', content: 'Hello there' }];
    assert.deepEqual(model.tokenize('Hello world'), localModel.tokenize('Hello world'));
    assert.deepEqual(model.promptTokens(messages), localModel.promptTokens(messages));
    const reply = await model.generate(messages, { temperature: 0, maxTokens: 8 });
    assert.deepEqual(reply.promptTokens, localModel.promptTokens(messages));
  });

  it('evaluates to the same logits, and moves state between engines', async () => {
    await model.resetContext();
    await localModel.resetContext();
    const tokens = model.tokenize(PROMPT);
    assert.deepEqual(await model.evaluate(tokens), await localModel.evaluate(tokens));
    const state = await model.saveState();
    const session = await localModel.createSession();
    await session.loadState(state);
    assert.deepEqual(session.contextTokens, model.contextTokens);
    await session.dispose();
  });

  it('writes the logits into an output array given, after checking its length, in both engines', async () => {
    const tokens = model.tokenize(PROMPT);
    const vocab = model.info.vocabSize;
    for (const m of [model, localModel]) {
      await m.resetContext();
      const expected = await m.evaluate(tokens);
      await m.resetContext();
      const output = new Float32Array(vocab);
      assert.equal(await m.evaluate(tokens, { output }), output);
      assert.deepEqual(output, expected);
      // allLogits: the last row is the same step's logits.
      await m.resetContext();
      const all = new Float32Array(tokens.length * vocab);
      assert.equal(await m.evaluate(tokens, { allLogits: true, output: all }), all);
      assert.deepEqual(all.subarray((tokens.length - 1) * vocab), expected);
      // A wrong length is refused before anything runs: the context is as it was.
      const before = m.contextTokens;
      await assert.rejects(m.evaluate([tokens[0]!], { output: new Float32Array(vocab - 1) }), (e) => lib.isWasmChordError(e, 'INVALID_ARGUMENT'));
      await assert.rejects(m.evaluate(tokens, { allLogits: true, output: new Float32Array(vocab) }), (e) => lib.isWasmChordError(e, 'INVALID_ARGUMENT'));
      assert.deepEqual(m.contextTokens, before);
    }
  });

  it('runs sessions side by side, each as it would alone', async () => {
    const [a, b] = await Promise.all([model.createSession({ contextSize: 256 }), model.createSession()]);
    assert.equal(a.contextSize, 256);
    const [ra, rb] = await Promise.all([a.generate(PROMPT, { temperature: 0, maxTokens: 16 }), b.generate('One day', { temperature: 0, maxTokens: 16 })]);
    assert.deepEqual(ra.tokens, (await localModel.generate(PROMPT, { temperature: 0, maxTokens: 16 })).tokens);
    assert.deepEqual(rb.tokens, (await localModel.generate('One day', { temperature: 0, maxTokens: 16 })).tokens);
    await a.dispose();
    await assert.rejects(a.generate(PROMPT), (e) => lib.isWasmChordError(e, 'DISPOSED'));
    await b.dispose();
  });

  it('stops a generation and a stream on abort; the model stays usable', async () => {
    const controller = new AbortController();
    const long = model.generate(PROMPT, { maxTokens: 100_000, ignoreEos: true, contextShift: true, signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    await assert.rejects(long, (e) => lib.isWasmChordError(e, 'ABORTED'));
    const streamController = new AbortController();
    let steps = 0;
    await assert.rejects(
      (async () => {
        for await (const _ of model.inferStream(PROMPT, { maxTokens: 100_000, ignoreEos: true, contextShift: true, signal: streamController.signal })) {
          if (++steps === 5) streamController.abort();
        }
      })(),
      (e) => lib.isWasmChordError(e, 'ABORTED'),
    );
    assert.equal(steps, 5);
    // Leaving a stream early releases the session too.
    for await (const _ of model.inferStream(PROMPT, { maxTokens: 50 })) break;
    assert.equal((await model.generate(PROMPT, { temperature: 0, maxTokens: 4 })).tokens.length, 4);
  });

  it('brings errors back with their codes, and refuses what cannot cross', async () => {
    await assert.rejects(model.generate(PROMPT, { maxTokens: -1 }), (e) => lib.isWasmChordError(e, 'INVALID_ARGUMENT'));
    await assert.rejects(remote.loadModel(join(SHARED, 'models/missing.gguf')), (e) => lib.isWasmChordError(e, 'SOURCE_IO'));
    await assert.rejects(model.generate(PROMPT, { sampler: () => 0 }), (e) => lib.isWasmChordError(e, 'INVALID_ARGUMENT') && /worker: false/.test(e.message));
  });

  it('forwards load progress, and a disposed runtime refuses work', async () => {
    const seen: number[] = [];
    const runtime = await lib.WasmChord.init({ worker: true, backend: 'cpu' });
    const m = await runtime.loadModel(MODEL, { onProgress: (p) => seen.push(p.loadedBytes / p.totalBytes) });
    assert.ok(seen.length > 0 && seen.at(-1) === 1, `progress ${seen.join(', ')}`);
    await runtime.dispose();
    await assert.rejects(m.generate(PROMPT), (e) => lib.isWasmChordError(e, 'DISPOSED'));
    await assert.rejects(runtime.loadModel(MODEL), (e) => lib.isWasmChordError(e, 'DISPOSED'));
  });
});
