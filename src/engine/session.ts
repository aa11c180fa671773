/**
 * A session: one sequence's KV cache on a backend, and the tokens it holds. Evaluating tokens
 * appends them (the prompt in batches, then one token per step) and returns logits.
 * The token list only grows after a step succeeded, so an aborted or failed step loses nothing:
 * the cache positions it may have written are simply overwritten by the next step.
 */
import { WasmChordError } from '../errors.js';
import { throwIfAborted } from '../gguf/byte-source.js';
import type { Backend, CompiledGraph, KVCacheHandle, KVCacheType } from '../backends/backend.js';
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
}

export class Session {
  readonly contextSize: number;
  readonly batchSize: number;
  #tokens: number[] = [];
  #cache: KVCacheHandle | undefined;

  constructor(
    private readonly backend: Backend,
    private readonly model: ModelDefinition,
    private readonly graphs: GraphCache,
    options: SessionOptions,
  ) {
    this.contextSize = options.contextSize;
    this.batchSize = options.batchSize;
    this.#cache = backend.createKVCache({ contextSize: options.contextSize, type: options.kvType, layers: model.kvLayers });
  }

  /** The tokens whose keys and values are in the cache, in order. */
  get tokens(): readonly number[] {
    return this.#tokens;
  }

  /** Forgets every token after the first `n` (their cache entries become free). */
  truncate(n: number): void {
    if (n < this.#tokens.length) this.#tokens.length = Math.max(0, n);
  }

  /** Appends `tokens` to the context and returns the logits after them. */
  async evaluate(tokens: readonly number[], options: EvaluateOptions = {}): Promise<Float32Array> {
    const cache = this.#cache;
    if (!cache) throw new WasmChordError('DISPOSED', 'this session was disposed');
    if (tokens.length === 0) throw new WasmChordError('INVALID_ARGUMENT', 'evaluate needs at least one token');
    for (const t of tokens) {
      if (!Number.isInteger(t) || t < 0 || t >= this.model.vocabSize) {
        throw new WasmChordError('INVALID_ARGUMENT', `token id ${t} is outside the vocabulary (0..${this.model.vocabSize - 1})`);
      }
    }
    const used = this.#tokens.length;
    if (used + tokens.length > this.contextSize) {
      throw new WasmChordError(
        'CONTEXT_FULL',
        `the context holds ${this.contextSize} tokens: ${used} are used and ${tokens.length} more do not fit`,
      );
    }
    const vocab = this.model.vocabSize;
    const all = options.allLogits ? new Float32Array(tokens.length * vocab) : undefined;
    let last: Float32Array | undefined;
    for (let start = 0; start < tokens.length; start += this.batchSize) {
      throwIfAborted(options.signal);
      const batch = tokens.slice(start, start + this.batchSize);
      const pos0 = this.#tokens.length;
      const graph = this.graphs.get(batch.length, !!all);
      last = await this.backend.run(graph, { tokens: Int32Array.from(batch), pos0 }, cache);
      this.#tokens.push(...batch);
      all?.set(last, start * vocab);
    }
    return all ?? last!;
  }

  dispose(): void {
    if (this.#cache) this.backend.releaseKVCache(this.#cache);
    this.#cache = undefined;
    this.#tokens = [];
  }
}

/**
 * Compiled graphs by step shape, shared by the sessions of one model: a shape is built and
 * compiled once, then re-run at every position (decode is always the 1-token shape).
 */
export class GraphCache {
  readonly #compiled = new Map<string, CompiledGraph>();

  constructor(
    private readonly backend: Backend,
    private readonly model: ModelDefinition,
  ) {}

  get(nTokens: number, allLogits: boolean): CompiledGraph {
    // With one token the last row is the only row: both shapes are the same graph.
    const key = `${nTokens}:${allLogits && nTokens > 1}`;
    let g = this.#compiled.get(key);
    if (!g) {
      g = this.backend.compile(this.model.buildGraph({ nTokens, allLogits }));
      this.#compiled.set(key, g);
    }
    return g;
  }
}
