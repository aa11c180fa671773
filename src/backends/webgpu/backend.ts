/**
 * The WebGPU backend: weights stream from the source into GPU storage buffers tensor by tensor
 * (bounded staging chunks, no whole-model copy anywhere); a graph compiles once into a list of
 * dispatches with their pipelines, bind groups and uniforms; a step writes its tokens and
 * positions, encodes the dispatches into command buffers of SUBMIT_DISPATCHES, submitting each as
 * it is encoded, and reads back the output node.
 *
 * Tensors larger than the adapter's largest storage binding (128 MiB on lavapipe, phones) are
 * split by rows into several buffers; matmuls and embeddings run once per piece.
 */
import { WasmChordError } from '../../errors.js';
import type { GGUFFile, GGUFTensorInfo } from '../../gguf/reader.js';
import { throwIfAborted } from '../../gguf/byte-source.js';
import { GGMLType, rowByteSize, typeName, type GGMLTypeId } from '../../quant/types.js';
import {
  kvElementBytes,
  kvLayerBytes,
  type ArgmaxSteps,
  type Backend,
  type BackendCapabilities,
  type CompiledGraph,
  type KVCacheHandle,
  type KVCacheSpec,
  type KVLayerData,
  type KVShift,
  type LoadWeightsOptions,
  type NodeInspector,
  type RunOptions,
  type StepInput,
  type Support,
} from '../backend.js';
import { inputsOf, isVectorShape, weightsOf, type Graph, type GraphNode, type NodeOf, type RopeParams, type WeightHandle } from '../graph.js';
import { checkKVCount, checkKVData, checkKVShift, checkKVSpec, checkRunOutput, checkSupported, runResult } from '../contract-checks.js';
import { shiftLayerData } from '../kv-shift.js';
import { runCanary } from './canary.js';
import { WGSL_DEQUANT_TYPES } from './dequant-wgsl.js';
import { acquireGpu, checkDevice, guardAllocation, type GpuContext, type GpuInfo } from './gpu.js';
import { GEMM_ROWS, GEMM_TOKENS, gemmKernel } from './gemm-kernel.js';
import { SLICE_MATVEC_TYPES, sliceLanes, sliceMatvecKernel, sliceMatvecRows } from './matvec-kernel.js';
import {
  argmaxKernel,
  attentionKernel,
  elementwiseKernel,
  embedKernel,
  expertMatmulKernel,
  kvStoreKernel,
  layerNormKernel,
  matmulKernel,
  MATMUL_EPILOGUES,
  type MatmulEpilogue,
  MAX_HEAD_DIM,
  moeCombineKernel,
  moeRouteKernel,
  packParams,
  rmsNormKernel,
  ropeKernel,
  ELEMENTWISE_WG,
  WG,
  type ElementwiseOp,
  type KernelSource,
  type MatmulShape,
  type ParamValue,
} from './kernels.js';

export interface WebGPUBackendOptions {
  /**
   * Bytes per piece of a split weight, below the adapter's binding limit (tests split small
   * tensors with it); a piece still holds at least one row, or one expert.
   */
  weightPieceBytes?: number;
  /**
   * Use a software adapter (lavapipe, SwiftShader) when it is the only one (default true): the
   * registry's automatic choice says no, since the CPU backend is faster than an emulated GPU.
   */
  allowSoftwareAdapter?: boolean;
  /** Bytes read from the source and written to the GPU at a time while loading (default 16 MiB). */
  stagingBytes?: number;
  /** Check the GPU against exact math when weights are first loaded (default true; see canary.ts). */
  canary?: boolean;
  /**
   * Fault injection for tests: rewrites a kernel before it is compiled (such pipelines are not
   * shared with other backends), to prove that the canary refuses a GPU that computes wrongly.
   */
  transformKernel?: (source: KernelSource) => KernelSource;
}

/** Bytes read from the source per staging chunk while loading. */
const LOAD_CHUNK = 16 << 20;
/** Experts one MoE node may have (the router kernel's bit set). */
const MAX_EXPERTS = 256;
/**
 * Threads per weight row in the matmul kernels: one subgroup (SIMD width), between 8 and 32;
 * 32 when the adapter does not say. Measured (bench/webgpu-matmul.bench.ts, docs/benchmarks.md):
 * 32 lanes stream 1.5x the bytes of 8 on an H200, and 8 run 1.5x faster than 32 on lavapipe.
 */
function matmulShape(info: GpuInfo): MatmulShape {
  return { lanes: Math.min(32, Math.max(8, info.subgroupSize ?? 32)), groups: 1 };
}
/**
 * Dispatches per command buffer of a step: encoding costs the host ~3–5 µs a dispatch (Dawn,
 * bench/webgpu-dispatch.bench.ts), so a step submitted whole leaves the GPU idle until all of it
 * is encoded; submitted in parts, the GPU runs each part while the next is encoded.
 */
const SUBMIT_DISPATCHES = 48;
/** Most greedy steps one runArgmax chains on the GPU. */
const MAX_ARGMAX_STEPS = 64;
/** Most workgroups along one dispatch dimension (WebGPU's guaranteed limit). */
const MAX_GROUPS = 65535;

/** A weight in GPU memory: raw file bytes, split by rows into pieces that each fit one binding. */
interface GpuWeight {
  readonly info: GGUFTensorInfo;
  readonly rowBytes: number;
  readonly pieces: readonly { readonly buffer: GPUBuffer; readonly firstRow: number; readonly rows: number }[];
  /** 1-D F32 tensors (norm weights, biases, rope factors) also kept on the host: a few KiB. */
  readonly host?: Float32Array;
}

class GpuKVCache implements KVCacheHandle {
  released = false;
  constructor(
    readonly spec: KVCacheSpec,
    readonly owner: WebGPUBackend,
    readonly keys: GPUBuffer[],
    readonly values: GPUBuffer[],
  ) {}
}

interface ReadyDispatch {
  readonly pipeline: GPUComputePipeline;
  readonly bindGroup: GPUBindGroup;
  readonly groups: readonly [number, number, number];
}

/**
 * A dispatch, or (attention) one that depends on the run's KV cache (its buffers, element type
 * and context size), made once per cache.
 */
type Dispatch = ReadyDispatch | { readonly forCache: (cache: GpuKVCache) => ReadyDispatch };

/** A copy encoded after a step's dispatches. */
interface BufferCopy {
  readonly from: GPUBuffer;
  readonly to: GPUBuffer;
  readonly bytes: number;
  readonly toOffset?: number;
}

/**
 * Greedy decoding on the GPU: the argmax kernel's dispatch, its 8-byte result, and the read-back
 * of a chain of up to MAX_ARGMAX_STEPS results.
 */
interface ArgmaxDispatch {
  readonly dispatch: ReadyDispatch;
  readonly result: GPUBuffer;
  readonly readback: GPUBuffer;
}

/** The cos/sin table of one set of rope parameters, rewritten every step for its positions. */
interface RopeTable {
  readonly params: RopeParams;
  readonly buffer: GPUBuffer;
}

