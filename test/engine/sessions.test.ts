// Sessions on real models (stories260K F32 and Q8_0, TinyStories-656K Q8_0): independent
// contexts over one set of weights, saved and restored state, and context shift, checked
// against llama.cpp's references in ../shared/reference/models and against exact oracles.
//
// Some tests run the model on the real CPU backend wrapped in ObservedBackend, which forwards
// every call and records what the engine asked for (compiles, runs, shifts): no mock.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { WasmChord, argmax, isWasmChordError, type Model, type ModelSession } from '../../src/index.js';
import type {
  Backend,
  CompiledGraph,
  KVCacheHandle,
  KVCacheSpec,
  KVCacheType,
  KVLayerData,
  KVShift,
  LoadWeightsOptions,
  RunOptions,
  StepInput,
} from '../../src/backends/backend.js';
import { CpuBackend } from '../../src/backends/cpu/backend.js';
import type { Graph, GraphNode } from '../../src/backends/graph.js';
import type { GGUFFile, GGUFTensorInfo } from '../../src/gguf/reader.js';
import { loadModel } from '../../src/runtime/load-model.js';
import { encodeSessionState } from '../../src/engine/session-state.js';
import { f16BitsToF32, f32ToF16Bits } from '../../src/quant/half.js';
import { readJson, SHARED } from '../helpers/shared.js';

const F32 = 'models/stories260K.gguf';
const Q8 = 'models/derived/stories260K-Q8_0.gguf';
const TINY_Q8 = 'models/TinyStories-656K-Q8_0.gguf';
const PROMPT = 'Once upon a time';
const ref = (stem: string) => readJson<{ prompt_tokens: number[]; generated_tokens: number[] }>(`reference/models/${stem}/once_upon_a_time.json`);

interface ShiftRecord {
  shift: KVShift;
  spec: KVCacheSpec;
  /** The cache's positions [0, used) just before the shift, and [0, used - discard) after it. */
  before: KVLayerData[];
  after: KVLayerData[];
}

/** The real CPU backend, observed: every call is forwarded; compiles, runs and shifts are recorded. */
class ObservedBackend implements Backend {
  readonly compiles: Graph[] = [];
  readonly runs: number[] = [];
  readonly shifts: ShiftRecord[] = [];
  onShift: () => void = () => {};
  constructor(readonly real: Backend) {}
  get kind() {
    return this.real.kind;
  }
  get description() {
    return this.real.description;
  }
  get capabilities() {
    return this.real.capabilities;
  }
  supports(node: GraphNode) {
    return this.real.supports(node);
  }
  loadWeights(file: GGUFFile, tensors: readonly GGUFTensorInfo[], options?: LoadWeightsOptions) {
    return this.real.loadWeights(file, tensors, options);
  }
  createKVCache(spec: KVCacheSpec) {
    return this.real.createKVCache(spec);
  }
  compile(graph: Graph): CompiledGraph {
    this.compiles.push(graph);
    return this.real.compile(graph);
  }
  run(compiled: CompiledGraph, input: StepInput, cache: KVCacheHandle, options?: RunOptions) {
    this.runs.push(input.tokens.length);
    return this.real.run(compiled, input, cache, options);
  }
  readKV(cache: KVCacheHandle, n: number) {
    return this.real.readKV(cache, n);
  }
  writeKV(cache: KVCacheHandle, n: number, layers: readonly KVLayerData[]) {
    this.real.writeKV(cache, n, layers);
  }
  async shiftKV(cache: KVCacheHandle, shift: KVShift) {
    const before = await this.real.readKV(cache, shift.used);
    await this.real.shiftKV(cache, shift);
    this.shifts.push({ shift, spec: cache.spec, before, after: await this.real.readKV(cache, shift.used - shift.discard) });
    this.onShift();
  }
  releaseKVCache(cache: KVCacheHandle) {
    this.real.releaseKVCache(cache);
  }
  dispose() {
    return this.real.dispose();
  }
}

