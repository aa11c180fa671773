/**
 * Backend conformance: every op of the graph IR, on every backend of backends.ts, against the
 * reference backend, over the shapes models use (op-cases.ts), every weight type the backend
 * claims and both KV cache types; each node judged by its op's bound in
 * src/backends/op-tolerances.ts (the divergence tool's table). Then the KV contract: the saved
 * layout moves between backends, a context shift matches a fresh run at the shifted positions,
 * misuse gives typed errors. And proof that the comparison catches a broken op.
 */
import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import type { Backend, KVCacheType, KVLayerData } from '../../src/backends/backend.js';
import type { CpuMemoryPlan } from '../../src/backends/cpu/backend.js';
import { BackendComparison } from '../../src/backends/compare.js';
import { GraphBuilder, OPS, type OpName, type RopeMode, type WeightHandle } from '../../src/backends/graph.js';
import { boundFor, KV_SHIFT_BOUNDS, OP_BOUNDS, measureError } from '../../src/backends/op-tolerances.js';
import { ReferenceBackend } from '../../src/backends/reference/backend.js';
import { WasmChordError } from '../../src/errors.js';
import type { GGUFFile } from '../../src/gguf/reader.js';
import { canQuantize, f16BitsToF32, GGML_TYPES, GGMLType, typeName } from '../../src/quant/index.js';
import { encodeGGUF } from '../../src/gguf/writer.js';
import { readGGUF } from '../../src/gguf/reader.js';
import { MemorySource } from '../../src/gguf/byte-source.js';
import { kv } from '../../src/gguf/metadata.js';
import { BACKENDS } from './backends.js';
import { BrokenReference } from './broken.js';
import { caseFile, caseGraph, caseKVSpec, caseTokens, opCases, VOCAB, type OpCase } from './op-cases.js';
import { runCase } from './run-case.js';

const OP_NAMES = Object.keys(OPS) as OpName[];
const ALL_TYPES = GGML_TYPES.map((t) => t.id).filter(canQuantize);

/** Each case's GGUF file is built once and shared by all backends. */
const files = new Map<string, Promise<GGUFFile>>();
/** What a case's backend will hold: its tensors, KV cache and largest step. */
function casePlan(c: OpCase, file: GGUFFile): CpuMemoryPlan {
  const w = (n: string): WeightHandle => file.tensor(n)!;
  return { tensors: file.tensors, kv: caseKVSpec(c, w), batch: caseGraph(c, Math.max(...c.steps.map((s) => s.nTokens)), w) };
}

function fileOf(c: OpCase): Promise<GGUFFile> {
  let f = files.get(c.label);
  if (!f) files.set(c.label, (f = caseFile(c)));
  return f;
}

/** Bounds of ops without matmuls: no activation quantization to account for. */
const exact = { maxPosition: 0, activationQuantization: () => 0 };

const weights = (file: GGUFFile) => (name: string): WeightHandle => file.tensor(name)!;

describe('op table coverage', () => {
  const cases = opCases(ALL_TYPES, ['f32', 'f16']);

  test('every op of the op table has conformance cases, each containing that op', () => {
    for (const op of OP_NAMES) {
      assert.ok(cases[op].length > 0, `op ${op} has no conformance case`);
      for (const c of cases[op]) {
        const g = caseGraph(c, c.steps[0]!.nTokens, (name) => ({ name, type: c.tensors.find((t) => t.name === name)!.type, shape: c.tensors.find((t) => t.name === name)!.shape }));
        assert.ok(g.nodes.some((n) => n.op === op), `case "${c.label}" has no ${op} node`);
      }
    }
  });

  test('every op has a bound in the shared tolerance table', () => {
    for (const op of OP_NAMES) assert.ok(OP_BOUNDS[op], `op ${op} has no bound`);
  });

  test('labels are unique (they seed the data)', () => {
    const labels = OP_NAMES.flatMap((op) => cases[op].map((c) => c.label));
    assert.equal(new Set(labels).size, labels.length);
  });
});

const runnable = await Promise.all(BACKENDS.map(async (b) => ({ ...b, skip: await b.available() })));

