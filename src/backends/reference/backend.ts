/**
 * The reference backend: the readable oracle every backend is tested against (DESIGN: "plain
 * TypeScript backend"). A step is the graph's nodes evaluated in order by the functions of
 * ops.ts. No speed goal: weights are decoded to f32 once at load (4 bytes a weight: meant for
 * the small models of tests and for debugging); the KV cache is plain f32 arrays (holding f16
 * values for an f16 cache).
 */
import { WasmChordError } from '../../errors.js';
import type { GGUFFile, GGUFTensorInfo } from '../../gguf/reader.js';
import { throwIfAborted } from '../../gguf/byte-source.js';
import { canDequantize, dequantize, GGMLType, quantize, vecDotType, type GGMLTypeId, f16BitsToF32, f32ToF16Bits, GGML_TYPES, roundToF16, typeName } from '../../quant/index.js';
import {
  type Backend,
  type BackendCapabilities,
  type CompiledGraph,
  type KVCacheHandle,
  type KVCacheSpec,
  type KVLayerData,
  type KVShift,
  type LoadWeightsOptions,
  type RunOptions,
  type StepInput,
  type Support,
} from '../backend.js';
import { weightsOf, type Graph, type GraphNode, type NodeOf, type OpName, type WeightHandle } from '../graph.js';
import { checkKVCount, checkKVData, checkKVShift, checkKVSpec, checkRunOutput, checkSupported, runResult } from '../contract-checks.js';
import { REFERENCE_OPS, rotateHead, type OpContext, type OpFunction, type ReferenceKVLayer } from './ops.js';

export interface EvaluateOptions {
  /** Matmul inputs pass through their weight's vec_dot format (as ggml's CPU quantizes them). */
  readonly ggmlActivations?: boolean;
}

/** x as ggml's CPU holds a matmul's activations over weights of `type` (its vec_dot format). */
function ggmlActivations(type: GGMLTypeId, x: Float32Array): Float32Array {
  let act: number = GGMLType.F32;
  try {
    act = vecDotType(type);
  } catch {
    // No vec_dot in ggml for this type (F64, integers): its matmul reads f32.
  }
  return act === GGMLType.F32 ? x : dequantize(act, quantize(act, x), x.length);
}

class ReferenceKVCache implements KVCacheHandle {
  layers: ReferenceKVLayer[] | undefined;
  constructor(
    readonly spec: KVCacheSpec,
    readonly owner: ReferenceBackend,
  ) {
    this.layers = spec.layers.map((l) => {
      const size = l.nKvHead * spec.contextSize * l.headDim;
      return { keys: new Float32Array(size), values: new Float32Array(size), nKvHead: l.nKvHead, headDim: l.headDim, contextSize: spec.contextSize, f16: spec.type === 'f16' };
    });
  }
}

class ReferenceCompiledGraph implements CompiledGraph {
  constructor(
    readonly graph: Graph,
    readonly owner: ReferenceBackend,
  ) {}
}

/** A loaded tensor: its info and its bytes, as in the file. */
interface Tensor {
  readonly info: WeightHandle;
  /** The tensor decoded once at load by the TS codecs (the oracle trades memory for time). */
  readonly values: Float32Array;
}

export class ReferenceBackend implements Backend {
  readonly kind = 'reference' as const;
  readonly description = 'TypeScript, exact math: f64 sums, weights decoded by the TS codecs';
  readonly capabilities: BackendCapabilities = {
    tensorTypes: new Set(GGML_TYPES.map((t) => t.id).filter(canDequantize)),
    kvTypes: ['f32', 'f16'],
    // One typed array: 2 GiB is what every JS engine allocates.
    maxBufferBytes: 2 ** 31 - 1,
    // Bounded only by the JS heap, which JS cannot query portably.
    memoryBytes: Number.MAX_SAFE_INTEGER,
  };
  readonly #weights = new Map<string, Tensor>();
  #disposed = false;

  static create(): ReferenceBackend {
    return new ReferenceBackend();
  }

  supports(node: GraphNode): Support {
    for (const w of weightsOf(node)) {
      if (!canDequantize(w.type)) return { ok: false, reason: `tensor ${w.name} is ${typeName(w.type)}, which the TS codecs cannot decode` };
    }
    return { ok: true };
  }