/** A model on the observed CPU backend, loaded as WasmChord.loadModel does. */
async function observedModel(file: string, options: { kvType: KVCacheType; contextSize: number }) {
  const backend = new ObservedBackend(await CpuBackend.create());
  const owner = { adopt: () => {}, release: () => {} };
  const model = await loadModel(async () => ({ backend, reason: 'observed' }), join(SHARED, file), options, owner);
  return { backend, model };
}

/** Greedy decoding that records the logits and the session's context at every step. */
function recordingGreedy(session: ModelSession) {
  const steps: { logits: Float32Array; context: number[] }[] = [];
  const sampler = (logits: Float32Array) => {
    steps.push({ logits: logits.slice(), context: [...session.contextTokens] });
    return argmax(logits);
  };
  return { steps, sampler };
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

const floats = (bytes: Uint8Array, type: KVCacheType): Float32Array =>
  type === 'f32'
    ? new Float32Array(bytes.slice().buffer)
    : Float32Array.from(new Uint16Array(bytes.slice().buffer), (h) => f16BitsToF32(h));

const toBytes = (values: Float32Array, type: KVCacheType): Uint8Array =>
  type === 'f32' ? new Uint8Array(values.buffer) : new Uint8Array(Uint16Array.from(values, (x) => f32ToF16Bits(x)).buffer);

/**
 * The oracle for a context shift, written from llama.cpp's definition (llama_kv_self_seq_rm of
 * [keep, keep+discard), llama_kv_self_seq_add of -discard, then the K-shift graph that ropes
 * each key by its position delta): rows move down, values unchanged, keys rotated by -discard,
 * here in f64 with RoPE's pair layout (NORM: (2i, 2i+1); NEOX: (i, i + nRot/2)).
 */
function expectedShift(r: ShiftRecord): KVLayerData[] {
  const { keep, discard, used } = r.shift;
  const n = used - discard;
  const type = r.spec.type;
  return r.before.map((layer, l) => {
    const { nKvHead, headDim, rope } = r.spec.layers[l]!;
    assert.ok(rope && !rope.freqFactors, 'the oracle covers RoPE without frequency factors');
    const keys = floats(layer.keys, type);
    const values = floats(layer.values, type);
    const outK = new Float32Array(nKvHead * n * headDim);
    const outV = new Float32Array(nKvHead * n * headDim);
    const half = rope.nRot / 2;
    for (let h = 0; h < nKvHead; h++) {
      for (let j = 0; j < n; j++) {
        const from = (h * used + (j < keep ? j : j + discard)) * headDim;
        const to = (h * n + j) * headDim;
        outV.set(values.subarray(from, from + headDim), to);
        outK.set(keys.subarray(from, from + headDim), to);
        if (j < keep) continue;
        for (let i = 0; i < half; i++) {
          const angle = rope.freqScale * -discard * Math.pow(rope.freqBase, (-2 * i) / rope.nRot);
          const [a, b] = rope.mode === 'norm' ? [2 * i, 2 * i + 1] : [i, i + half];
          const x0 = keys[from + a]!;
          const x1 = keys[from + b]!;
          outK[to + a] = x0 * Math.cos(angle) - x1 * Math.sin(angle);
          outK[to + b] = x0 * Math.sin(angle) + x1 * Math.cos(angle);
        }
      }
    }
    return { keys: toBytes(outK, type), values: toBytes(outV, type) };
  });
}

/** f32 keys: the largest absolute difference; f16 keys: the largest difference in ulps. */
function keyDiff(a: Uint8Array, b: Uint8Array, type: KVCacheType): number {
  if (type === 'f32') return maxAbsDiff(floats(a, type), floats(b, type));
  const x = new Uint16Array(a.slice().buffer);
  const y = new Uint16Array(b.slice().buffer);
  // f16 bits are sign-magnitude: map them to a monotonic integer line, where ulps subtract.
  const line = (h: number) => (h & 0x8000 ? -(h & 0x7fff) : h);
  return x.reduce((m, h, i) => Math.max(m, Math.abs(line(h) - line(y[i]!))), 0);
}

let runtime: WasmChord;
let model: Model;
before(async () => {
  runtime = await WasmChord.init();
  model = await runtime.loadModel(join(SHARED, F32), { kvType: 'f32', contextSize: 256 });
});
after(() => runtime.dispose());

const sampled = { temperature: 0.9, topK: 40, topP: 0.95, minP: 0.05, ignoreEos: true };

describe('independent sessions', () => {
  for (const [file, kvType] of [[F32, 'f32'], [Q8, 'f16']] as const) {
    test(`${file.split('/').pop()} (${kvType} KV): two sessions interleaved step by step give the tokens each gives alone`, async () => {
      const m = await runtime.loadModel(join(SHARED, file), { kvType, contextSize: 128 });
      try {
        const jobs = [
          { prompt: PROMPT, options: { ...sampled, seed: 7, maxTokens: 48 } },
          { prompt: 'The quick brown fox', options: { ...sampled, seed: 8, maxTokens: 64 } },
        ];
        const alone: number[][] = [];
        for (const job of jobs) {
          const s = await m.createSession();
          alone.push((await s.generate(job.prompt, job.options)).tokens);
          await s.dispose();
        }
        // The default session (model.generate) is one of these sessions too.
        assert.deepEqual((await m.generate(jobs[0]!.prompt, jobs[0]!.options)).tokens, alone[0]);

        const sessions = [await m.createSession(), await m.createSession()];
        const streams = sessions.map((s, i) => s.generateStream(jobs[i]!.prompt, jobs[i]!.options));
        const results: (number[] | undefined)[] = [undefined, undefined];
        let turns = 0;
        while (results.some((r) => !r)) {
          for (let i = 0; i < 2; i++) {
            if (results[i]) continue;
            const step = await streams[i]!.next();
            turns++;
            if (step.done) results[i] = step.value.tokens;
          }
        }
        assert.ok(turns >= 48 + 64, `${turns} alternating steps`);
        assert.deepEqual(results, alone);

        // Concurrent calls (not awaited in turn) share the model's step queue: same tokens.
        const concurrent = await Promise.all(sessions.map((s, i) => s.generate(jobs[i]!.prompt + ' and', jobs[i]!.options)));
        const reference: number[][] = [];
        for (const job of jobs) {
          const s = await m.createSession();
          reference.push((await s.generate(job.prompt + ' and', job.options)).tokens);
        }
        assert.deepEqual(concurrent.map((r) => r.tokens), reference);
      } finally {
        await m.dispose();
      }
    });
  }

  test('the decode graph is compiled once and reused by every step of every session', async () => {
    const { backend, model: m } = await observedModel(F32, { kvType: 'f32', contextSize: 64 });
    try {
      const a = await m.createSession();
      const b = await m.createSession({ kvType: 'f16' });
      const options = { temperature: 0, maxTokens: 20, ignoreEos: true };
      await Promise.all([a.generate(PROMPT, options), b.generate(PROMPT, options), m.generate('The quick brown fox', options)]);
      await a.generate(PROMPT + ', there', options); // extends the cached prompt
      const shapes = backend.compiles.map((g) => g.nTokens);
      // One graph per step shape: the 1-token decode step, and each prompt length evaluated.
      assert.equal(shapes.filter((n) => n === 1).length, 1, `compiled shapes ${shapes}`);
      assert.equal(new Set(shapes).size, shapes.length, `compiled shapes ${shapes}`);
      assert.equal(backend.runs.filter((n) => n === 1).length, 4 * 19 + 1, 'decode runs (the second prompt adds one token)');
    } finally {
      await m.dispose();
    }
  });

  test('sessions have their own context size and KV type; the default session is unchanged', async () => {
    const s = await model.createSession({ contextSize: 16, kvType: 'f16' });
    assert.equal(s.contextSize, 16);
    assert.equal(model.info.contextSize, 256);
    await model.resetContext();
    await model.evaluate([1, 403]);
    await s.evaluate([1, 403, 407]);
    assert.deepEqual(model.contextTokens, [1, 403]);
    assert.deepEqual(s.contextTokens, [1, 403, 407]);
    await s.dispose();
  });
});

describe('save and restore', () => {
  /** Greedy logits of `steps` further tokens, fed one by one. */
  async function continueGreedy(s: ModelSession, first: number, steps: number): Promise<Float32Array[]> {
    const out: Float32Array[] = [];
    let token = first;
    for (let i = 0; i < steps; i++) {
      const logits = await s.evaluate([token]);
      out.push(logits);
      token = argmax(logits);
    }
    return out;
  }

  for (const [file, kvType] of [[F32, 'f32'], [F32, 'f16'], [Q8, 'f16']] as const) {
    test(`${file.split('/').pop()} (${kvType} KV): a restored session continues bit-identically, in this model and a fresh one`, async () => {
      const m = await runtime.loadModel(join(SHARED, file), { kvType, contextSize: 128 });
      const fresh = await runtime.loadModel(join(SHARED, file), { kvType, contextSize: 96 });
      try {
        const original = await m.createSession();
        const r = await original.generate(PROMPT, { ...sampled, seed: 3, maxTokens: 30 });
        const state = await original.saveState();
        const held = [...original.contextTokens];
        assert.equal(held.length, 5 + 29, 'the last sampled token is not in the context yet');

        const restored = await m.createSession();
        await restored.loadState(state);
        const elsewhere = await fresh.createSession();
        await elsewhere.loadState(state);
        assert.deepEqual(restored.contextTokens, held);
        assert.deepEqual(elsewhere.contextTokens, held);
        assert.deepEqual(await elsewhere.saveState(), state, 'the state round-trips byte for byte');

        const next = r.tokens.at(-1)!;
        const want = await continueGreedy(original, next, 24);
        assert.deepEqual(await continueGreedy(restored, next, 24), want);
        assert.deepEqual(await continueGreedy(elsewhere, next, 24), want);

        // A generation from the restored context re-uses it (only the last prompt token and
        // the new text are evaluated) and gives what the original gives.
        const more = { ...sampled, seed: 5, maxTokens: 16 };
        const text = PROMPT + r.text + ' The end.';
        const a = await original.generate(text, more);
        const b = await restored.generate(text, more);
        assert.deepEqual(b.tokens, a.tokens);
      } finally {
        await m.dispose();
        await fresh.dispose();
      }
    });
  }

  test('the default session saves and loads too; an empty context is a valid state', async () => {
    await model.resetContext();
    const empty = await model.saveState();
    await model.evaluate([1, 403, 407]);
    const three = await model.saveState();
    await model.loadState(empty);
    assert.deepEqual(model.contextTokens, []);
    const s = await model.createSession();
    await s.loadState(three);
    assert.deepEqual(s.contextTokens, [1, 403, 407]);
    await s.dispose();
  });

  test('truncated, garbled or foreign states are refused with a typed error and change nothing', async () => {
    const s = await model.createSession();
    await s.evaluate([1, 403, 407, 261, 378]);
    const state = await s.saveState();
    const target = await model.createSession({ contextSize: 64 });
    await target.evaluate([1, 403]);
    const refused = async (bytes: unknown, code: 'INVALID_ARGUMENT' | 'CONTEXT_FULL', message: RegExp, into = target) => {
      await assert.rejects(into.loadState(bytes as Uint8Array), (e) => isWasmChordError(e, code) && message.test(e.message));
    };
    const flipped = (at: number) => {
      const b = state.slice();
      b[at]! ^= 0x10;
      return b;
    };
    await refused(state.subarray(0, state.length - 1), 'INVALID_ARGUMENT', /truncated/);
    await refused(state.subarray(0, 20), 'INVALID_ARGUMENT', /truncated/);
    await refused(new Uint8Array(0), 'INVALID_ARGUMENT', /not a wasm-chord session state/);
    await refused(new Uint8Array([...state, 0]), 'INVALID_ARGUMENT', /trailing/);
    await refused(flipped(0), 'INVALID_ARGUMENT', /not a wasm-chord session state/);
    await refused(flipped(4), 'INVALID_ARGUMENT', /version/);
    await refused(flipped(8), 'INVALID_ARGUMENT', /truncated|header/);
    await refused(flipped(14), 'INVALID_ARGUMENT', /header|checksum/);
    await refused(flipped(state.length - 100), 'INVALID_ARGUMENT', /checksum/); // inside the KV data
    await refused('not bytes', 'INVALID_ARGUMENT', /Uint8Array/);
    // Random bytes behind a valid magic: always a typed error, never a crash.
    let seed = 1;
    for (let i = 0; i < 200; i++) {
      const junk = Uint8Array.from({ length: 16 + (i % 64) }, () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 24));
      junk.set(state.subarray(0, 4 + (i % 9)));
      await refused(junk, 'INVALID_ARGUMENT', /./);
    }

    // Another KV type, another model, a context too small.
    const f16 = await model.createSession({ kvType: 'f16' });
    await refused(state, 'INVALID_ARGUMENT', /another model or KV layout.*f32 cache.*f16 cache/, f16);
    const tiny = await runtime.loadModel(join(SHARED, TINY_Q8), { kvType: 'f32', contextSize: 64 });
    try {
      await assert.rejects(tiny.loadState(state), (e) => isWasmChordError(e, 'INVALID_ARGUMENT') && /another model/.test(e.message));
    } finally {
      await tiny.dispose();
    }
    const small = await model.createSession({ contextSize: 4 });
    await refused(state, 'CONTEXT_FULL', /holds 5 tokens/, small);

    assert.deepEqual(target.contextTokens, [1, 403], 'a refused state leaves the context as it was');
    await target.loadState(state);
    assert.deepEqual(target.contextTokens, [1, 403, 407, 261, 378]);
    await Promise.all([s, target, f16, small].map((x) => x.dispose()));
  });
});