for (const b of runnable) {
  if (b.skip) {
    test(b.name, { skip: b.skip }, () => {});
    continue;
  }
  describe(b.name, async () => {
    const probe = await b.create();
    const { tensorTypes, kvTypes } = probe.capabilities;
    await probe.dispose();
    const types = [...tensorTypes].sort((x, y) => x - y);
    const cases = opCases(types, kvTypes);

    test('the suite can build every weight type the backend claims, and covers both KV types', () => {
      for (const t of types) assert.ok(canQuantize(t), `${b.name} claims ${typeName(t)}, which the TS quantizers cannot build test tensors of`);
      for (const op of ['matmul', 'embed', 'moe_ffn'] as const) {
        for (const t of types) assert.ok(cases[op].some((c) => c.weightType === t), `no ${op} case for ${typeName(t)}`);
      }
      assert.deepEqual([...kvTypes].sort(), ['f16', 'f32']);
    });

    for (const op of OP_NAMES) {
      test(op, async (t) => {
        const failures: string[] = [];
        // Largest error per weight type (typed ops) or per case, for the report.
        const worst = new Map<string, { nmse: number; maxAbs: number; bound: number }>();
        for (const c of cases[op]) {
          const file = await fileOf(c);
          const backend = await b.create(casePlan(c, file));
          try {
            const r = await runCase(c, file, b.name, backend);
            if (r.divergence) {
              const d = r.divergence;
              failures.push(`${c.label}: node ${d.label} at pos0=${d.pos0} NMSE ${d.local.nmse.toExponential(2)} > ${d.bound.nmse} (max abs ${d.local.maxAbs.toExponential(2)})`);
            }
            const key = c.weightType !== undefined ? typeName(c.weightType) : c.label.slice(op.length + 1);
            for (const k of r.checks) {
              const w = worst.get(key);
              if (!w || k.local.nmse > w.nmse) worst.set(key, { nmse: k.local.nmse, maxAbs: Math.max(w?.maxAbs ?? 0, k.local.maxAbs), bound: k.bound.nmse });
            }
          } finally {
            await backend.dispose();
          }
        }
        for (const [key, w] of worst) t.diagnostic(`${op} ${key}: NMSE ${w.nmse.toExponential(1)} (bound ${w.bound.toExponential(1)}), max abs ${w.maxAbs.toExponential(1)}`);
        assert.deepEqual(failures, []);
      });
    }

    for (const kvType of kvTypes) {
      test(`KV state saved on one backend continues on the other (${kvType})`, () => kvTransfer(b.name, b.create, kvType));
      for (const mode of ['norm', 'neox'] as const) {
        test(`context shift equals a fresh run at the shifted positions (${mode}, ${kvType})`, (t) => contextShift(t, b.name, b.create, kvType, mode));
      }
    }

    test('misuse gives typed errors', async () => misuse(await b.create()));
  });
}

describe('reference backend', () => {
  test('misuse gives typed errors', () => misuse(ReferenceBackend.create()));

  test('refuses a type the TS codecs cannot decode before reading data', async () => {
    // IQ2_XXS needs ggml's lookup grids, which the codecs do not carry.
    const bytes = await encodeGGUF({ metadata: [['general.architecture', kv.string('test')]], tensors: [{ name: 'w', type: GGMLType.IQ2_XXS, shape: [256, 1], data: new Uint8Array(66) }] });
    const file = await readGGUF(new MemorySource(bytes));
    const r = ReferenceBackend.create();
    await assert.rejects(r.loadWeights(file, file.tensors), (e) => e instanceof WasmChordError && e.code === 'UNSUPPORTED_TENSOR_TYPE');
    assert.equal(r.supports(new GraphBuilder(1).embed('e', file.tensors[0]!)).ok, false);
  });
});

describe('the comparison catches a broken op', () => {
  const [addCase] = opCases([], ['f32']).add;
  const [ropeCase] = opCases([], ['f32']).rope;
  for (const [c, breakage] of [[addCase!, 'add'], [ropeCase!, 'rope']] as const) {
    test(`a wrong ${breakage} is reported at its node`, async () => {
      const r = await runCase(c, await fileOf(c), `broken-${breakage}`, new BrokenReference(breakage));
      assert.ok(r.divergence, `the broken ${breakage} passed`);
      assert.equal(r.divergence.op, breakage);
      assert.equal(r.divergence.label, breakage === 'add' ? 'sum' : 'rot');
      assert.equal(r.divergence.backend, `broken-${breakage}`);
      assert.ok(r.divergence.local.nmse > r.divergence.bound.nmse);
    });
  }
});

