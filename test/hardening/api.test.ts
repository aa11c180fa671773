// A careless caller: every public entry point validates its inputs, and every failure a caller
// can cause is a WasmChordError with a stable code (never a TypeError or RangeError, which the
// CLI would print as an "internal error"). And the API loses neither control nor data: an
// abandoned stream, a dropped model, a disposed model and a full context free what they hold
// and keep what was generated.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { WasmChord, type Model } from '../../src/index.js';
import { kv, type ByteSource } from '../../src/gguf/index.js';
import type { ErrorCode } from '../../src/errors.js';
import { buildTinyModel } from '../helpers/tiny-model.js';
import { refuses } from './bounds.js';

let runtime: WasmChord;
let model: Model;
let bytes: Uint8Array;
before(async () => {
  runtime = await WasmChord.init({ backend: 'reference' });
  bytes = await buildTinyModel();
  model = await runtime.loadModel(bytes);
});
after(() => runtime.dispose());

/** [what the caller did, the call, the code it now gets, what the message must say] */
type Misuse = [string, () => unknown, ErrorCode, RegExp];

const misuses = (): Misuse[] => [
  ["stop: 'x' (a string, not a list)", () => model.infer('hello', { stop: 'x' as never }), 'INVALID_ARGUMENT', /stop must be an array of strings/],
  ['options: null', () => model.infer('hello', null as never), 'INVALID_ARGUMENT', /options must be an object/],
  ['options: 5', () => model.generate('hello', 5 as never), 'INVALID_ARGUMENT', /options must be an object/],
  ['stream options: null', () => model.inferStream('hello', null as never).next(), 'INVALID_ARGUMENT', /options must be an object/],
  ['sampler: 42', () => model.infer('hello', { sampler: 42 as never }), 'INVALID_ARGUMENT', /sampler must be a function/],
  ['a sampler that returns NaN', () => model.infer('hello', { sampler: () => NaN }), 'INVALID_ARGUMENT', /sampler returned NaN/],
  ['a sampler that returns 1e9', () => model.infer('hello', { sampler: () => 1e9 }), 'INVALID_ARGUMENT', /sampler returned 1000000000/],
  ['signal: {}', () => model.infer('hello', { signal: {} as never }), 'INVALID_ARGUMENT', /signal must be an AbortSignal/],
  ['logitBias: null', () => model.infer('hello', { logitBias: null as never }), 'INVALID_ARGUMENT', /logitBias/],
  ['ignoreEos: "yes"', () => model.infer('hello', { ignoreEos: 'yes' as never }), 'INVALID_ARGUMENT', /ignoreEos/],
  ['chatTemplate: 5', () => model.infer([{ role: 'user', content: 'hi' }], { chatTemplate: 5 as never }), 'INVALID_ARGUMENT', /chatTemplate must be a string/],
  ['tools: 5', () => model.infer([{ role: 'user', content: 'hi' }], { tools: 5 as never }), 'INVALID_ARGUMENT', /tools must be an array/],
  ['evaluate(null)', () => model.evaluate(null as never), 'INVALID_ARGUMENT', /evaluate takes an array/],
  ['evaluate options: null', () => model.evaluate([1], null as never), 'INVALID_ARGUMENT', /options must be an object/],
  ['tokenize options: null', () => model.tokenize('hi', null as never), 'INVALID_ARGUMENT', /options must be an object/],
  ['detokenize(null)', () => model.detokenize(null as never), 'INVALID_ARGUMENT', /array of token ids/],
  ['detokenize("abc")', () => model.detokenize('abc' as never), 'INVALID_ARGUMENT', /array of token ids/],
  ['createSession(null)', () => model.createSession(null as never), 'INVALID_ARGUMENT', /options must be an object/],
  ['loadModel options: null', () => runtime.loadModel(bytes, null as never), 'INVALID_ARGUMENT', /options must be an object/],
  ['loadModel headers: 5', () => runtime.loadModel('http://127.0.0.1:9/m.gguf', { headers: 5 as never }), 'INVALID_ARGUMENT', /headers/],
  ['loadModel onProgress: 5', () => runtime.loadModel(bytes, { onProgress: 5 as never }), 'INVALID_ARGUMENT', /onProgress must be a function/],
  ['WasmChord.init(null)', () => WasmChord.init(null as never), 'INVALID_ARGUMENT', /options must be an object/],
  [
    'a detached ArrayBuffer',
    () => {
      const b = bytes.slice().buffer;
      structuredClone(b, { transfer: [b] });
      return runtime.loadModel(b);
    },
    'INVALID_ARGUMENT',
    /detached/,
  ],
  [
    'a view of a detached ArrayBuffer',
    () => {
      const b = bytes.slice().buffer;
      const view = new Uint8Array(b, 0, 16);
      structuredClone(b, { transfer: [b] });
      return runtime.loadModel(view);
    },
    'INVALID_ARGUMENT',
    /detached/,
  ],
  ['a ByteSource with size NaN', () => runtime.loadModel(source(NaN)), 'INVALID_ARGUMENT', /size must be a byte count/],
  ['a ByteSource with size -1', () => runtime.loadModel(source(-1)), 'INVALID_ARGUMENT', /size must be a byte count/],
  ['a ByteSource whose reads throw a TypeError', () => runtime.loadModel(source(100, new TypeError('boom'))), 'SOURCE_IO', /boom/],
  ['file://host/x', () => runtime.loadModel('file://host/x'), 'INVALID_ARGUMENT', /not a usable file URL/],
  ['a malformed file: URL', () => runtime.loadModel('file:///tmp/%zz.gguf'), 'INVALID_ARGUMENT', /not a usable file URL/],
];

