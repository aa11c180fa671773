/**
 * What the pool needs from the host, behind one small interface: whether threads over shared
 * memory work here, how many cores there are, and a worker running the pool's entry script
 * (Node's worker_threads in Node, Deno and Bun; Web Workers in browsers). `node:` modules are
 * imported dynamically, only on Node, so that a browser bundle never sees them.
 *
 * The entry script is src/backends/cpu/pool/worker.ts bundled into one file next to the kernels
 * (scripts/build-kernels.mjs): it loads the same way from dist/ and, under tsx, from src/, and a
 * bundler meets a self-contained worker.
 */

/** A message from a worker to the pool. */
export type WorkerReply = { readonly kind: 'ready' } | { readonly kind: 'done' } | { readonly kind: 'failed'; readonly message: string };

export interface WorkerHandle {
  post(message: unknown): void;
  /** Node: whether the worker keeps the process alive (only while it has work). */
  hold(busy: boolean): void;
  terminate(): Promise<void>;
}

export interface WorkerEvents {
  message(reply: WorkerReply): void;
  /** The worker died (an uncaught error, or it exited). */
  lost(error: Error): void;
}

const isNode = typeof process !== 'undefined' && typeof process.versions?.node === 'string';

/** Why this host cannot run the kernels on worker threads, or undefined when it can. */
export function threadsUnavailable(): string | undefined {
  const g = globalThis as { crossOriginIsolated?: boolean; Worker?: unknown };
  if (typeof SharedArrayBuffer !== 'function' || g.crossOriginIsolated === false) {
    return 'SharedArrayBuffer is unavailable (a web page must be cross-origin isolated: COOP/COEP headers)';
  }
  if (!isNode && typeof g.Worker !== 'function') return 'this host has no Web Workers';
  try {
    new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
  } catch {
    return 'this engine cannot create shared WebAssembly memory';
  }
  return undefined;
}

/** The cores available to this process: the default thread count. */
export async function availableCores(): Promise<number> {
  if (isNode) {
    const os = await import('node:os');
    return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length || 1;
  }
  return (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency || 1;
}

export async function spawnWorker(events: WorkerEvents): Promise<WorkerHandle> {
  if (isNode) {
    const { Worker } = await import('node:worker_threads');
    const w = new Worker(new URL('../wasm/cpu-worker.js', import.meta.url));
    let terminated = false;
    w.on('message', events.message);
    w.on('error', (err) => events.lost(err));
    w.on('exit', (code) => terminated || events.lost(new Error(`a CPU worker thread exited (code ${code})`)));
    return {
      post: (m) => w.postMessage(m),
      hold: (busy) => terminated || (busy ? w.ref() : w.unref()),
      terminate: async () => {
        // Referenced until it has stopped: Node must not exit while a step is being torn down.
        terminated = true;
        w.ref();
        await w.terminate();
      },
    };
  }
  const w = new Worker(new URL('../wasm/cpu-worker.js', import.meta.url), { type: 'module' });
  w.onmessage = (e: MessageEvent<WorkerReply>) => events.message(e.data);
  w.onerror = (e) => events.lost(new Error(`a CPU worker failed: ${e.message}`));
  return { post: (m) => w.postMessage(m), hold: () => {}, terminate: async () => w.terminate() };
}
