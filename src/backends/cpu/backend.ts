/**
 * The WebAssembly CPU backend: weights, KV caches and activations live in one Wasm memory;
 * graphs compile once per shape into sequences of AssemblyScript kernel calls, re-run with the
 * step's positions and cache pointers patched in.
 */
import { WasmChordError } from '../../errors.js';
import type { GGUFFile, GGUFTensorInfo } from '../../gguf/reader.js';
import { throwIfAborted } from '../../gguf/byte-source.js';
import { GGMLType, typeName, type GGMLTypeId } from '../../quant/types.js';
import {
  kvElementBytes,
  type Backend,
  type BackendCapabilities,
  type CompiledGraph,
  type KVCacheHandle,
  type KVCacheSpec,
  type KVCacheType,
  type KVLayerData,
  type KVShift,
  type LoadWeightsOptions,
  type RunOptions,
  type StepInput,
  type Support,
} from '../backend.js';
import { weightsOf, type Graph, type GraphNode, type WeightHandle } from '../graph.js';
import { WasmArena } from './arena.js';
import { instantiateKernels, selectKernels, type KernelExports, type KernelVariant } from './kernel-module.js';
import { runMoe } from './moe.js';
import { planGraph, type KernelCall, type Patch, type Plan } from './planner.js';

export interface CpuBackendOptions {
  /** Force a kernel build; by default the best one this engine runs. */
  kernels?: KernelVariant;
}

class CpuKVCache implements KVCacheHandle {
  released = false;
  constructor(
    readonly spec: KVCacheSpec,
    readonly owner: CpuBackend,
    readonly keys: number[],
    readonly values: number[],
  ) {}
}

/** A plan bound to a scratch block address, with reusable argument arrays. */
interface BoundPlan {
  readonly plan: Plan;
  base: number;
  /** Per step: the arguments with scratch offsets made absolute (patches filled per run). */
  readonly args: number[][];
}

class CpuCompiledGraph implements CompiledGraph {
  /** One plan per KV cache element type (the attention kernels differ). */
  readonly plans = new Map<KVCacheType, BoundPlan>();
  /** Token ids must index every embedding table (the kernels read rows unchecked). */
  readonly tokenLimit: number;
  constructor(
    readonly graph: Graph,
    readonly owner: CpuBackend,
  ) {
    const tables = graph.nodes.flatMap((n) => (n.op === 'embed' ? [n.table.shape[1] ?? 1] : []));
    this.tokenLimit = Math.min(Infinity, ...tables);
  }
}

/** Bytes read per request while streaming weights: bounds abort latency and HTTP range sizes. */
const LOAD_CHUNK = 16 << 20;
/** wasm32 addresses 4 GiB. */
const WASM32_BYTES = 2 ** 32;
/** ggml's f16 GELU table: 65536 f16 entries. */
const GELU_TABLE_BYTES = 65536 * 2;

/** Weight types with matmul and row-dequantize kernels. */
const MATRIX_TYPES: readonly GGMLTypeId[] = [
  GGMLType.F32, GGMLType.F16, GGMLType.BF16, GGMLType.Q4_0, GGMLType.Q4_1, GGMLType.Q5_0, GGMLType.Q5_1, GGMLType.Q8_0,
  GGMLType.Q2_K, GGMLType.Q3_K, GGMLType.Q4_K, GGMLType.Q5_K, GGMLType.Q6_K, GGMLType.IQ4_NL, GGMLType.IQ4_XS,
];

export class CpuBackend implements Backend {
  readonly kind = 'cpu' as const;
  readonly description: string;
  readonly capabilities: BackendCapabilities;
  readonly #k: KernelExports;
  readonly #arena: WasmArena;
  readonly #weights = new Map<string, number>();
  #scratch: { ptr: number; bytes: number } | undefined;
  #attentionScratch: { ptr: number; bytes: number } | undefined;
  #geluTable = 0;
  #disposed = false;

