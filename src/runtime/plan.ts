/**
 * "Will it run here?": the memory a model needs on a backend, planned from its GGUF header alone
 * (no weights read), and compared with what this device offers. The CPU figures come from the
 * function that sizes the CPU backend's memory when it is created (`cpuMemoryParts`), so a plan
 * is what a load allocates.
 */
import { kvCacheBytes, kvLayerBytes, type KVCacheType } from '../backends/backend.js';
import { CPU_MEMORY_LIMIT, cpuMemoryParts } from '../backends/cpu/backend.js';
import type { KernelVariant } from '../backends/cpu/kernel-module.js';
import { planGraph } from '../backends/cpu/planner.js';
import type { Graph } from '../backends/graph.js';
import { acquireGpu } from '../backends/webgpu/gpu.js';
import { isWasmChordError, WasmChordError } from '../errors.js';
import { defineModel, type ModelDefinition } from '../model/model.js';
import { host } from '../platform/host.js';
import { checkKnownKeys } from '../validate.js';
import { batchSizeFor, cpuMemoryPlan, type SessionPlan } from './backend-registry.js';
import { contextSizeFor, sessionOptions, type LoadModelOptions, type ModelSource } from './load-model.js';
import { openModelFile, sourceOptions } from './model-cache.js';
import { parseModelRef } from './model-id.js';

export type PlanBackend = 'cpu' | 'webgpu';

export interface PlanOptions extends Pick<LoadModelOptions, 'contextSize' | 'kvType' | 'batchSize' | 'headers' | 'requestTimeoutMs' | 'signal' | 'cache' | 'cacheDir' | 'hubEndpoint'> {
  /** The backend to plan for (default 'cpu'). */
  backend?: PlanBackend;
  /** CPU worker threads (each has its own attention scratch); default: the cores available. */
  threads?: number;
  cpuKernels?: KernelVariant;
}

const PLAN_KEYS = ['contextSize', 'kvType', 'batchSize', 'headers', 'requestTimeoutMs', 'signal', 'cache', 'cacheDir', 'hubEndpoint', 'backend', 'threads', 'cpuKernels'] as const;

/** A limit the plan was compared with. */
export interface PlanLimit {
  /** What limits: 'wasm32 memory', 'device memory', 'GPU binding', 'GPU memory'. */
  readonly name: string;
  /** Bytes, or undefined when it could not be checked here. */
  readonly bytes: number | undefined;
  /** What it bounds: the plan's total, or each buffer (a KV layer on the GPU). */
  readonly of: 'total' | 'buffer';
  /** How it was found, or why it was not checked. */
  readonly note: string;
}

export interface MemoryPlan {
  readonly backend: PlanBackend;
  readonly architecture: string;
  readonly contextSize: number;
  readonly kvType: KVCacheType;
  readonly batchSize: number;
  /** The weights as the backend holds them. */
  readonly weightsBytes: number;
  /** One KV cache of `contextSize` positions (the default session's). */
  readonly kvBytes: number;
  /** Everything else: activations of a full batch, attention scratch, kernel statics, alignment. */
  readonly scratchBytes: number;
  readonly totalBytes: number;
  /** Whether the parts are what the backend allocates (CPU), or an estimate (WebGPU's activations). */
  readonly exact: boolean;
  /** CPU: the Wasm memories the model is spread over (wasm32: at most 4 GiB each), kernels and scratch in each. */
  readonly memories?: number;
  readonly limits: readonly PlanLimit[];
  /** The smallest limit on the total that was checked (undefined: none could be). */
  readonly limitBytes: number | undefined;
  readonly fits: boolean;
  /** Why it does not fit, naming the sizes (undefined when it fits). */
  readonly reason?: string;
  /** When it does not fit: the largest context (with f16 KV if f32 was asked) that does, if any. */
  readonly suggestion?: { readonly contextSize: number; readonly kvType: KVCacheType; readonly totalBytes: number };
}

const MiB = 2 ** 20;
const mib = (n: number) => `${(n / MiB).toFixed(1)} MiB`;

