/**
 * The argument checks of the Backend contract that every backend makes alike, so that misuse gives
 * the same typed errors whichever backend runs (the conformance suite's "misuse" test).
 */
import { WasmChordError } from '../errors.js';
import { kvElementBytes, type Backend, type KVCacheSpec, type KVLayerData, type KVShift } from './backend.js';
import type { Graph } from './graph.js';

/** RunOptions.output, when given: a Float32Array of exactly the graph output's length (checked before the run). */
export function checkRunOutput(graph: Graph, output: Float32Array | undefined): void {
  if (output === undefined) return;
  const n = graph.output.rows * graph.output.cols;
  if (!(output instanceof Float32Array) || output.length !== n) {
    throw new WasmChordError('INVALID_ARGUMENT', `output must be a Float32Array of ${n} floats, the graph's output`);
  }
}

/** A run's result: `values` written into RunOptions.output when one was given, else `values` (a fresh array). */
export function runResult(values: Float32Array, output: Float32Array | undefined): Float32Array {
  if (!output) return values;
  output.set(values);
  return output;
}

/** A cache spec this backend can create: a KV type it supports, a positive whole context size. */
export function checkKVSpec(spec: KVCacheSpec, backend: Backend): void {
  if (!backend.capabilities.kvTypes.includes(spec.type)) throw new WasmChordError('INVALID_ARGUMENT', `KV cache type ${String(spec.type)}`);
  if (!(Number.isInteger(spec.contextSize) && spec.contextSize > 0)) throw new WasmChordError('INVALID_ARGUMENT', `context size ${spec.contextSize}`);
}

/** n positions of a cache: 0..contextSize. */
export function checkKVCount(spec: KVCacheSpec, n: number): void {
  if (!(Number.isInteger(n) && n >= 0 && n <= spec.contextSize)) throw new WasmChordError('INVALID_ARGUMENT', `${n} positions in a cache of ${spec.contextSize}`);
}

/** KV data for positions [0, n) of every layer, each part exactly its size (checked before any write). */
export function checkKVData(spec: KVCacheSpec, n: number, layers: readonly KVLayerData[]): void {
  checkKVCount(spec, n);
  if (layers.length !== spec.layers.length) throw new WasmChordError('INVALID_ARGUMENT', `KV data for ${layers.length} layers, not ${spec.layers.length}`);
  spec.layers.forEach((layer, l) => {
    const expected = layer.nKvHead * n * layer.headDim * kvElementBytes(spec.type);
    for (const which of ['keys', 'values'] as const) {
      const got = layers[l]![which].length;
      if (got !== expected) throw new WasmChordError('INVALID_ARGUMENT', `layer ${l} ${which}: ${got} bytes, not ${expected}`);
    }
  });
}

/** A context shift the cache can make: a real range, and RoPE on every layer to re-rotate keys. */
export function checkKVShift(spec: KVCacheSpec, shift: KVShift): void {
  const { keep, discard, used } = shift;
  checkKVCount(spec, used);
  if (!(Number.isInteger(keep) && Number.isInteger(discard) && keep >= 0 && discard > 0 && keep + discard <= used)) {
    throw new WasmChordError('INVALID_ARGUMENT', `cannot shift ${keep}/${discard}/${used}`);
  }
  const unroped = spec.layers.findIndex((l) => !l.rope);
  if (unroped >= 0) throw new WasmChordError('INVALID_ARGUMENT', `layer ${unroped} has no RoPE: its cache cannot be shifted`);
}

/** Every node of the graph is one the backend runs (compile's first check). */
export function checkSupported(backend: Backend, graph: Graph): void {
  for (const node of graph.nodes) {
    const s = backend.supports(node);
    if (!s.ok) throw new WasmChordError('UNSUPPORTED_TENSOR_TYPE', s.reason);
  }
}