function source(size: number, failure?: Error): ByteSource {
  return {
    name: 'test source',
    size,
    async readInto() {
      if (failure) throw failure;
    },
    async close() {},
  };
}

describe('API misuse gets a typed error with a stable code', () => {
  test('each misuse', async () => {
    for (const [what, call, code, message] of misuses()) await refuses(what, call, code, message);
  });

  test('the model is still usable after all of that', async () => {
    assert.equal((await model.generate('hello', { temperature: 0, maxTokens: 3, ignoreEos: true })).tokens.length, 3);
  });
});

describe('the API loses neither control nor data', () => {
  test('a full context ends generation with stopReason "context" and keeps the text', async () => {
    const small = await runtime.loadModel(bytes, { contextSize: 12 });
    const prompt = small.tokenize('hello world');
    const r = await small.generate('hello world', { temperature: 0, maxTokens: 100, ignoreEos: true });
    assert.equal(r.stopReason, 'context');
    assert.equal(r.tokens.length, 12 - prompt.length + 1);
    assert.ok(r.text.length > 0);
    assert.equal(r.text, small.detokenize(r.tokens, { stripLeadingSpace: false, skipSpecial: true }));
    await small.dispose();
  });

  test('a stream held but not read: dispose() resolves and the stream ends with DISPOSED', async () => {
    const m = await runtime.loadModel(bytes);
    const stream = m.inferStream('hello', { maxTokens: 50, ignoreEos: true });
    await stream.next();
    await Promise.race([m.dispose(), new Promise((_, reject) => setTimeout(() => reject(new Error('dispose() hung')), 3000))]);
    await refuses('after dispose', () => stream.next(), 'DISPOSED', /disposed/);
  });

  const child = (which: string) => {
    const script = fileURLToPath(new URL('./gc-child.ts', import.meta.url));
    const r = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', script, which], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout.trim().split('\n').pop()!);
  };

  test('a stream dropped without return() releases its session when collected', () => {
    const r = child('abandoned-stream');
    assert.notEqual(r.text, 'TIMEOUT', 'a later call waited for the abandoned stream');
    assert.ok(r.ms < 3000);
  });

  test('models dropped without dispose() are not kept alive by the runtime', (t) => {
    // Six loads of a ~34 MB model, dropped: before, all six stayed resident (+375 MB here).
    const r = child('dropped');
    t.diagnostic(JSON.stringify(r));
    assert.equal(r.collected, 6, 'every dropped model is garbage-collected');
    assert.ok(r.after - r.base < 2 * r.modelMb, `resident memory grew by ${(r.after - r.base).toFixed(0)} MB`);
  });

  test("a disposed model's memory is free even while its caller still holds the model", (t) => {
    // Three loaded, disposed and kept: before, their memory stayed until the objects were dropped.
    const r = child('disposed-held');
    t.diagnostic(JSON.stringify(r));
    assert.ok(r.after - r.base < 2 * r.modelMb, `resident memory grew by ${(r.after - r.base).toFixed(0)} MB`);
  });

  test('a model problem found at load is MODEL_INVALID, not blamed on the caller', async () => {
    await refuses('0 context', async () => runtime.loadModel(await buildTinyModel({ metadata: { 'llama.context_length': kv.u32(0) } })), 'MODEL_INVALID', /context_length/);
  });
});
