/**
 * The WebAssembly CPU backend: weights, KV caches and activations live in one Wasm memory;
 * graphs run as planned sequences of AssemblyScript kernel calls.
 */
import { WasmChordError } from '../../errors.js';
import type { GGUFFile, GGUFTensorInfo } from '../../gguf/reader.js';
import { throwIfAborted } from '../../gguf/byte-source.js';
import { GGMLType, typeName } from '../../quant/types.js';
import type { Backend, KVCacheHandle, KVCacheSpec, LoadWeightsOptions, RunOptions } from '../backend.js';
import type { Graph, WeightHandle } from '../graph.js';
import { WasmArena } from './arena.js';
import { instantiateKernels, selectKernels, type KernelExports, type KernelVariant } from './kernel-module.js';
import { planGraph, type KernelCall } from './planner.js';

export interface CpuBackendOptions {
  /** Force a kernel build; by default the best one this engine runs. */
  kernels?: KernelVariant;
}

interface CpuWeight extends WeightHandle {
  readonly ptr: number;
}

class CpuKVCache implements KVCacheHandle {
  constructor(
    readonly spec: KVCacheSpec,
    readonly owner: CpuBackend,
    readonly keys: number[],
    readonly values: number[],
  ) {}
}

/** Bytes read per request while streaming weights: bounds abort latency and HTTP range sizes. */
const LOAD_CHUNK = 16 << 20;

export class CpuBackend implements Backend {
  readonly kind = 'cpu' as const;
  readonly description: string;
  readonly #k: KernelExports;
  readonly #arena: WasmArena;
  #scratch: { ptr: number; bytes: number } | undefined;
  #disposed = false;

  private constructor(variant: KernelVariant, k: KernelExports, arena: WasmArena) {
    this.description = `wasm-simd128${variant === 'relaxed' ? '+relaxed' : ''}, 1 thread`;
    this.#k = k;
    this.#arena = arena;
  }

  static async create(options: CpuBackendOptions = {}): Promise<CpuBackend> {
    const { variant, module } = await selectKernels(options.kernels);
    const memory = new WebAssembly.Memory({ initial: 16 });
    const k = await instantiateKernels(module, memory);
    return new CpuBackend(variant, k, new WasmArena(memory, k.heap_base()));
  }

  #kernel(fn: string): ((...args: number[]) => number) | undefined {
    const f = (this.#k as unknown as Record<string, unknown>)[fn];
    return typeof f === 'function' ? (f as (...args: number[]) => number) : undefined;
  }