/** Plans a model from its header: a path, URL, Hugging Face id (read from the store when there), bytes or Blob. */
export async function planModel(input: ModelSource, options: PlanOptions = {}): Promise<MemoryPlan> {
  checkKnownKeys('plan', options, PLAN_KEYS);
  const backend = options.backend ?? 'cpu';
  if (backend !== 'cpu' && backend !== 'webgpu') throw new WasmChordError('INVALID_ARGUMENT', `option backend must be "cpu" or "webgpu" (got ${String(backend)})`);
  const { kvType, batchSize } = sessionOptions(options);
  const file = await openModelFile(input, { ...sourceOptions(options), download: false });
  let definition: ModelDefinition;
  try {
    definition = defineModel(file);
  } finally {
    await file.source.close();
  }
  const session = { contextSize: contextSizeFor(definition, options.contextSize), kvType, batchSize: batchSizeFor(backend, batchSize) };
  const planner = backend === 'cpu' ? await cpuPlanner(options) : await webgpuPlanner();
  const plan = await planner(definition, session);
  if (plan.fits) return plan;
  return { ...plan, suggestion: await suggest(definition, session, planner) };
}

/** Whether a source will be downloaded by loadModel (a URL or Hugging Face id): those are planned first. */
export function isRemoteSource(input: unknown): boolean {
  return (typeof input === 'string' || input instanceof URL) && parseModelRef(String(input)) !== undefined;
}

/** OUT_OF_MEMORY with the plan's numbers and its suggestion, when the plan does not fit. */
export function checkPlan(plan: MemoryPlan): void {
  if (plan.fits) return;
  const s = plan.suggestion;
  const hint = s ? `; contextSize ${s.contextSize} with a ${s.kvType} KV cache fits (${mib(s.totalBytes)})` : '';
  throw new WasmChordError('OUT_OF_MEMORY', `the model does not fit on the ${plan.backend} backend here: ${plan.reason}${hint}`);
}

/** A session whose batch size is settled (the backend being known). */
type PlannedSession = Required<SessionPlan>;

type Planner = (definition: ModelDefinition, session: PlannedSession) => Promise<MemoryPlan>;

/** The largest context that fits (f16 KV when f32 was asked), in steps of 256 above 256. */
async function suggest(definition: ModelDefinition, session: PlannedSession, planner: Planner): Promise<MemoryPlan['suggestion']> {
  const kvType: KVCacheType = 'f16';
  const at = (contextSize: number) => planner(definition, { ...session, contextSize, kvType });
  if (session.kvType === 'f32') {
    const same = await at(session.contextSize);
    if (same.fits) return { contextSize: session.contextSize, kvType, totalBytes: same.totalBytes };
  }
  if (!(await at(1)).fits) return undefined; // the weights alone do not fit
  let [lo, hi] = [1, session.contextSize]; // lo fits, hi does not
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if ((await at(mid)).fits) lo = mid;
    else hi = mid;
  }
  const contextSize = lo >= 256 ? lo - (lo % 256) : lo;
  return { contextSize, kvType, totalBytes: (await at(contextSize)).totalBytes };
}

type PlanParts = Omit<MemoryPlan, 'limitBytes' | 'fits' | 'reason' | 'suggestion'>;

/** The plan with its verdict: `broken` are the limits it exceeds, and `needs` what exceeds them. */
function verdict(parts: PlanParts, broken: readonly PlanLimit[], needs: string): MemoryPlan {
  const checked = parts.limits.flatMap((l) => (l.bytes === undefined || l.of !== 'total' ? [] : [l.bytes]));
  const limitBytes = checked.length ? Math.min(...checked) : undefined;
  if (broken.length === 0) return { ...parts, limitBytes, fits: true };
  const over = broken.map((l) => `the ${l.name} (${mib(l.bytes!)}: ${l.note})`).join(' and ');
  return { ...parts, limitBytes, fits: false, reason: `${needs}, more than ${over}` };
}

/**
 * The CPU backend: Wasm memories of the planned sizes (as many as the model needs, wasm32 capping
 * each at 4 GiB), within the machine's memory.
 */
