/**
 * A session: one sequence's KV cache on a backend, and the tokens it holds. Evaluating tokens
 * appends them (the prompt in batches, then one token per step) and returns logits.
 * The token list only grows after a step succeeded, so an aborted or failed step loses nothing:
 * the cache positions it may have written are simply overwritten by the next step.
 *
 * Several sessions of one model share its backend and one GraphCache, which also queues their
 * backend work: one step at a time per model, so sessions interleave step by step and never run
 * over each other's scratch memory.
 */
import { WasmChordError } from '../errors.js';
import { throwIfAborted } from '../gguf/byte-source.js';
import type { Backend, CompiledGraph, KVCacheHandle, KVCacheType, KVLayerData, StepInput } from '../backends/backend.js';
import { checkedArgmax } from './sampler.js';
import type { ModelDefinition } from '../model/model.js';

export interface SessionOptions {
  contextSize: number;
  kvType: KVCacheType;
  /** Most tokens evaluated in one graph while ingesting a prompt. */
  batchSize: number;
}

export interface EvaluateOptions {
  /** Return logits for every evaluated token ([n][vocab]) instead of only the last. */
  allLogits?: boolean;
  signal?: AbortSignal;
  /** Where the logits go (vocab floats, n x vocab with allLogits), returned instead of a new array. */
  output?: Float32Array;
}

/** The tokens a session holds and their KV cache entries (the layout of Backend.readKV). */
export interface SessionSnapshot {
  readonly tokens: readonly number[];
  readonly layers: readonly KVLayerData[];
}

/** The most logits one evaluate call returns with allLogits (1 GiB of floats). */
const MAX_ALL_LOGITS = 2 ** 28;

export class Session {
  readonly contextSize: number;
  readonly batchSize: number;
  readonly kvType: KVCacheType;
  #tokens: number[] = [];
  #cache: KVCacheHandle | undefined;
  // Dropped at dispose, so that a disposed session (still referenced by its caller) does not
  // keep the backend's memory alive.
  #backend: Backend | undefined;
  #graphs: GraphCache | undefined;
  /** The logits greedy steps compare (on backends without runArgmax): one array for every step. */
  #argmaxLogits: Float32Array | undefined;

  constructor(
    backend: Backend,
    readonly model: ModelDefinition,
    /** Shared by every session of the model: compiled graphs and the step queue. */
    graphs: GraphCache,
    options: SessionOptions,
  ) {
    this.contextSize = options.contextSize;
    this.batchSize = options.batchSize;
    this.kvType = options.kvType;
    this.#backend = backend;
    this.#graphs = graphs;
    this.#cache = backend.createKVCache({ contextSize: options.contextSize, type: options.kvType, layers: model.kvLayers });
  }