  async loadWeights(file: GGUFFile, tensors: readonly GGUFTensorInfo[], options: LoadWeightsOptions = {}): Promise<void> {
    this.#checkAlive();
    for (const t of tensors) {
      if (!canDequantize(t.type)) throw new WasmChordError('UNSUPPORTED_TENSOR_TYPE', `tensor ${t.name} is ${typeName(t.type)}, which the TS codecs cannot decode`);
    }
    const totalBytes = tensors.reduce((n, t) => n + t.byteLength, 0);
    let loadedBytes = 0;
    for (const t of tensors) {
      throwIfAborted(options.signal);
      const bytes = new Uint8Array(t.byteLength);
      await file.readTensorInto(t, bytes, options.signal);
      this.#weights.set(t.name, { info: t, values: dequantize(t.type, bytes, t.elementCount) });
      loadedBytes += t.byteLength;
      options.onProgress?.({ loadedBytes, totalBytes });
    }
  }

  #tensor(w: WeightHandle): Tensor {
    const t = this.#weights.get(w.name);
    if (!t) throw new WasmChordError('INVALID_ARGUMENT', `tensor ${w.name} was not loaded on this backend`);
    if (t.info.type !== w.type) throw new WasmChordError('INVALID_ARGUMENT', `tensor ${w.name} was loaded as ${typeName(t.info.type)}, not ${typeName(w.type)}`);
    return t;
  }

  /** Rows [first, first+count) of a weight, decoded (a view: ops only read it). */
  #weightRows(w: WeightHandle, first: number, count: number): Float32Array {
    const { values, info } = this.#tensor(w);
    const width = info.shape[0]!;
    return values.subarray(first * width, (first + count) * width);
  }

  createKVCache(spec: KVCacheSpec): KVCacheHandle {
    this.#checkAlive();
    checkKVSpec(spec, this);
    return new ReferenceKVCache(spec, this);
  }

  releaseKVCache(cache: KVCacheHandle): void {
    this.#own(cache).layers = undefined;
  }

  compile(graph: Graph): CompiledGraph {
    this.#checkAlive();
    checkSupported(this, graph);
    for (const node of graph.nodes) for (const w of weightsOf(node)) this.#tensor(w);
    return new ReferenceCompiledGraph(graph, this);
  }

  async run(compiled: CompiledGraph, input: StepInput, cache: KVCacheHandle, options: RunOptions = {}): Promise<Float32Array> {
    this.#checkAlive();
    if (!(compiled instanceof ReferenceCompiledGraph) || compiled.owner !== this) {
      throw new WasmChordError('INVALID_ARGUMENT', 'this graph was compiled for another backend');
    }
    const { graph } = compiled;
    if (input.tokens.length !== graph.nTokens) throw new WasmChordError('INVALID_ARGUMENT', `${input.tokens.length} tokens for a graph of ${graph.nTokens}`);
    checkRunOutput(graph, options.output);
    const values = new Map<number, Float32Array>();
    for (const node of graph.nodes) {
      const y = this.evaluate(node, (n) => values.get(n.id)!, input, cache);
      values.set(node.id, y);
      options.inspect?.(node, y.slice());
    }
    const output = values.get(graph.output.id)!;
    return runResult(options.output ? output : output.slice(), options.output);
  }

  /**
   * One node on given input values, at the step's positions, appending to `cache` when it is an
   * attention node. The divergence tool uses this to judge each node of another backend on that
   * backend's own inputs.
   */
  evaluate(node: GraphNode, value: (input: GraphNode) => Float32Array, input: StepInput, cache: KVCacheHandle, options: EvaluateOptions = {}): Float32Array {
    this.#checkAlive();
    const kv = this.#layers(cache);
    const { tokens, pos0 } = input;
    if (!(Number.isInteger(pos0) && pos0 >= 0 && pos0 + tokens.length <= cache.spec.contextSize)) {
      throw new WasmChordError('CONTEXT_FULL', `positions ${pos0}..${pos0 + tokens.length - 1} do not fit a context of ${cache.spec.contextSize}`);
    }
    const context: OpContext = {
      value,
      weightRows: (w, first, count) => this.#weightRows(w, first, count),
      tokens,
      pos0,
      activations: (w, x) => (options.ggmlActivations ? ggmlActivations(w.type, x) : x),
      kvLayer: (layer, nKvHead, headDim) => {
        const l = kv[layer];
        if (!l || l.nKvHead !== nKvHead || l.headDim !== headDim) {
          throw new WasmChordError('INVALID_ARGUMENT', `the KV cache has no layer ${layer} of ${nKvHead} heads of ${headDim}`);
        }
        return l;
      },
    };
    return this.op(node, context);
  }

  /** Evaluates one op (a subclass may override it: the conformance suite breaks one on purpose). */
  protected op(node: GraphNode, context: OpContext): Float32Array {
    return (REFERENCE_OPS[node.op] as OpFunction<OpName>)(node as NodeOf<OpName>, context);
  }

  async readKV(cache: KVCacheHandle, n: number): Promise<KVLayerData[]> {
    const layers = this.#layers(cache);
    checkKVCount(cache.spec, n);
    const f16 = cache.spec.type === 'f16';
    const encode = (a: Float32Array, l: ReferenceKVLayer) => {
      const out = f16 ? new Uint16Array(l.nKvHead * n * l.headDim) : new Float32Array(l.nKvHead * n * l.headDim);
      for (let h = 0; h < l.nKvHead; h++) {
        const src = a.subarray(h * l.contextSize * l.headDim, (h * l.contextSize + n) * l.headDim);
        out.set(f16 ? Array.from(src, f32ToF16Bits) : src, h * n * l.headDim);
      }
      return new Uint8Array(out.buffer);
    };
    return layers.map((l) => ({ keys: encode(l.keys, l), values: encode(l.values, l) }));
  }

  writeKV(cache: KVCacheHandle, n: number, data: readonly KVLayerData[]): void {
    const layers = this.#layers(cache);
    checkKVData(cache.spec, n, data);
    const f16 = cache.spec.type === 'f16';
    layers.forEach((l, i) => {
      for (const which of ['keys', 'values'] as const) {
        const bytes = data[i]![which];
        const copy = bytes.slice(); // aligned
        const src = f16 ? Array.from(new Uint16Array(copy.buffer), f16BitsToF32) : new Float32Array(copy.buffer);
        for (let h = 0; h < l.nKvHead; h++) {
          l[which].set(src.slice(h * n * l.headDim, (h + 1) * n * l.headDim), h * l.contextSize * l.headDim);
        }
      }
    });
  }

  async shiftKV(cache: KVCacheHandle, shift: KVShift): Promise<void> {
    const layers = this.#layers(cache);
    const { keep, discard, used } = shift;
    checkKVShift(cache.spec, shift);
    const store = cache.spec.type === 'f16' ? roundToF16 : Math.fround;
    layers.forEach((l, i) => {
      const rope = cache.spec.layers[i]!.rope!;
      const factors = rope.freqFactors ? this.#weightRows(rope.freqFactors, 0, 1) : undefined;
      for (let h = 0; h < l.nKvHead; h++) {
        const at = (p: number) => (h * l.contextSize + p) * l.headDim;
        l.keys.copyWithin(at(keep), at(keep + discard), at(used));
        l.values.copyWithin(at(keep), at(keep + discard), at(used));
        // The keys were rotated at their old positions: turn them back by `discard`.
        for (let p = keep; p < used - discard; p++) {
          const row = l.keys.subarray(at(p), at(p + 1));
          rotateHead(row, row, 0, -discard, rope, factors);
          row.set(row.map(store));
        }
      }
    });
  }

  #own(cache: KVCacheHandle): ReferenceKVCache {
    if (!(cache instanceof ReferenceKVCache) || cache.owner !== this) {
      throw new WasmChordError('INVALID_ARGUMENT', 'this KV cache belongs to another backend');
    }
    return cache;
  }

  #layers(cache: KVCacheHandle): ReferenceKVLayer[] {
    const layers = this.#own(cache).layers;
    if (!layers) throw new WasmChordError('DISPOSED', 'this KV cache was released');
    return layers;
  }

  #checkAlive(): void {
    if (this.#disposed) throw new WasmChordError('DISPOSED', 'the reference backend was disposed');
  }

  async dispose(): Promise<void> {
    this.#disposed = true;
    this.#weights.clear();
  }
}
