/**
 * The public shape of a loaded model and its sessions. Two implementations: in-process
 * (LocalModel, LocalSession) and through the engine's worker (WorkerModel, WorkerSession in
 * worker/engine-client.ts), so that code written against these types runs either way.
 */
import type { GenerationStep } from '../engine/generate.js';
import type { KVCacheType } from '../backends/backend.js';
import type { ContextShift } from '../engine/generate.js';
import type { EvaluateOptions } from '../engine/session.js';
import type { DecodeOptions, Tokenizer } from '../tokenizer/index.js';
import type { GGUFMetadata } from '../gguf/metadata.js';
import type { GenerationResult, InferOptions, Prompt } from './session.js';

export interface ModelInfo {
  architecture: string;
  name: string | undefined;
  vocabSize: number;
  /** The default session's context size. */
  contextSize: number;
  trainedContextSize: number;
  backend: string;
  /** Why this backend was chosen (what was asked, what was passed over). */
  backendReason: string;
  /** Where the engine runs: 'in-process', or 'worker' (a dedicated Worker; the browser default). */
  engine: 'in-process' | 'worker';
}

export interface CreateSessionOptions {
  /** Tokens the session's context holds. Default: the model's (loadModel's contextSize). */
  contextSize?: number;
  /** KV cache element type. Default: the model's (loadModel's kvType). */
  kvType?: KVCacheType;
  /** Context shift for this session's generations (each call's option overrides it). Default off. */
  contextShift?: ContextShift;
}

export const SESSION_KEYS = ['contextSize', 'kvType', 'contextShift'] as const;

/** A context (KV cache and tokens) and what generates in it. */
export interface ModelContext {
  /** Generates a completion of `prompt` and resolves to its text. */
  infer(prompt: Prompt, options?: InferOptions): Promise<string>;
  /** Generates a completion, with token ids, stop reason and timings. */
  generate(prompt: Prompt, options?: InferOptions): Promise<GenerationResult>;
  /** Streams the completion of `prompt` as text pieces. */
  inferStream(prompt: Prompt, options?: InferOptions): AsyncGenerator<string, void>;
  /**
   * Streams each step (the sampled token and the text it completed), and returns the whole
   * result (text, tokens, stop reason, timings) when iterated to the end.
   */
  generateStream(prompt: Prompt, options?: InferOptions): AsyncGenerator<GenerationStep, GenerationResult>;
  /**
   * Low level: appends tokens to the context and returns the logits after the last one (or
   * after each of them, [n][vocab], with allLogits). With `output` (a Float32Array of exactly
   * that length) the logits are written there and it is returned: a loop of steps then makes no
   * garbage (a new array each step is vocab x 4 bytes). Past the context size: CONTEXT_FULL.
   */
  evaluate(tokens: readonly number[], options?: EvaluateOptions): Promise<Float32Array>;
  /** The tokens currently held in the context (KV cache). */
  readonly contextTokens: readonly number[];
  /** Empties the context. */
  resetContext(): Promise<void>;
  /** The context (tokens and KV cache) as bytes, for `loadState` here or in a later process. */
  saveState(): Promise<Uint8Array>;
  /** Replaces the context with a saved one (INVALID_ARGUMENT for another model's or corrupt bytes). */
  loadState(state: Uint8Array): Promise<void>;
  dispose(): Promise<void>;
}

/** An extra context over a model's weights, from `model.createSession()`. */
export interface ModelSession extends ModelContext {
  /** Tokens this session's context holds at most. */
  readonly contextSize: number;
}

/** A loaded model: its tokenizer, its default context, and more sessions on demand. */
export interface Model extends ModelContext {
  readonly info: ModelInfo;
  /** The GGUF file's key/value metadata. */
  readonly metadata: GGUFMetadata;
  readonly tokenizer: Tokenizer;
  tokenize(text: string, options?: { addSpecial?: boolean; parseSpecial?: boolean }): number[];
  detokenize(tokens: readonly number[], options?: DecodeOptions): string;
  /** The token ids a prompt becomes (chat messages through the model's chat template). */
  promptTokens(prompt: Prompt, options?: InferOptions): number[];
  /**
   * A new, empty context over this model's weights: its own KV cache and tokens, sharing the
   * backend and compiled graphs. Sessions generate independently; their backend steps take turns.
   */
  createSession(options?: CreateSessionOptions): Promise<ModelSession>;
}
