/**
 * The host for Node.js, Deno and Bun (all three run `node:` modules). Every `node:` import of the
 * library lives here or in modules only this file imports, and each is dynamic, so that loading
 * the library costs nothing it does not use. Browser builds replace this file with
 * host.browser.ts (scripts/build-web.mjs).
 */
import { WasmChordError } from '../errors.js';
import type { FileHandle } from 'node:fs/promises';
import { fetchAsset } from './fetch-asset.js';
import { envVar } from './env.js';
import type { Host, WorkerPort } from './host-types.js';

export const host: Host = {
  kind: 'node',

  async readAsset(url) {
    if (url.protocol !== 'file:') return fetchAsset(url);
    const [{ readFile }, { fileURLToPath }] = await Promise.all([import('node:fs/promises'), import('node:url')]);
    try {
      return new Uint8Array(await readFile(fileURLToPath(url)));
    } catch (err) {
      throw new WasmChordError('SOURCE_IO', `cannot read ${url}: ${(err as Error).message}`, { cause: err });
    }
  },

  async openFile(path) {
    const { FileSource } = await import('../gguf/file-source.js');
    return FileSource.open(path);
  },

  async openFileHandle(handle) {
    const { FileSource } = await import('../gguf/file-source.js');
    return FileSource.fromHandle(handle as unknown as FileHandle);
  },

  async filePathOf(url) {
    const { fileURLToPath } = await import('node:url');
    try {
      return fileURLToPath(url);
    } catch (err) {
      throw new WasmChordError('INVALID_ARGUMENT', `"${url}" is not a usable file URL: ${(err as Error).message}`, { cause: err });
    }
  },

  async availableCores() {
    const os = await import('node:os');
    return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length || 1;
  },

  async deviceMemory() {
    const os = await import('node:os');
    try {
      return { bytes: os.totalmem(), lowerBound: false };
    } catch {
      // Deno without --allow-sys refuses to tell: unknown, never a reason to refuse a model.
      return undefined;
    }
  },

  async spawnWorker(script, events) {
    const { Worker } = await import('node:worker_threads');
    const w = new Worker(script);
    let terminated = false;
    w.on('message', events.message);
    w.on('error', (err) => events.lost(err));
    w.on('exit', (code) => terminated || events.lost(new Error(`a worker thread exited (code ${code})`)));
    return {
      post: (m, transfer) => w.postMessage(m, transfer as never),
      hold: (busy) => terminated || (busy ? w.ref() : w.unref()),
      terminate: async () => {
        // Referenced until it has stopped: Node must not exit while a step is being torn down.
        terminated = true;
        w.ref();
        await w.terminate();
      },
    };
  },

  spawnEngineWorker(events) {
    // Compiled JavaScript only (dist/): Node's workers do not take tsx's loader from src/.
    return host.spawnWorker(new URL('../runtime/worker/engine-worker.js', import.meta.url), events);
  },

  /**
   * Node 20 (V8 11.3) implements relaxed SIMD behind --experimental-wasm-relaxed-simd; V8 reads
   * the flag when a module is validated, so setting it at run time enables the relaxed build
   * without the user passing a flag. Whether its results are right is checked separately.
   */
  async enableRelaxedSimd() {
    if (typeof process === 'undefined' || !process.versions?.node || Number(process.versions.node.split('.')[0]) >= 22) return;
    const v8 = await import('node:v8');
    v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
  },

  async webgpu() {
    const own = (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu;
    if (own) return { gpu: own, implementation: 'navigator.gpu' }; // Deno
    // The package name is a variable: it is an optional peer dependency that bundlers must not chase.
    const name = 'webgpu';
    try {
      const dawn = (await import(/* @vite-ignore */ name)) as { create(flags: string[]): GPU; globals: object };
      // Dawn's constants (GPUBufferUsage, GPUMapMode, ...) are globals in browsers; provide them.
      for (const [key, value] of Object.entries(dawn.globals)) {
        if (!(key in globalThis)) Object.defineProperty(globalThis, key, { value, configurable: true, writable: true });
      }
      // Dawn's own switches, space-separated (e.g. "disable-dawn-features=timestamp_quantization"
      // for exact GPU times when profiling); none by default.
      const flags = envVar('WASM_CHORD_DAWN_FLAGS')?.split(' ').filter((f) => f) ?? [];
      return { gpu: dawn.create(flags), implementation: 'npm webgpu (Dawn)' };
    } catch (err) {
      return `Node has no WebGPU without the optional package "webgpu" (npm install webgpu): ${(err as Error).message}`;
    }
  },

  async workerPort<Request, Reply>(): Promise<WorkerPort<Request, Reply>> {
    const port = (await import('node:worker_threads')).parentPort;
    if (!port) throw new Error('not running in a worker thread');
    return { post: (reply, transfer) => port.postMessage(reply, transfer as never), listen: (handler) => port.on('message', handler) };
  },

  async openModelStore(options) {
    const { openFsStore } = await import('../runtime/store/fs-store.js');
    return openFsStore(options);
  },
};
