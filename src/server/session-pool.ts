/**
 * The server's contexts: up to `size` sessions of one model, each serving one request at a
 * time; requests beyond them wait in arrival order. A request gets the free session whose
 * context shares the longest prefix with its prompt, so a conversation's next turn finds its
 * history already evaluated (the session reuses that prefix of its KV cache; `usage` reports it
 * as `prompt_tokens_details.cached_tokens`).
 */
import { WasmChordError } from '../errors.js';
import type { Model, ModelSession } from '../runtime/api.js';
import type { ContextLease, ContextProvider } from './openai-api.js';

interface Waiter {
  readonly prompt: readonly number[];
  resolve(lease: ContextLease): void;
  reject(error: Error): void;
}

export class SessionPool implements ContextProvider {
  readonly #model: Model;
  readonly #size: number;
  readonly #free: ModelSession[] = [];
  readonly #waiting: Waiter[] = [];
  #created = 0;
  #closed = false;

  constructor(model: Model, size: number) {
    this.#model = model;
    this.#size = size;
  }

  /** Requests generating now. */
  get busy(): number {
    return this.#created - this.#free.length;
  }

  /** Requests waiting for a session. */
  get queued(): number {
    return this.#waiting.length;
  }

  async acquire(prompt: readonly number[], signal?: AbortSignal): Promise<ContextLease> {
    if (this.#closed) throw new WasmChordError('DISPOSED', 'the server is closing');
    signal?.throwIfAborted();
    if (this.#free.length > 0) return this.#lease(this.#take(prompt));
    if (this.#created < this.#size) {
      this.#created++;
      try {
        return this.#lease(await this.#model.createSession());
      } catch (err) {
        this.#created--;
        throw err;
      }
    }
    return new Promise<ContextLease>((resolve, reject) => {
      const waiter: Waiter = { prompt, resolve, reject };
      this.#waiting.push(waiter);
      signal?.addEventListener(
        'abort',
        () => {
          const i = this.#waiting.indexOf(waiter);
          if (i >= 0) {
            this.#waiting.splice(i, 1);
            reject(new WasmChordError('ABORTED', 'the request was aborted while it waited for a session'));
          }
        },
        { once: true },
      );
    });
  }

  /**
   * The free session holding the longest prefix of `prompt`; among equals, the one that would
   * discard the least of its context (so another conversation's history survives).
   */
  #take(prompt: readonly number[]): ModelSession {
    let best = 0;
    let bestShared = -1;
    let bestDiscard = Infinity;
    this.#free.forEach((s, i) => {
      const shared = sharedPrefix(s.contextTokens, prompt);
      const discard = s.contextTokens.length - shared;
      if (shared > bestShared || (shared === bestShared && discard < bestDiscard)) [best, bestShared, bestDiscard] = [i, shared, discard];
    });
    return this.#free.splice(best, 1)[0]!;
  }

  #lease(session: ModelSession): ContextLease {
    let released = false;
    return {
      context: session,
      release: () => {
        if (released) return;
        released = true;
        this.#free.push(session);
        const next = this.#waiting.shift();
        if (next) next.resolve(this.#lease(this.#take(next.prompt)));
      },
    };
  }

  /** Refuses waiting requests and frees the sessions (their model stays loaded). */
  async close(): Promise<void> {
    this.#closed = true;
    for (const w of this.#waiting.splice(0)) w.reject(new WasmChordError('DISPOSED', 'the server is closing'));
    await Promise.all(this.#free.splice(0).map((s) => s.dispose()));
  }
}

function sharedPrefix(a: readonly number[], b: readonly number[]): number {
  let n = 0;
  while (n < a.length && n < b.length && a[n] === b[n]) n++;
  return n;
}
