/** Loading a model: source -> GGUF header -> architecture -> tokenizer -> weights -> Model. */
import type { Backend, KVCacheType, LoadProgress } from '../backends/backend.js';
import { openByteSource, type ByteSourceInput } from '../gguf/open-source.js';
import { readGGUF } from '../gguf/reader.js';
import { defineModel, type ModelDefinition } from '../model/model.js';
import { GraphCache, Session } from '../engine/session.js';
import { Tokenizer } from '../tokenizer/index.js';
import { checkFunction, checkKnownKeys, checkSignal, optionalNumber } from '../validate.js';
import { validateModel } from '../model/validate-model.js';
import { isWasmChordError, WasmChordError } from '../errors.js';
import { Model } from './model.js';
import type { BackendChoice, RefusedBackend, SessionPlan } from './backend-registry.js';

/** A path (Node, Deno, Bun), an http(s) or file URL, bytes, or a Blob/File. */
export type ModelSource = ByteSourceInput;

export interface LoadModelOptions {
  /** Tokens the context holds. Default: the model's training context, at most 4096. */
  contextSize?: number;
  /** KV cache element type. Default 'f16' (half the memory; llama.cpp's default too). */
  kvType?: KVCacheType;
  /** Most prompt tokens evaluated in one step. Default 512. */
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
}

const LOAD_KEYS = ['contextSize', 'kvType', 'batchSize', 'headers', 'requestTimeoutMs', 'signal', 'onProgress'] as const;

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

export async function loadModel(
  pickBackend: BackendPicker,
  input: ModelSource,
  options: LoadModelOptions,
  owner: BackendOwner,
): Promise<Model> {
  checkKnownKeys('loadModel', options, LOAD_KEYS);
  const kvType = options.kvType ?? 'f16';
  if (kvType !== 'f16' && kvType !== 'f32') {
    throw new WasmChordError('INVALID_ARGUMENT', `option kvType must be "f16" or "f32" (got ${String(kvType)})`);
  }
  const batchSize = optionalNumber('batchSize', options.batchSize, 512, { min: 1, max: 8192, integer: true });
  checkSignal('signal', options.signal);
  checkFunction('onProgress', options.onProgress);
  const source = await openByteSource(input, { headers: options.headers, signal: options.signal, timeoutMs: options.requestTimeoutMs });
  try {
    const file = await readGGUF(source, { signal: options.signal });
    const definition = defineModel(file);
    // Learned position tables (gpt2) cannot address positions past their rows.
    const maxContext = Math.min(definition.maxPositions ?? Infinity, 1 << 20);
    const contextSize = optionalNumber('contextSize', options.contextSize, Math.min(definition.contextLength || 4096, 4096, maxContext), {
      min: 1,
      max: maxContext,
      integer: true,
    });
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
      const session = new Session(backend, definition, new GraphCache(backend, definition), { contextSize, kvType, batchSize });
      const model = new Model({
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
    await source.close();
  }
}
