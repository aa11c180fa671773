/**
 * A loaded model: tokenizer, weights on a backend, and sessions (KV caches) over them. The
 * model's own generation methods use its default session, created at load, so that successive
 * calls share a context and a prompt extending the previous one reuses its cached prefix;
 * `createSession` adds independent contexts over the same weights.
 */
import { WasmChordError } from '../errors.js';
import type { Backend } from '../backends/backend.js';
import type { GenerationStep } from '../engine/generate.js';
import { checkContextShift, type ContextShift } from '../engine/generate.js';
import { Session } from '../engine/session.js';
import type { ModelDefinition } from '../model/model.js';
import type { DecodeOptions, Tokenizer } from '../tokenizer/index.js';
import type { GGUFMetadata } from '../gguf/metadata.js';
import { checkKnownKeys, optionalNumber } from '../validate.js';
import { LocalSession, type GenerationResult, type InferOptions, type Prompt } from './session.js';
import { SESSION_KEYS, type CreateSessionOptions, type Model, type ModelInfo, type ModelSession } from './api.js';
import { ModelText } from './model-text.js';

export type { CreateSessionOptions, Model, ModelInfo, ModelSession } from './api.js';
export type { GenerationResult, InferOptions, Prompt } from './session.js';

export interface ModelParts {
  metadata: GGUFMetadata;
  definition: ModelDefinition;
  tokenizer: Tokenizer;
  /** The default session; new sessions share its graph cache and settings. */
  session: Session;
  backend: Backend;
  /** Why the backend registry chose this backend. */
  backendReason: string;
  onDispose: () => void;
}

/** A model loaded in this thread (see api.ts for the interface). */
export class LocalModel implements Model {
  readonly info: ModelInfo;
  readonly tokenizer: Tokenizer;
  readonly #text: ModelText;
  readonly #definition: ModelDefinition;
  readonly #template: Session;
  // Dropped at dispose, so that a disposed model that its caller still holds does not keep the
  // backend (and its memory) alive.
  #backend: Backend | undefined;
  #onDispose: (() => void) | undefined;
  readonly #sessions = new Set<LocalSession>();
  readonly #default: LocalSession;
  #disposed = false;

  constructor(parts: ModelParts) {
    this.tokenizer = parts.tokenizer;
    this.#text = new ModelText(parts.metadata, parts.tokenizer);
    this.#definition = parts.definition;
    this.#template = parts.session;
    this.#backend = parts.backend;
    this.#onDispose = parts.onDispose;
    this.#default = this.#adopt(parts.session, undefined);
    this.info = {
      architecture: parts.definition.arch,
      name: parts.metadata.getString('general.name'),
      vocabSize: parts.definition.vocabSize,
      contextSize: parts.session.contextSize,
      trainedContextSize: parts.definition.contextLength,
      backend: `${parts.backend.kind} (${parts.backend.description})`,
      backendReason: parts.backendReason,
      engine: 'in-process',
    };
  }

  get metadata(): GGUFMetadata {
    return this.#text.metadata;
  }

  tokenize(text: string, options: { addSpecial?: boolean; parseSpecial?: boolean } = {}): number[] {
    return this.#text.tokenize(text, options);
  }

  detokenize(tokens: readonly number[], options: DecodeOptions = {}): string {
    return this.#text.detokenize(tokens, options);
  }

  promptTokens(prompt: Prompt, options: InferOptions = {}): number[] {
    return this.#text.promptTokens(prompt, options);
  }

  /**
   * A new, empty context over this model's weights: its own KV cache and tokens, sharing the
   * backend and compiled graphs. Sessions generate independently; their backend steps take turns.
   */
  async createSession(options: CreateSessionOptions = {}): Promise<ModelSession> {
    this.#checkAlive();
    checkKnownKeys('createSession', options, SESSION_KEYS);
    const t = this.#template;
    // Learned position tables (gpt2) cannot address positions past their rows.
    const max = Math.min(this.#definition.maxPositions ?? Infinity, 1 << 20);
    const contextSize = optionalNumber('contextSize', options.contextSize, t.contextSize, { min: 1, max, integer: true });
    const kvType = options.kvType ?? t.kvType;
    if (kvType !== 'f16' && kvType !== 'f32') {
      throw new WasmChordError('INVALID_ARGUMENT', `option kvType must be "f16" or "f32" (got ${String(kvType)})`);
    }
    checkContextShift(options.contextShift);
    const session = new Session(this.#backend!, this.#definition, t.graphs, { contextSize, kvType, batchSize: t.batchSize });
    return this.#adopt(session, options.contextShift);
  }

  /** Generates a completion of `prompt` (default session) and resolves to its text. */
  infer(prompt: Prompt, options: InferOptions = {}): Promise<string> {
    return this.#default.infer(prompt, options);
  }

  /** Generates a completion, with token ids, stop reason and timings. */
  generate(prompt: Prompt, options: InferOptions = {}): Promise<GenerationResult> {
    return this.#default.generate(prompt, options);
  }

  /** Streams the completion of `prompt` as text pieces. */
  inferStream(prompt: Prompt, options: InferOptions = {}): AsyncGenerator<string, void> {
    return this.#default.inferStream(prompt, options);
  }

  /**
   * Streams each step (the sampled token and the text it completed), and returns the whole
   * result (text, tokens, stop reason, timings) when iterated to the end.
   */
  generateStream(prompt: Prompt, options: InferOptions = {}): AsyncGenerator<GenerationStep, GenerationResult> {
    return this.#default.generateStream(prompt, options);
  }

  /**
   * Low level: appends tokens to the default context and returns the logits after the last one
   * (or after each of them, [n][vocab], with allLogits).
   */
  evaluate(tokens: readonly number[], options: { allLogits?: boolean; signal?: AbortSignal } = {}): Promise<Float32Array> {
    return this.#default.evaluate(tokens, options);
  }

  /** The tokens currently held in the default context (KV cache). */
  get contextTokens(): readonly number[] {
    return this.#default.contextTokens;
  }

  /** Empties the default context. */
  resetContext(): Promise<void> {
    return this.#default.resetContext();
  }

  /** The default context as bytes (see ModelSession.saveState). */
  saveState(): Promise<Uint8Array> {
    return this.#default.saveState();
  }

  /** Replaces the default context with a saved one (see ModelSession.loadState). */
  loadState(state: Uint8Array): Promise<void> {
    return this.#default.loadState(state);
  }

  /** Disposes every session (a running generation ends with DISPOSED), then the weights. */
  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    await Promise.all([...this.#sessions].map((s) => s.dispose()));
    const backend = this.#backend!;
    const onDispose = this.#onDispose!;
    this.#backend = undefined;
    this.#onDispose = undefined;
    try {
      await backend.dispose();
    } finally {
      onDispose();
    }
  }

  #adopt(session: Session, contextShift: ContextShift | undefined): LocalSession {
    const host = {
      tokenizer: this.tokenizer,
      promptTokens: (prompt: Prompt, options: InferOptions) => this.promptTokens(prompt, options),
      checkAlive: () => this.#checkAlive(),
    };
    const s = new LocalSession(host, session, contextShift, () => this.#sessions.delete(s));
    this.#sessions.add(s);
    return s;
  }

  #checkAlive(): void {
    if (this.#disposed) throw new WasmChordError('DISPOSED', 'this model was disposed');
  }
}
