/**
 * The backends the conformance suite holds to the reference backend. A new backend (WebGPU)
 * joins by adding a line here; `available` says whether this host can run it (the test is then
 * skipped with the reason, never silently passed).
 *
 * The CPU backend joins in its three ways of running: one worker thread; three (more than this
 * machine's cores, so lanes really interleave), sharing out every splittable step however small
 * (the suite's shapes are tiny: by default most steps would run on one thread); and on the
 * calling thread, as in a browser page without SharedArrayBuffer. A fourth spreads each case
 * over three Wasm memories, node by node, so that every op reads inputs computed in another
 * memory (as the layers of a model past 4 GiB do).
 */
import type { Backend } from '../../src/backends/backend.js';
import { CpuBackend, type CpuMemoryPlan } from '../../src/backends/cpu/backend.js';
import { compileKernels, type KernelVariant } from '../../src/backends/cpu/kernel-module.js';
import { WebGPUBackend, type WebGPUBackendOptions } from '../../src/backends/webgpu/backend.js';

export interface BackendUnderTest {
  readonly name: string;
  /** undefined when it runs here, else why not. */
  available(): Promise<string | undefined>;
  /** `plan`: what the backend will hold, when the test knows (the CPU backend then sizes, and may shard, its memory). */
  create(plan?: CpuMemoryPlan): Promise<Backend>;
}

/** Runs `create` as on a host without SharedArrayBuffer (the CPU backend's detection sees none). */
export async function withoutSharedArrayBuffer<T>(create: () => Promise<T>): Promise<T> {
  const saved = globalThis.SharedArrayBuffer;
  Reflect.deleteProperty(globalThis, 'SharedArrayBuffer');
  try {
    return await create();
  } finally {
    globalThis.SharedArrayBuffer = saved;
  }
}

const cpu = (kernels: KernelVariant, threads: number | 'none'): BackendUnderTest => ({
  name: `cpu-${kernels}-${threads === 'none' ? 'in-thread' : `${threads}thread${threads === 1 ? '' : 's'}`}`,
  available: async () => ((await compileKernels(kernels)) ? undefined : `this engine does not validate the ${kernels} kernel build`),
  create: () =>
    threads === 'none'
      ? withoutSharedArrayBuffer(() => CpuBackend.create({ kernels }))
      : CpuBackend.create({ kernels, threads, splitWork: threads > 1 ? 0 : undefined }),
});

const cpuInterleaved: BackendUnderTest = {
  name: 'cpu-relaxed-2threads-3memories',
  available: async () => ((await compileKernels('relaxed')) ? undefined : 'this engine does not validate the relaxed kernel build'),
  create: (memory) => CpuBackend.create({ kernels: 'relaxed', threads: 2, splitWork: 0, memory, interleaveMemories: memory ? 3 : undefined }),
};

/**
 * Why WebGPU cannot run here, or undefined. CI installs a Vulkan driver (lavapipe) and sets
 * WASM_CHORD_REQUIRE_WEBGPU, so that there a missing GPU fails the suite instead of skipping it.
 */
export async function webgpuUnavailable(): Promise<string | undefined> {
  const b = await WebGPUBackend.create();
  if (typeof b !== 'string') {
    await b.dispose();
    return undefined;
  }
  if (process.env.WASM_CHORD_REQUIRE_WEBGPU) throw new Error(`WASM_CHORD_REQUIRE_WEBGPU is set but WebGPU is unavailable: ${b}`);
  return b;
}

export async function createWebGPU(options: WebGPUBackendOptions = {}): Promise<WebGPUBackend> {
  const b = await WebGPUBackend.create(options);
  if (typeof b === 'string') throw new Error(b);
  return b;
}

/**
 * WebGPU joins as the adapter gives it, and with weights split into pieces of about 1 KiB, so
 * that the suite's small tensors are split across buffers by rows (as a 7B model's are on
 * lavapipe's 128 MiB bindings), and expert stacks between experts.
 */
const webgpu = (name: string, options: WebGPUBackendOptions = {}): BackendUnderTest => ({
  name,
  available: webgpuUnavailable,
  // The suite itself checks every op; the load-time canary has its own test (webgpu.test.ts).
  create: () => createWebGPU({ canary: false, ...options }),
});

const ALL: readonly BackendUnderTest[] = [
  cpu('relaxed', 1),
  cpu('relaxed', 3),
  cpu('baseline', 'none'),
  cpuInterleaved,
  webgpu('webgpu'),
  webgpu('webgpu-split-weights', { weightPieceBytes: 1024 }),
];

/** CONFORMANCE_BACKENDS=webgpu,cpu-relaxed-1thread narrows a run while working on one backend. */
const only = process.env.CONFORMANCE_BACKENDS?.split(',');
export const BACKENDS = only ? ALL.filter((b) => only.includes(b.name)) : ALL;
