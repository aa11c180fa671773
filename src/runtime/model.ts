/**
 * A loaded model: tokenizer, weights on a backend, and one session (KV cache) that successive
 * calls share, so a prompt that extends the previous one reuses its cached prefix.
 * Calls are serialised: a second call waits until the first has finished.
 */
import { WasmChordError } from '../errors.js';
import type { Backend } from '../backends/backend.js';
import { generate, type GenerateOptions, type GenerationStats, type GenerationStep, type StopReason } from '../engine/generate.js';
import { SAMPLING_OPTION_KEYS } from '../engine/sampler.js';
import type { Session } from '../engine/session.js';
import type { ModelDefinition } from '../model/model.js';
import type { Tokenizer } from '../tokenizer/index.js';
import { buildChatPrompt, type ChatMessage } from '../chat/index.js';
import type { GGUFMetadata } from '../gguf/metadata.js';
import { checkKnownKeys } from '../validate.js';

export interface InferOptions extends GenerateOptions {
  /** Parse special-token text (like "<|im_end|>") in a string prompt. Default false. */
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

const INFER_KEYS = [
  ...SAMPLING_OPTION_KEYS,
  'maxTokens', 'stop', 'ignoreEos', 'sampler', 'signal', 'parseSpecial', 'addSpecial', 'chatTemplate', 'tools',
] as const;

export interface GenerationResult {
  text: string;
  /** The generated token ids (the end-of-generation token excluded). */
  tokens: number[];
  promptTokens: number[];
  stopReason: StopReason;
  timings: {
    prefillMs: number;
    decodeMs: number;
    /** Prompt tokens evaluated per second (reused cached tokens not counted). */
    prefillTokensPerSecond: number;
    decodeTokensPerSecond: number;
  };
}

export interface ModelInfo {
  architecture: string;
  name: string | undefined;
  vocabSize: number;
  contextSize: number;
  trainedContextSize: number;
  backend: string;
}

export interface ModelParts {
  metadata: GGUFMetadata;
  definition: ModelDefinition;
  tokenizer: Tokenizer;
  session: Session;
  backend: Backend;
  onDispose: () => void;
}

export class Model {
  readonly info: ModelInfo;
  readonly tokenizer: Tokenizer;
  readonly #metadata: GGUFMetadata;
  readonly #session: Session;
  readonly #backend: Backend;
  readonly #onDispose: () => void;
  #queue: Promise<unknown> = Promise.resolve();
  #disposed = false;

  constructor(parts: ModelParts) {
    this.tokenizer = parts.tokenizer;
    this.#metadata = parts.metadata;
    this.#session = parts.session;
    this.#backend = parts.backend;
    this.#onDispose = parts.onDispose;
    this.info = {
      architecture: parts.definition.arch,
      name: parts.metadata.getString('general.name'),
      vocabSize: parts.definition.vocabSize,
      contextSize: parts.session.contextSize,
      trainedContextSize: parts.definition.contextLength,
      backend: `${parts.backend.kind} (${parts.backend.description})`,
    };
  }

  tokenize(text: string, options: { addSpecial?: boolean; parseSpecial?: boolean } = {}): number[] {
    return this.tokenizer.encode(text, options);
  }

  detokenize(tokens: readonly number[], options: { skipSpecial?: boolean } = {}): string {
    return this.tokenizer.decode(tokens, options);
  }

  /** The token ids a prompt becomes (chat messages through the model's chat template). */
  promptTokens(prompt: Prompt, options: InferOptions = {}): number[] {
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
    }).ids;
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
   */
  async *generateStream(prompt: Prompt, options: InferOptions = {}): AsyncGenerator<GenerationStep, GenerationResult> {
    let text = '';
    const tokens: number[] = [];
    const run = this.#run(prompt, options);
    try {
      for (;;) {
        const step = await run.next();
        if (step.done) return { ...step.value, text, tokens };
        text += step.value.text;
        if (step.value.token !== undefined) tokens.push(step.value.token);
        yield step.value;
      }
    } finally {
      // A consumer that stops early must still end the run, which releases the model.
      await run.return(undefined as never);
    }
  }

  async *#run(
    prompt: Prompt,
    options: InferOptions,
  ): AsyncGenerator<GenerationStep, Omit<GenerationResult, 'text' | 'tokens'>> {
    checkKnownKeys('infer', options, INFER_KEYS);
    const promptTokens = this.promptTokens(prompt, options);
    const release = await this.#lock();
    try {
      const stats: GenerationStats = { promptTokens: 0, reusedTokens: 0, generatedTokens: 0, prefillMs: 0, decodeMs: 0 };
      const steps = generate(this.#session, this.tokenizer, promptTokens, options, stats);
      let result = await steps.next();
      while (!result.done) {
        yield result.value;
        result = await steps.next();
      }
      const evaluated = stats.promptTokens - stats.reusedTokens;
      return {
        promptTokens,
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
      release();
    }
  }

  /**
   * Low level: appends tokens to the model's context and returns the logits after the last one
   * (or after each of them, [n][vocab], with allLogits).
   */
  async evaluate(tokens: readonly number[], options: { allLogits?: boolean; signal?: AbortSignal } = {}): Promise<Float32Array> {
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

  async dispose(): Promise<void> {
    if (this.#disposed) return;
    const release = await this.#lock();
    this.#disposed = true;
    this.#session.dispose();
    await this.#backend.dispose();
    this.#onDispose();
    release();
  }

  /** Waits for earlier calls, then holds the model until `release` is called. */
  async #lock(): Promise<() => void> {
    if (this.#disposed) throw new WasmChordError('DISPOSED', 'this model was disposed');
    let release!: () => void;
    const previous = this.#queue;
    this.#queue = new Promise<void>((resolve) => (release = resolve));
    await previous;
    if (this.#disposed) {
      release();
      throw new WasmChordError('DISPOSED', 'this model was disposed');
    }
    return release;
  }
}

function rate(tokens: number, ms: number): number {
  return ms > 0 ? (tokens * 1000) / ms : 0;
}
