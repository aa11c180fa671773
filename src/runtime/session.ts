/**
 * A session of a loaded model: its own context (KV cache and tokens) over the model's shared
 * weights, graphs and backend. Calls on one session are serialised (a generation holds its
 * session until it ends); different sessions run side by side, taking turns step by step.
 */
import { WasmChordError } from '../errors.js';
import {
  generate,
  type ContextShift,
  type GenerateOptions,
  type GenerationStats,
  type GenerationStep,
  type StopReason,
} from '../engine/generate.js';
import { SAMPLING_OPTION_KEYS } from '../engine/sampler.js';
import type { EvaluateOptions, Session } from '../engine/session.js';
import { decodeSessionState, encodeSessionState, type StateLayout } from '../engine/session-state.js';
import type { ChatMessage } from '../chat/index.js';
import type { Tokenizer } from '../tokenizer/index.js';
import { checkBoolean, checkKnownKeys, checkSignal, describe } from '../validate.js';
import type { ModelSession } from './api.js';

export interface InferOptions extends GenerateOptions {
  /**
   * Parse special-token text (like "<|im_end|>") in a string prompt, or in the content of chat
   * messages, as special tokens. Default false: it stays text (the chat template's own special
   * tokens are parsed either way).
   */
  parseSpecial?: boolean;
  /** Add the BOS token to a string prompt when the model asks for it. Default true. */
  addSpecial?: boolean;
  /** For chat messages: a Jinja template to use instead of the model's own. */
  chatTemplate?: string;
  /** For chat messages: tool definitions, for templates that describe tools. */
  tools?: readonly unknown[];
}

/**
 * A prompt is either raw text, or chat messages that the model's chat template (from its GGUF
 * metadata; ChatML when it has none) turns into text, with special tokens parsed.
 */
export type Prompt = string | readonly ChatMessage[];

export const INFER_OPTION_KEYS = [
  ...SAMPLING_OPTION_KEYS,
  'maxTokens', 'stop', 'ignoreEos', 'sampler', 'grammar', 'jsonSchema', 'logprobs', 'special', 'contextShift', 'signal', 'parseSpecial', 'addSpecial', 'chatTemplate', 'tools',
] as const;

export interface GenerationResult {
  text: string;
  /** The generated token ids (the end-of-generation token excluded). */
  tokens: number[];
  promptTokens: number[];
  /** Prompt tokens the context already held (from an earlier call) and did not evaluate again. */
  cachedTokens: number;
  stopReason: StopReason;
  timings: {
    prefillMs: number;
    decodeMs: number;
    /** Prompt tokens evaluated per second (reused cached tokens not counted). */
    prefillTokensPerSecond: number;
    decodeTokensPerSecond: number;
  };
}

/** What a session needs from its model. */
export interface SessionHost {
  readonly tokenizer: Tokenizer;
  promptTokens(prompt: Prompt, options: InferOptions): number[];
  /** Throws DISPOSED once the model is disposed. */
  checkAlive(): void;
}

/** A session in this thread (see api.ts for the interface). */
export class LocalSession implements ModelSession {
  readonly #host: SessionHost;
  readonly #session: Session;
  readonly #contextShift: ContextShift | undefined;
  readonly #onDispose: () => void;
  #queue: Promise<unknown> = Promise.resolve();
  #disposed = false;

  /** @internal Sessions come from `model.createSession()`. */
  constructor(host: SessionHost, session: Session, contextShift: ContextShift | undefined, onDispose: () => void) {
    this.#host = host;
    this.#session = session;
    this.#contextShift = contextShift;
    this.#onDispose = onDispose;
  }

  /** Tokens this session's context holds at most. */
  get contextSize(): number {
    return this.#session.contextSize;
  }

  /** Generates a completion of `prompt` and resolves to its text. */
  async infer(prompt: Prompt, options: InferOptions = {}): Promise<string> {
    return (await this.generate(prompt, options)).text;
  }

  /** Generates a completion, with token ids, stop reason and timings. */
  async generate(prompt: Prompt, options: InferOptions = {}): Promise<GenerationResult> {
    const stream = this.generateStream(prompt, options);
    for (;;) {
      const step = await stream.next();
      if (step.done) return step.value;
    }
  }

  /** Streams the completion of `prompt` as text pieces. */
  async *inferStream(prompt: Prompt, options: InferOptions = {}): AsyncGenerator<string, void> {
    for await (const step of this.generateStream(prompt, options)) if (step.text) yield step.text;
  }

  /**
   * Streams each step (the sampled token and the text it completed), and returns the whole
   * result (text, tokens, stop reason, timings) when iterated to the end.
   *
   * A stream holds its session until it ends: iterate it to the end, or stop early with
   * `break` (or `return()`). A stream that is simply dropped half-way releases the session when
   * it is garbage-collected.
   */
  generateStream(prompt: Prompt, options: InferOptions = {}): AsyncGenerator<GenerationStep, GenerationResult> {
    const lease: Lease = {};
    const stream = this.#stream(prompt, options, lease);
    abandonedStreams.register(stream, lease, lease);
    return stream;
  }