  /** Weights must be computable here: matrices need a matmul kernel, vectors must be F32. */
  #checkSupported(t: GGUFTensorInfo): void {
    const name = typeName(t.type);
    const ok = t.shape.length === 1 || t.shape.every((d, i) => i === 0 || d === 1)
      ? t.type === GGMLType.F32
      : this.#kernel(`matmul_${name.toLowerCase()}`) !== undefined;
    if (!ok) {
      throw new WasmChordError('UNSUPPORTED_TENSOR_TYPE', `tensor ${t.name} is ${name}, which the CPU backend cannot compute`);
    }
  }

  async loadWeights(file: GGUFFile, tensors: readonly GGUFTensorInfo[], options: LoadWeightsOptions = {}): Promise<Map<string, WeightHandle>> {
    this.#checkAlive();
    tensors.forEach((t) => this.#checkSupported(t));
    if (tensors.length === 0) return new Map();
    // Tensors keep their file layout: one block covering them, filled by sequential reads.
    const start = Math.min(...tensors.map((t) => t.offset));
    const end = Math.max(...tensors.map((t) => t.offset + t.byteLength));
    const total = end - start;
    const base = this.#arena.alloc(total, `the weights (${(total / 2 ** 20).toFixed(1)} MiB)`);
    try {
      for (let done = 0; done < total; done += LOAD_CHUNK) {
        throwIfAborted(options.signal);
        const n = Math.min(LOAD_CHUNK, total - done);
        await file.source.readInto(file.dataOffset + start + done, this.#arena.bytes(base + done, n), options.signal);
        options.onProgress?.({ loadedBytes: done + n, totalBytes: total });
      }
    } catch (err) {
      this.#arena.free(base);
      throw err;
    }
    return new Map(
      tensors.map((t) => [t.name, { name: t.name, type: t.type, shape: t.shape, ptr: base + t.offset - start } satisfies CpuWeight]),
    );
  }

  createKVCache(spec: KVCacheSpec): KVCacheHandle {
    this.#checkAlive();
    const elementBytes = spec.type === 'f16' ? 2 : 4;
    const keys: number[] = [];
    const values: number[] = [];
    try {
      for (const layer of spec.layers) {
        const bytes = spec.contextSize * layer.nKvHead * layer.headDim * elementBytes;
        keys.push(this.#arena.alloc(bytes, 'the KV cache'));
        values.push(this.#arena.alloc(bytes, 'the KV cache'));
      }
    } catch (err) {
      [...keys, ...values].forEach((p) => this.#arena.free(p));
      throw err;
    }
    return new CpuKVCache(spec, this, keys, values);
  }

  releaseKVCache(cache: KVCacheHandle): void {
    const c = this.#own(cache);
    [...c.keys, ...c.values].forEach((p) => this.#arena.free(p));
    c.keys.length = 0;
    c.values.length = 0;
  }

  async run(graph: Graph, tokens: Int32Array, cache: KVCacheHandle, options: RunOptions = {}): Promise<Float32Array> {
    this.#checkAlive();
    const kv = this.#own(cache);
    if (kv.keys.length === 0) throw new WasmChordError('DISPOSED', 'this KV cache was released');
    if (tokens.length !== graph.nTokens) throw new Error(`run: ${tokens.length} tokens for a graph of ${graph.nTokens}`);
    const plan = planGraph(graph, {
      weightPtr: (w) => (w as CpuWeight).ptr,
      kv: { type: cache.spec.type, contextSize: cache.spec.contextSize, keys: (l) => kv.keys[l]!, values: (l) => kv.values[l]! },
      attentionScratchBytes: (nKv, headDim) => this.#k.attention_scratch_bytes(nKv, headDim),
      reserveScratch: (bytes) => this.#reserveScratch(bytes),
    });
    this.#arena.i32(plan.tokensPtr, tokens.length).set(tokens);
    const positions = this.#arena.i32(plan.positionsPtr, tokens.length);
    for (let i = 0; i < tokens.length; i++) positions[i] = graph.pos0 + i;
    for (const step of plan.steps) {
      this.#call(step);
      if (options.inspect && step.completes) {
        const node = graph.nodes[step.completes.node]!;
        options.inspect(node, this.#arena.f32(step.completes.ptr, node.rows * node.cols).slice());
      }
    }
    return this.#arena.f32(plan.outputPtr, plan.outputLength).slice();
  }

  #call(step: KernelCall): void {
    const f = this.#kernel(step.fn);
    if (!f) throw new WasmChordError('UNSUPPORTED_TENSOR_TYPE', `the CPU kernels have no ${step.fn}`);
    f(...step.args);
  }

  #reserveScratch(bytes: number): number {
    if (!this.#scratch || this.#scratch.bytes < bytes) {
      if (this.#scratch) this.#arena.free(this.#scratch.ptr);
      this.#scratch = undefined;
      this.#scratch = { ptr: this.#arena.alloc(bytes, 'activations'), bytes };
    }
    return this.#scratch.ptr;
  }

  #own(cache: KVCacheHandle): CpuKVCache {
    if (!(cache instanceof CpuKVCache) || cache.owner !== this) {
      throw new WasmChordError('INVALID_ARGUMENT', 'this KV cache belongs to another backend');
    }
    return cache;
  }

  #checkAlive(): void {
    if (this.#disposed) throw new WasmChordError('DISPOSED', 'the CPU backend was disposed');
  }

  async dispose(): Promise<void> {
    this.#disposed = true;
  }
}