  private constructor(variant: KernelVariant, k: KernelExports, arena: WasmArena) {
    this.description = `wasm-simd128${variant === 'relaxed' ? '+relaxed' : ''}, 1 thread`;
    this.#k = k;
    this.#arena = arena;
    this.capabilities = {
      tensorTypes: new Set(MATRIX_TYPES.filter((t) => this.#kernel(`matmul_${typeName(t).toLowerCase()}`))),
      kvTypes: ['f32', 'f16'],
      maxBufferBytes: WASM32_BYTES - k.heap_base(),
      memoryBytes: WASM32_BYTES - k.heap_base(),
    };
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

  /** Matrices (2-D and 3-D expert stacks) need kernels for their type; vectors must be F32. */
  #weightSupport(w: { name: string; type: GGMLTypeId; shape: readonly number[] }): Support {
    const isVector = w.shape.every((d, i) => i === 0 || d === 1);
    const ok = isVector ? w.type === GGMLType.F32 || this.capabilities.tensorTypes.has(w.type) : this.capabilities.tensorTypes.has(w.type);
    return ok ? { ok: true } : { ok: false, reason: `tensor ${w.name} is ${typeName(w.type)}, which the CPU backend cannot compute` };
  }

  supports(node: GraphNode): Support {
    for (const w of weightsOf(node)) {
      const s = this.#weightSupport(w);
      if (!s.ok) return s;
      // Norm weights, biases and rope factors are read as f32 vectors.
      const readAsVector = node.op !== 'matmul' && node.op !== 'embed' && node.op !== 'position_embed' && node.op !== 'moe_ffn';
      if (readAsVector && w.type !== GGMLType.F32) return { ok: false, reason: `${w.name} must be F32 for ${node.op}, not ${typeName(w.type)}` };
    }
    return { ok: true };
  }

  async loadWeights(file: GGUFFile, tensors: readonly GGUFTensorInfo[], options: LoadWeightsOptions = {}): Promise<void> {
    this.#checkAlive();
    for (const t of tensors) {
      const s = this.#weightSupport(t);
      if (!s.ok) throw new WasmChordError('UNSUPPORTED_TENSOR_TYPE', s.reason);
    }
    if (tensors.length === 0) return;
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
    for (const t of tensors) this.#weights.set(t.name, base + t.offset - start);
  }

  #weightPtr(w: WeightHandle): number {
    const ptr = this.#weights.get(w.name);
    if (ptr === undefined) throw new WasmChordError('INVALID_ARGUMENT', `tensor ${w.name} was not loaded on this backend`);
    return ptr;
  }

  createKVCache(spec: KVCacheSpec): KVCacheHandle {
    this.#checkAlive();
    const keys: number[] = [];
    const values: number[] = [];
    try {
      for (const layer of spec.layers) {
        const bytes = spec.contextSize * layer.nKvHead * layer.headDim * kvElementBytes(spec.type);
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
    if (c.released) return;
    [...c.keys, ...c.values].forEach((p) => this.#arena.free(p));
    c.released = true;
  }

  compile(graph: Graph): CompiledGraph {
    this.#checkAlive();
    for (const node of graph.nodes) {
      const s = this.supports(node);
      if (!s.ok) throw new WasmChordError('UNSUPPORTED_TENSOR_TYPE', s.reason);
    }
    return new CpuCompiledGraph(graph, this);
  }

  #plan(compiled: CpuCompiledGraph, kvType: KVCacheType): BoundPlan {
    let bound = compiled.plans.get(kvType);
    if (!bound) {
      const plan = planGraph(compiled.graph, {
        weightPtr: (w) => this.#weightPtr(w),
        geluTable: () => this.#geluTableFor(),
        kvType,
      });
      bound = { plan, base: -1, args: plan.steps.map((s) => (s.kind === 'kernel' ? s.args.slice() : [])) };
      compiled.plans.set(kvType, bound);
    }
    return bound;
  }

  /** Makes the plan's arguments point into the scratch block (again, if the block moved). */
  #bind(bound: BoundPlan): number {
    const base = this.#reserve('#scratch', bound.plan.scratchBytes, 'activations');
    if (bound.base !== base) {
      bound.plan.steps.forEach((s, i) => {
        if (s.kind !== 'kernel') return;
        const args = bound!.args[i]!;
        for (const r of s.relative) args[r] = s.args[r]! + base;
      });
      bound.base = base;
    }
    return base;
  }

  async run(compiled: CompiledGraph, input: StepInput, cache: KVCacheHandle, options: RunOptions = {}): Promise<Float32Array> {
    this.#checkAlive();
    if (!(compiled instanceof CpuCompiledGraph) || compiled.owner !== this) {
      throw new WasmChordError('INVALID_ARGUMENT', 'this graph was compiled for another backend');
    }
    const kv = this.#own(cache);
    if (kv.released) throw new WasmChordError('DISPOSED', 'this KV cache was released');
    const { graph } = compiled;
    const { tokens, pos0 } = input;
    if (tokens.length !== graph.nTokens) throw new WasmChordError('INVALID_ARGUMENT', `${tokens.length} tokens for a graph of ${graph.nTokens}`);
    for (const t of tokens) {
      if (!(t >= 0 && t < compiled.tokenLimit)) throw new WasmChordError('INVALID_ARGUMENT', `token id ${t} is outside the embedding table (0..${compiled.tokenLimit - 1})`);
    }
    const ctx = kv.spec.contextSize;
    if (!Number.isInteger(pos0) || pos0 < 0 || pos0 + tokens.length > ctx) {
      throw new WasmChordError('CONTEXT_FULL', `positions ${pos0}..${pos0 + tokens.length - 1} do not fit a context of ${ctx}`);
    }
    const bound = this.#plan(compiled, kv.spec.type);
    const { plan } = bound;
    if (pos0 + tokens.length > plan.maxPositions) {
      throw new WasmChordError('CONTEXT_FULL', `the model's position table has ${plan.maxPositions} positions`);
    }
    // Attention scratch is sized for the whole context, so that no position re-sizes it.
    const attention = plan.maxHeadDim > 0 ? this.#reserve('#attentionScratch', this.#k.attention_scratch_bytes(ctx, plan.maxHeadDim), 'attention scratch') : 0;
    const base = this.#bind(bound);
    const patch = (p: Patch): number => {
      switch (p.kind) {
        case 'pos0':
          return pos0;
        case 'kvStride':
          return ctx;
        case 'attentionScratch':
          return attention;
        case 'keys':
          return kv.keys[p.layer]!;
        case 'values':
          return kv.values[p.layer]!;
      }
    };
    this.#arena.i32(base + plan.tokensOffset, tokens.length).set(tokens);
    const positions = this.#arena.i32(base + plan.positionsOffset, tokens.length);
    for (let i = 0; i < tokens.length; i++) positions[i] = pos0 + i;
    plan.steps.forEach((step, i) => {
      if (step.kind === 'kernel') this.#callKernel(step, bound.args[i]!, patch);
      else runMoe(step.moe, base, this.#arena, (fn, ...args) => this.#callNamed(fn, args));
      if (options.inspect && step.completes) {
        const node = graph.nodes[step.completes.node]!;
        options.inspect(node, this.#arena.f32(base + step.completes.offset, node.rows * node.cols).slice());
      }
    });
    return this.#arena.f32(base + plan.outputOffset, plan.outputLength).slice();
  }

  #callKernel(step: KernelCall, args: number[], patch: (p: Patch) => number): void {
    for (const [i, p] of step.patches) args[i] = patch(p);
    this.#callNamed(step.fn, args);
  }

  #callNamed(fn: string, args: number[]): void {
    const f = this.#kernel(fn);
    if (!f) throw new WasmChordError('UNSUPPORTED_TENSOR_TYPE', `the CPU kernels have no ${fn}`);
    f(...args);
  }

  /** Grows one of the backend's reusable blocks to at least `bytes`; returns its address. */
  #reserve(which: '#scratch' | '#attentionScratch', bytes: number, what: string): number {
    let block = which === '#scratch' ? this.#scratch : this.#attentionScratch;
    if (!block || block.bytes < bytes) {
      if (block) this.#arena.free(block.ptr);
      block = { ptr: this.#arena.alloc(bytes, what), bytes };
      if (which === '#scratch') this.#scratch = block;
      else this.#attentionScratch = block;
    }
    return block.ptr;
  }

  #geluTableFor(): number {
    if (!this.#geluTable) {
      this.#geluTable = this.#arena.alloc(GELU_TABLE_BYTES, 'the GELU table');
      this.#k.gelu_ggml_table_init(this.#geluTable);
    }
    return this.#geluTable;
  }

  /** The byte range of (layer, K or V, kv head) positions [from, from+count) in the cache. */
  #kvRange(kv: CpuKVCache, layer: number, which: 'keys' | 'values', head: number, from: number, count: number) {
    const { headDim } = kv.spec.layers[layer]!;
    const eb = kvElementBytes(kv.spec.type);
    const start = kv[which][layer]! + ((head * kv.spec.contextSize + from) * headDim) * eb;
    return { start, bytes: count * headDim * eb };
  }

