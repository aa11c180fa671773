/**
 * The WebAssembly CPU backend: weights, KV caches and activations live in Wasm memory; graphs
 * compile once per shape into sequences of AssemblyScript kernel calls, re-run with the step's
 * positions and cache pointers patched in.
 *
 * A model too big for one wasm32 memory (4 GiB) is spread over several, whole layers each
 * (shards.ts); a step then runs as segments, one per stretch of the graph in one memory, with
 * the activations that cross copied between them (segments.ts).
 *
 * The memory is shared with a pool of worker threads that run the plans (pool/); the calling
 * thread only writes a step's inputs and awaits it. Without SharedArrayBuffer the plans run on
 * the calling thread instead, and the description says why.
 */
import { isWasmChordError, WasmChordError } from '../../errors.js';
import type { GGUFFile, GGUFTensorInfo } from '../../gguf/reader.js';
import { concatBytes, throwIfAborted } from '../../gguf/byte-source.js';
import { GGMLType, rowByteSize, typeInfo, typeName, type GGMLTypeId } from '../../quant/types.js';
import {
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
import { formatBytes } from '../../format.js';
import { checkKVCount, checkKVData, checkKVShift, checkKVSpec, checkRunOutput, checkSupported } from '../contract-checks.js';
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
import { segmentGraph } from './segments.js';
import { ShardLayout, weightRuns, type TensorSpan } from './shards.js';
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
  /**
   * The most one Wasm memory holds (default and at most 4 GiB, wasm32's reach): a planned model
   * that needs more gets several memories. Smaller values force sharding (tests, tuning).
   */
  maxMemoryBytes?: number;
  /** Spread the planned graph's nodes round-robin over this many memories (tests: every op's inputs cross memories). */
  interleaveMemories?: number;
}

/** The memory a model needs: the backend's Wasm memories are created at this size. */
export interface CpuMemoryPlan {
  /** The weights, by their place in the file. */
  readonly tensors: readonly TensorSpan[];
  /** The KV cache a session will create. */
  readonly kv: KVCacheSpec;
  /** The largest step (a full prompt batch), whose scratch is planned to size the memory. */
  readonly batch: Graph;
}

/** What a CPU backend's memories will hold, in bytes, summed over them: the size they are created at. */
export interface CpuMemoryParts {
  /** The kernels' static data (below `heap_base()`), in each memory. */
  readonly kernels: number;
  readonly weights: number;
  readonly kv: number;
  /** The largest step's activations, each thread's attention scratch, the GELU table, alignment (each memory). */
  readonly scratch: number;
  readonly total: number;
  /** Wasm memories (1 unless the model needs more than one holds). */
  readonly memories: number;
}

/** The most worker threads one backend starts. */
export const MAX_THREADS = 256;