describe('context shift', () => {
  const subjects = [
    // F32 weights and cache: only RoPE rounding (f32 sin/cos and products against f64)
    // separates the backend's shifted keys from the oracle's (measured 1.9e-6 on keys of size
    // ~1; bound 1e-5). Logits: the F32 bound of test/model/reference.test.ts, 1e-4.
    { file: F32, stem: 'stories260K', kvType: 'f32', keyTol: 1e-5, logitTol: 1e-4 },
    // f16 caches: the backend rounds an f32 rotation to f16, the oracle an f64 one, so a key may
    // differ by one f16 ulp (keyTol counts ulps here). Logits: 0.5, the quantized whole-graph
    // bound of test/model/reference.test.ts, in case one ulp flips an 8-bit activation rounding
    // (measured: identical logits).
    { file: Q8, stem: 'stories260K-Q8_0', kvType: 'f16', keyTol: 1, logitTol: 0.5 },
    { file: TINY_Q8, stem: 'TinyStories-656K-Q8_0', kvType: 'f16', keyTol: 1, logitTol: 0.5 },
  ] as const;

  for (const subj of subjects) {
    test(`${subj.stem} (${subj.kvType} KV): greedy generation of 3× a 32-token context shifts like llama.cpp`, async (t) => {
      const { backend, model: m } = await observedModel(subj.file, { kvType: subj.kvType, contextSize: 32 });
      try {
        const reference = ref(subj.stem);
        const session = await m.createSession({ contextShift: true });
        const { steps, sampler } = recordingGreedy(session);
        const shiftedAt: number[] = []; // index of the first step after each shift
        backend.onShift = () => shiftedAt.push(steps.length);
        const r = await session.generate(PROMPT, { maxTokens: 96, ignoreEos: true, sampler });
        assert.equal(r.stopReason, 'length');
        assert.equal(r.tokens.length, 96);
        assert.deepEqual(r.promptTokens, reference.prompt_tokens);

        // Until the context first fills, this is llama.cpp's own greedy continuation.
        const nPrompt = reference.prompt_tokens.length;
        const beforeShift = 32 - nPrompt + 1;
        assert.equal(shiftedAt[0], beforeShift);
        assert.deepEqual(r.tokens.slice(0, beforeShift), reference.generated_tokens.slice(0, beforeShift));

        // Each shift: llama.cpp's n_keep (the BOS) and n_discard = (n_past - n_keep) / 2.
        assert.ok(backend.shifts.length >= 4, `${backend.shifts.length} shifts`);
        let worstKey = 0;
        let worstLogit = 0;
        for (const [k, rec] of backend.shifts.entries()) {
          assert.deepEqual(rec.shift, { keep: 1, discard: 15, used: 32 });
          // The cache is re-positioned as llama.cpp does it (values moved bit for bit).
          const want = expectedShift(rec);
          rec.after.forEach((layer, l) => {
            assert.deepEqual(layer.values, want[l]!.values, `layer ${l} values`);
            worstKey = Math.max(worstKey, keyDiff(layer.keys, want[l]!.keys, subj.kvType));
          });
          // The token list follows: the BOS, then the newest 16 tokens.
          const full = steps[shiftedAt[k]! - 1]!.context;
          const lastToken = r.tokens[shiftedAt[k]! - 1]!;
          const step = steps[shiftedAt[k]!]!;
          assert.deepEqual(step.context, [full[0], ...full.slice(16), lastToken]);
          // And the logits after the shift are those of a session holding the oracle's cache.
          const oracle = await m.createSession({ contextSize: 32 });
          await oracle.loadState(
            encodeSessionState(
              {
                arch: m.info.architecture,
                vocabSize: m.info.vocabSize,
                kvType: subj.kvType,
                layers: rec.spec.layers.map((l) => [l.nKvHead, l.headDim] as const),
              },
              { tokens: step.context.slice(0, -1), layers: want },
            ),
          );
          worstLogit = Math.max(worstLogit, maxAbsDiff(await oracle.evaluate([lastToken]), step.logits));
          await oracle.dispose();
        }
        const unit = subj.kvType === 'f16' ? 'f16 ulps' : 'max abs';
        t.diagnostic(`${backend.shifts.length} shifts; shifted keys vs f64 oracle: ${unit} ${subj.kvType === 'f16' ? worstKey : worstKey.toExponential(2)}; next logits vs oracle cache: max abs ${worstLogit.toExponential(2)}`);
        assert.ok(worstKey <= subj.keyTol, `keys off by ${worstKey}`);
        assert.ok(worstLogit <= subj.logitTol, `logits off by ${worstLogit}`);

        // How far the shifted run stays on the unshifted (256-token context) greedy path.
        const wide = await m.createSession({ contextSize: 256 });
        const unshifted = (await wide.generate(PROMPT, { temperature: 0, maxTokens: 96, ignoreEos: true })).tokens;
        let same = 0;
        while (same < 96 && unshifted[same] === r.tokens[same]) same++;
        t.diagnostic(`same greedy tokens as without a shift: ${same} (first shift after ${beforeShift})`);
        assert.ok(same >= beforeShift);
      } finally {
        await m.dispose();
      }
    });
  }

  test('nKeep keeps the whole prompt in place; the per-call option overrides the session', async () => {
    const { backend, model: m } = await observedModel(F32, { kvType: 'f32', contextSize: 32 });
    try {
      const prompt = m.tokenize(PROMPT);
      const s = await m.createSession(); // shifting off by default
      const r = await s.generate(PROMPT, { temperature: 0, maxTokens: 80, ignoreEos: true, contextShift: { nKeep: 5 } });
      assert.equal(r.stopReason, 'length');
      assert.ok(backend.shifts.length >= 3);
      for (const { shift } of backend.shifts) assert.deepEqual(shift, { keep: 5, discard: 13, used: 32 });
      assert.deepEqual(s.contextTokens.slice(0, 5), prompt);
      // The default session can shift per call too.
      assert.equal((await m.generate(PROMPT, { temperature: 0, maxTokens: 80, ignoreEos: true, contextShift: true })).stopReason, 'length');
      // And a session that shifts by default stops at the context when a call turns it off.
      const on = await m.createSession({ contextShift: true });
      assert.equal((await on.generate(PROMPT, { temperature: 0, maxTokens: 80, ignoreEos: true, contextShift: false })).stopReason, 'context');
    } finally {
      await m.dispose();
    }
  });

  test('without a shift: stopReason "context" with the text so far; evaluate past the end is CONTEXT_FULL', async () => {
    const reference = ref('stories260K');
    const s = await model.createSession({ contextSize: 32 });
    const r = await s.generate(PROMPT, { temperature: 0, maxTokens: 96, ignoreEos: true });
    assert.equal(r.stopReason, 'context');
    assert.deepEqual(r.tokens, reference.generated_tokens.slice(0, 28));
    assert.equal(r.text, model.tokenizer.decode(r.tokens, { stripLeadingSpace: false }));
    assert.equal(s.contextTokens.length, 32);
    await assert.rejects(s.evaluate([r.tokens.at(-1)!]), (e) => isWasmChordError(e, 'CONTEXT_FULL'));
    // A prompt that does not fit at all is refused up front, shift or not.
    const long = ' and then'.repeat(20);
    await assert.rejects(s.generate(PROMPT + long, { contextShift: true }), (e) => isWasmChordError(e, 'CONTEXT_FULL'));
    await s.dispose();
  });

  test('a model without RoPE (GPT-2, learned positions) cannot shift: generation ends with "context"', async (t) => {
    let gpt2: Model;
    try {
      gpt2 = await runtime.loadModel(join(SHARED, 'models/archs/gpt2-tiny-F32.gguf'), { contextSize: 24 });
    } catch (err) {
      if (isWasmChordError(err, 'MODEL_UNSUPPORTED')) return t.skip('GPT-2 is not supported by this build');
      throw err;
    }
    try {
      const r = await gpt2.generate(PROMPT, { temperature: 0, maxTokens: 100, ignoreEos: true, contextShift: true });
      assert.equal(r.stopReason, 'context');
      assert.equal(r.tokens.length, 24 - r.promptTokens.length + 1);
    } finally {
      await gpt2.dispose();
    }
  });
});

