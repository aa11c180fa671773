/**
 * The backends the conformance suite holds to the reference backend. A new backend (WebGPU)
 * joins by adding a line here; `available` says whether this host can run it (the test is then
 * skipped with the reason, never silently passed).
 *
 * The CPU backend joins in its three ways of running: one worker thread; three (more than this
 * machine's cores, so lanes really interleave), sharing out every splittable step however small
 * (the suite's shapes are tiny: by default most steps would run on one thread); and on the
 * calling thread, as in a browser page without SharedArrayBuffer.
 */
import type { Backend } from '../../src/backends/backend.js';
import { CpuBackend } from '../../src/backends/cpu/backend.js';
import { compileKernels, type KernelVariant } from '../../src/backends/cpu/kernel-module.js';

export interface BackendUnderTest {
  readonly name: string;
  /** undefined when it runs here, else why not. */
  available(): Promise<string | undefined>;
  create(): Promise<Backend>;
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

export const BACKENDS: readonly BackendUnderTest[] = [cpu('relaxed', 1), cpu('relaxed', 3), cpu('baseline', 'none')];
