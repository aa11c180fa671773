/**
 * The backend registry: which backends exist in this build, and the choice for a model. The
 * caller states a preference (`backend`, or `gpuEnabled`); the registry tries the preferred
 * backend, checks that it runs every node of the model's graph and holds its tensors, and
 * otherwise falls back to the CPU backend, saying why (DESIGN principle 6: detect, never assume).
 */
import { WasmChordError, type ErrorCode } from '../errors.js';
import type { Backend, BackendKind, KVCacheType } from '../backends/backend.js';
import { CpuBackend, type CpuMemoryPlan } from '../backends/cpu/backend.js';
import type { KernelVariant } from '../backends/cpu/kernel-module.js';
import type { ModelDefinition } from '../model/model.js';

export type BackendPreference = 'auto' | BackendKind;

export interface BackendRequest {
  /** 'auto' (default): WebGPU when gpuEnabled and usable, else the CPU. A named kind is demanded. */
  readonly backend?: BackendPreference;
  readonly gpuEnabled?: boolean;
  readonly cpuKernels?: KernelVariant;
  /** CPU worker threads (default: the cores available). */
  readonly threads?: number;
}

/** The default session a model will have, so that a backend can size its memory once. */
export interface SessionPlan {
  readonly contextSize: number;
  readonly kvType: KVCacheType;
  /** Most tokens in one step; unset, the backend's own (batchSizeFor). */
  readonly batchSize?: number;
}

export interface BackendChoice {
  readonly backend: Backend;
  /** Why this backend: what was asked, and why anything preferred was passed over. */
  readonly reason: string;
}

/** A backend that refused the model after it was chosen (its load-time canary disagreed). */
export interface RefusedBackend {
  readonly kind: BackendKind;
  readonly code: ErrorCode;
  readonly reason: string;
}

interface BackendFactory {
  readonly kind: BackendKind;
  /** Creates the backend for the model, or resolves to a reason why it cannot run here. */
  create(request: BackendRequest, model: ModelDefinition, session: SessionPlan): Promise<Backend | string>;
}

/**
 * The backends of this build. WebGPU and the reference backend are imported when first asked
 * for, so a CPU-only process does not load their shaders and the TypeScript codecs (0.7 MiB of
 * the 14 that importing the library costs, most of which is Node's module loader).
 */
const FACTORIES: readonly BackendFactory[] = [
  // Chosen automatically, a software adapter is passed over; demanded, it is used.
  { kind: 'webgpu', create: async (r) => (await import('../backends/webgpu/backend.js')).WebGPUBackend.create({ allowSoftwareAdapter: r.backend === 'webgpu' }) },
  { kind: 'cpu', create: (r, model, session) => CpuBackend.create({ kernels: r.cpuKernels, threads: r.threads, memory: cpuMemoryPlan(model, session) }) },
  { kind: 'reference', create: async () => (await import('../backends/reference/backend.js')).ReferenceBackend.create() },
];

/**
 * Prompt tokens per step when the caller sets none. The CPU does best with 128: a step's
 * activations then stay in cache, so pp512 on a TinyLlama-shape model is 5-11% faster than in
 * steps of 512, and its scratch is 14 instead of 52 MiB (docs/benchmarks.md). WebGPU keeps
 * llama.cpp's 512, which spreads each dispatch over more tokens.
 */
const DEFAULT_BATCH_SIZE: Readonly<Record<BackendKind, number>> = { cpu: 128, webgpu: 512, reference: 512 };

/** The batch size a session on a `kind` backend has: the one asked for, else the backend's default. */
export function batchSizeFor(kind: BackendKind, requested: number | undefined): number {
  return requested ?? DEFAULT_BATCH_SIZE[kind];
}

/** The weights, one KV cache and a full batch. */
export function cpuMemoryPlan(model: ModelDefinition, session: SessionPlan): CpuMemoryPlan {
  return {
    tensors: model.tensors,
    kv: { contextSize: session.contextSize, type: session.kvType, layers: model.kvLayers },
    batch: model.buildGraph({ nTokens: Math.min(batchSizeFor('cpu', session.batchSize), session.contextSize), allLogits: false }),
  };
}

export const BACKEND_KINDS: readonly BackendKind[] = ['cpu', 'webgpu', 'reference'];

type Misfit = { readonly code: ErrorCode; readonly reason: string };

/** Why `backend` cannot run the model (a tensor too big, a node it lacks), or undefined. */
function misfit(backend: Backend, model: ModelDefinition): Misfit | undefined {
  const { maxBufferBytes, memoryBytes } = backend.capabilities;
  for (const t of model.tensors) {
    if (t.byteLength > maxBufferBytes) {
      return { code: 'OUT_OF_MEMORY', reason: `tensor ${t.name} (${t.byteLength} bytes) exceeds its largest buffer (${maxBufferBytes} bytes)` };
    }
  }
  const total = model.tensors.reduce((n, t) => n + t.byteLength, 0);
  if (total > memoryBytes) return { code: 'OUT_OF_MEMORY', reason: `the weights (${total} bytes) exceed its memory (${memoryBytes} bytes)` };
  for (const node of model.buildGraph({ nTokens: 1, allLogits: false }).nodes) {
    const s = backend.supports(node);
    if (!s.ok) return { code: 'UNSUPPORTED_TENSOR_TYPE', reason: s.reason };
  }
  return undefined;
}

/** Picks and creates the backend for a model and its default session, never a refused one. */
export async function chooseBackend(request: BackendRequest, model: ModelDefinition, session: SessionPlan, refused?: RefusedBackend): Promise<BackendChoice> {
  const wanted = request.backend ?? 'auto';
  const preferred: BackendKind = wanted === 'auto' ? (request.gpuEnabled ? 'webgpu' : 'cpu') : wanted;
  const passedOver: string[] = [];
  for (const kind of preferred === 'cpu' ? ['cpu' as const] : [preferred, 'cpu' as const]) {
    const factory = FACTORIES.find((f) => f.kind === kind);
    let why: Misfit;
    const backend =
      refused?.kind === kind ? refused : factory ? await factory.create(request, model, session) : `this build has no ${kind} backend yet`;
    if (typeof backend === 'string') why = { code: 'BACKEND_UNAVAILABLE', reason: backend };
    else if ('code' in backend) why = backend;
    else {
      const bad = misfit(backend, model);
      if (!bad) {
        const asked = wanted === 'auto' ? (request.gpuEnabled ? 'gpuEnabled' : 'the default') : `backend: '${wanted}'`;
        return { backend, reason: [`${kind}: ${asked}`, ...passedOver].join('; ') };
      }
      await backend.dispose();
      why = bad;
    }
    // A demanded backend, or the last resort, fails with its own reason.
    if (wanted === kind || kind === 'cpu') {
      throw new WasmChordError(why.code, `the ${kind} backend cannot run this model: ${why.reason}${passedOver.length ? ` (${passedOver.join('; ')})` : ''}`);
    }
    passedOver.push(`${kind} passed over: ${why.reason}`);
  }
  throw new Error('unreachable: the CPU backend is the last resort');
}
