/**
 * Finding a WebGPU device (DESIGN principle 6: detect, never assume). Browsers and Deno have
 * `navigator.gpu`; Node has none, so there the optional npm package `webgpu` (Dawn) provides it
 * (src/platform: host.webgpu).
 * One device is shared by every WebGPU backend of the process (creating one costs tens of
 * milliseconds and drivers cap how many live at once); each backend owns only its buffers.
 */
import { WasmChordError } from '../../errors.js';
import { host } from '../../platform/host.js';

/** What the backend learned about the adapter, for model.info and for choosing kernel paths. */
export interface GpuInfo {
  /** "vendor architecture device (description)", as far as the adapter tells. */
  readonly adapter: string;
  /** A software adapter (lavapipe, SwiftShader): correct, but slower than the CPU backend. */
  readonly fallback: boolean;
  /** Where the implementation came from: the host's navigator.gpu, or npm webgpu (Dawn). */
  readonly implementation: string;
  readonly shaderF16: boolean;
  readonly subgroups: boolean;
  /** The adapter's largest subgroup (SIMD width: 32 on NVIDIA, 8 on lavapipe), when it says. */
  readonly subgroupSize: number | undefined;
  readonly maxStorageBindingBytes: number;
  readonly maxBufferBytes: number;
  readonly maxWorkgroupInvocations: number;
  /** GPU timestamps (the `timestamp-query` feature), for profiling kernels. */
  readonly timestamps: boolean;
}

export interface GpuContext {
  readonly device: GPUDevice;
  /** Held for the device's lifetime: Dawn crashes (SIGSEGV) when these are collected first. */
  readonly keepAlive: readonly [GPU, GPUAdapter];
  readonly info: GpuInfo;
  /** Set once the device is lost: every later use fails with BACKEND_LOST and this reason. */
  lostReason: string | undefined;
  /** Compiled pipelines by kernel key, shared by the backends on this device. */
  readonly pipelines: Map<string, Promise<GPUComputePipeline>>;
}

let shared: Promise<GpuContext | string> | undefined;

/**
 * The process's GPU device, created on first use; resolves to the reason when there is none
 * (no WebGPU in this host, no adapter, a device request refused). A lost device is replaced on
 * the next call.
 */
export async function acquireGpu(): Promise<GpuContext | string> {
  const current = shared && (await shared);
  if (current && typeof current !== 'string' && current.lostReason === undefined) return current;
  if (typeof current === 'string') return current;
  shared = createContext();
  return shared;
}

async function createContext(): Promise<GpuContext | string> {
  const found = await host.webgpu();
  if (typeof found === 'string') return found;
  let adapter: GPUAdapter | null;
  try {
    adapter = await found.gpu.requestAdapter({ powerPreference: 'high-performance' });
  } catch (err) {
    return `requestAdapter failed: ${(err as Error).message}`;
  }
  if (!adapter) return `${found.implementation} offers no GPU adapter (no driver, or WebGPU disabled)`;
  const limits = adapter.limits;
  const requiredLimits = {
    maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize,
    maxBufferSize: limits.maxBufferSize,
    maxStorageBuffersPerShaderStage: limits.maxStorageBuffersPerShaderStage,
    maxComputeWorkgroupStorageSize: limits.maxComputeWorkgroupStorageSize,
  };
  let device: GPUDevice;
  try {
    const requiredFeatures: GPUFeatureName[] = adapter.features.has('timestamp-query') ? ['timestamp-query'] : [];
    device = await adapter.requestDevice({ requiredLimits, requiredFeatures });
  } catch (err) {
    return `requestDevice failed: ${(err as Error).message}`;
  }
  const a = adapter.info;
  const name = [a?.vendor, a?.architecture, a?.device].filter((s) => s).join(' ') || 'unknown adapter';
  const context: GpuContext = {
    device,
    keepAlive: [found.gpu, adapter],
    info: {
      adapter: a?.description ? `${name} (${a.description})` : name,
      fallback: Boolean((a as { isFallbackAdapter?: boolean } | undefined)?.isFallbackAdapter ?? (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter),
      implementation: found.implementation,
      shaderF16: adapter.features.has('shader-f16'),
      subgroups: adapter.features.has('subgroups'),
      subgroupSize: (a as { subgroupMaxSize?: number } | undefined)?.subgroupMaxSize || undefined,
      maxStorageBindingBytes: device.limits.maxStorageBufferBindingSize,
      maxBufferBytes: device.limits.maxBufferSize,
      maxWorkgroupInvocations: device.limits.maxComputeInvocationsPerWorkgroup,
      timestamps: device.features.has('timestamp-query'),
    },
    lostReason: undefined,
    pipelines: new Map(),
  };
  void device.lost.then((info) => {
    context.lostReason = `${info.reason}: ${info.message}`;
  });
  return context;
}

/** Throws BACKEND_LOST when the device is gone. */
export function checkDevice(context: GpuContext): void {
  if (context.lostReason !== undefined) throw new WasmChordError('BACKEND_LOST', `the GPU device was lost (${context.lostReason})`);
}

/**
 * Runs `create` (buffer allocations) and turns a GPU out-of-memory or validation error into a
 * typed error instead of a silently invalid buffer.
 */
export async function guardAllocation<T>(context: GpuContext, what: string, create: () => T): Promise<T> {
  const { device } = context;
  device.pushErrorScope('validation');
  device.pushErrorScope('out-of-memory');
  const value = create();
  const oom = await device.popErrorScope();
  const invalid = await device.popErrorScope();
  if (oom) throw new WasmChordError('OUT_OF_MEMORY', `the GPU cannot allocate ${what}: ${oom.message}`);
  if (invalid) throw new WasmChordError('OUT_OF_MEMORY', `the GPU refused ${what}: ${invalid.message}`);
  return value;
}