/** One Wasm memory with its kernel instance, and the blocks the backend keeps in it. */
interface Shard {
  readonly k: KernelExports;
  readonly arena: WasmArena;
  readonly weights: Map<string, number>;
  scratch?: { ptr: number; bytes: number };
  attentionScratch?: { ptr: number; bytes: number };
  geluTable: number;
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

/** A segment's plan, the memory it runs in, and its id (the workers hold plans by id). */
interface IdentifiedPlan {
  readonly plan: Plan;
  readonly shard: number;
  readonly id: number;
}

class CpuCompiledGraph implements CompiledGraph {
  /** The segments' plans per KV cache element type (the attention kernels differ). */
  readonly plans = new Map<KVCacheType, IdentifiedPlan[]>();
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
/**
 * Weight reads in flight at once. From the page cache on the 2-vCPU Intel Xeon VM, a 591 MiB file
 * read into fresh Wasm memory in 16 MiB pieces took 286-346 ms one at a time, 220-234 two at a
 * time (Node runs file reads on its thread pool; the page faults and copies then overlap).
 */
const READS_IN_FLIGHT = 2;
/** wasm32 addresses 4 GiB. */
const WASM32_BYTES = 2 ** 32;
/** ggml's f16 GELU table: 65536 f16 entries. */
const GELU_TABLE_BYTES = 65536 * 2;
const PAGE = 65536;
/** The memory of a backend created without a plan (kernels' statics, small tests). */
const UNPLANNED_PAGES = 16;
/** Planned memory beyond the sum of the blocks: alignment, token and position rows. */
const PLAN_SLACK = 1 << 20;

/**
 * Rows per interleaved group, by type: the rows a decode kernel reads together (eight for the
 * 32-element block types, four for the K-quants and Q4_0), read by the *_x8 / *_x4 kernels.
 * Q4_0 interleaves its quant bytes too (repack_q4_0_x4); the others whole blocks (repack_rows).
 */
const INTERLEAVE_GROUP: ReadonlyMap<GGMLTypeId, number> = new Map([
  ...[GGMLType.Q4_1, GGMLType.Q5_0, GGMLType.Q5_1, GGMLType.Q8_0, GGMLType.IQ4_NL].map((t) => [t, 8] as const),
  ...[GGMLType.Q4_0, GGMLType.Q2_K, GGMLType.Q3_K, GGMLType.Q4_K, GGMLType.Q5_K, GGMLType.Q6_K, GGMLType.IQ4_XS].map((t) => [t, 4] as const),
]);

/** Whether a tensor loads interleaved: a block-type matrix (expert stacks keep the file's layout). */
function interleavable(t: GGUFTensorInfo): boolean {
  return INTERLEAVE_GROUP.has(t.type) && t.shape.length <= 2 && !isVectorShape(t.shape);
}

const rowBytes = (t: GGUFTensorInfo) => rowByteSize(t.type, t.shape[0]!);

/** Weight types with matmul and row-dequantize kernels. */
const MATRIX_TYPES: readonly GGMLTypeId[] = [
  GGMLType.F32, GGMLType.F16, GGMLType.BF16, GGMLType.Q4_0, GGMLType.Q4_1, GGMLType.Q5_0, GGMLType.Q5_1, GGMLType.Q8_0,
  GGMLType.Q2_K, GGMLType.Q3_K, GGMLType.Q4_K, GGMLType.Q5_K, GGMLType.Q6_K, GGMLType.IQ4_NL, GGMLType.IQ4_XS,
];

export class CpuBackend implements Backend {
  readonly kind = 'cpu' as const;
  readonly capabilities: BackendCapabilities;
  readonly #shards: readonly Shard[];
  readonly #layout: ShardLayout;
  /** Settles once the workers have started or failed to (never rejects: see create). */
  readonly #executor: Promise<PlanExecutor>;
  readonly #kernelsName: string;
  #threading = 'worker threads starting';
  readonly #splitWork: number;
  #plans = 0;
  /** Steps take turns: they share the scratch blocks. */
  #turn: Promise<unknown> = Promise.resolve();
  #disposed = false;