// ---- the KV contract ----------------------------------------------------------------------

/** Two attention layers of different shapes, so that the per-layer layout is exercised. */
const twoLayers = (kvType: KVCacheType): OpCase => ({
  op: 'attention',
  label: `kv transfer ${kvType}`,
  tensors: (['q0', 'k0', 'v0', 'q1', 'k1', 'v1'] as const).map((n) => ({ name: `in.${n}`, type: GGMLType.F32, shape: [n === 'q0' ? 64 : n[0] === 'q' ? 16 : n.endsWith('0') ? 32 : 8, VOCAB] })),
  steps: [{ pos0: 0, nTokens: 5 }, { pos0: 5, nTokens: 2 }],
  kvType,
  kvLayers: () => [{ nKvHead: 2, headDim: 16 }, { nKvHead: 1, headDim: 8 }],
  build: (g, w) => {
    const e = (n: string) => g.embed(n, w(`in.${n}`));
    const p = (layer: number, nHead: number, nKvHead: number, headDim: number) => ({ layer, nHead, nKvHead, headDim, scale: 1 / Math.sqrt(headDim), window: 0, softcap: 0 });
    g.attention('kqv_out', e('q0'), e('k0'), e('v0'), p(0, 4, 2, 16));
    return g.attention('kqv_out', e('q1'), e('k1'), e('v1'), p(1, 2, 1, 8));
  },
});

function assertSameKV(a: KVLayerData[], b: KVLayerData[], what: string): void {
  assert.equal(a.length, b.length, `${what}: layers`);
  a.forEach((l, i) => {
    assert.deepEqual(l.keys, b[i]!.keys, `${what}: layer ${i} keys`);
    assert.deepEqual(l.values, b[i]!.values, `${what}: layer ${i} values`);
  });
}

async function kvTransfer(name: string, create: () => Promise<Backend>, kvType: KVCacheType): Promise<void> {
  const c = twoLayers(kvType);
  const file = await fileOf(c);
  const w = weights(file);
  const spec = caseKVSpec(c, w);
  const x = await create();
  const ref = ReferenceBackend.create();
  try {
    for (const be of [x, ref]) await be.loadWeights(file, file.tensors);
    const [g0, g1] = c.steps.map((s) => caseGraph(c, s.nTokens, w));
    const [in0, in1] = c.steps.map((s, i) => ({ tokens: caseTokens(c, i), pos0: s.pos0 }));
    const cx = x.createKVCache(spec);
    const cr = ref.createKVCache(spec);
    const first = await new BackendComparison([{ name, backend: x, cache: cx }, { name: 'reference', backend: ref, cache: cr }], ref).step(g0!, in0!);
    assert.equal(first.divergence, undefined);

    // The stored keys and values are the exact inputs (or their f16 roundings): the same bytes.
    const n = in0!.tokens.length;
    const fromX = await x.readKV(cx, n);
    const fromRef = await ref.readKV(cr, n);
    assertSameKV(fromX, fromRef, `${name} vs reference layout`);

    // Each side continues from the other's state.
    const cx2 = x.createKVCache(spec);
    const cr2 = ref.createKVCache(spec);
    x.writeKV(cx2, n, fromRef);
    ref.writeKV(cr2, n, fromX);
    assertSameKV(await x.readKV(cx2, n), fromRef, `${name} write/read round trip`);
    const cmp = new BackendComparison([{ name, backend: x, cache: cx2 }, { name: 'reference', backend: ref, cache: cr2 }], ref);
    const next = await cmp.step(g1!, in1!);
    assert.equal(next.divergence, undefined, JSON.stringify(next.divergence));
    assert.ok(next.output.nmse <= boundFor(g1!.output, exact).nmse, `continued outputs differ: NMSE ${next.output.nmse}`);
    // ...and a restored state is the state: the same bits as continuing the original.
    const compiled = x.compile(g1!);
    assert.deepEqual(await x.run(compiled, in1!, cx2), await x.run(compiled, in1!, cx));
  } finally {
    await x.dispose();
    await ref.dispose();
  }
}

