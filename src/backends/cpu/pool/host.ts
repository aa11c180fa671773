/**
 * What the pool needs from the host: whether threads over shared memory work here, and a
 * worker running the pool's entry script (src/backends/cpu/pool/worker.ts, bundled into one
 * file next to the kernels by scripts/build-kernels.mjs, so that it starts the same from dist/,
 * from src/ under tsx, and in a browser). Workers themselves come from the platform host.
 */
import { host } from '../../../platform/host.js';
import type { WorkerEvents, WorkerHandle } from '../../../platform/host-types.js';
import { cpuWorkerUrl } from '../assets.js';

/** A message from a worker to the pool. */
export type WorkerReply = { readonly kind: 'ready' } | { readonly kind: 'done' } | { readonly kind: 'failed'; readonly message: string };

export type { WorkerHandle };

/** Why this host cannot run the kernels on worker threads, or undefined when it can. */
export function threadsUnavailable(): string | undefined {
  const g = globalThis as { crossOriginIsolated?: boolean; Worker?: unknown };
  if (typeof SharedArrayBuffer !== 'function' || g.crossOriginIsolated === false) {
    return 'SharedArrayBuffer is unavailable (a web page must be cross-origin isolated: COOP/COEP headers)';
  }
  if (host.kind === 'browser' && typeof g.Worker !== 'function') return 'this host has no Web Workers';
  try {
    new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
  } catch {
    return 'this engine cannot create shared WebAssembly memory';
  }
  return undefined;
}

export function spawnCpuWorker(events: WorkerEvents<WorkerReply>): Promise<WorkerHandle> {
  return host.spawnWorker(cpuWorkerUrl(), events);
}