describe('lifecycle and options', () => {
  test('a disposed session refuses every call; other sessions carry on', async () => {
    const a = await model.createSession();
    const b = await model.createSession();
    await a.evaluate([1, 403]);
    await a.dispose();
    await a.dispose(); // twice is fine
    const disposed = (e: unknown) => isWasmChordError(e, 'DISPOSED');
    await assert.rejects(a.infer(PROMPT), disposed);
    await assert.rejects(a.evaluate([1]), disposed);
    await assert.rejects(a.saveState(), disposed);
    await assert.rejects(a.loadState(new Uint8Array(16)), disposed);
    await assert.rejects(a.resetContext(), disposed);
    assert.deepEqual(a.contextTokens, []);
    assert.equal(await b.infer(PROMPT, { temperature: 0, maxTokens: 3, ignoreEos: true }), ', there was');
    await b.dispose();
  });

  test('disposing the model disposes its sessions, and a running generation ends with DISPOSED', async () => {
    const m = await runtime.loadModel(join(SHARED, F32), { kvType: 'f32', contextSize: 64 });
    const s = await m.createSession();
    const stream = s.generateStream(PROMPT, { temperature: 0, maxTokens: 40, ignoreEos: true });
    assert.equal((await stream.next()).done, false);
    await m.dispose();
    await assert.rejects(stream.next(), (e) => isWasmChordError(e, 'DISPOSED'));
    await assert.rejects(s.infer(PROMPT), (e) => isWasmChordError(e, 'DISPOSED'));
    await assert.rejects(m.createSession(), (e) => isWasmChordError(e, 'DISPOSED'));
    await assert.rejects(m.evaluate([1]), (e) => isWasmChordError(e, 'DISPOSED'));
  });

  test('createSession and contextShift options are checked', async () => {
    const bad: object[] = [
      { contextSize: 0 },
      { contextSize: 1.5 },
      { kvType: 'q8' },
      { ctx: 5 },
      { contextShift: 'yes' },
      { contextShift: { nKeep: -1 } },
      { contextShift: { keep: 1 } },
    ];
    for (const options of bad) {
      await assert.rejects(model.createSession(options as never), (e) => isWasmChordError(e, 'INVALID_ARGUMENT'), JSON.stringify(options));
    }
    await assert.rejects(model.infer(PROMPT, { contextShift: { nKeep: 0.5 } }), (e) => isWasmChordError(e, 'INVALID_ARGUMENT'));
  });
});