async function cpuPlanner(options: PlanOptions): Promise<Planner> {
  const device = await host.deviceMemory();
  const limits: PlanLimit[] = [
    { name: 'wasm32 memory', of: 'buffer', bytes: CPU_MEMORY_LIMIT, note: 'each Wasm memory addresses at most 4 GiB: a bigger model is spread over several, whole layers each' },
    device
      ? { name: 'device memory', of: 'total', bytes: device.bytes, note: device.lowerBound ? 'navigator.deviceMemory, a lower bound' : 'the machine\'s total memory' }
      : { name: 'device memory', of: 'total', bytes: undefined, note: 'not checked: this host does not tell' },
  ];
  return async (definition, session) => {
    const parts = await cpuMemoryParts(cpuMemoryPlan(definition, session), { kernels: options.cpuKernels, threads: options.threads });
    const plan: PlanParts = {
      backend: 'cpu',
      architecture: definition.arch,
      ...session,
      weightsBytes: parts.weights,
      kvBytes: parts.kv,
      scratchBytes: parts.kernels + parts.scratch,
      totalBytes: parts.total,
      exact: true,
      memories: parts.memories,
      limits,
    };
    // A lower bound (browsers) is reported, never a reason to refuse.
    const broken = limits.filter((l) => l.of === 'total' && l.bytes !== undefined && parts.total > l.bytes && !(l.name === 'device memory' && device?.lowerBound));
    return verdict(plan, broken, `it needs ${mib(parts.total)} (weights ${mib(parts.weights)}, KV cache ${mib(parts.kv)}, scratch ${mib(parts.kernels + parts.scratch)})`);
  };
}

/**
 * WebGPU: weights and KV cache as the backend allocates them (tensors split over bindings are
 * fine; a KV layer must fit one binding). Activations are estimated with the CPU planner's
 * layout of a full batch. GPU memory itself cannot be queried; the adapter's binding limit is
 * checked when an adapter is at hand.
 */
async function webgpuPlanner(): Promise<Planner> {
  const gpu = await acquireGpu();
  const binding: PlanLimit =
    typeof gpu === 'string'
      ? { name: 'GPU binding', of: 'buffer', bytes: undefined, note: `not checked: ${gpu}` }
      : { name: 'GPU binding', of: 'buffer', bytes: gpu.info.maxStorageBindingBytes, note: `${gpu.info.adapter}: the largest storage binding, which one KV layer must fit` };
  const limits: PlanLimit[] = [binding, { name: 'GPU memory', of: 'total', bytes: undefined, note: 'not checked: WebGPU does not tell' }];
  return async (definition, session) => {
    const kv = { contextSize: session.contextSize, type: session.kvType, layers: definition.kvLayers };
    const largestLayer = Math.max(0, ...kv.layers.map((l) => kvLayerBytes(kv, l)));
    const weightsBytes = definition.tensors.reduce((n, t) => n + t.byteLength, 0);
    const kvBytes = kvCacheBytes(kv);
    const scratchBytes = activationEstimate(cpuMemoryPlan(definition, session).batch, session.kvType);
    const plan: PlanParts = { backend: 'webgpu', architecture: definition.arch, ...session, weightsBytes, kvBytes, scratchBytes, totalBytes: weightsBytes + kvBytes + scratchBytes, exact: false, limits };
    const broken = binding.bytes !== undefined && largestLayer > binding.bytes ? [binding] : [];
    return verdict(plan, broken, `one layer of its KV cache needs ${mib(largestLayer)}`);
  };
}

/** The CPU planner's activation block for a full batch: WebGPU's pool of node outputs is of that order. */
function activationEstimate(batch: Graph, kvType: KVCacheType): number {
  try {
    return planGraph(batch, { weightPtr: () => 0, interleaveGroup: () => 0, geluTable: () => 0, kvType }).scratchBytes;
  } catch (err) {
    if (isWasmChordError(err, 'UNSUPPORTED_TENSOR_TYPE')) return 0;
    throw err;
  }
}