  private constructor(variant: KernelVariant, memories: MemoryLayout, shards: readonly Shard[], executor: Promise<ChosenExecutor>, splitWork: number) {
    this.#kernelsName = `wasm-simd128${variant === 'relaxed' ? '+relaxed' : ''}`;
    this.#shards = shards;
    this.#layout = memories.layout;
    this.#executor = executor.then(({ executor, threading }) => {
      this.#threading = threading;
      return executor;
    });
    this.#splitWork = splitWork;
    const k = shards[0]!.k;
    const oneMemory = memories.limit - k.heap_base();
    this.capabilities = {
      tensorTypes: new Set(MATRIX_TYPES.filter((t) => this.#kernel(`matmul_${typeName(t).toLowerCase()}`))),
      kvTypes: ['f32', 'f16'],
      maxBufferBytes: oneMemory,
      memoryBytes: shards.length * oneMemory,
    };
  }

  static async create(options: CpuBackendOptions = {}): Promise<CpuBackend> {
    const threads = await threadCount(options.threads);
    const splitWork = options.splitWork === undefined ? SPLIT_WORK : checkNumber('splitWork', options.splitWork, { min: 0 });
    const { variant, module } = await selectKernels(options.kernels);
    const why = threadsUnavailable();
    if (why === undefined) {
      const shared = await sharedKernels(variant);
      const layout = await checkDeviceMemory(await memoryLayout(module, options, threads));
      const memories = layout.sizes.map((bytes) => createMemory(bytes, true));
      const shards = await Promise.all(memories.map((m) => createShard(shared, m)));
      // The workers start (a thread and a module instance each: ~0.1 s) while the weights load;
      // loadWeights awaits them last. Detect, never assume: workers that cannot start (a CSP, a
      // broken install) leave the calling thread, on the same memories.
      const executor = WorkerPool.start(threads, shared, memories).then(
        (pool): ChosenExecutor => ({ executor: pool, threading: `${threads} worker thread${threads === 1 ? '' : 's'}` }),
        (err: Error): ChosenExecutor => ({ executor: new InThreadExecutor(shards), threading: inThread(`worker threads failed to start: ${err.message}`) }),
      );
      return new CpuBackend(variant, layout, shards, executor, splitWork);
    }
    const layout = await checkDeviceMemory(await memoryLayout(module, options, 1));
    const shards = await Promise.all(layout.sizes.map((bytes) => createShard(module, createMemory(bytes, false))));
    return new CpuBackend(variant, layout, shards, Promise.resolve({ executor: new InThreadExecutor(shards), threading: inThread(why) }), splitWork);
  }

  /** The kernel build and where plans run ("worker threads starting" until loadWeights returns). */
  get description(): string {
    const n = this.#shards.length;
    return `${this.#kernelsName}, ${this.#threading}${n > 1 ? `, ${n} memories` : ''}`;
  }

  #kernel(fn: string): ((...args: number[]) => number) | undefined {
    const f = (this.#shards[0]!.k as unknown as Record<string, unknown>)[fn];
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
    // Each memory gets blocks covering its tensors, filled by sequential reads; a tensor to
    // interleave is interleaved as soon as it is read, while it is still in the caches (and
    // while the next chunk is read).
    const blocks = this.#shards.flatMap((shard, i) => weightRuns(tensors.filter((t) => this.#layout.homesOf(t.name).includes(i))).map((run) => ({ shard, run })));
    const total = blocks.reduce((n, b) => n + b.run.end - b.run.start, 0);
    const infos = new Map(tensors.map((t) => [t.name, t]));
    let loaded = 0;
    for (const { shard, run } of blocks) {
      const bytes = run.end - run.start;
      const base = shard.arena.alloc(bytes, `the weights (${(bytes / 2 ** 20).toFixed(1)} MiB)`);
      const inRun = run.tensors.map((t) => infos.get(t.name)!);
      const interleaved = inRun.filter(interleavable);
      const tmp = interleaved.length > 0 ? shard.arena.alloc(Math.max(...interleaved.map((t) => INTERLEAVE_GROUP.get(t.type)! * rowBytes(t))), 'interleaving the weights') : 0;
      // The next chunks are read (READS_IN_FLIGHT at a time) while this thread interleaves the
      // last one; reads in flight are always awaited (even on failure) before their memory could
      // be freed.
      const reads: Promise<number>[] = [];
      let requested = 0;
      const readAhead = () => {
        for (; reads.length < READS_IN_FLIGHT && requested < bytes; requested += LOAD_CHUNK) {
          const n = Math.min(LOAD_CHUNK, bytes - requested);
          const p = file.source.readInto(file.dataOffset + run.start + requested, shard.arena.bytes(base + requested, n), options.signal).then(() => n);
          p.catch(() => {});
          reads.push(p);
        }
      };
      try {
        let next = 0;
        throwIfAborted(options.signal);
        readAhead();
        for (let done = 0; done < bytes; ) {
          const n = await reads.shift()!;
          throwIfAborted(options.signal);
          readAhead();
          for (; next < inRun.length && inRun[next]!.offset + inRun[next]!.byteLength <= run.start + done + n; next++) {
            const t = inRun[next]!;
            shard.weights.set(t.name, base + t.offset - run.start);
            if (interleavable(t)) this.#interleave(shard, t, tmp);
          }
          done += n;
          loaded += n;
          options.onProgress?.({ loadedBytes: loaded, totalBytes: total });
        }
      } catch (err) {
        await Promise.allSettled(reads);
        shard.arena.free(base);
        for (const t of inRun) shard.weights.delete(t.name);
        throw err;
      } finally {
        if (tmp) shard.arena.free(tmp);
      }
    }
    await this.#executor;
  }

  /**
   * Interleaves a block-type matrix in place, a group of rows at a time (repack_rows;
   * INTERLEAVE_GROUP): decoding reads a group's rows together, and reads them from memory much
   * faster as one stream than as one per row. tmp: scratch for one group of rows.
   */
  #interleave(shard: Shard, t: GGUFTensorInfo, tmp: number): void {
    const group = INTERLEAVE_GROUP.get(t.type)!;
    const w = shard.weights.get(t.name)!;
    if (t.type === GGMLType.Q4_0) {
      // Refused (the matrix left as it is) where a scale is inf or NaN: the plain kernel then
      // computes ggml's inf/NaN.
      if (!shard.k.repack_q4_0_x4(w, tmp, t.shape[1]!, rowBytes(t))) return;
    } else shard.k.repack_rows(w, tmp, t.shape[1]!, rowBytes(t), typeInfo(t.type).typeSize, group);
    this.#interleaved.set(t.name, group);
  }

