/**
 * The entry point: `WasmChord.init(options)` picks a backend, `runtime.loadModel(source)`
 * reads a GGUF model from a path, URL, bytes or Blob into it.
 */
import { WasmChordError } from '../errors.js';
import { MAX_THREADS } from '../backends/cpu/backend.js';
import { selectKernels, type KernelVariant } from '../backends/cpu/kernel-module.js';
import { checkKnownKeys, checkNumber } from '../validate.js';
import { BACKEND_KINDS, chooseBackend, type BackendPreference } from './backend-registry.js';
import { loadModel, type LoadModelOptions, type ModelSource } from './load-model.js';
import { BackendTracker } from './backend-tracker.js';
import type { Model } from './model.js';

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
}

const INIT_KEYS = ['gpuEnabled', 'backend', 'cpuKernels', 'threads'] as const;

export class WasmChord {
  /** Backends of the models loaded here; a model dropped without dispose() frees its own. */
  readonly #backends = new BackendTracker();
  #disposed = false;

  private constructor(readonly options: Readonly<InitOptions>) {}

  static async init(options: InitOptions = {}): Promise<WasmChord> {
    checkKnownKeys('init', options, INIT_KEYS);
    if (options.cpuKernels !== undefined && options.cpuKernels !== 'relaxed' && options.cpuKernels !== 'baseline') {
      throw new WasmChordError('INVALID_ARGUMENT', `option cpuKernels must be "relaxed" or "baseline" (got ${String(options.cpuKernels)})`);
    }
    if (options.backend !== undefined && options.backend !== 'auto' && !BACKEND_KINDS.includes(options.backend)) {
      throw new WasmChordError('INVALID_ARGUMENT', `option backend must be one of auto, ${BACKEND_KINDS.join(', ')} (got ${String(options.backend)})`);
    }
    if (options.threads !== undefined) checkNumber('threads', options.threads, { min: 1, max: MAX_THREADS, integer: true });
    const runtime = new WasmChord({ ...options });
    // Compile the kernels now, so that an engine without SIMD fails here, clearly.
    await selectKernels(options.cpuKernels);
    return runtime;
  }

  /** Loads a model; each model gets its own backend instance (and memory), chosen for it. */
  async loadModel(source: ModelSource, options: LoadModelOptions = {}): Promise<Model> {
    if (this.#disposed) throw new WasmChordError('DISPOSED', 'this runtime was disposed');
    return loadModel((definition, session, refused) => chooseBackend(this.options, definition, session, refused), source, options, this.#backends);
  }

  /** Disposes every model loaded through this runtime. */
  async dispose(): Promise<void> {
    this.#disposed = true;
    await this.#backends.disposeAll();
  }
}
