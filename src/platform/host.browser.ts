/**
 * The host for browsers (pages and workers): fetch, Web Workers, navigator.gpu, OPFS. The
 * browser build (scripts/build-web.mjs) puts this file where host.ts is, so nothing here may
 * import a `node:` module, directly or through its imports.
 */
import { WasmChordError } from '../errors.js';
import { fetchAsset } from './fetch-asset.js';
import type { Host, WorkerEvents, WorkerHandle, WorkerPort } from './host-types.js';

function noFiles(): never {
  throw new WasmChordError('INVALID_ARGUMENT', 'file paths need Node.js, Deno or Bun; in a browser pass a URL, a Hugging Face id, a File or Blob, or bytes');
}

interface WorkerScope {
  postMessage(message: unknown, transfer?: Transferable[]): void;
  onmessage: ((e: MessageEvent) => void) | null;
}

function handleOf<Reply>(w: Worker, what: URL | string, events: WorkerEvents<Reply>): WorkerHandle {
  w.onmessage = (e: MessageEvent) => events.message(e.data as Reply);
  // A module worker that cannot load reports only an Event with no message.
  w.onerror = (e) => events.lost(new Error(e.message ? `a worker failed: ${e.message}` : `${String(what)} could not be started (check that the file is served)`));
  return { post: (m, transfer) => w.postMessage(m, transfer ?? []), hold: () => {}, terminate: async () => w.terminate() };
}

export const host: Host = {
  kind: 'browser',
  readAsset: fetchAsset,
  openFile: async () => noFiles(),
  openFileHandle: async () => noFiles(),
  filePathOf: async () => noFiles(),
  availableCores: async () => (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency || 1,
  async deviceMemory() {
    const gib = (globalThis as { navigator?: { deviceMemory?: number } }).navigator?.deviceMemory;
    return typeof gib === 'number' && gib > 0 ? { bytes: gib * 2 ** 30, lowerBound: true } : undefined;
  },

  spawnWorker: async (script, events) => handleOf(new Worker(script, { type: 'module' }), script, events),

  // Written out in full so that bundlers (Vite, webpack) see a worker entry and bundle it: this
  // file is part of dist/web/wasm-chord.js, beside engine-worker.js.
  spawnEngineWorker: async (events) =>
    handleOf(new Worker(new URL('./engine-worker.js', import.meta.url), { type: 'module' }), `engine-worker.js beside ${import.meta.url}`, events),

  async workerPort<Request, Reply>(): Promise<WorkerPort<Request, Reply>> {
    const scope = globalThis as unknown as WorkerScope;
    return {
      post: (reply: Reply, transfer?: Transferable[]) => scope.postMessage(reply, transfer ?? []),
      listen: (handler: (request: Request) => void) => (scope.onmessage = (e) => handler(e.data as Request)),
    };
  },

  enableRelaxedSimd: async () => {},

  async webgpu() {
    const gpu = (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu;
    return gpu ? { gpu, implementation: 'navigator.gpu' } : 'this browser has no WebGPU (navigator.gpu is missing)';
  },

  async openModelStore(options) {
    const { openBrowserStore } = await import('../runtime/store/browser-store.js');
    return openBrowserStore(options);
  },
};