  /** Matrices stored interleaved (see #interleave), and their rows per group. */
  readonly #interleaved = new Map<string, number>();

  #weightPtr(shard: Shard, w: WeightHandle): number {
    const ptr = shard.weights.get(w.name);
    if (ptr === undefined) throw new WasmChordError('INVALID_ARGUMENT', `tensor ${w.name} was not loaded on this backend`);
    return ptr;
  }

  createKVCache(spec: KVCacheSpec): KVCacheHandle {
    this.#checkAlive();
    checkKVSpec(spec, this);
    const blocks: { arena: WasmArena; ptr: number }[] = [];
    const keys: number[] = [];
    const values: number[] = [];
    try {
      spec.layers.forEach((layer, l) => {
        const { arena } = this.#kvShard(l);
        for (const list of [keys, values]) {
          const ptr = arena.alloc(kvLayerBytes(spec, layer), 'the KV cache');
          blocks.push({ arena, ptr });
          list.push(ptr);
        }
      });
    } catch (err) {
      blocks.forEach((b) => b.arena.free(b.ptr));
      throw err;
    }
    return new CpuKVCache(spec, this, keys, values);
  }

  #kvShard(layer: number): Shard {
    return this.#shards[this.#layout.kvShard(layer)]!;
  }

  releaseKVCache(cache: KVCacheHandle): void {
    const c = this.#own(cache);
    if (c.released) return;
    c.spec.layers.forEach((_, l) => {
      const { arena } = this.#kvShard(l);
      arena.free(c.keys[l]!);
      arena.free(c.values[l]!);
    });
    c.released = true;
  }

  compile(graph: Graph): CompiledGraph {
    this.#checkAlive();
    checkSupported(this, graph);
    return new CpuCompiledGraph(graph, this);
  }

  /** The plans of the graph's segments (one per memory it passes through), made once per KV type. */
  #segments(compiled: CpuCompiledGraph, kvType: KVCacheType): IdentifiedPlan[] {
    let identified = compiled.plans.get(kvType);
    if (!identified) {
      identified = segmentGraph(compiled.graph, this.#layout.place(compiled.graph)).map((segment) => {
        const shard = this.#shards[segment.shard]!;
        const plan = planGraph(
          segment.graph,
          { weightPtr: (w) => this.#weightPtr(shard, w), interleaveGroup: (w) => this.#interleaved.get(w.name) ?? 0, geluTable: () => geluTableOf(shard), kvType },
          segment.exports,
        );
        for (const step of plan.steps) {
          if (step.kind === 'kernel' && !this.#kernel(step.fn)) throw new WasmChordError('UNSUPPORTED_TENSOR_TYPE', `the CPU kernels have no ${step.fn}`);
        }
        return { plan, shard: segment.shard, id: this.#plans++ };
      });
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
    checkRunOutput(graph, options.output);
    for (const t of tokens) {
      if (!(t >= 0 && t < compiled.tokenLimit)) throw new WasmChordError('INVALID_ARGUMENT', `token id ${t} is outside the embedding table (0..${compiled.tokenLimit - 1})`);
    }
    const ctx = kv.spec.contextSize;
    if (!Number.isInteger(pos0) || pos0 < 0 || pos0 + tokens.length > ctx) {
      throw new WasmChordError('CONTEXT_FULL', `positions ${pos0}..${pos0 + tokens.length - 1} do not fit a context of ${ctx}`);
    }
    const segments = this.#segments(compiled, kv.spec.type);
    const maxPositions = Math.min(...segments.map((s) => s.plan.maxPositions));
    if (pos0 + tokens.length > maxPositions) {
      throw new WasmChordError('CONTEXT_FULL', `the model's position table has ${maxPositions} positions`);
    }
    const step = this.#turn.then(async () => {
      const executor = await this.#executor;
      // Values computed in one segment and read in a later one, copied out as each segment ends.
      const crossing = new Map<number, Uint8Array>();
      let output: Float32Array | undefined;
      for (const { plan, shard: index, id } of segments) {
        this.#checkAlive();
        const shard = this.#shards[index]!;
        const { arena } = shard;
        // Attention scratch is sized for the whole context, so that no position re-sizes it; each
        // lane (thread) has its own.
        const perLane = plan.maxHeadDim > 0 ? shard.k.attention_scratch_bytes(ctx, plan.maxHeadDim) : 0;
        const attention = perLane > 0 ? reserve(shard, 'attentionScratch', perLane * executor.threads, 'attention scratch') : 0;
        const base = reserve(shard, 'scratch', plan.scratchBytes, 'activations');
        arena.i32(base + plan.tokensOffset, tokens.length).set(tokens);
        const positions = arena.i32(base + plan.positionsOffset, tokens.length);
        for (let i = 0; i < tokens.length; i++) positions[i] = pos0 + i;
        for (const v of plan.imports) arena.bytes(base + v.offset, v.bytes).set(crossing.get(v.node)!);
        const params: RunParams = {
          plan: id,
          shard: index,
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
        if (!options.inspect) await executor.run(params, plan);
        else {
          // Debugging: the plan runs in pieces, each ending with a node's output, read in between.
          let begin = 0;
          for (let i = 0; i < plan.steps.length; i++) {
            const done = plan.steps[i]!.completes;
            if (!done) continue;
            await executor.run({ ...params, begin, end: i + 1 }, plan);
            begin = i + 1;
            const node = graph.nodes.find((n) => n.id === done.node)!;
            options.inspect(node, arena.f32(base + done.offset, node.rows * node.cols).slice());
          }
        }
        for (const v of plan.exports) crossing.set(v.node, arena.bytes(base + v.offset, v.bytes).slice());
        if (plan.outputNode === graph.output.id) {
          output = options.output ?? new Float32Array(plan.outputLength);
          output.set(arena.f32(base + plan.outputOffset, plan.outputLength));
        }
      }
      return output!;
    });
    this.#turn = step.catch(() => {});
    return step;
  }

  /** The byte range of (layer, K or V, kv head) positions [from, from+count) in the cache, and its memory. */
  #kvRange(kv: CpuKVCache, layer: number, which: 'keys' | 'values', head: number, from: number, count: number) {
    const { headDim } = kv.spec.layers[layer]!;
    const eb = kvElementBytes(kv.spec.type);
    const start = kv[which][layer]! + ((head * kv.spec.contextSize + from) * headDim) * eb;
    return { arena: this.#kvShard(layer).arena, start, bytes: count * headDim * eb };
  }

  async readKV(cache: KVCacheHandle, n: number): Promise<KVLayerData[]> {
    const kv = this.#own(cache);
    this.#checkRange(kv, n);
    return kv.spec.layers.map((layer, l) => {
      const read = (which: 'keys' | 'values') => {
        const parts: Uint8Array[] = [];
        for (let h = 0; h < layer.nKvHead; h++) {
          const r = this.#kvRange(kv, l, which, h, 0, n);
          parts.push(r.arena.bytes(r.start, r.bytes));
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
          const r = this.#kvRange(kv, l, which, h, 0, n);
          r.arena.bytes(r.start, per).set(data.subarray(h * per, (h + 1) * per));
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
    // Each memory holding KV layers gets its own temporary block (the kernels reach only their own).
    const temps = new Map<Shard, number>();
    try {
      kv.spec.layers.forEach((layer, l) => {
        const shard = this.#kvShard(l);
        const { arena, k } = shard;
        let tmp = temps.get(shard);
        if (tmp === undefined) {
          temps.set(shard, (tmp = arena.alloc(Math.max(1, count) * (maxHeadDim + 1) * 4, 'a context shift')));
          arena.i32(tmp, count).fill(-discard);
        }
        const rows = tmp + count * 4;
        const rope = layer.rope!;
        for (let h = 0; h < layer.nKvHead; h++) {
          for (const which of ['keys', 'values'] as const) {
            const from = this.#kvRange(kv, l, which, h, keep + discard, count);
            const to = this.#kvRange(kv, l, which, h, keep, count);
            new Uint8Array(arena.memory.buffer).copyWithin(to.start, from.start, from.start + from.bytes);
          }
          if (count === 0) continue;
          // Keys were rotated at their old positions: rotate them back by `discard`.
          const keys = this.#kvRange(kv, l, 'keys', h, keep, count).start;
          const f32 = kv.spec.type === 'f32' ? keys : rows;
          if (kv.spec.type === 'f16') k.f16_to_f32(keys, rows, count * layer.headDim);
          const ff = rope.freqFactors ? this.#weightPtr(shard, rope.freqFactors) : 0;
          const ropeKernel = (k as unknown as Record<string, (...args: number[]) => number>)[`rope_${rope.mode}_f32`]!;
          ropeKernel(f32, layer.headDim, f32, layer.headDim, tmp, 1, layer.headDim, rope.nRot, rope.freqBase, rope.freqScale, ff, 0, count);
          if (kv.spec.type === 'f16') k.f32_to_f16(rows, keys, count * layer.headDim);
        }
      });
    } finally {
      for (const [shard, tmp] of temps) shard.arena.free(tmp);
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

  /** The Wasm memories' size now (what the process has reserved for this model). */
  get memoryBytes(): number {
    return this.#shards.reduce((n, s) => n + s.arena.memory.buffer.byteLength, 0);
  }

  /** Wasm memories the model is spread over. */
  get memories(): number {
    return this.#shards.length;
  }

  async dispose(): Promise<void> {
    this.#disposed = true;
    await (await this.#executor).dispose();
  }
}

async function createShard(module: WebAssembly.Module, memory: WebAssembly.Memory): Promise<Shard> {
  const k = await instantiateKernels(module, memory);
  return { k, arena: new WasmArena(memory, k.heap_base()), weights: new Map(), geluTable: 0 };
}

/** Grows one of a memory's reusable blocks to at least `bytes`; returns its address. */
function reserve(shard: Shard, which: 'scratch' | 'attentionScratch', bytes: number, what: string): number {
  let block = shard[which];
  if (!block || block.bytes < bytes) {
    if (block) shard.arena.free(block.ptr);
    block = shard[which] = { ptr: shard.arena.alloc(bytes, what), bytes };
  }
  return block.ptr;
}

function geluTableOf(shard: Shard): number {
  if (!shard.geluTable) {
    shard.geluTable = shard.arena.alloc(GELU_TABLE_BYTES, 'the GELU table');
    shard.k.gelu_ggml_table_init(shard.geluTable);
  }
  return shard.geluTable;
}

/** Where plans run, and how the description says it. */
interface ChosenExecutor {
  executor: PlanExecutor;
  threading: string;
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
 * The memory a CPU backend created with these options starts with, part by part and summed over
 * its memories: what `CpuBackend.create` allocates (the same function), for planning before
 * anything is loaded.
 */
export async function cpuMemoryParts(plan: CpuMemoryPlan, options: Pick<CpuBackendOptions, 'kernels' | 'threads' | 'maxMemoryBytes'> = {}): Promise<CpuMemoryParts> {
  const { module } = await selectKernels(options.kernels);
  const lanes = threadsUnavailable() === undefined ? await threadCount(options.threads) : 1;
  return (await memoryLayout(module, { ...options, memory: plan }, lanes)).parts;
}

/** The most one Wasm memory holds: wasm32's 4 GiB. */
export const CPU_MEMORY_LIMIT = WASM32_BYTES;

/**
 * The layout, or OUT_OF_MEMORY when the machine has less memory than it needs: a model past
 * the machine's memory is refused before anything is allocated, not killed half-way through
 * its load. (Browsers tell only a lower bound, which never refuses.)
 */
async function checkDeviceMemory(layout: MemoryLayout): Promise<MemoryLayout> {
  const device = await host.deviceMemory();
  if (device && !device.lowerBound && layout.parts.total > device.bytes) {
    const { parts } = layout;
    throw new WasmChordError(
      'OUT_OF_MEMORY',
      `the model needs ${formatBytes(parts.total)} of memory (weights ${formatBytes(parts.weights)}, KV cache ${formatBytes(parts.kv)}, scratch ${formatBytes(parts.kernels + parts.scratch)}); this machine has ${formatBytes(device.bytes)}`,
    );
  }
  return layout;
}

/** The memories a backend creates: their sizes, where the model goes in them, and the parts. */
interface MemoryLayout {
  readonly layout: ShardLayout;
  readonly sizes: readonly number[];
  readonly parts: CpuMemoryParts;
  /** The most one memory holds. */
  readonly limit: number;
}

/**
 * Plans the memories: the kernels' statics, the weights, the KV cache, the scratch of the
 * largest step and each lane's attention scratch (sizes from a probe instance of the kernels, so
 * that nothing here repeats their formulas); as many memories as the weights and KV cache need,
 * each with its own statics and scratch. Without a plan: one small memory that grows. A graph
 * with weights the kernels cannot compute is planned without scratch: the registry refuses that
 * model, with the reason, once the backend exists.
 */
async function memoryLayout(module: WebAssembly.Module, options: CpuBackendOptions, lanes: number): Promise<MemoryLayout> {
  const limit = options.maxMemoryBytes === undefined ? CPU_MEMORY_LIMIT : checkNumber('maxMemoryBytes', options.maxMemoryBytes, { min: PAGE, max: CPU_MEMORY_LIMIT, integer: true });
  const plan = options.memory;
  if (!plan) {
    const parts = { kernels: 0, weights: 0, kv: 0, scratch: 0, total: UNPLANNED_PAGES * PAGE, memories: 1 };
    return { layout: ShardLayout.single(), sizes: [0], parts, limit };
  }
  const probe = await instantiateKernels(module, new WebAssembly.Memory({ initial: UNPLANNED_PAGES }));
  const { kv } = plan;
  let step = 0;
  try {
    const steps = planGraph(plan.batch, { weightPtr: () => 0, interleaveGroup: () => 0, geluTable: () => 0, kvType: kv.type });
    step = steps.scratchBytes + (steps.maxHeadDim > 0 ? lanes * probe.attention_scratch_bytes(kv.contextSize, steps.maxHeadDim) : 0);
  } catch (err) {
    if (!isWasmChordError(err, 'UNSUPPORTED_TENSOR_TYPE')) throw err;
  }
  const kernels = probe.heap_base();
  const scratch = step + GELU_TABLE_BYTES + PLAN_SLACK;
  const interleave = options.interleaveMemories === undefined ? undefined : checkNumber('interleaveMemories', options.interleaveMemories, { min: 1, max: 64, integer: true });
  const layout = ShardLayout.plan(plan.batch, plan.tensors, kv, { budget: limit - kernels - scratch, interleave });
  const weights = Array.from({ length: layout.count }, (_, i) =>
    weightRuns(plan.tensors.filter((t) => layout.homesOf(t.name).includes(i))).reduce((n, r) => n + r.end - r.start, 0),
  );
  const kvBytes = weights.map(() => 0);
  kv.layers.forEach((layer, l) => (kvBytes[layout.kvShard(l)]! += 2 * kvLayerBytes(kv, layer)));
  const sizes = weights.map((w, i) => kernels + w + kvBytes[i]! + scratch);
  const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);
  const n = layout.count;
  const parts = { kernels: n * kernels, weights: sum(weights), kv: sum(kvBytes), scratch: n * scratch, total: sum(sizes), memories: n };
  return { layout, sizes, parts, limit };
}