  /** The model's compiled graphs and step queue (DISPOSED once this session is). */
  get graphs(): GraphCache {
    if (!this.#graphs) throw disposedError();
    return this.#graphs;
  }

  get backend(): Backend {
    if (!this.#backend) throw disposedError();
    return this.#backend;
  }

  /** The tokens whose keys and values are in the cache, in order. */
  get tokens(): readonly number[] {
    return this.#tokens;
  }

  get disposed(): boolean {
    return this.#cache === undefined;
  }

  /** Positions usable: the context size, or fewer when the model's position table is shorter. */
  get capacity(): number {
    return Math.min(this.contextSize, this.model.maxPositions ?? Infinity);
  }

  /** Whether the cache can be re-positioned (context shift): every layer's keys use RoPE. */
  get canShift(): boolean {
    return this.model.kvLayers.every((l) => l.rope !== undefined);
  }

  /** Forgets every token after the first `n` (their cache entries become free). */
  truncate(n: number): void {
    if (n < this.#tokens.length) this.#tokens.length = Math.max(0, n);
  }

  /** Appends `tokens` to the context and returns the logits after them. */
  async evaluate(tokens: readonly number[], options: EvaluateOptions = {}): Promise<Float32Array> {
    this.#checkTokens(tokens);
    const vocab = this.model.vocabSize;
    if (options.allLogits && tokens.length * vocab > MAX_ALL_LOGITS) {
      throw new WasmChordError(
        'INVALID_ARGUMENT',
        `allLogits for ${tokens.length} tokens would be ${tokens.length * vocab} floats; evaluate at most ${Math.floor(MAX_ALL_LOGITS / vocab)} tokens at a time`,
      );
    }
    const length = options.allLogits ? tokens.length * vocab : vocab;
    const { output } = options;
    if (output !== undefined && !(output instanceof Float32Array && output.length === length)) {
      throw new WasmChordError('INVALID_ARGUMENT', `output must be a Float32Array of ${length} floats${options.allLogits ? ` (${tokens.length} tokens x ${vocab})` : ''}`);
    }
    const all = options.allLogits ? (output ?? new Float32Array(length)) : undefined;
    let last: Float32Array | undefined;
    await this.#steps(tokens, options.signal, async (input, cache, start) => {
      const n = input.tokens.length;
      last = await this.backend.run(this.graphs.get(n, !!all), input, cache, { output: all ? all.subarray(start * vocab, (start + n) * vocab) : output });
    });
    return all ?? last!;
  }

  /**
   * Appends `tokens` and returns greedy decoding's next `steps` tokens (default 1; more only after
   * a single token): the argmax of the logits after the context (ties to the lowest id), then the
   * argmax after that token, and so on. Every chosen token but the last joins the context (it was
   * evaluated to choose the next). A backend with runArgmax chooses where the logits are (a GPU
   * reads back token ids, once per chain); on others (one step only) the logits are read and
   * compared here. Throws MODEL_INVALID when logits hold NaN or +Infinity.
   */
  async evaluateArgmax(tokens: readonly number[], options: { signal?: AbortSignal; steps?: number } = {}): Promise<number[]> {
    const steps = options.steps ?? 1;
    if (!(Number.isInteger(steps) && steps >= 1 && (steps === 1 || (tokens.length === 1 && this.backend.runArgmax)))) {
      throw new WasmChordError('INVALID_ARGUMENT', `steps must be a positive integer, and 1 unless one token is evaluated on a backend with runArgmax (${steps} after ${tokens.length})`);
    }
    this.#checkTokens(tokens, steps - 1);
    let chosen: readonly number[] = [];
    await this.#steps(tokens, options.signal, async (input, cache, start) => {
      const backend = this.backend;
      const graph = this.graphs.get(input.tokens.length, false);
      if (start + input.tokens.length < tokens.length) {
        await backend.run(graph, input, cache);
      } else if (backend.runArgmax) {
        const result = await backend.runArgmax(graph, input, cache, steps);
        if (result.invalid) checkedArgmax(result.invalid);
        chosen = result.tokens;
      } else {
        chosen = [checkedArgmax(await backend.run(graph, input, cache, { output: (this.#argmaxLogits ??= new Float32Array(this.model.vocabSize)) }))];
      }
    });
    this.#tokens.push(...chosen.slice(0, -1));
    return [...chosen];
  }

  /** Valid token ids that fit the context, with `extra` positions after them. */
  #checkTokens(tokens: readonly number[], extra = 0): void {
    this.#live();
    if (tokens.length === 0) throw new WasmChordError('INVALID_ARGUMENT', 'evaluate needs at least one token');
    for (const t of tokens) {
      if (!Number.isInteger(t) || t < 0 || t >= this.model.vocabSize) {
        throw new WasmChordError('INVALID_ARGUMENT', `token id ${t} is outside the vocabulary (0..${this.model.vocabSize - 1})`);
      }
    }
    const used = this.#tokens.length;
    if (used + tokens.length + extra > this.capacity) {
      const table = this.capacity < this.contextSize ? ` (the model's position table has ${this.capacity})` : '';
      throw new WasmChordError(
        'CONTEXT_FULL',
        `the context holds ${this.capacity} tokens${table}: ${used} are used and ${tokens.length + extra} more do not fit`,
      );
    }
  }

  /**
   * Runs `step` on each batch of at most batchSize tokens, in order, queued behind the model's
   * other backend work; a batch's tokens join the context once its step succeeded.
   */
  async #steps(tokens: readonly number[], signal: AbortSignal | undefined, step: (input: StepInput, cache: KVCacheHandle, start: number) => Promise<void>): Promise<void> {
    for (let start = 0; start < tokens.length; start += this.batchSize) {
      throwIfAborted(signal);
      const batch = tokens.slice(start, start + this.batchSize);
      await this.graphs.serial(() => step({ tokens: Int32Array.from(batch), pos0: this.#tokens.length }, this.#live(), start));
      this.#tokens.push(...batch);
    }
  }

  /**
   * Context shift: drops tokens [keep, keep+discard) and moves the rest down, re-rotating their
   * keys (Backend.shiftKV). The caller checks canShift first.
   */
  async shift(keep: number, discard: number): Promise<void> {
    const used = this.#tokens.length;
    await this.graphs.serial(async () => {
      const cache = this.#live();
      try {
        await this.backend.shiftKV(cache, { keep, discard, used });
      } catch (err) {
        // The cache may be half moved: it no longer matches any token list.
        this.#tokens.length = 0;
        throw err;
      }
      this.#tokens.splice(keep, discard);
    });
  }

  /** Copies out the tokens and their cache entries. */
  async snapshot(): Promise<SessionSnapshot> {
    return this.graphs.serial(async () => {
      const cache = this.#live();
      return { tokens: [...this.#tokens], layers: await this.backend.readKV(cache, this.#tokens.length) };
    });
  }

  /** Replaces the context with a snapshot (checked by the caller against this session's layout). */
  async restore(snapshot: SessionSnapshot): Promise<void> {
    await this.graphs.serial(() => {
      const cache = this.#live();
      // Empty first: if the write fails half-way, the cache matches no tokens.
      this.#tokens = [];
      if (snapshot.tokens.length > 0) this.backend.writeKV(cache, snapshot.tokens.length, snapshot.layers);
      this.#tokens = [...snapshot.tokens];
    });
  }

  /** Releases the cache once no step of this model is running; later calls give DISPOSED. */
  async dispose(): Promise<void> {
    const cache = this.#cache;
    const backend = this.#backend;
    const graphs = this.#graphs;
    if (!cache || !backend || !graphs) return;
    this.#cache = undefined;
    this.#tokens = [];
    try {
      await graphs.serial(() => backend.releaseKVCache(cache));
    } finally {
      this.#backend = undefined;
      this.#graphs = undefined;
    }
  }

  #live(): KVCacheHandle {
    if (!this.#cache) throw disposedError();
    return this.#cache;
  }
}

function disposedError(): WasmChordError {
  return new WasmChordError('DISPOSED', 'this session was disposed');
}

/**
 * Compiled graphs by step shape, shared by the sessions of one model: a shape is built and
 * compiled once, then re-run at every position (decode is always the 1-token shape).
 * It also serialises the model's backend work (runs, cache reads, writes and shifts), so that
 * concurrent sessions take turns step by step.
 */
export class GraphCache {
  /** Prompt lengths vary: keep the most recently used shapes, not one per length ever seen. */
  static readonly MAX_SHAPES = 16;
  readonly #compiled = new Map<string, CompiledGraph>();
  #tail: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly backend: Backend,
    private readonly model: ModelDefinition,
  ) {}

  get(nTokens: number, allLogits: boolean): CompiledGraph {
    // With one token the last row is the only row: both shapes are the same graph.
    const key = `${nTokens}:${allLogits && nTokens > 1}`;
    let g = this.#compiled.get(key);
    if (g) this.#compiled.delete(key);
    else g = this.backend.compile(this.model.buildGraph({ nTokens, allLogits }));
    // Re-inserted last: the Map's first key is the least recently used.
    this.#compiled.set(key, g);
    if (this.#compiled.size > GraphCache.MAX_SHAPES) this.#compiled.delete(this.#compiled.keys().next().value!);
    return g;
  }

  /** Runs `work` after every backend call queued before it (one at a time per model). */
  serial<T>(work: () => T | Promise<T>): Promise<T> {
    const result = this.#tail.then(work);
    this.#tail = result.catch(() => undefined);
    return result;
  }
}
