/**
 * Where the CPU backend's generated files are: one folder `wasm/` beside this module in src/
 * and dist/, and beside the bundle in the browser build (dist/web/), so the same relative URLs
 * hold in all three. Written as `new URL('literal', import.meta.url)` so that bundlers which
 * understand that form (Vite, webpack) copy the files.
 */
import type { KernelVariant } from './kernel-module.js';

export function kernelUrl(variant: KernelVariant): URL {
  return variant === 'relaxed' ? new URL('./wasm/kernels-relaxed.wasm', import.meta.url) : new URL('./wasm/kernels-baseline.wasm', import.meta.url);
}

/** The worker threads' entry script (src/backends/cpu/pool/worker.ts, bundled by scripts/build-kernels.mjs). */
export function cpuWorkerUrl(): URL {
  return new URL('./wasm/cpu-worker.js', import.meta.url);
}
