/**
 * The seam between the engine and a compute backend (DESIGN principle 2): backends own tensor
 * memory and hand out opaque handles; the engine builds graphs over those handles, has the
 * backend compile each graph shape once, and reads back only the output (logits).
 */
import type { GGUFFile, GGUFTensorInfo } from '../gguf/reader.js';
import type { GGMLTypeId } from '../quant/types.js';
import type { Graph, GraphNode, RopeParams } from './graph.js';

export type BackendKind = 'reference' | 'cpu' | 'webgpu';

export type KVCacheType = 'f32' | 'f16';

export interface KVLayerSpec {
  readonly nKvHead: number;
  readonly headDim: number;
  /** How the layer's keys were rotated, so that a context shift can re-position them. */
  readonly rope?: RopeParams;
}

export interface KVCacheSpec {
  /** Positions the cache holds. */
  readonly contextSize: number;
  readonly type: KVCacheType;
  readonly layers: readonly KVLayerSpec[];
}

/** A session's KV cache, owned by the backend that created it. */
export interface KVCacheHandle {
  readonly spec: KVCacheSpec;
}

/**
 * One layer's cached keys and values for positions [0, n): [kvHead][position][headDim]
 * elements of the cache type (f32, or f16 bit patterns), little-endian.
 */
export interface KVLayerData {
  readonly keys: Uint8Array;
  readonly values: Uint8Array;
}

/**
 * Context shift: positions [keep, keep+discard) are dropped and [keep+discard, used) move down by
 * `discard`, their keys rotated by -discard positions (llama.cpp's K-shift).
 */
export interface KVShift {
  readonly keep: number;
  readonly discard: number;
  readonly used: number;
}

export interface LoadProgress {
  readonly loadedBytes: number;
  readonly totalBytes: number;
}

export interface LoadWeightsOptions {
  signal?: AbortSignal;
  onProgress?: (progress: LoadProgress) => void;
}

/** Called with each node's output as soon as it is computed (debugging, backend comparison). */
export type NodeInspector = (node: GraphNode, values: Float32Array) => void;

export interface RunOptions {
  inspect?: NodeInspector;
  /**
   * Where the output goes (exactly the graph output's length): run writes it there and returns
   * it, instead of a new array each step (a 128K vocabulary's logits are 512 KiB a token).
   */
  output?: Float32Array;
}

/** What one run of a compiled graph needs besides the graph. */
export interface StepInput {
  /** The step's token ids (graph.nTokens of them). */
  readonly tokens: Int32Array;
  /** Position of the first token (how many the cache already holds). */
  readonly pos0: number;
}

/** A graph prepared for repeated runs on one backend (plans, pipelines, buffers). */
export interface CompiledGraph {
  readonly graph: Graph;
}

/** What Backend.runArgmax chose. */
export interface ArgmaxSteps {
  readonly tokens: readonly number[];
  /** The logits of the step after the last token, when they hold NaN or +Infinity. */
  readonly invalid?: Float32Array;
}

export interface BackendCapabilities {
  /** Weight tensor types its matmuls and embeddings compute with. */
  readonly tensorTypes: ReadonlySet<GGMLTypeId>;
  readonly kvTypes: readonly KVCacheType[];
  /** The largest single buffer (one tensor, one KV layer) it can hold, in bytes. */
  readonly maxBufferBytes: number;
  /** The memory it can hold in all (weights, KV caches, scratch), in bytes. */
  readonly memoryBytes: number;
}

/** Whether a backend runs a node, and if not, why (for fallbacks and error messages). */
export type Support = { readonly ok: true } | { readonly ok: false; readonly reason: string };

export interface Backend {
  readonly kind: BackendKind;
  /** A short description for logs: kernel build, threads, adapter. */
  readonly description: string;
  readonly capabilities: BackendCapabilities;
  /** Whether this backend computes `node` (its op, weight types and sizes). */
  supports(node: GraphNode): Support;
  /**
   * Streams the given tensors from the file into backend memory, tensor by tensor, never
   * holding a second copy. Refuses a tensor type the backend cannot compute with
   * UNSUPPORTED_TENSOR_TYPE before reading any data. Graphs then refer to these tensors by
   * their infos (a GGUFTensorInfo is a WeightHandle), which the backend resolves by name.
   */
  loadWeights(file: GGUFFile, tensors: readonly GGUFTensorInfo[], options?: LoadWeightsOptions): Promise<void>;
  createKVCache(spec: KVCacheSpec): KVCacheHandle;
  /** Prepares a graph once; the result runs at any position, with any cache of the same layout. */
  compile(graph: Graph): CompiledGraph;
  /**
   * Runs one step: the graph's attention nodes append to `cache` at input.pos0. Resolves to the
   * output node's values, [rows][cols] row-major.
   */
  run(compiled: CompiledGraph, input: StepInput, cache: KVCacheHandle, options?: RunOptions): Promise<Float32Array>;
  /**
   * Optional: greedy decoding where the logits are (a GPU then reads back token ids, not logits).
   * Runs the step, takes the argmax of the output's last row (ties to the lowest index) as the
   * next token, and, for `steps` > 1 on a one-token graph, runs that token as the next step
   * without a round trip to the caller, `steps` times in all. Resolves to the chosen tokens in
   * order; the cache then holds the input and all of them but the last. When a step's logits hold
   * NaN or +Infinity, resolves to the tokens before it and that step's logits (`invalid`), for the
   * engine to report. Without it the engine runs `run` and takes the argmax itself.
   */
  runArgmax?(compiled: CompiledGraph, input: StepInput, cache: KVCacheHandle, steps?: number): Promise<ArgmaxSteps>;
  /** Copies out positions [0, n) of every layer (for saving a session; a GPU reads back). */
  readKV(cache: KVCacheHandle, n: number): Promise<KVLayerData[]>;
  /** Writes positions [0, n) of every layer (restoring a saved session). */
  writeKV(cache: KVCacheHandle, n: number, layers: readonly KVLayerData[]): void;
  /** Re-positions the cache for a context shift; every layer must have `rope`. */
  shiftKV(cache: KVCacheHandle, shift: KVShift): Promise<void>;
  releaseKVCache(cache: KVCacheHandle): void;
  dispose(): Promise<void>;
}

/** Bytes of one cached element. */
export function kvElementBytes(type: KVCacheType): number {
  return type === 'f16' ? 2 : 4;
}

/** Bytes of one layer's keys (or values) in a cache of `spec`: every backend's KV buffers. */
export function kvLayerBytes(spec: KVCacheSpec, layer: KVLayerSpec): number {
  return spec.contextSize * layer.nKvHead * layer.headDim * kvElementBytes(spec.type);
}

/** Bytes of a whole KV cache (keys and values of every layer). */
export function kvCacheBytes(spec: KVCacheSpec): number {
  return spec.layers.reduce((n, l) => n + 2 * kvLayerBytes(spec, l), 0);
}
