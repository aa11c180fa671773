/**
 * Greedy decoding with the backend choosing the tokens (Session.evaluateArgmax): after the first,
 * each backend call chains several steps, every chosen token fed to the next step where the
 * logits are, so a GPU pays its read-back wait (>= 10 ms under Deno, a sync everywhere) once per
 * chain. The tokens are exactly step-by-step greedy decoding's; a chain only runs ahead of the
 * consumer, and `settle` takes back what it evaluated beyond the tokens consumed.
 */
import type { Session } from './session.js';

/** Most steps in one chain. */
const MAX_CHAIN = 16;
/**
 * A chain's target duration: chains grow (doubling) while they take less, so that an abort, or a
 * stop that leaves the chain's remaining steps unused, costs at most about this much.
 */
const CHAIN_MS = 50;

export class GreedyChain {
  /** Tokens chosen ahead: each one's predecessor is already in the session. */
  readonly #ahead: number[] = [];
  #length = 1;
  /** Chains only where the backend chooses: elsewhere they would save nothing and delay an abort. */
  readonly #max: number;

  constructor(
    private readonly session: Session,
    private readonly signal: AbortSignal | undefined,
  ) {
    this.#max = session.backend.runArgmax ? MAX_CHAIN : 1;
  }

  /**
   * Evaluates `tokens` (unless a chain already did) and returns the next token; `wanted` is how
   * many tokens the caller may still take, this one included (a chain never chooses more).
   */
  async next(tokens: readonly number[], wanted: number): Promise<number> {
    const ahead = this.#ahead.shift();
    if (ahead !== undefined) return ahead;
    const room = this.session.capacity - this.session.tokens.length - tokens.length + 1;
    const decode = tokens.length === 1;
    const steps = decode ? Math.max(1, Math.min(this.#length, wanted, room)) : 1;
    const t0 = performance.now();
    const [first, ...rest] = await this.session.evaluateArgmax(tokens, { signal: this.signal, steps });
    const msPerStep = (performance.now() - t0) / steps;
    // A full chain of decode steps says how long the next may be.
    if (decode && steps === this.#length) this.#length = Math.max(1, Math.min(2 * steps, this.#max, Math.floor(CHAIN_MS / msPerStep)));
    this.#ahead.push(...rest);
    return first!;
  }

  /** Whether the next token is already evaluated (the session's context needs no room for it). */
  get hasAhead(): boolean {
    return this.#ahead.length > 0;
  }

  /** Drops the chained tokens nobody consumed: the session holds what step-by-step decoding would. */
  settle(): void {
    this.session.truncate(this.session.tokens.length - this.#ahead.length);
    this.#ahead.length = 0;
  }
}