class GpuCompiledGraph implements CompiledGraph {
  /** Per node, its dispatches (a node's output is complete after the last of them). */
  readonly steps: { readonly node: GraphNode; readonly dispatches: Dispatch[] }[] = [];
  readonly outputs = new Map<number, GPUBuffer>();
  readonly ropeTables = new Map<string, RopeTable>();
  readonly forCache = new WeakMap<GpuKVCache, ReadyDispatch[][]>();
  readonly buffers: GPUBuffer[] = [];
  /** With fusions (some nodes' outputs never written), the same graph without them, for inspection. */
  unfused: GpuCompiledGraph | undefined;
  /** The argmax of the output's last row (runArgmax), made with the graph's other dispatches. */
  argmax: ArgmaxDispatch | undefined;
  constructor(
    readonly graph: Graph,
    readonly owner: WebGPUBackend,
    readonly tokens: GPUBuffer,
    readonly readback: GPUBuffer,
    /** Whether nodes were fused: then not every node's output exists. */
    readonly fused: boolean,
  ) {}
}

const bytesOf = (node: GraphNode) => node.rows * node.cols * 4;
const ceilDiv = (a: number, b: number) => Math.ceil(a / b);
const align4 = (n: number) => Math.ceil(n / 4) * 4;

/** Workgroup counts for n flat workgroups: x capped, the rest along y (kernels flatten x + y·nx). */
function flatGroups(n: number, z = 1): [number, number, number] {
  return n <= MAX_GROUPS ? [Math.max(1, n), 1, z] : [MAX_GROUPS, ceilDiv(n, MAX_GROUPS), z];
}

function ropeKey(r: RopeParams): string {
  return `${r.nRot}/${r.freqBase}/${r.freqScale}/${r.freqFactors?.name ?? ''}`;
}

export class WebGPUBackend implements Backend {
  readonly kind = 'webgpu' as const;
  readonly description: string;
  readonly capabilities: BackendCapabilities;
  readonly info: GpuInfo;
  readonly matmulShape: MatmulShape;
  readonly #gpu: GpuContext;
  readonly #maxBinding: number;
  readonly #pieceBytes: number;
  readonly #options: WebGPUBackendOptions;
  #canaryPassed = false;
  readonly #weights = new Map<string, GpuWeight>();
  /** The pipelines this backend prepared (compile looks them up synchronously). */
  readonly #pipelines = new Map<string, GPUComputePipeline>();
  readonly #owned = new Set<GPUBuffer>();
  readonly #step: GPUBuffer;
  readonly #empty: GPUBuffer;
  #turn: Promise<unknown> = Promise.resolve();
  #disposed = false;

  private constructor(gpu: GpuContext, pieceBytes: number, options: WebGPUBackendOptions) {
    this.#gpu = gpu;
    this.#options = options;
    this.info = gpu.info;
    this.matmulShape = matmulShape(gpu.info);
    this.#maxBinding = gpu.info.maxStorageBindingBytes;
    this.#pieceBytes = pieceBytes;
    this.description = `webgpu: ${gpu.info.adapter} via ${gpu.info.implementation}; f32 kernels${gpu.info.shaderF16 ? ' (shader-f16 available, unused)' : ''}, ${this.matmulShape.lanes} threads per matmul row; bindings up to ${(this.#maxBinding / 2 ** 20).toFixed(0)} MiB`;
    this.capabilities = {
      tensorTypes: WGSL_DEQUANT_TYPES,
      kvTypes: ['f32', 'f16'],
      // A tensor is split across bindings, but each piece is one buffer.
      maxBufferBytes: Number.MAX_SAFE_INTEGER,
      // WebGPU cannot query the memory a device has.
      memoryBytes: Number.MAX_SAFE_INTEGER,
    };
    this.#step = this.#buffer(16, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);
    this.#empty = this.#buffer(16, GPUBufferUsage.STORAGE);
  }

  /** The backend on this host's GPU, or why there is none. */
  static async create(options: WebGPUBackendOptions = {}): Promise<WebGPUBackend | string> {
    const gpu = await acquireGpu();
    if (typeof gpu === 'string') return gpu;
    if (gpu.info.fallback && options.allowSoftwareAdapter === false) {
      return `the only WebGPU adapter is a software one (${gpu.info.adapter}), slower than the CPU backend (backend: 'webgpu' uses it anyway)`;
    }
    const limit = gpu.info.maxStorageBindingBytes;
    return new WebGPUBackend(gpu, Math.min(limit, options.weightPieceBytes ?? limit), options);
  }