  async *#stream(prompt: Prompt, options: InferOptions, lease: Lease): AsyncGenerator<GenerationStep, GenerationResult> {
    let text = '';
    const tokens: number[] = [];
    const run = this.#run(prompt, options, lease);
    try {
      for (;;) {
        const step = await run.next();
        if (step.done) return { ...step.value, text, tokens };
        text += step.value.text;
        if (step.value.token !== undefined) tokens.push(step.value.token);
        yield step.value;
      }
    } finally {
      // A consumer that stops early must still end the run, which releases the session.
      await run.return(undefined as never);
    }
  }

  async *#run(
    prompt: Prompt,
    options: InferOptions,
    lease: Lease,
  ): AsyncGenerator<GenerationStep, Omit<GenerationResult, 'text' | 'tokens'>> {
    checkKnownKeys('infer', options, INFER_OPTION_KEYS);
    const promptTokens = this.#host.promptTokens(prompt, options);
    const release = await this.#lock();
    lease.release = release;
    try {
      const stats: GenerationStats = { promptTokens: 0, reusedTokens: 0, generatedTokens: 0, prefillMs: 0, decodeMs: 0 };
      const generateOptions = { ...options, contextShift: options.contextShift ?? this.#contextShift };
      const steps = generate(this.#session, this.#host.tokenizer, promptTokens, generateOptions, stats);
      let result = await steps.next();
      while (!result.done) {
        yield result.value;
        result = await steps.next();
      }
      const evaluated = stats.promptTokens - stats.reusedTokens;
      return {
        promptTokens,
        cachedTokens: stats.reusedTokens,
        stopReason: result.value,
        timings: {
          prefillMs: stats.prefillMs,
          decodeMs: stats.decodeMs,
          prefillTokensPerSecond: rate(evaluated, stats.prefillMs),
          // The first generated token comes from the prefill logits: decode time covers the rest.
          decodeTokensPerSecond: rate(Math.max(0, stats.generatedTokens - 1), stats.decodeMs),
        },
      };
    } finally {
      lease.release = undefined;
      abandonedStreams.unregister(lease);
      release();
    }
  }

  /**
   * Low level: appends tokens to the context and returns the logits after the last one (or
   * after each of them, [n][vocab], with allLogits), in `output` when given. Past the context
   * size: CONTEXT_FULL.
   */
  async evaluate(tokens: readonly number[], options: EvaluateOptions = {}): Promise<Float32Array> {
    if (!Array.isArray(tokens) && !(ArrayBuffer.isView(tokens) && !(tokens instanceof DataView))) {
      throw new WasmChordError('INVALID_ARGUMENT', `evaluate takes an array of token ids (got ${describe(tokens)})`);
    }
    checkKnownKeys('evaluate', options, ['allLogits', 'signal', 'output']);
    checkBoolean('allLogits', options.allLogits);
    checkSignal('signal', options.signal);
    const release = await this.#lock();
    try {
      return await this.#session.evaluate(tokens, options);
    } finally {
      release();
    }
  }

  /** The tokens currently held in the context (KV cache). */
  get contextTokens(): readonly number[] {
    return this.#session.tokens;
  }

  /** Empties the context. */
  async resetContext(): Promise<void> {
    const release = await this.#lock();
    this.#session.truncate(0);
    release();
  }

  /**
   * The context (tokens and KV cache) as bytes. `loadState` in any session of the same model
   * and KV layout (this or a later process) continues exactly where this one stands.
   */
  async saveState(): Promise<Uint8Array> {
    const release = await this.#lock();
    try {
      return encodeSessionState(this.#layout(), await this.#session.snapshot());
    } finally {
      release();
    }
  }

  /**
   * Replaces the context with a saved one. A state from another model or KV layout, or bytes
   * that are truncated or corrupted, give INVALID_ARGUMENT (the context is then unchanged);
   * one longer than this session's context gives CONTEXT_FULL.
   */
  async loadState(state: Uint8Array): Promise<void> {
    const release = await this.#lock();
    try {
      const snapshot = decodeSessionState(state, this.#layout());
      if (snapshot.tokens.length > this.contextSize) {
        throw new WasmChordError('CONTEXT_FULL', `the state holds ${snapshot.tokens.length} tokens; this session's context holds ${this.contextSize}`);
      }
      await this.#session.restore(snapshot);
    } finally {
      release();
    }
  }

  /**
   * Frees the session's KV cache. A generation still running on it ends with DISPOSED at its
   * next step; later calls give DISPOSED.
   */
  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    await this.#session.dispose();
    this.#onDispose();
  }

  #layout(): StateLayout {
    const def = this.#session.model;
    return {
      arch: def.arch,
      vocabSize: def.vocabSize,
      kvType: this.#session.kvType,
      layers: def.kvLayers.map((l) => [l.nKvHead, l.headDim] as const),
    };
  }

  /** Waits for earlier calls on this session, then holds it until `release` is called. */
  async #lock(): Promise<() => void> {
    this.#checkAlive();
    let release!: () => void;
    const previous = this.#queue;
    this.#queue = new Promise<void>((resolve) => (release = resolve));
    await previous;
    try {
      this.#checkAlive();
    } catch (err) {
      release();
      throw err;
    }
    return release;
  }

  #checkAlive(): void {
    this.#host.checkAlive();
    if (this.#disposed) throw new WasmChordError('DISPOSED', 'this session was disposed');
  }
}

/** The release of a session's lock, while a stream holds it. */
interface Lease {
  release?: () => void;
}

/**
 * Streams dropped without `return()` (a consumer that stopped pulling) would hold their session
 * forever; when such a stream is garbage-collected, its lock is released. A stream still
 * stepping is referenced by its own pending promises, so only an idle one is collected.
 */
const abandonedStreams = new FinalizationRegistry<Lease>((lease) => lease.release?.());

function rate(tokens: number, ms: number): number {
  return ms > 0 ? (tokens * 1000) / ms : 0;
}
