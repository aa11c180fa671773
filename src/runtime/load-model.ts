/** Loading a model: source -> GGUF header -> architecture -> tokenizer -> weights -> Model. */
import type { Backend, KVCacheType, LoadProgress } from '../backends/backend.js';
import type { ByteSourceInput } from '../gguf/open-source.js';
import { defineModel, type ModelDefinition } from '../model/model.js';
import { GraphCache, Session } from '../engine/session.js';
import { Tokenizer } from '../tokenizer/index.js';
import { checkFunction, checkKnownKeys, checkNumber, checkSignal, optionalNumber } from '../validate.js';
import { validateModel } from '../model/validate-model.js';
import { isWasmChordError, WasmChordError } from '../errors.js';
import { LocalModel } from './model.js';
import type { Model } from './api.js';
import { batchSizeFor, type BackendChoice, type RefusedBackend, type SessionPlan } from './backend-registry.js';
import { openModelFile, sourceOptions, type DownloadProgress } from './model-cache.js';

/**
 * A path (Node, Deno, Bun), an http(s) or file URL, a Hugging Face id (`hf://owner/repo/file.gguf`,
 * `owner/repo:QUANT`), bytes, or a Blob/File. A shard of a split set (`name-00001-of-00003.gguf`)
 * named by path, URL or id brings the others; an array is the shards of one set (bytes, Blobs,
 * paths or URLs), in any order.
 */
export type ModelSource = ByteSourceInput | readonly ByteSourceInput[];

export interface LoadModelOptions {
  /** Tokens the context holds. Default: the model's training context, at most 4096. */
  contextSize?: number;
  /** KV cache element type. Default 'f16' (half the memory; llama.cpp's default too). */
  kvType?: KVCacheType;
  /** Most prompt tokens evaluated in one step. Default: the backend's (128 on the CPU, 512 on WebGPU). */
  batchSize?: number;
  /** Extra HTTP headers for URL sources (not forwarded across a redirect to another origin). */
  headers?: Record<string, string>;
  /**
   * For URL sources: how long a server may keep a request waiting (for its response, or between
   * two pieces of its body) before it fails with SOURCE_HTTP. Default 30000 ms.
   */
  requestTimeoutMs?: number;
  signal?: AbortSignal;
  onProgress?: (progress: LoadProgress) => void;
  /**
   * URLs and Hugging Face ids: keep the model in the host's model store (the cache directory in
   * Node, Deno and Bun; OPFS or the Cache API in browsers), so that a second load needs no
   * network. Default: yes where the host has a store (one that is full is then passed over;
   * with `true` that is a QUOTA_EXCEEDED error). `false` reads the model with range requests.
   */
  cache?: boolean;
  /** Node, Deno, Bun: the store's directory (default `$WASM_CHORD_CACHE_DIR`, else the user's cache directory). */
  cacheDir?: string;
  /** Download progress (bytes, total, rate, time left) while a model goes into the store. */
  onDownloadProgress?: (progress: DownloadProgress) => void;
  /** The expected sha256 of a downloaded model (hex); Hugging Face files are checked without it. */
  sha256?: string;
  /** The Hugging Face endpoint (default `$WASM_CHORD_HF_ENDPOINT`, else https://huggingface.co). */
  hubEndpoint?: string;
}

const LOAD_KEYS = [
  'contextSize',
  'kvType',
  'batchSize',
  'headers',
  'requestTimeoutMs',
  'signal',
  'onProgress',
  'cache',
  'cacheDir',
  'onDownloadProgress',
  'sha256',
  'hubEndpoint',
] as const;

/** How the runtime keeps track of the backends its models hold. */
export interface BackendOwner {
  adopt(backend: Backend): void;
  release(backend: Backend): void;
  /** The backend belongs to `model`: when the model is garbage-collected, it may be disposed. */
  track?(model: object, backend: Backend): void;
}

/**
 * Picks the backend for a model once its definition and default session are known (the
 * registry, normally).
 */
export type BackendPicker = (definition: ModelDefinition, session: SessionPlan, refused?: RefusedBackend) => Promise<BackendChoice>;

/**
 * The KV type and batch size of a model's default session, checked (before anything is opened);
 * an unset batch size is left to the backend (batchSizeFor).
 */
export function sessionOptions(options: Pick<LoadModelOptions, 'kvType' | 'batchSize'>): { kvType: KVCacheType; batchSize: number | undefined } {
  const kvType = options.kvType ?? 'f16';
  if (kvType !== 'f16' && kvType !== 'f32') {
    throw new WasmChordError('INVALID_ARGUMENT', `option kvType must be "f16" or "f32" (got ${String(kvType)})`);
  }
  return { kvType, batchSize: options.batchSize === undefined ? undefined : checkNumber('batchSize', options.batchSize, { min: 1, max: 8192, integer: true }) };
}

/** The context size: the option, or the training context (at most 4096); never past a learned position table (gpt2). */
export function contextSizeFor(definition: ModelDefinition, option: number | undefined): number {
  const maxContext = Math.min(definition.maxPositions ?? Infinity, 1 << 20);
  return optionalNumber('contextSize', option, Math.min(definition.contextLength || 4096, 4096, maxContext), { min: 1, max: maxContext, integer: true });
}

export async function loadModel(
  pickBackend: BackendPicker,
  input: ModelSource,
  options: LoadModelOptions,
  owner: BackendOwner,
): Promise<Model> {
  checkKnownKeys('loadModel', options, LOAD_KEYS);
  const { kvType, batchSize } = sessionOptions(options);
  checkSignal('signal', options.signal);
  checkFunction('onProgress', options.onProgress);
  const file = await openModelFile(input, sourceOptions(options));
  try {
    const definition = defineModel(file);
    const contextSize = contextSizeFor(definition, options.contextSize);
    const tokenizer = Tokenizer.fromGGUF(file.metadata);
    validateModel(definition, tokenizer);
    const plan = { contextSize, kvType, batchSize };
    let { backend, reason } = await pickBackend(definition, plan);
    owner.adopt(backend);
    try {
      try {
        await backend.loadWeights(file, definition.tensors, { signal: options.signal, onProgress: options.onProgress });
      } catch (err) {
        // A GPU whose canary disagrees is refused for this model: pick again without it (the
        // registry throws when that backend was demanded).
        if (!(isWasmChordError(err) && err.code === 'BACKEND_DISAGREES')) throw err;
        owner.release(backend);
        await backend.dispose();
        ({ backend, reason } = await pickBackend(definition, plan, { kind: backend.kind, code: err.code, reason: err.message }));
        owner.adopt(backend);
        await backend.loadWeights(file, definition.tensors, { signal: options.signal, onProgress: options.onProgress });
      }
      const session = new Session(backend, definition, new GraphCache(backend, definition), { contextSize, kvType, batchSize: batchSizeFor(backend.kind, batchSize) });
      const model = new LocalModel({
        metadata: file.metadata,
        definition,
        tokenizer,
        session,
        backend,
        backendReason: reason,
        onDispose: () => owner.release(backend),
      });
      owner.track?.(model, backend);
      return model;
    } catch (err) {
      owner.release(backend);
      await backend.dispose();
      throw err;
    }
  } finally {
    // Every weight is in backend memory now; the source is not needed any more.
    await file.source.close();
  }
}
