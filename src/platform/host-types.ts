/**
 * What the engine needs from the JavaScript host it runs on, behind one interface. Two
 * implementations: host.ts (Node.js, Deno and Bun, through their node: modules) and
 * host.browser.ts (browsers and their workers). Engine code imports `host` from './host.js';
 * the browser build (scripts/build-web.mjs) swaps in host.browser.ts, so that no `node:` import
 * reaches a browser bundle.
 */
import type { ByteSource } from '../gguf/byte-source.js';
import type { ModelStore, ModelStoreOptions } from '../runtime/store/model-store.js';

/** A Node.js `fs.promises` FileHandle (only its shape is needed here). */
export interface FileHandleLike {
  readonly fd: number;
  stat(): Promise<{ size: number }>;
  read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
  close(): Promise<void>;
}

/** A message from a worker to whoever spawned it. */
export interface WorkerEvents<Reply> {
  message(reply: Reply): void;
  /** The worker died (an uncaught error, or it exited). */
  lost(error: Error): void;
}

export interface WorkerHandle {
  post(message: unknown, transfer?: Transferable[]): void;
  /** Node: whether the worker keeps the process alive (only while it has work). */
  hold(busy: boolean): void;
  terminate(): Promise<void>;
}

/** A worker's side of the channel to whoever spawned it. */
export interface WorkerPort<Request, Reply> {
  post(reply: Reply, transfer?: Transferable[]): void;
  listen(handler: (request: Request) => void): void;
}

export interface Host {
  readonly kind: 'node' | 'browser';
  /** The bytes of one of the package's own files (the kernels), by URL. */
  readAsset(url: URL): Promise<Uint8Array<ArrayBuffer>>;
  /** A local file by path, or a handle the caller opened; INVALID_ARGUMENT where there are no files. */
  openFile(path: string): Promise<ByteSource>;
  openFileHandle(handle: FileHandleLike): Promise<ByteSource>;
  /** The local path of a file: URL (INVALID_ARGUMENT for a remote host or bad escapes). */
  filePathOf(url: string): Promise<string>;
  /** The cores available to this process: the default thread count. */
  availableCores(): Promise<number>;
  /**
   * The machine's memory in bytes, when the host tells: exact in Node, Deno and Bun
   * (`os.totalmem()`); in browsers `navigator.deviceMemory`, rounded down and capped, so only a
   * lower bound.
   */
  deviceMemory(): Promise<{ bytes: number; lowerBound: boolean } | undefined>;
  /** Starts a module worker running `script`. */
  spawnWorker<Reply>(script: URL, events: WorkerEvents<Reply>): Promise<WorkerHandle>;
  /** Starts the engine's own worker (runtime/worker/engine-worker.ts). */
  spawnEngineWorker<Reply>(events: WorkerEvents<Reply>): Promise<WorkerHandle>;
  /** Inside a worker: the channel to its parent. */
  workerPort<Request, Reply>(): Promise<WorkerPort<Request, Reply>>;
  /** Turns on relaxed SIMD where the engine has it behind a flag (Node 20). */
  enableRelaxedSimd(): Promise<void>;
  /** WebGPU: navigator.gpu, or npm `webgpu` (Dawn) in Node; a reason string when there is none. */
  webgpu(): Promise<{ gpu: GPU; implementation: string } | string>;
  /** The persistent model store of this host (the file system in Node; OPFS, then the Cache API, in browsers). */
  openModelStore(options?: ModelStoreOptions): Promise<ModelStore>;
}