function decodeKV(bytes: Uint8Array, type: KVCacheType): Float32Array {
  const copy = bytes.slice();
  return type === 'f32' ? new Float32Array(copy.buffer) : Float32Array.from(new Uint16Array(copy.buffer), f16BitsToF32);
}

async function contextShift(t: TestContext, name: string, create: () => Promise<Backend>, kvType: KVCacheType, mode: RopeMode): Promise<void> {
  const [nHead, nKvHead, headDim] = [4, 2, 16];
  const nRot = mode === 'norm' ? 16 : 12; // NEOX with a partial rotation
  const c: OpCase = {
    op: 'attention',
    label: `context shift ${mode} ${kvType}`,
    tensors: [
      { name: 'in.q', type: GGMLType.F32, shape: [nHead * headDim, VOCAB] },
      { name: 'in.k', type: GGMLType.F32, shape: [nKvHead * headDim, VOCAB] },
      { name: 'in.v', type: GGMLType.F32, shape: [nKvHead * headDim, VOCAB] },
      ...(mode === 'norm' ? [{ name: 'rope_freqs', type: GGMLType.F32, shape: [nRot / 2], scale: 3, offset: 4 }] : []),
    ],
    steps: [],
    kvType,
    build: () => {
      throw new Error('built below');
    },
  };
  const file = await fileOf(c);
  const w = weights(file);
  const rope = (n: number) => ({ nHead: n, headDim, nRot, mode, freqBase: 10000, freqScale: mode === 'norm' ? 1 : 0.5, freqFactors: mode === 'norm' ? w('rope_freqs') : undefined });
  const graph = (nTokens: number) => {
    const g = new GraphBuilder(nTokens);
    const e = (n: string) => g.embed(n, w(`in.${n}`));
    const q = g.rope('Qcur_rope', e('q'), rope(nHead));
    const k = g.rope('Kcur_rope', e('k'), rope(nKvHead));
    return g.finish(g.attention('kqv_out', q, k, e('v'), { layer: 0, nHead, nKvHead, headDim, scale: 0.25, window: 0, softcap: 0 }));
  };
  const spec = { contextSize: 9, type: kvType, layers: [{ nKvHead, headDim, rope: rope(nKvHead) }] };
  const tokens = Int32Array.from([3, 14, 1, 5, 9, 2, 6, 12, 7]);
  const shift = { keep: 2, discard: 3, used: 8 };
  const kept = Int32Array.from([...tokens.subarray(0, 2), ...tokens.subarray(5, 8)]);
  const x = await create();
  const ref = ReferenceBackend.create();
  try {
    const shifted = new Map<Backend, ReturnType<Backend['createKVCache']>>();
    for (const be of [x, ref]) {
      await be.loadWeights(file, file.tensors);
      const cache = be.createKVCache(spec);
      await be.run(be.compile(graph(8)), { tokens: tokens.subarray(0, 8), pos0: 0 }, cache);
      await be.shiftKV(cache, shift);
      shifted.set(be, cache);
      // A fresh run of the kept tokens at their new positions.
      const fresh = be.createKVCache(spec);
      await be.run(be.compile(graph(5)), { tokens: kept, pos0: 0 }, fresh);
      const [a] = await be.readKV(cache, 5);
      const [f] = await be.readKV(fresh, 5);
      assert.deepEqual(a!.values, f!.values, `${be.kind}: moved values`);
      const e = measureError(decodeKV(f!.keys, kvType), decodeKV(a!.keys, kvType));
      t.diagnostic(`${be.kind}: shifted keys vs a fresh run: NMSE ${e.nmse.toExponential(1)} (bound ${KV_SHIFT_BOUNDS[kvType].nmse}), max abs ${e.maxAbs.toExponential(1)}`);
      assert.ok(e.nmse <= KV_SHIFT_BOUNDS[kvType].nmse, `${be.kind}: shifted keys NMSE ${e.nmse} vs a fresh run`);
    }
    // Both backends shift alike, and attend alike from the shifted caches.
    const [kx] = await x.readKV(shifted.get(x)!, 5);
    const [kr] = await ref.readKV(shifted.get(ref)!, 5);
    const e = measureError(decodeKV(kr!.keys, kvType), decodeKV(kx!.keys, kvType));
    t.diagnostic(`${name} vs reference, shifted keys: NMSE ${e.nmse.toExponential(1)}`);
    assert.ok(e.nmse <= KV_SHIFT_BOUNDS[kvType].nmse, `${name} vs reference shifted keys NMSE ${e.nmse}`);
    const cmp = new BackendComparison([{ name, backend: x, cache: shifted.get(x)! }, { name: 'reference', backend: ref, cache: shifted.get(ref)! }], ref);
    const r = await cmp.step(graph(1), { tokens: tokens.subarray(8, 9), pos0: 5 });
    assert.equal(r.divergence, undefined, JSON.stringify(r.divergence));
    assert.ok(r.output.nmse <= boundFor(graph(1).output, exact).nmse);
  } finally {
    await x.dispose();
    await ref.dispose();
  }
}

