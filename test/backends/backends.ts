/**
 * The backends the conformance suite holds to the reference backend. A new backend (WebGPU)
 * joins by adding a line here; `available` says whether this host can run it (the test is then
 * skipped with the reason, never silently passed).
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

const cpu = (kernels: KernelVariant): BackendUnderTest => ({
  name: `cpu-${kernels}`,
  available: async () => ((await compileKernels(kernels)) ? undefined : `this engine does not validate the ${kernels} kernel build`),
  create: () => CpuBackend.create({ kernels }),
});

export const BACKENDS: readonly BackendUnderTest[] = [cpu('relaxed'), cpu('baseline')];