  get #device(): GPUDevice {
    return this.#gpu.device;
  }

  #buffer(size: number, usage: number): GPUBuffer {
    const b = this.#device.createBuffer({ size: Math.max(16, align4(size)), usage });
    this.#owned.add(b);
    return b;
  }

  #destroy(b: GPUBuffer): void {
    this.#owned.delete(b);
    b.destroy();
  }

  supports(node: GraphNode): Support {
    for (const w of weightsOf(node)) {
      const matrix = node.op === 'matmul' || node.op === 'embed' || node.op === 'position_embed' || node.op === 'moe_ffn';
      if (!matrix && w.type !== GGMLType.F32) return { ok: false, reason: `${w.name} must be F32 for ${node.op}, not ${typeName(w.type)}` };
      if (matrix && !WGSL_DEQUANT_TYPES.has(w.type)) return { ok: false, reason: `tensor ${w.name} is ${typeName(w.type)}, which has no WGSL kernel` };
      const rowBytes = rowByteSize(w.type, w.shape[0]!);
      if (rowBytes > this.#maxBinding) return { ok: false, reason: `a row of ${w.name} exceeds one GPU binding` };
      if (node.op === 'moe_ffn' && rowBytes * w.shape[1]! > this.#maxBinding) return { ok: false, reason: `one expert of ${w.name} exceeds one GPU binding (${this.#maxBinding} bytes)` };
    }
    if (node.op === 'attention' && node.params.headDim > MAX_HEAD_DIM) return { ok: false, reason: `attention heads of ${node.params.headDim} values (at most ${MAX_HEAD_DIM})` };
    if (node.op === 'attention' && node.params.headDim % 2 !== 0) return { ok: false, reason: `attention heads of odd size ${node.params.headDim}` };
    if (node.op === 'moe_ffn' && node.logits.cols > MAX_EXPERTS) return { ok: false, reason: `${node.logits.cols} experts (at most ${MAX_EXPERTS})` };
    return { ok: true };
  }

  /**
   * Streams the tensors to the GPU; the first time, the canary then checks this GPU's results
   * against exact math on them, and refuses with BACKEND_DISAGREES when they are wrong.
   */
  async loadWeights(file: GGUFFile, tensors: readonly GGUFTensorInfo[], options: LoadWeightsOptions = {}): Promise<void> {
    await this.#loadTensors(file, tensors, options);
    if (this.#options.canary === false || this.#canaryPassed) return;
    const why = await runCanary(this, (f, t) => this.#loadTensors(f, t, {}), file, tensors);
    if (why) throw new WasmChordError('BACKEND_DISAGREES', `the WebGPU canary failed on ${this.info.adapter}: ${why}`);
    this.#canaryPassed = true;
  }

  async #loadTensors(file: GGUFFile, tensors: readonly GGUFTensorInfo[], options: LoadWeightsOptions): Promise<void> {
    this.#checkAlive();
    for (const t of tensors) {
      if (!(isVectorShape(t.shape) ? t.type === GGMLType.F32 || WGSL_DEQUANT_TYPES.has(t.type) : WGSL_DEQUANT_TYPES.has(t.type))) {
        throw new WasmChordError('UNSUPPORTED_TENSOR_TYPE', `tensor ${t.name} is ${typeName(t.type)}, which the WebGPU backend cannot compute`);
      }
    }
    await this.#preparePipelines(new Set(tensors.map((t) => t.type)));
    const totalBytes = tensors.reduce((n, t) => n + t.byteLength, 0);
    let loadedBytes = 0;
    // One staging chunk (whole words, as writeBuffer needs) for every tensor: the only copy.
    const chunk = align4(Math.max(16, this.#options.stagingBytes ?? LOAD_CHUNK));
    const staging: Uint8Array<ArrayBuffer> = new Uint8Array(Math.min(chunk, Math.max(16, align4(Math.max(0, ...tensors.map((t) => t.byteLength))))));
    for (const t of tensors) {
      const weight = await this.#loadTensor(file, t, staging, options, (n) => {
        loadedBytes += n;
        options.onProgress?.({ loadedBytes, totalBytes });
      });
      this.#weights.set(t.name, weight);
    }
  }

  /** One tensor, piece by piece, each streamed through the staging chunk. */
  async #loadTensor(file: GGUFFile, t: GGUFTensorInfo, staging: Uint8Array<ArrayBuffer>, options: LoadWeightsOptions, progress: (n: number) => void): Promise<GpuWeight> {
    const rowBytes = rowByteSize(t.type, t.shape[0]!);
    const rows = t.byteLength / rowBytes;
    // A 3-D tensor (a stack of experts) splits between experts, never inside one.
    const unit = t.shape.length === 3 ? t.shape[1]! : 1;
    const rowsPerPiece = Math.max(1, Math.floor(this.#pieceBytes / (rowBytes * unit))) * unit;
    const pieces: { buffer: GPUBuffer; firstRow: number; rows: number }[] = [];
    const source = file.dataOffset + t.offset;
    // 1-D F32 tensors (one row, one piece) are also kept on the host, copied as they stream by.
    const host = isVectorShape(t.shape) && t.type === GGMLType.F32 ? new Float32Array(t.elementCount) : undefined;
    for (let firstRow = 0; firstRow < rows; firstRow += rowsPerPiece) {
      const n = Math.min(rowsPerPiece, rows - firstRow);
      const bytes = n * rowBytes;
      const buffer = await guardAllocation(this.#gpu, `${t.name} (${bytes} bytes)`, () => this.#buffer(bytes, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST));
      pieces.push({ buffer, firstRow, rows: n });
      // Chunks of the staging size (a multiple of 4, as writeBuffer needs); the last one padded.
      for (let done = 0; done < bytes; done += staging.length) {
        throwIfAborted(options.signal);
        const len = Math.min(staging.length, bytes - done);
        const view = staging.subarray(0, len);
        await file.source.readInto(source + firstRow * rowBytes + done, view, options.signal);
        staging.fill(0, len, align4(len));
        this.#device.queue.writeBuffer(buffer, done, staging, 0, align4(len));
        if (host) new Uint8Array(host.buffer).set(view, done);
        progress(len);
      }
    }
    return { info: t, rowBytes, pieces, host };
  }

  /** Compiles (asynchronously, with errors caught) every pipeline the loaded types can need. */
  async #preparePipelines(types: ReadonlySet<GGMLTypeId>): Promise<void> {
    const sources: KernelSource[] = [rmsNormKernel(), layerNormKernel(), ropeKernel(), moeRouteKernel(), moeCombineKernel(), argmaxKernel()];
    for (const op of ['add', 'add_bias', 'scale', 'softcap', 'gelu', 'glu_silu', 'glu_gelu', 'cols', 'rows'] as const) sources.push(elementwiseKernel(op));
    for (const kv of ['f32', 'f16'] as const) sources.push(kvStoreKernel(kv), attentionKernel(kv), attentionKernel(kv, true));
    for (const type of types) {
      if (!WGSL_DEQUANT_TYPES.has(type)) continue;
      for (const epilogue of [false, true]) {
        const decode = SLICE_MATVEC_TYPES.has(type) ? sliceMatvecKernel(type, sliceLanes(this.matmulShape), epilogue) : matmulKernel(type, this.matmulShape, epilogue);
        sources.push(decode, gemmKernel(type, epilogue));
      }
      sources.push(expertMatmulKernel(type), embedKernel(type));
    }
    await Promise.all(sources.map((s) => this.#pipeline(s)));
  }

  async #pipeline(original: KernelSource): Promise<GPUComputePipeline> {
    const transform = this.#options.transformKernel;
    const source = transform ? transform(original) : original;
    if (source !== original) {
      const pipeline = await this.#createPipeline(source);
      this.#pipelines.set(original.key, pipeline);
      return pipeline;
    }
    let shared = this.#gpu.pipelines.get(source.key);
    if (!shared) {
      shared = this.#createPipeline(source);
      this.#gpu.pipelines.set(source.key, shared);
      shared.catch(() => this.#gpu.pipelines.delete(source.key));
    }
    const pipeline = await shared;
    this.#pipelines.set(source.key, pipeline);
    return pipeline;
  }

  async #createPipeline(source: KernelSource): Promise<GPUComputePipeline> {
    const device = this.#device;
    const layout = device.createBindGroupLayout({
      entries: source.bindings.map((kind, binding) => ({
        binding,
        visibility: GPUShaderStage.COMPUTE,
        buffer: { type: kind === 'read' ? 'read-only-storage' : kind === 'write' ? 'storage' : 'uniform' },
      })),
    });
    const module = device.createShaderModule({ code: source.code });
    let pipeline: GPUComputePipeline;
    try {
      pipeline = await device.createComputePipelineAsync({ layout: device.createPipelineLayout({ bindGroupLayouts: [layout] }), compute: { module, entryPoint: 'main' } });
    } catch (err) {
      const info = await module.getCompilationInfo();
      const messages = info.messages.map((m) => `${m.lineNum}:${m.linePos} ${m.message}`).join('; ');
      throw new WasmChordError('BACKEND_UNAVAILABLE', `the GPU rejected kernel ${source.key}: ${(err as Error).message} ${messages}`);
    }
    return pipeline;
  }

  #compiledPipeline(source: KernelSource): GPUComputePipeline {
    const p = this.#pipelines.get(source.key);
    if (!p) throw new WasmChordError('INVALID_ARGUMENT', `kernel ${source.key} is not prepared: load the weights first`);
    return p;
  }

  #weight(w: WeightHandle): GpuWeight {
    const t = this.#weights.get(w.name);
    if (!t) throw new WasmChordError('INVALID_ARGUMENT', `tensor ${w.name} was not loaded on this backend`);
    if (t.info.type !== w.type) throw new WasmChordError('INVALID_ARGUMENT', `tensor ${w.name} was loaded as ${typeName(t.info.type)}, not ${typeName(w.type)}`);
    return t;
  }

  createKVCache(spec: KVCacheSpec): KVCacheHandle {
    this.#checkAlive();
    checkKVSpec(spec, this);
    const keys: GPUBuffer[] = [];
    const values: GPUBuffer[] = [];
    for (const layer of spec.layers) {
      const bytes = kvLayerBytes(spec, layer);
      if (bytes > this.#maxBinding) throw new WasmChordError('OUT_OF_MEMORY', `a KV cache layer of ${bytes} bytes exceeds one GPU binding (${this.#maxBinding})`);
      const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;
      keys.push(this.#buffer(bytes, usage));
      values.push(this.#buffer(bytes, usage));
    }
    return new GpuKVCache(spec, this, keys, values);
  }

  releaseKVCache(cache: KVCacheHandle): void {
    const c = this.#own(cache);
    if (c.released) return;
    [...c.keys, ...c.values].forEach((b) => this.#destroy(b));
    c.released = true;
  }

  compile(graph: Graph): CompiledGraph {
    this.#checkAlive();
    checkSupported(this, graph);
    for (const node of graph.nodes) for (const w of weightsOf(node)) this.#weight(w);
    return this.#compile(graph, true);
  }

  #compile(graph: Graph, fuse: boolean): GpuCompiledGraph {
    const out = graph.output;
    const compiled = new GpuCompiledGraph(
      graph,
      this,
      this.#buffer(graph.nTokens * 4, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST),
      this.#buffer(bytesOf(out), GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST),
      fuse,
    );
    compiled.buffers.push(compiled.tokens, compiled.readback);
    const services: Services = {
      buffer: (size, usage) => this.#buffer(size, usage),
      pipeline: (s) => this.#compiledPipeline(s),
      weight: (w) => this.#weight(w),
      device: this.#device,
      step: this.#step,
      empty: this.#empty,
      matmulShape: this.matmulShape,
    };
    new GraphCompiler(services, compiled).compileAll();
    return compiled;
  }

  async run(compiled: CompiledGraph, input: StepInput, cache: KVCacheHandle, options: RunOptions = {}): Promise<Float32Array> {
    const { graph, c } = this.#checkStep(compiled, input, cache);
    checkRunOutput(graph.graph, options.output);
    return runResult(await this.#runValues(graph, input, c, options.inspect), options.output);
  }

  /** The step's output, read back (with `inspect`, after every node's). */
  async #runValues(graph: GpuCompiledGraph, input: StepInput, c: GpuKVCache, inspect: NodeInspector | undefined): Promise<Float32Array> {
    if (!inspect) return this.#serial(() => this.#runLogits(graph, input, c));
    // Debugging: the graph without fusions (every node's output exists), a submit and a read-back per node.
    const unfused = graph.fused ? (graph.unfused ??= this.#compile(graph.graph, false)) : graph;
    return this.#serial(async () => {
      let result: Float32Array | undefined;
      await this.#runStep(unfused, input, c, async (ready) => {
        for (const [i, s] of unfused.steps.entries()) {
          this.#submit([ready[i]!]);
          const values = await this.#read(unfused.outputs.get(s.node.id)!, bytesOf(s.node));
          inspect(s.node, values);
          if (s.node === unfused.graph.output) result = values;
        }
      });
      return result!;
    });
  }

  /**
   * Greedy steps on the GPU: each step's argmax (8 bytes: the index, and whether any logit was
   * NaN or +Infinity) is copied into the read-back and, in a chain, into the token buffer that the
   * next step's embedding reads, the next position being written between the submits in queue
   * order. One read-back per chain: under Deno, whose every mapAsync takes >= 10 ms
   * (docs/benchmarks.md), that wait is paid once per chain, not once per token.
   */
  async runArgmax(compiled: CompiledGraph, input: StepInput, cache: KVCacheHandle, steps = 1): Promise<ArgmaxSteps> {
    const { graph, c } = this.#checkStep(compiled, input, cache);
    if (!(Number.isInteger(steps) && steps >= 1 && steps <= MAX_ARGMAX_STEPS)) throw new WasmChordError('INVALID_ARGUMENT', `argmax steps must be an integer in 1..${MAX_ARGMAX_STEPS}, not ${steps}`);
    if (steps > 1 && graph.graph.nTokens !== 1) throw new WasmChordError('INVALID_ARGUMENT', 'a chain of argmax steps needs a one-token graph');
    if (input.pos0 + input.tokens.length + steps - 1 > c.spec.contextSize) {
      throw new WasmChordError('CONTEXT_FULL', `${steps} steps from position ${input.pos0} do not fit a context of ${c.spec.contextSize}`);
    }
    const { dispatch, result, readback } = graph.argmax!;
    return this.#serial(async () => {
      await this.#runStep(graph, input, c, (ready) => {
        for (let i = 0; i < steps; i++) {
          if (i > 0) this.#writePosition(graph, { tokens: input.tokens, pos0: input.pos0 + i });
          const feed = i + 1 < steps ? [{ from: result, to: graph.tokens, bytes: 4 }] : [];
          this.#submit([...ready, [dispatch]], [{ from: result, to: readback, bytes: 8, toOffset: 8 * i }, ...feed]);
        }
      });
      const out = new Uint32Array(await this.#mapRead(readback, 8 * steps));
      const tokens: number[] = [];
      for (let i = 0; i < steps; i++) {
        if (out[2 * i + 1] === 0) {
          tokens.push(out[2 * i]!);
          continue;
        }
        // Later steps of the chain overwrote this step's logits: it runs again, alone (the cache before it is right).
        const logits = await this.#runLogits(graph, { tokens: i === 0 ? input.tokens : Int32Array.of(tokens[i - 1]!), pos0: input.pos0 + i }, c);
        const { rows, cols } = graph.graph.output;
        return { tokens, invalid: logits.subarray((rows - 1) * cols) };
      }
      return { tokens };
    });
  }

  #checkStep(compiled: CompiledGraph, input: StepInput, cache: KVCacheHandle): { graph: GpuCompiledGraph; c: GpuKVCache } {
    this.#checkAlive();
    if (!(compiled instanceof GpuCompiledGraph) || compiled.owner !== this) throw new WasmChordError('INVALID_ARGUMENT', 'this graph was compiled for another backend');
    const c = this.#live(cache);
    const { tokens, pos0 } = input;
    if (tokens.length !== compiled.graph.nTokens) throw new WasmChordError('INVALID_ARGUMENT', `${tokens.length} tokens for a graph of ${compiled.graph.nTokens}`);
    if (!(Number.isInteger(pos0) && pos0 >= 0 && pos0 + tokens.length <= c.spec.contextSize)) {
      throw new WasmChordError('CONTEXT_FULL', `positions ${pos0}..${pos0 + tokens.length - 1} do not fit a context of ${c.spec.contextSize}`);
    }
    checkStepInputs(compiled.graph, input);
    return { graph: compiled, c };
  }

  /** One step, its output read back. */
  async #runLogits(graph: GpuCompiledGraph, input: StepInput, cache: GpuKVCache): Promise<Float32Array> {
    const output = graph.graph.output;
    await this.#runStep(graph, input, cache, (ready) => this.#submit(ready, [{ from: graph.outputs.get(output.id)!, to: graph.readback, bytes: bytesOf(output) }]));
    return new Float32Array(await this.#mapRead(graph.readback));
  }

  /** Writes the step's inputs, has `submit` encode and submit its dispatches, and checks for errors. */
  async #runStep(compiled: GpuCompiledGraph, input: StepInput, cache: GpuKVCache, submit: (ready: ReadyDispatch[][]) => void | Promise<void>): Promise<void> {
    checkDevice(this.#gpu);
    const { device } = this.#gpu;
    device.queue.writeBuffer(compiled.tokens, 0, Int32Array.from(input.tokens));
    this.#writePosition(compiled, input);
    device.pushErrorScope('out-of-memory');
    device.pushErrorScope('validation');
    await submit(this.#readyDispatches(compiled, cache));
    const [invalid, oom] = [await device.popErrorScope(), await device.popErrorScope()];
    if (oom) throw new WasmChordError('OUT_OF_MEMORY', `the GPU ran out of memory: ${oom.message}`);
    if (invalid) throw new Error(`WebGPU rejected a step: ${invalid.message}`);
  }

  /** The step's position (the step uniform) and its rope tables, in queue order. */
  #writePosition(compiled: GpuCompiledGraph, input: StepInput): void {
    const q = this.#device.queue;
    q.writeBuffer(this.#step, 0, Uint32Array.of(input.pos0, 0, 0, 0));
    for (const table of compiled.ropeTables.values()) q.writeBuffer(table.buffer, 0, this.#ropeTable(table.params, input));
  }

  /** The first `bytes` (default: all) of a mappable read-back buffer, once the GPU has written them. */
  async #mapRead(buffer: GPUBuffer, bytes = buffer.size): Promise<ArrayBuffer> {
    await buffer.mapAsync(GPUMapMode.READ, 0, bytes);
    checkDevice(this.#gpu);
    const out = buffer.getMappedRange(0, bytes).slice(0);
    buffer.unmap();
    return out;
  }

  /** How many dispatches one step of a compiled graph encodes: fewer than its nodes' where nodes are fused. */
  dispatchCount(compiled: CompiledGraph): number {
    if (!(compiled instanceof GpuCompiledGraph) || compiled.owner !== this) throw new WasmChordError('INVALID_ARGUMENT', 'this graph was compiled for another backend');
    return compiled.steps.reduce((n, s) => n + s.dispatches.length, 0);
  }

  /**
   * GPU time of each node of one step, from timestamp queries around each node's dispatches (one
   * compute pass per node; bench/webgpu-profile.bench.ts). Needs the `timestamp-query` feature.
   * The step runs for real: its attention nodes append to the cache at input.pos0.
   */
  async profile(compiled: CompiledGraph, input: StepInput, cache: KVCacheHandle): Promise<{ node: GraphNode; ms: number }[]> {
    if (!this.info.timestamps) throw new WasmChordError('BACKEND_UNAVAILABLE', 'this GPU device has no timestamp queries');
    if (!(compiled instanceof GpuCompiledGraph) || compiled.owner !== this) throw new WasmChordError('INVALID_ARGUMENT', 'this graph was compiled for another backend');
    const c = this.#live(cache);
    checkStepInputs(compiled.graph, input);
    return this.#serial(async () => {
      const { device } = this.#gpu;
      const steps = this.#readyDispatches(compiled, c);
      device.queue.writeBuffer(compiled.tokens, 0, Int32Array.from(input.tokens));
      device.queue.writeBuffer(this.#step, 0, Uint32Array.of(input.pos0, 0, 0, 0));
      for (const table of compiled.ropeTables.values()) device.queue.writeBuffer(table.buffer, 0, this.#ropeTable(table.params, input));
      const count = steps.length * 2;
      const querySet = device.createQuerySet({ type: 'timestamp', count });
      const resolved = device.createBuffer({ size: count * 8, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
      const staging = device.createBuffer({ size: count * 8, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
      try {
        const encoder = device.createCommandEncoder();
        steps.forEach((dispatches, i) => {
          const pass = encoder.beginComputePass({ timestampWrites: { querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 } });
          for (const d of dispatches) {
            pass.setPipeline(d.pipeline);
            pass.setBindGroup(0, d.bindGroup);
            pass.dispatchWorkgroups(...d.groups);
          }
          pass.end();
        });
        encoder.resolveQuerySet(querySet, 0, count, resolved, 0);
        encoder.copyBufferToBuffer(resolved, 0, staging, 0, count * 8);
        device.queue.submit([encoder.finish()]);
        await staging.mapAsync(GPUMapMode.READ);
        const t = new BigUint64Array(staging.getMappedRange().slice(0));
        return compiled.steps.map((s, i) => ({ node: s.node, ms: Number(t[2 * i + 1]! - t[2 * i]!) / 1e6 }));
      } finally {
        querySet.destroy();
        resolved.destroy();
        staging.destroy();
      }
    });
  }

  /**
   * Encodes the given steps' dispatches, then the copies, and submits: SUBMIT_DISPATCHES at a
   * time, so that the GPU runs the first while the host encodes the rest.
   */
  #submit(steps: ReadyDispatch[][], copies: readonly BufferCopy[] = []): void {
    const all = steps.flat();
    for (let first = 0; first < all.length || first === 0; first += SUBMIT_DISPATCHES) {
      const encoder = this.#device.createCommandEncoder();
      const pass = encoder.beginComputePass();
      for (const d of all.slice(first, first + SUBMIT_DISPATCHES)) {
        pass.setPipeline(d.pipeline);
        pass.setBindGroup(0, d.bindGroup);
        pass.dispatchWorkgroups(...d.groups);
      }
      pass.end();
      if (first + SUBMIT_DISPATCHES >= all.length) for (const c of copies) encoder.copyBufferToBuffer(c.from, 0, c.to, c.toOffset ?? 0, c.bytes);
      this.#device.queue.submit([encoder.finish()]);
    }
  }

  /** Every step's dispatches for this cache (those that bind it made on its first run). */
  #readyDispatches(compiled: GpuCompiledGraph, cache: GpuKVCache): ReadyDispatch[][] {
    let ready = compiled.forCache.get(cache);
    if (!ready) {
      ready = compiled.steps.map((s) => s.dispatches.map((d) => ('forCache' in d ? d.forCache(cache) : d)));
      compiled.forCache.set(cache, ready);
    }
    return ready;
  }

  /** cos/sin of θ_i = p·freqScale·base^(−2i/nRot)/factor_i for the step's positions, in f64. */
  #ropeTable(r: RopeParams, input: StepInput): Float32Array<ArrayBuffer> {
    const half = r.nRot / 2;
    const factors = r.freqFactors ? this.#weight(r.freqFactors).host : undefined;
    const out = new Float32Array(input.tokens.length * half * 2);
    for (let t = 0; t < input.tokens.length; t++) {
      for (let i = 0; i < half; i++) {
        const theta = ((input.pos0 + t) * r.freqScale * Math.pow(r.freqBase, (-2 * i) / r.nRot)) / (factors ? factors[i]! : 1);
        out[(t * half + i) * 2] = Math.cos(theta);
        out[(t * half + i) * 2 + 1] = Math.sin(theta);
      }
    }
    return out;
  }

  /** Copies `bytes` of a buffer out through a mapped staging buffer. */
  async #read(source: GPUBuffer, bytes: number, offset = 0): Promise<Float32Array> {
    const staging = this.#device.createBuffer({ size: align4(bytes), usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    try {
      const encoder = this.#device.createCommandEncoder();
      encoder.copyBufferToBuffer(source, offset, staging, 0, align4(bytes));
      this.#device.queue.submit([encoder.finish()]);
      await staging.mapAsync(GPUMapMode.READ);
      checkDevice(this.#gpu);
      return new Float32Array(staging.getMappedRange().slice(0, align4(bytes)));
    } finally {
      staging.destroy();
    }
  }

  async readKV(cache: KVCacheHandle, n: number): Promise<KVLayerData[]> {
    const c = this.#live(cache);
    checkKVCount(c.spec, n);
    const eb = kvElementBytes(c.spec.type);
    return this.#serial(() =>
      Promise.all(
        c.spec.layers.map(async (l, i) => {
          const rowBytes = l.headDim * eb;
          const take = async (buffer: GPUBuffer) => {
            const all = new Uint8Array((await this.#read(buffer, l.nKvHead * c.spec.contextSize * rowBytes)).buffer);
            const out = new Uint8Array(l.nKvHead * n * rowBytes);
            for (let h = 0; h < l.nKvHead; h++) out.set(all.subarray(h * c.spec.contextSize * rowBytes, (h * c.spec.contextSize + n) * rowBytes), h * n * rowBytes);
            return out;
          };
          return { keys: await take(c.keys[i]!), values: await take(c.values[i]!) };
        }),
      ),
    );
  }

  writeKV(cache: KVCacheHandle, n: number, layers: readonly KVLayerData[]): void {
    const c = this.#live(cache);
    checkKVData(c.spec, n, layers);
    const eb = kvElementBytes(c.spec.type);
    c.spec.layers.forEach((l, i) => {
      const rowBytes = l.headDim * eb;
      for (const which of ['keys', 'values'] as const) {
        const bytes = layers[i]![which];
        // A head's n rows are contiguous in the GPU layout too: one write per head (whole words:
        // head sizes are even, so n·headDim f16 values fill whole words).
        for (let h = 0; h < l.nKvHead; h++) {
          const part = new Uint8Array(bytes.subarray(h * n * rowBytes, (h + 1) * n * rowBytes));
          if (part.length > 0) this.#device.queue.writeBuffer(c[which][i]!, h * c.spec.contextSize * rowBytes, part);
        }
      }
    });
  }

  async shiftKV(cache: KVCacheHandle, shift: KVShift): Promise<void> {
    const c = this.#live(cache);
    const { discard, used } = shift;
    checkKVShift(c.spec, shift);
    const before = await this.readKV(c, used);
    const after = before.map((data, i) => {
      const layer = c.spec.layers[i]!;
      return shiftLayerData(data, layer, c.spec.type, shift, layer.rope!.freqFactors ? this.#weight(layer.rope!.freqFactors).host : undefined);
    });
    this.writeKV(c, used - discard, after);
  }

  /** Steps, read-backs and profiles take turns: they share the step uniform and scratch buffers. */
  #serial<T>(work: () => Promise<T>): Promise<T> {
    const turn = this.#turn.then(work);
    this.#turn = turn.catch(() => undefined);
    return turn;
  }

  #own(cache: KVCacheHandle): GpuKVCache {
    if (!(cache instanceof GpuKVCache) || cache.owner !== this) throw new WasmChordError('INVALID_ARGUMENT', 'this KV cache belongs to another backend');
    return cache;
  }

  #live(cache: KVCacheHandle): GpuKVCache {
    const c = this.#own(cache);
    if (c.released) throw new WasmChordError('DISPOSED', 'this KV cache was released');
    return c;
  }

  #checkAlive(): void {
    if (this.#disposed) throw new WasmChordError('DISPOSED', 'the WebGPU backend was disposed');
    checkDevice(this.#gpu);
  }

  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    await this.#turn;
    for (const b of this.#owned) b.destroy();
    this.#owned.clear();
    this.#weights.clear();
  }
}


/** Token ids must index every embedding table; positions every position table. */
function checkStepInputs(graph: Graph, input: StepInput): void {
  for (const node of graph.nodes) {
    if (node.op === 'embed') {
      const rows = node.table.shape[1] ?? 1;
      for (const id of input.tokens) {
        if (!(Number.isInteger(id) && id >= 0 && id < rows)) throw new WasmChordError('INVALID_ARGUMENT', `token id ${id} is outside ${node.table.name}`);
      }
    } else if (node.op === 'position_embed') {
      const rows = node.table.shape[1] ?? 1;
      if (input.pos0 + input.tokens.length > rows) throw new WasmChordError('CONTEXT_FULL', `position ${input.pos0 + input.tokens.length - 1} is past the ${rows} positions of ${node.table.name}`);
    }
  }
}

/** What GraphCompiler needs of the backend. */
interface Services {
  buffer(size: number, usage: number): GPUBuffer;
  pipeline(source: KernelSource): GPUComputePipeline;
  weight(w: WeightHandle): GpuWeight;
  readonly device: GPUDevice;
  /** The step uniform (pos0). */
  readonly step: GPUBuffer;
  /** Bound where a kernel's optional input is absent. */
  readonly empty: GPUBuffer;
  readonly matmulShape: MatmulShape;
}

/** A node that a matmul it alone reads computes as it writes: the matmul, and the node's other input. */
interface MatmulFusion {
  readonly matmul: NodeOf<'matmul'>;
  readonly other: GraphNode;
  readonly epilogue: MatmulEpilogue;
}

/**
 * The nodes that absorb a matmul input (by the node's id): residual adds (attention output, FFN
 * down) and GLUs (their up projection). Each saves a decode step one dispatch, ~8 µs on an
 * H200 through Dawn (docs/benchmarks.md), and the result is bit-identical.
 */
function matmulFusions(graph: Graph): Map<number, MatmulFusion> {
  const readers = new Map<number, number>();
  for (const n of graph.nodes) for (const m of inputsOf(n)) readers.set(m.id, (readers.get(m.id) ?? 0) + 1);
  const fusible = (m: GraphNode, other: GraphNode): m is NodeOf<'matmul'> => m.op === 'matmul' && m !== other && m !== graph.output && readers.get(m.id) === 1;
  const fusions = new Map<number, MatmulFusion>();
  for (const n of graph.nodes) {
    if (n.op === 'add') {
      if (fusible(n.b, n.a)) fusions.set(n.id, { matmul: n.b, other: n.a, epilogue: 'add' });
      else if (fusible(n.a, n.b)) fusions.set(n.id, { matmul: n.a, other: n.b, epilogue: 'add' });
    } else if (n.op === 'glu' && fusible(n.up, n.gate)) {
      fusions.set(n.id, { matmul: n.up, other: n.gate, epilogue: n.act === 'silu' ? 'glu_silu' : 'glu_gelu' });
    }
  }
  return fusions;
}

/**
 * Turns a graph into dispatches: every node's output gets a buffer from a pool, reused once its
 * last reader has run (a 7B prefill would otherwise hold every activation of every layer).
 */
class GraphCompiler {
  readonly #s: Services;
  readonly #free: GPUBuffer[] = [];
  readonly #sizes = new Map<GPUBuffer, number>();

  constructor(
    services: Services,
    readonly compiled: GpuCompiledGraph,
  ) {
    this.#s = services;
  }

  compileAll(): void {
    const { graph } = this.compiled;
    const fusions = this.compiled.fused ? matmulFusions(graph) : new Map<number, MatmulFusion>();
    const absorbed = new Set([...fusions.values()].map((f) => f.matmul.id));
    // What each node's dispatches read: a fusing node reads its matmul's inputs, not the matmul.
    const reads = (n: GraphNode) => {
      const f = fusions.get(n.id);
      return f ? [f.other, ...inputsOf(f.matmul)] : inputsOf(n);
    };
    const lastUse = new Map<number, number>();
    graph.nodes.forEach((n, i) => absorbed.has(n.id) || reads(n).forEach((m) => lastUse.set(m.id, i)));
    graph.nodes.forEach((node, i) => {
      if (absorbed.has(node.id)) {
        this.compiled.steps.push({ node, dispatches: [] }); // computed by the node that reads it
        return;
      }
      const out = this.#take(bytesOf(node));
      this.compiled.outputs.set(node.id, out);
      const f = fusions.get(node.id);
      const dispatches = f ? this.#matmul(this.#out(f.matmul.x), f.matmul.weight, out, f.matmul.rows, f.matmul.x.cols, f.matmul.cols, { epilogue: f.epilogue, other: this.#out(f.other) }) : this.#lower(node, out);
      this.compiled.steps.push({ node, dispatches });
      for (const m of reads(node)) {
        if (lastUse.get(m.id) === i && m !== graph.output) this.#free.push(this.compiled.outputs.get(m.id)!);
      }
    });
    this.compiled.argmax = this.#argmax(graph.output);
  }

  /** Greedy decoding's dispatch: the argmax of the output's last row into an 8-byte result (runArgmax). */
  #argmax(out: GraphNode): ArgmaxDispatch {
    const result = this.#s.buffer(8, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC);
    const readback = this.#s.buffer(8 * MAX_ARGMAX_STEPS, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
    this.compiled.buffers.push(result, readback);
    const params = this.#params([(out.rows - 1) * out.cols, out.cols]);
    return { dispatch: this.#dispatch(argmaxKernel(), [this.#out(out), result, params], [1, 1, 1]), result, readback };
  }

  #take(bytes: number): GPUBuffer {
    const need = Math.max(16, align4(bytes));
    let best = -1;
    this.#free.forEach((b, i) => {
      const size = this.#sizes.get(b)!;
      if (size >= need && (best < 0 || size < this.#sizes.get(this.#free[best]!)!)) best = i;
    });
    if (best >= 0) return this.#free.splice(best, 1)[0]!;
    const b = this.#s.buffer(need, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST);
    this.#sizes.set(b, need);
    this.compiled.buffers.push(b);
    return b;
  }

  #params(values: readonly ParamValue[]): GPUBuffer {
    const bytes = packParams(values);
    const b = this.#s.buffer(bytes.length, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);
    this.#s.device.queue.writeBuffer(b, 0, bytes);
    this.compiled.buffers.push(b);
    return b;
  }

  #dispatch(source: KernelSource, bindings: GPUBuffer[], groups: readonly [number, number, number]): ReadyDispatch {
    const pipeline = this.#s.pipeline(source);
    const bindGroup = this.#s.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: bindings.map((buffer, binding) => ({ binding, resource: { buffer } })) });
    return { pipeline, bindGroup, groups };
  }

  #out(node: GraphNode): GPUBuffer {
    return this.compiled.outputs.get(node.id)!;
  }

  #vector(w: WeightHandle | undefined): GPUBuffer {
    return w ? this.#s.weight(w).pieces[0]!.buffer : this.#s.empty;
  }

  #elementwise(op: ElementwiseOp, out: GPUBuffer, n: number, a: GPUBuffer, b: GPUBuffer = this.#s.empty, p: { cols?: number; xcols?: number; start?: number; f?: number } = {}): Dispatch {
    const params = this.#params([n, p.cols ?? 0, p.xcols ?? 0, p.start ?? 0, { f32: p.f ?? 0 }]);
    return this.#dispatch(elementwiseKernel(op), [a, b, out, params], flatGroups(ceilDiv(n, ELEMENTWISE_WG)));
  }

  /** x · Wᵀ (with an epilogue over another input), one dispatch per piece of the weight: the tiled GEMM for several tokens, the decode kernel for one. */
  #matmul(x: GPUBuffer, w: WeightHandle, out: GPUBuffer, nTok: number, k: number, m: number, fused?: { epilogue: MatmulEpilogue; other: GPUBuffer }): Dispatch[] {
    const weight = this.#s.weight(w);
    return weight.pieces.map((piece) => {
      const epilogue = fused ? 1 + MATMUL_EPILOGUES.indexOf(fused.epilogue) : 0;
      const params = this.#params([k, m, weight.rowBytes, piece.firstRow, piece.rows, nTok, epilogue]);
      const bindings = [piece.buffer, x, out, params, ...(fused ? [fused.other] : [])];
      if (nTok > 1) return this.#dispatch(gemmKernel(w.type, fused !== undefined), bindings, flatGroups(ceilDiv(piece.rows, GEMM_ROWS), ceilDiv(nTok, GEMM_TOKENS)));
      const shape = this.#s.matmulShape;
      if (SLICE_MATVEC_TYPES.has(w.type)) {
        const lanes = sliceLanes(shape);
        return this.#dispatch(sliceMatvecKernel(w.type, lanes, fused !== undefined), bindings, flatGroups(ceilDiv(piece.rows, sliceMatvecRows(lanes))));
      }
      return this.#dispatch(matmulKernel(w.type, shape, fused !== undefined), bindings, flatGroups(ceilDiv(piece.rows, WG / shape.lanes)));
    });
  }

  #lower(node: GraphNode, out: GPUBuffer): Dispatch[] {
    const LOWER: { [K in GraphNode['op']]: (n: NodeOf<K>) => Dispatch[] } = {
      embed: (n) => this.#embed(n.table, out, n.rows, false),
      position_embed: (n) => this.#embed(n.table, out, n.rows, true),
      rms_norm: (n) => {
        const params = this.#params([n.group, n.weight ? 1 : 0, { f32: n.eps }]);
        return [this.#dispatch(rmsNormKernel(), [this.#out(n.x), this.#vector(n.weight), out, params], flatGroups((n.rows * n.cols) / n.group))];
      },
      layer_norm: (n) => {
        const params = this.#params([n.cols, n.weight ? 1 : 0, n.bias ? 1 : 0, { f32: n.eps }]);
        return [this.#dispatch(layerNormKernel(), [this.#out(n.x), this.#vector(n.weight), this.#vector(n.bias), out, params], flatGroups(n.rows))];
      },
      matmul: (n) => this.#matmul(this.#out(n.x), n.weight, out, n.rows, n.x.cols, n.cols),
      add: (n) => [this.#elementwise('add', out, n.rows * n.cols, this.#out(n.a), this.#out(n.b))],
      add_bias: (n) => [this.#elementwise('add_bias', out, n.rows * n.cols, this.#out(n.x), this.#vector(n.bias), { cols: n.cols })],
      scale: (n) => [this.#elementwise('scale', out, n.rows * n.cols, this.#out(n.x), undefined, { f: n.factor })],
      softcap: (n) => [this.#elementwise('softcap', out, n.rows * n.cols, this.#out(n.x), undefined, { f: n.cap })],
      gelu: (n) => [this.#elementwise('gelu', out, n.rows * n.cols, this.#out(n.x))],
      glu: (n) => [this.#elementwise(n.act === 'silu' ? 'glu_silu' : 'glu_gelu', out, n.rows * n.cols, this.#out(n.gate), this.#out(n.up))],
      cols: (n) => [this.#elementwise('cols', out, n.rows * n.cols, this.#out(n.x), undefined, { cols: n.cols, xcols: n.x.cols, start: n.start })],
      rows: (n) => [this.#elementwise('rows', out, n.rows * n.cols, this.#out(n.x), undefined, { start: n.start * n.cols })],
      rope: (n) => {
        const r = n.params;
        const key = ropeKey(r);
        let table = this.compiled.ropeTables.get(key);
        if (!table) {
          const buffer = this.#s.buffer(n.rows * r.nRot * 4, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST);
          this.compiled.buffers.push(buffer);
          this.compiled.ropeTables.set(key, (table = { params: r, buffer }));
        }
        const params = this.#params([n.rows * n.cols, r.headDim, r.nRot, r.mode === 'neox' ? 1 : 0, r.nHead]);
        return [this.#dispatch(ropeKernel(), [this.#out(n.x), table.buffer, out, params], flatGroups(ceilDiv(n.rows * n.cols, ELEMENTWISE_WG)))];
      },
      attention: (n) => this.#attention(n, out),
      moe_ffn: (n) => this.#moe(n, out),
    };
    return (LOWER[node.op] as (n: GraphNode) => Dispatch[])(node);
  }

  #embed(table: WeightHandle, out: GPUBuffer, nTok: number, positions: boolean): Dispatch[] {
    const weight = this.#s.weight(table);
    const width = table.shape[0]!;
    return weight.pieces.map((piece) => {
      const params = this.#params([width, weight.rowBytes, piece.firstRow, piece.rows, positions ? 1 : 0]);
      return this.#dispatch(embedKernel(table.type), [piece.buffer, this.compiled.tokens, out, params, this.#s.step], [ceilDiv(width, 4 * WG), nTok, 1]);
    });
  }

  /** Stores the step's keys and values, then attends: kernels and sizes follow the run's cache. */
  #attention(n: NodeOf<'attention'>, out: GPUBuffer): Dispatch[] {
    const { layer, nHead, nKvHead, headDim, scale, window, softcap } = n.params;
    const width = nKvHead * headDim;
    const [q, k, v] = [this.#out(n.q), this.#out(n.k), this.#out(n.v)];
    const layerOf = (cache: GpuKVCache) => {
      const spec = cache.spec.layers[layer];
      if (!spec || spec.nKvHead !== nKvHead || spec.headDim !== headDim) throw new WasmChordError('INVALID_ARGUMENT', `the KV cache has no layer ${layer} of ${nKvHead} heads of ${headDim}`);
      return { keys: cache.keys[layer]!, values: cache.values[layer]!, ctx: cache.spec.contextSize, type: cache.spec.type };
    };
    const store = {
      forCache: (cache: GpuKVCache) => {
        const c = layerOf(cache);
        const params = this.#params([nKvHead, headDim, c.ctx, n.rows * width]);
        return this.#dispatch(kvStoreKernel(c.type), [k, v, c.keys, c.values, params, this.#s.step], flatGroups(ceilDiv(n.rows * width, ELEMENTWISE_WG * (c.type === 'f16' ? 2 : 1))));
      },
    };
    const attend = {
      forCache: (cache: GpuKVCache) => {
        const c = layerOf(cache);
        const params = this.#params([nHead, nKvHead, headDim, c.ctx, window, { f32: softcap }, { f32: scale }]);
        const vectorK = headDim % (c.type === 'f16' ? 8 : 4) === 0;
        return this.#dispatch(attentionKernel(c.type, vectorK), [q, c.keys, c.values, out, params, this.#s.step], [nHead, n.rows, 1]);
      },
    };
    return [store, attend];
  }

  #moe(n: NodeOf<'moe_ffn'>, out: GPUBuffer): Dispatch[] {
    const [nIn, nFf] = n.gate.shape as [number, number, number];
    const nUsed = n.params.nUsed;
    const slots = n.rows * nUsed;
    // Scratch for this node only: routes, expert outputs; returned to the pool afterwards.
    const route = this.#take(slots * 4);
    const weights = this.#take(slots * 4);
    const gate = this.#take(slots * nFf * 4);
    const up = this.#take(slots * nFf * 4);
    const hidden = this.#take(slots * nFf * 4);
    const down = this.#take(slots * nIn * 4);
    // One dispatch per piece of the expert stack; each computes the slots routed to its experts.
    const expert = (w: WeightHandle, x: GPUBuffer, y: GPUBuffer, k: number, m: number, xPerSlot: boolean) => {
      const weight = this.#s.weight(w);
      return weight.pieces.map((piece) => {
        const params = this.#params([k, m, weight.rowBytes, nUsed, xPerSlot ? 1 : 0, piece.firstRow / m, piece.rows / m]);
        return this.#dispatch(expertMatmulKernel(w.type), [piece.buffer, x, y, route, params], [m, slots, 1]);
      });
    };
    const x = this.#out(n.x);
    const dispatches = [
      this.#dispatch(moeRouteKernel(), [this.#out(n.logits), route, weights, this.#params([n.logits.cols, nUsed, n.params.normalize ? 1 : 0, n.rows])], [ceilDiv(n.rows, WG), 1, 1]),
      ...expert(n.gate, x, gate, nIn, nFf, false),
      ...expert(n.up, x, up, nIn, nFf, false),
      this.#elementwise(n.params.act === 'silu' ? 'glu_silu' : 'glu_gelu', hidden, slots * nFf, gate, up),
      ...expert(n.down, hidden, down, nFf, nIn, true),
      this.#dispatch(moeCombineKernel(), [down, weights, out, this.#params([nIn, nUsed, n.rows * nIn])], flatGroups(ceilDiv(n.rows * nIn, ELEMENTWISE_WG))),
    ];
    this.#free.push(route, weights, gate, up, hidden, down);
    return dispatches;
  }
}
