/**
 * The WebAssembly CPU backend: weights, KV caches and activations live in one Wasm memory;
 * graphs compile once per shape into sequences of AssemblyScript kernel calls, re-run with the
 * step's positions and cache pointers patched in.
 *
 * The memory is shared with a pool of worker threads that run the plans (pool/); the calling
 * thread only writes a step's inputs and awaits it. Without SharedArrayBuffer the plans run on
 * the calling thread instead, and the description says why.
 */
import { isWasmChordError, WasmChordError } from '../../errors.js';
import type { GGUFFile, GGUFTensorInfo } from '../../gguf/reader.js';
import { concatBytes, throwIfAborted } from '../../gguf/byte-source.js';
import { GGMLType, typeName, type GGMLTypeId } from '../../quant/types.js';
import {
  kvCacheBytes,
  kvElementBytes,
  kvLayerBytes,
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
import { isVectorShape, weightsOf, type Graph, type GraphNode, type WeightHandle } from '../graph.js';
import { checkNumber } from '../../validate.js';
import { checkKVCount, checkKVData, checkKVShift, checkKVSpec, checkSupported } from '../contract-checks.js';
import { WasmArena } from './arena.js';
import {
  instantiateKernels,
  MAX_MEMORY_PAGES,
  selectKernels,
  sharedKernels,
  type KernelExports,
  type KernelVariant,
} from './kernel-module.js';
import { InThreadExecutor, SPLIT_WORK, type PlanExecutor, type RunParams } from './plan-runner.js';
import { planGraph, type Plan } from './planner.js';
import { host } from '../../platform/host.js';
import { threadsUnavailable } from './pool/host.js';
import { WorkerPool } from './pool/pool.js';

export interface CpuBackendOptions {
  /** Force a kernel build; by default the best one this engine runs. */
  kernels?: KernelVariant;
  /**
   * Worker threads that compute (default: the cores available). Even 1 keeps the computing off
   * the calling thread. Without SharedArrayBuffer the calling thread computes instead.
   */
  threads?: number;
  /** What the model will hold, so that the memory is created once at its size. */
  memory?: CpuMemoryPlan;
  /**
   * Work (about: multiply-adds) below which a step runs on one thread (default SPLIT_WORK);
   * 0 shares out every splittable step, however small (tests, tuning).
   */
  splitWork?: number;
}

/** The memory a model needs: the backend's Wasm memory is created at this size. */
export interface CpuMemoryPlan {
  /** Bytes of the weights (their span in the file). */
  readonly weightBytes: number;
  /** The KV cache a session will create. */
  readonly kv: KVCacheSpec;
  /** The largest step (a full prompt batch), whose scratch is planned to size the memory. */
  readonly batch: Graph;
}

/** What a CPU backend's memory will hold, in bytes: the size it is created at. */
export interface CpuMemoryParts {
  /** The kernels' static data (below `heap_base()`). */
  readonly kernels: number;
  readonly weights: number;
  readonly kv: number;
  /** The largest step's activations, each thread's attention scratch, the GELU table, alignment. */
  readonly scratch: number;
  readonly total: number;
}

/** The most worker threads one backend starts. */
export const MAX_THREADS = 256;

class CpuKVCache implements KVCacheHandle {
  released = false;
  constructor(
    readonly spec: KVCacheSpec,
    readonly owner: CpuBackend,
    readonly keys: number[],
    readonly values: number[],
  ) {}
}

/** A plan and its id (the workers hold plans by id). */
interface IdentifiedPlan {
  readonly plan: Plan;
  readonly id: number;
}

class CpuCompiledGraph implements CompiledGraph {
  /** One plan per KV cache element type (the attention kernels differ). */
  readonly plans = new Map<KVCacheType, IdentifiedPlan>();
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
const PAGE = 65536;
/** The memory of a backend created without a plan (kernels' statics, small tests). */
const UNPLANNED_PAGES = 16;
/** Planned memory beyond the sum of the blocks: alignment, token and position rows. */
const PLAN_SLACK = 1 << 20;

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
  readonly #executor: PlanExecutor;
  readonly #splitWork: number;
  readonly #weights = new Map<string, number>();
  #scratch: { ptr: number; bytes: number } | undefined;
  #attentionScratch: { ptr: number; bytes: number } | undefined;
  #geluTable = 0;
  #plans = 0;
  /** Steps take turns: they share the scratch blocks. */
  #turn: Promise<unknown> = Promise.resolve();
  #disposed = false;

  private constructor(variant: KernelVariant, k: KernelExports, arena: WasmArena, executor: PlanExecutor, threading: string, splitWork: number) {
    this.description = `wasm-simd128${variant === 'relaxed' ? '+relaxed' : ''}, ${threading}`;
    this.#k = k;
    this.#arena = arena;
    this.#executor = executor;
    this.#splitWork = splitWork;
    this.capabilities = {
      tensorTypes: new Set(MATRIX_TYPES.filter((t) => this.#kernel(`matmul_${typeName(t).toLowerCase()}`))),
      kvTypes: ['f32', 'f16'],
      maxBufferBytes: WASM32_BYTES - k.heap_base(),
      memoryBytes: WASM32_BYTES - k.heap_base(),
    };
  }

  static async create(options: CpuBackendOptions = {}): Promise<CpuBackend> {
    const threads = await threadCount(options.threads);
    const splitWork = options.splitWork === undefined ? SPLIT_WORK : checkNumber('splitWork', options.splitWork, { min: 0 });
    const { variant, module } = await selectKernels(options.kernels);
    let why = threadsUnavailable();
    if (why === undefined) {
      const shared = await sharedKernels(variant);
      const memory = createMemory(options.memory ? checkFits(await memoryParts(module, options.memory, threads)) : 0, true);
      const k = await instantiateKernels(shared, memory);
      const arena = new WasmArena(memory, k.heap_base());
      try {
        const pool = await WorkerPool.start(threads, shared, memory);
        return new CpuBackend(variant, k, arena, pool, `${threads} worker thread${threads === 1 ? '' : 's'}`, splitWork);
      } catch (err) {
        // Detect, never assume: workers that cannot start (a CSP, a broken install) leave the
        // calling thread, on the same memory.
        why = `worker threads failed to start: ${(err as Error).message}`;
        return new CpuBackend(variant, k, arena, new InThreadExecutor(k, memory), inThread(why), splitWork);
      }
    }
    const memory = createMemory(options.memory ? checkFits(await memoryParts(module, options.memory, 1)) : 0, false);
    const k = await instantiateKernels(module, memory);
    return new CpuBackend(variant, k, new WasmArena(memory, k.heap_base()), new InThreadExecutor(k, memory), inThread(why), splitWork);
  }

  #kernel(fn: string): ((...args: number[]) => number) | undefined {
    const f = (this.#k as unknown as Record<string, unknown>)[fn];
    return typeof f === 'function' ? (f as (...args: number[]) => number) : undefined;
  }

  /** Matrices (2-D and 3-D expert stacks) need kernels for their type; vectors must be F32. */
  #weightSupport(w: { name: string; type: GGMLTypeId; shape: readonly number[] }): Support {
    const ok = isVectorShape(w.shape) ? w.type === GGMLType.F32 || this.capabilities.tensorTypes.has(w.type) : this.capabilities.tensorTypes.has(w.type);
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
    checkKVSpec(spec, this);
    const keys: number[] = [];
    const values: number[] = [];
    try {
      for (const layer of spec.layers) {
        const bytes = kvLayerBytes(spec, layer);
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
    checkSupported(this, graph);
    return new CpuCompiledGraph(graph, this);
  }

  #plan(compiled: CpuCompiledGraph, kvType: KVCacheType): IdentifiedPlan {
    let identified = compiled.plans.get(kvType);
    if (!identified) {
      const plan = planGraph(compiled.graph, {
        weightPtr: (w) => this.#weightPtr(w),
        geluTable: () => this.#geluTableFor(),
        kvType,
      });
      for (const step of plan.steps) {
        if (step.kind === 'kernel' && !this.#kernel(step.fn)) throw new WasmChordError('UNSUPPORTED_TENSOR_TYPE', `the CPU kernels have no ${step.fn}`);
      }
      identified = { plan, id: this.#plans++ };
      compiled.plans.set(kvType, identified);
    }
    return identified;
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
    const { plan, id } = this.#plan(compiled, kv.spec.type);
    if (pos0 + tokens.length > plan.maxPositions) {
      throw new WasmChordError('CONTEXT_FULL', `the model's position table has ${plan.maxPositions} positions`);
    }
    const step = this.#turn.then(async () => {
      this.#checkAlive();
      // Attention scratch is sized for the whole context, so that no position re-sizes it; each
      // lane (thread) has its own.
      const perLane = plan.maxHeadDim > 0 ? this.#k.attention_scratch_bytes(ctx, plan.maxHeadDim) : 0;
      const attention = perLane > 0 ? this.#reserve('#attentionScratch', perLane * this.#executor.threads, 'attention scratch') : 0;
      const base = this.#reserve('#scratch', plan.scratchBytes, 'activations');
      this.#arena.i32(base + plan.tokensOffset, tokens.length).set(tokens);
      const positions = this.#arena.i32(base + plan.positionsOffset, tokens.length);
      for (let i = 0; i < tokens.length; i++) positions[i] = pos0 + i;
      const params: RunParams = {
        plan: id,
        begin: 0,
        end: plan.steps.length,
        scratch: base,
        pos0,
        kvStride: ctx,
        attention,
        attentionStride: perLane,
        keys: kv.keys,
        values: kv.values,
        splitWork: this.#splitWork,
      };
      if (!options.inspect) await this.#executor.run(params, plan);
      else {
        // Debugging: the plan runs in pieces, each ending with a node's output, read in between.
        let begin = 0;
        for (let i = 0; i < plan.steps.length; i++) {
          const done = plan.steps[i]!.completes;
          if (!done) continue;
          await this.#executor.run({ ...params, begin, end: i + 1 }, plan);
          begin = i + 1;
          const node = graph.nodes[done.node]!;
          options.inspect(node, this.#arena.f32(base + done.offset, node.rows * node.cols).slice());
        }
      }
      return this.#arena.f32(base + plan.outputOffset, plan.outputLength).slice();
    });
    this.#turn = step.catch(() => {});
    return step;
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

  async readKV(cache: KVCacheHandle, n: number): Promise<KVLayerData[]> {
    const kv = this.#own(cache);
    this.#checkRange(kv, n);
    return kv.spec.layers.map((layer, l) => {
      const read = (which: 'keys' | 'values') => {
        const parts: Uint8Array[] = [];
        for (let h = 0; h < layer.nKvHead; h++) {
          const r = this.#kvRange(kv, l, which, h, 0, n);
          parts.push(this.#arena.bytes(r.start, r.bytes));
        }
        return concatBytes(parts);
      };
      return { keys: read('keys'), values: read('values') };
    });
  }

  writeKV(cache: KVCacheHandle, n: number, layers: readonly KVLayerData[]): void {
    const kv = this.#own(cache);
    this.#checkRange(kv, n);
    // Every size is checked before anything is written, so a bad layer leaves the cache as it was.
    checkKVData(kv.spec, n, layers);
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

  async shiftKV(cache: KVCacheHandle, shift: KVShift): Promise<void> {
    const kv = this.#own(cache);
    const { keep, discard, used } = shift;
    this.#checkRange(kv, used);
    checkKVShift(kv.spec, shift);
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
          this.#kernel(`rope_${rope.mode}_f32`)!(f32, layer.headDim, f32, layer.headDim, tmp, 1, layer.headDim, rope.nRot, rope.freqBase, rope.freqScale, ff, 0, count);
          if (kv.spec.type === 'f16') this.#k.f32_to_f16(rows, k, count * layer.headDim);
        }
      });
    } finally {
      this.#arena.free(tmp);
    }
  }

  #checkRange(kv: CpuKVCache, n: number): void {
    if (kv.released) throw new WasmChordError('DISPOSED', 'this KV cache was released');
    checkKVCount(kv.spec, n);
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

  /** The Wasm memory's size now (what the process has reserved for this model). */
  get memoryBytes(): number {
    return this.#arena.memory.buffer.byteLength;
  }

  async dispose(): Promise<void> {
    this.#disposed = true;
    await this.#executor.dispose();
  }
}

function inThread(why: string): string {
  return `1 thread: the calling thread (${why})`;
}

/** The kernels' memory: `bytes` (or a few pages), shared memories with wasm32's maximum. */
function createMemory(bytes: number, shared: boolean): WebAssembly.Memory {
  const initial = Math.min(MAX_MEMORY_PAGES, Math.max(UNPLANNED_PAGES, Math.ceil(bytes / PAGE)));
  try {
    return new WebAssembly.Memory(shared ? { initial, maximum: MAX_MEMORY_PAGES, shared } : { initial });
  } catch (err) {
    throw new WasmChordError('OUT_OF_MEMORY', `cannot create ${((initial * PAGE) / 2 ** 20).toFixed(0)} MiB of WebAssembly memory`, { cause: err });
  }
}

/** Worker threads: the option, or the cores available. */
async function threadCount(threads: number | undefined): Promise<number> {
  return threads === undefined ? Math.min(MAX_THREADS, await host.availableCores()) : checkNumber('threads', threads, { min: 1, max: MAX_THREADS, integer: true });
}

/**
 * The memory a CPU backend created with these options starts with, part by part: what
 * `CpuBackend.create` allocates (the same function), for planning before anything is loaded.
 */
export async function cpuMemoryParts(plan: CpuMemoryPlan, options: Pick<CpuBackendOptions, 'kernels' | 'threads'> = {}): Promise<CpuMemoryParts> {
  const { module } = await selectKernels(options.kernels);
  return memoryParts(module, plan, threadsUnavailable() === undefined ? await threadCount(options.threads) : 1);
}

/** The most one CPU backend's memory holds: wasm32's 4 GiB (no sharding across memories yet). */
export const CPU_MEMORY_LIMIT = WASM32_BYTES;

/** The planned total, or OUT_OF_MEMORY naming the sizes when one Wasm memory cannot hold it. */
function checkFits(parts: CpuMemoryParts): number {
  if (parts.total <= CPU_MEMORY_LIMIT) return parts.total;
  const gib = (n: number) => `${(n / 2 ** 30).toFixed(2)} GiB`;
  throw new WasmChordError(
    'OUT_OF_MEMORY',
    `the model needs ${gib(parts.total)} of Wasm memory (weights ${gib(parts.weights)}, KV cache ${gib(parts.kv)}, scratch ${gib(parts.scratch)}); one CPU backend is limited to 4 GiB (wasm32)`,
  );
}

/**
 * The bytes a model will occupy: the kernels' statics, the weights, one KV cache, the scratch
 * of its largest step and each lane's attention scratch (sizes from a probe instance of the
 * kernels, so that nothing here repeats their formulas). A graph with weights the kernels cannot
 * compute is not planned: the registry refuses that model, with the reason, once created.
 */
async function memoryParts(module: WebAssembly.Module, plan: CpuMemoryPlan, lanes: number): Promise<CpuMemoryParts> {
  const probe = await instantiateKernels(module, new WebAssembly.Memory({ initial: UNPLANNED_PAGES }));
  const { kv } = plan;
  let step = 0;
  try {
    const steps = planGraph(plan.batch, { weightPtr: () => 0, geluTable: () => 0, kvType: kv.type });
    step = steps.scratchBytes + (steps.maxHeadDim > 0 ? lanes * probe.attention_scratch_bytes(kv.contextSize, steps.maxHeadDim) : 0);
  } catch (err) {
    if (!isWasmChordError(err, 'UNSUPPORTED_TENSOR_TYPE')) throw err;
  }
  const parts = { kernels: probe.heap_base(), weights: plan.weightBytes, kv: kvCacheBytes(kv), scratch: step + GELU_TABLE_BYTES + PLAN_SLACK };
  return { ...parts, total: parts.kernels + parts.weights + parts.kv + parts.scratch };
}
