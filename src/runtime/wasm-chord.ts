/**
 * The entry point: `WasmChord.init(options)` picks a backend, `runtime.loadModel(source)`
 * reads a GGUF model from a path, URL, bytes or Blob into it.
 */
import { WasmChordError } from '../errors.js';
import { MAX_THREADS } from '../backends/cpu/backend.js';
import { selectKernels, type KernelVariant } from '../backends/cpu/kernel-module.js';
import { checkBoolean, checkKnownKeys, checkNumber } from '../validate.js';
import { host } from '../platform/host.js';
import { EngineClient } from './worker/engine-client.js';
import { ModelCache, type ModelCacheOptions } from './model-cache.js';
import { BACKEND_KINDS, chooseBackend, type BackendPreference } from './backend-registry.js';
import { loadModel, type LoadModelOptions, type ModelSource } from './load-model.js';
import { BackendTracker } from './backend-tracker.js';
import { checkPlan, isRemoteSource, planModel, type MemoryPlan, type PlanOptions } from './plan.js';
import type { Model } from './api.js';

export interface InitOptions {
  /**
   * Use WebGPU when the host has it and it runs the model; otherwise the CPU backend, and
   * `model.info.backendReason` says why.
   */
  gpuEnabled?: boolean;
  /**
   * Demand a backend: 'cpu', 'webgpu' (BACKEND_UNAVAILABLE when it cannot run here) or
   * 'reference' (plain TypeScript, slow: the oracle for debugging). Default 'auto'.
   */
  backend?: BackendPreference;
  /** Force a CPU kernel build ('relaxed' or 'baseline'); by default the best one that runs. */
  cpuKernels?: KernelVariant;
  /**
   * Worker threads of the CPU backend, 1 to 256 (default: the cores available). Logits do not
   * depend on it. Where SharedArrayBuffer is unavailable (a web page without COOP/COEP headers),
   * the CPU backend computes on the calling thread and `model.info.backend` says why.
   */
  threads?: number;
  /**
   * Run the engine in a dedicated Worker, so that generation never holds up the calling thread
   * (a page keeps painting). The API is the same; models are proxies (`model.info.engine` is
   * 'worker'), and a custom `sampler` function or a ByteSource cannot cross. Default: true on a
   * browser page, false elsewhere (Node computes on worker threads already).
   */
  worker?: boolean;
}

const INIT_KEYS = ['gpuEnabled', 'backend', 'cpuKernels', 'threads', 'worker'] as const;

/** A browser page (not a worker, not Node): where the engine goes to a worker by default. */
function onPage(): boolean {
  return host.kind === 'browser' && typeof (globalThis as { document?: unknown }).document !== 'undefined';
}

export class WasmChord {
  /** Backends of the models loaded here; a model dropped without dispose() frees its own. */
  readonly #backends = new BackendTracker();
  /** The engine's worker, when it runs in one. */
  readonly #engine: EngineClient | undefined;
  #disposed = false;

  private constructor(
    readonly options: Readonly<InitOptions>,
    engine?: EngineClient,
  ) {
    this.#engine = engine;
  }

  static async init(options: InitOptions = {}): Promise<WasmChord> {
    checkKnownKeys('init', options, INIT_KEYS);
    if (options.cpuKernels !== undefined && options.cpuKernels !== 'relaxed' && options.cpuKernels !== 'baseline') {
      throw new WasmChordError('INVALID_ARGUMENT', `option cpuKernels must be "relaxed" or "baseline" (got ${String(options.cpuKernels)})`);
    }
    if (options.backend !== undefined && options.backend !== 'auto' && !BACKEND_KINDS.includes(options.backend)) {
      throw new WasmChordError('INVALID_ARGUMENT', `option backend must be one of auto, ${BACKEND_KINDS.join(', ')} (got ${String(options.backend)})`);
    }
    if (options.threads !== undefined) checkNumber('threads', options.threads, { min: 1, max: MAX_THREADS, integer: true });
    checkBoolean('worker', options.worker);
    const { worker = onPage(), ...engineOptions } = options;
    if (worker) return new WasmChord({ ...options }, await EngineClient.start(engineOptions));
    const runtime = new WasmChord({ ...options });
    // Compile the kernels now, so that an engine without SIMD fails here, clearly.
    await selectKernels(options.cpuKernels);
    return runtime;
  }

  /**
   * The host's model store: the models downloaded by URL or Hugging Face id (list, pull,
   * delete). It needs no runtime; on a page it is the same store the engine's worker uses.
   */
  static modelCache(options?: ModelCacheOptions): Promise<ModelCache> {
    return ModelCache.open(options);
  }

  /**
   * Will a model run here? Its memory on a backend (weights, KV cache, scratch), planned from
   * its header alone (for a URL or Hugging Face id only the header travels), against what this
   * device offers; when it does not fit, the largest context (and KV type) that does.
   */
  static plan(source: ModelSource, options?: PlanOptions): Promise<MemoryPlan> {
    return planModel(source, options);
  }

  /** Loads a model; each model gets its own backend instance (and memory), chosen for it. */
  async loadModel(source: ModelSource, options: LoadModelOptions = {}): Promise<Model> {
    if (this.#disposed) throw new WasmChordError('DISPOSED', 'this runtime was disposed');
    if (this.#engine) return this.#engine.loadModel(source, options);
    // A download for the CPU backend is planned first, so that a model that cannot fit is refused before it.
    const { backend = 'auto', gpuEnabled } = this.options;
    if (isRemoteSource(source) && (backend === 'cpu' || (backend === 'auto' && !gpuEnabled))) {
      const { contextSize, kvType, batchSize, headers, requestTimeoutMs, signal, cache, cacheDir, hubEndpoint } = options;
      checkPlan(await planModel(source, { contextSize, kvType, batchSize, headers, requestTimeoutMs, signal, cache, cacheDir, hubEndpoint, threads: this.options.threads, cpuKernels: this.options.cpuKernels }));
    }
    return loadModel((definition, session, refused) => chooseBackend(this.options, definition, session, refused), source, options, this.#backends);
  }

  /** Disposes every model loaded through this runtime. */
  async dispose(): Promise<void> {
    this.#disposed = true;
    await this.#engine?.dispose();
    await this.#backends.disposeAll();
  }
}
