/**
 * The seam between the engine and a compute backend (DESIGN principle 2): backends own tensor
 * memory and hand out opaque handles; the engine builds graphs over those handles and reads back
 * only the output (logits).
 */
import type { GGUFFile, GGUFTensorInfo } from '../gguf/reader.js';
import type { Graph, GraphNode, WeightHandle } from './graph.js';

export type KVCacheType = 'f32' | 'f16';

export interface KVCacheSpec {
  /** Positions the cache holds. */
  readonly contextSize: number;
  readonly type: KVCacheType;
  /** Per layer: KV heads and head size. */
  readonly layers: readonly { readonly nKvHead: number; readonly headDim: number }[];
}

/** A session's KV cache, owned by the backend that created it. */
export interface KVCacheHandle {
  readonly spec: KVCacheSpec;
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
}

export interface Backend {
  readonly kind: 'cpu' | 'webgpu';
  /** A short description for logs: kernel build, threads, adapter. */
  readonly description: string;
  /**
   * Streams the given tensors from the file into backend memory, tensor by tensor, never
   * holding a second copy. Refuses a tensor type the backend cannot compute with
   * UNSUPPORTED_TENSOR_TYPE before reading any data.
   */
  loadWeights(file: GGUFFile, tensors: readonly GGUFTensorInfo[], options?: LoadWeightsOptions): Promise<Map<string, WeightHandle>>;
  createKVCache(spec: KVCacheSpec): KVCacheHandle;
  /**
   * Runs one step: `tokens` are the graph's input ids (graph.nTokens of them) and the graph's
   * attention nodes append to `cache` at graph.pos0. Resolves to the output node's values,
   * [rows][cols] row-major.
   */
  run(graph: Graph, tokens: Int32Array, cache: KVCacheHandle, options?: RunOptions): Promise<Float32Array>;
  releaseKVCache(cache: KVCacheHandle): void;
  dispose(): Promise<void>;
}