  readKV(cache: KVCacheHandle, n: number): KVLayerData[] {
    const kv = this.#own(cache);
    this.#checkRange(kv, n);
    return kv.spec.layers.map((layer, l) => {
      const read = (which: 'keys' | 'values') => {
        const parts: Uint8Array[] = [];
        for (let h = 0; h < layer.nKvHead; h++) {
          const r = this.#kvRange(kv, l, which, h, 0, n);
          parts.push(this.#arena.bytes(r.start, r.bytes));
        }
        return concat(parts);
      };
      return { keys: read('keys'), values: read('values') };
    });
  }

  writeKV(cache: KVCacheHandle, n: number, layers: readonly KVLayerData[]): void {
    const kv = this.#own(cache);
    this.#checkRange(kv, n);
    if (layers.length !== kv.spec.layers.length) throw new WasmChordError('INVALID_ARGUMENT', `KV data for ${layers.length} layers, not ${kv.spec.layers.length}`);
    // Every size is checked before anything is written, so a bad layer leaves the cache as it was.
    kv.spec.layers.forEach((layer, l) => {
      for (const which of ['keys', 'values'] as const) {
        const expected = this.#kvRange(kv, l, which, 0, 0, n).bytes * layer.nKvHead;
        const got = layers[l]![which].length;
        if (got !== expected) throw new WasmChordError('INVALID_ARGUMENT', `layer ${l} ${which}: ${got} bytes, not ${expected}`);
      }
    });
    kv.spec.layers.forEach((layer, l) => {
      for (const which of ['keys', 'values'] as const) {
        const data = layers[l]![which];
        const per = this.#kvRange(kv, l, which, 0, 0, n).bytes;
        for (let h = 0; h < layer.nKvHead; h++) {
          this.#arena.bytes(this.#kvRange(kv, l, which, h, 0, n).start, per).set(data.subarray(h * per, (h + 1) * per));
        }
      }
    });
  }

  shiftKV(cache: KVCacheHandle, shift: KVShift): void {
    const kv = this.#own(cache);
    const { keep, discard, used } = shift;
    this.#checkRange(kv, used);
    if (!(keep >= 0 && discard > 0 && keep + discard <= used)) throw new WasmChordError('INVALID_ARGUMENT', `cannot shift ${keep}/${discard}/${used}`);
    const unroped = kv.spec.layers.findIndex((l) => !l.rope);
    if (unroped >= 0) throw new WasmChordError('INVALID_ARGUMENT', `layer ${unroped} has no RoPE: its cache cannot be shifted`);
    const count = used - keep - discard;
    const maxHeadDim = Math.max(...kv.spec.layers.map((l) => l.headDim));
    const tmp = this.#arena.alloc(Math.max(1, count) * (maxHeadDim + 1) * 4, 'a context shift');
    try {
      const positions = this.#arena.i32(tmp, count);
      positions.fill(-discard);
      const rows = tmp + count * 4;
      kv.spec.layers.forEach((layer, l) => {
        const rope = layer.rope!;
        for (let h = 0; h < layer.nKvHead; h++) {
          for (const which of ['keys', 'values'] as const) {
            const from = this.#kvRange(kv, l, which, h, keep + discard, count);
            const to = this.#kvRange(kv, l, which, h, keep, count);
            new Uint8Array(this.#arena.memory.buffer).copyWithin(to.start, from.start, from.start + from.bytes);
          }
          if (count === 0) continue;
          // Keys were rotated at their old positions: rotate them back by `discard`.
          const k = this.#kvRange(kv, l, 'keys', h, keep, count).start;
          const f32 = kv.spec.type === 'f32' ? k : rows;
          if (kv.spec.type === 'f16') this.#k.f16_to_f32(k, rows, count * layer.headDim);
          const ff = rope.freqFactors ? this.#weightPtr(rope.freqFactors) : 0;
          this.#callNamed(`rope_${rope.mode}_f32`, [f32, layer.headDim, f32, layer.headDim, tmp, 1, layer.headDim, rope.nRot, rope.freqBase, rope.freqScale, ff, 0, count]);
          if (kv.spec.type === 'f16') this.#k.f32_to_f16(rows, k, count * layer.headDim);
        }
      });
    } finally {
      this.#arena.free(tmp);
    }
  }

  #checkRange(kv: CpuKVCache, n: number): void {
    if (kv.released) throw new WasmChordError('DISPOSED', 'this KV cache was released');
    if (!Number.isInteger(n) || n < 0 || n > kv.spec.contextSize) throw new WasmChordError('INVALID_ARGUMENT', `${n} positions in a cache of ${kv.spec.contextSize}`);
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

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
