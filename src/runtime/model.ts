/**
 * A loaded model: tokenizer, weights on a backend, and sessions (KV caches) over them. The
 * model's own generation methods use its default session, created at load, so that successive
 * calls share a context and a prompt extending the previous one reuses its cached prefix;
 * `createSession` adds independent contexts over the same weights.
 */
import { WasmChordError } from '../errors.js';
import type { Backend, KVCacheType } from '../backends/backend.js';
import type { GenerationStep } from '../engine/generate.js';
import { checkContextShift, type ContextShift } from '../engine/generate.js';
import { Session } from '../engine/session.js';
import type { ModelDefinition } from '../model/model.js';
import type { DecodeOptions, Tokenizer } from '../tokenizer/index.js';
import { buildChatPrompt } from '../chat/index.js';
import type { GGUFMetadata } from '../gguf/metadata.js';
import { checkBoolean, checkKnownKeys, checkString, optionalNumber } from '../validate.js';
import { INFER_OPTION_KEYS, ModelSession, type GenerationResult, type InferOptions, type Prompt } from './session.js';

export { ModelSession, type GenerationResult, type InferOptions, type Prompt } from './session.js';

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
}

export interface CreateSessionOptions {
  /** Tokens the session's context holds. Default: the model's (loadModel's contextSize). */
  contextSize?: number;
  /** KV cache element type. Default: the model's (loadModel's kvType). */
  kvType?: KVCacheType;
  /** Context shift for this session's generations (each call's option overrides it). Default off. */
  contextShift?: ContextShift;
}

const SESSION_KEYS = ['contextSize', 'kvType', 'contextShift'] as const;

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

export class Model {
  readonly info: ModelInfo;
  readonly tokenizer: Tokenizer;
  readonly #metadata: GGUFMetadata;
  readonly #definition: ModelDefinition;
  readonly #template: Session;
  // Dropped at dispose, so that a disposed model that its caller still holds does not keep the
  // backend (and its memory) alive.
  #backend: Backend | undefined;
  #onDispose: (() => void) | undefined;
  readonly #sessions = new Set<ModelSession>();
  readonly #default: ModelSession;
  #disposed = false;

  constructor(parts: ModelParts) {
    this.tokenizer = parts.tokenizer;
    this.#metadata = parts.metadata;
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
    };
  }

  tokenize(text: string, options: { addSpecial?: boolean; parseSpecial?: boolean } = {}): number[] {
    checkKnownKeys('tokenize', options, ['addSpecial', 'parseSpecial']);
    checkBoolean('addSpecial', options.addSpecial);
    checkBoolean('parseSpecial', options.parseSpecial);
    return this.tokenizer.encode(text, options);
  }

  detokenize(tokens: readonly number[], options: DecodeOptions = {}): string {
    checkKnownKeys('detokenize', options, ['skipSpecial', 'stripLeadingSpace', 'cleanSpaces']);
    for (const key of ['skipSpecial', 'stripLeadingSpace', 'cleanSpaces'] as const) checkBoolean(key, options[key]);
    return this.tokenizer.decode(tokens, options);
  }

  /**
   * The token ids a prompt becomes (chat messages through the model's chat template). Special-
   * token text in a string prompt, or in the messages, stays text unless `parseSpecial` is true;
   * the chat template's own special tokens are always parsed.
   */
  promptTokens(prompt: Prompt, options: InferOptions = {}): number[] {
    checkKnownKeys('prompt', options, [...INFER_OPTION_KEYS]);
    checkBoolean('parseSpecial', options.parseSpecial);
    checkBoolean('addSpecial', options.addSpecial);
    checkString('chatTemplate', options.chatTemplate);
    if (options.tools !== undefined && !Array.isArray(options.tools)) {
      throw new WasmChordError('INVALID_ARGUMENT', 'option tools must be an array');
    }
    if (typeof prompt === 'string') {
      return this.tokenize(prompt, { addSpecial: options.addSpecial ?? true, parseSpecial: options.parseSpecial ?? false });
    }
    if (!Array.isArray(prompt)) {
      throw new WasmChordError('INVALID_ARGUMENT', 'the prompt must be a string or an array of chat messages');
    }
    return buildChatPrompt(this.#metadata, this.tokenizer, {
      messages: prompt,
      template: options.chatTemplate,
      tools: options.tools,
      parseSpecial: options.parseSpecial ?? false,
    }).ids;
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

  #adopt(session: Session, contextShift: ContextShift | undefined): ModelSession {
    const host = {
      tokenizer: this.tokenizer,
      promptTokens: (prompt: Prompt, options: InferOptions) => this.promptTokens(prompt, options),
      checkAlive: () => this.#checkAlive(),
    };
    const s = new ModelSession(host, session, contextShift, () => this.#sessions.delete(s));
    this.#sessions.add(s);
    return s;
  }

  #checkAlive(): void {
    if (this.#disposed) throw new WasmChordError('DISPOSED', 'this model was disposed');
  }
}