/** The typed errors of the contract. */
async function misuse(backend: Backend): Promise<void> {
  const c = twoLayers('f32');
  const file = await fileOf(c);
  const w = weights(file);
  const other = ReferenceBackend.create();
  try {
    await backend.loadWeights(file, file.tensors);
    await other.loadWeights(file, file.tensors);
    const spec = caseKVSpec(c, w);
    const g = caseGraph(c, 5, w);
    const compiled = backend.compile(g);
    const input = { tokens: caseTokens(c, 0), pos0: 0 };
    const code = (expected: string) => (e: unknown) => e instanceof WasmChordError && e.code === expected;
    await assert.rejects(backend.run(compiled, input, other.createKVCache(spec)), code('INVALID_ARGUMENT'), 'a cache of another backend');
    await assert.rejects(backend.run(other.compile(g), input, backend.createKVCache(spec)), code('INVALID_ARGUMENT'), 'a graph compiled by another backend');
    const released = backend.createKVCache(spec);
    backend.releaseKVCache(released);
    await assert.rejects(backend.run(compiled, input, released), code('DISPOSED'), 'a released cache');
    const cache = backend.createKVCache(spec);
    await assert.rejects(backend.run(compiled, { ...input, pos0: spec.contextSize - 4 }, cache), code('CONTEXT_FULL'), 'positions past the cache');
    await assert.rejects(backend.run(compiled, { ...input, tokens: input.tokens.subarray(1) }, cache), code('INVALID_ARGUMENT'), 'too few tokens');
    for (const bad of [-1, VOCAB, 100000]) {
      const tokens = input.tokens.slice();
      tokens[2] = bad;
      await assert.rejects(backend.run(compiled, { ...input, tokens }, cache), code('INVALID_ARGUMENT'), `token id ${bad}`);
    }
    const n = g.output.rows * g.output.cols;
    await assert.rejects(backend.run(compiled, input, cache, { output: new Float32Array(n + 1) }), code('INVALID_ARGUMENT'), 'an output of the wrong length');
    // An output array given receives the step's result, and is what run returns.
    const fresh = await backend.run(compiled, input, backend.createKVCache(spec));
    const output = new Float32Array(n).fill(NaN);
    assert.equal(await backend.run(compiled, input, backend.createKVCache(spec), { output }), output);
    assert.deepEqual(output, fresh);
    await assert.rejects(backend.readKV(cache, spec.contextSize + 1), code('INVALID_ARGUMENT'));
    assert.throws(() => backend.writeKV(cache, 1, [{ keys: new Uint8Array(3), values: new Uint8Array(3) }]), code('INVALID_ARGUMENT'));
    await assert.rejects(backend.shiftKV(cache, { keep: 0, discard: 1, used: 2 }), code('INVALID_ARGUMENT'), 'a shift without RoPE');
  } finally {
    await backend.dispose();
    await other.dispose();
  }
}
