/**
 * The entry point: `WasmChord.init(options)` picks a backend, `runtime.loadModel(source)`
 * reads a GGUF model from a path, URL, bytes or Blob into it.
 */
import { WasmChordError } from '../errors.js';
import type { Backend } from '../backends/backend.js';
import { CpuBackend } from '../backends/cpu/backend.js';
import type { KernelVariant } from '../backends/cpu/kernel-module.js';
import { checkKnownKeys } from '../validate.js';
import { BACKEND_KINDS, chooseBackend, type BackendPreference } from './backend-registry.js';
import { loadModel, type LoadModelOptions, type ModelSource } from './load-model.js';
import type { Model } from './model.js';

export interface InitOptions {
  /**
   * Use WebGPU when the host has it and it runs the model; otherwise the CPU backend, and
   * `model.info.backendReason` says why. (This build has no WebGPU backend yet.)
   */
  gpuEnabled?: boolean;
  /**
   * Demand a backend: 'cpu', 'webgpu' (BACKEND_UNAVAILABLE when it cannot run here) or
   * 'reference' (plain TypeScript, slow: the oracle for debugging). Default 'auto'.
   */
  backend?: BackendPreference;
  /** Force a CPU kernel build ('relaxed' or 'baseline'); by default the best one that runs. */
  cpuKernels?: KernelVariant;
}

const INIT_KEYS = ['gpuEnabled', 'backend', 'cpuKernels'] as const;

export class WasmChord {
  readonly #backends = new Set<Backend>();
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
    const runtime = new WasmChord({ ...options });
    // Compile the kernels now, so that an engine without SIMD fails here, clearly.
    await (await CpuBackend.create({ kernels: options.cpuKernels })).dispose();
    return runtime;
  }

  /** Loads a model; each model gets its own backend instance (and memory), chosen for it. */
  async loadModel(source: ModelSource, options: LoadModelOptions = {}): Promise<Model> {
    if (this.#disposed) throw new WasmChordError('DISPOSED', 'this runtime was disposed');
    return loadModel((definition) => chooseBackend(this.options, definition), source, options, {
      adopt: (b) => this.#backends.add(b),
      release: (b) => this.#backends.delete(b),
    });
  }

  /** Disposes every model loaded through this runtime. */
  async dispose(): Promise<void> {
    this.#disposed = true;
    await Promise.all([...this.#backends].map((b) => b.dispose()));
    this.#backends.clear();
  }
}
