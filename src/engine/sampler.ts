/**
 * The sampling chain, in llama.cpp's default order: logit bias -> repetition penalties ->
 * top-k -> top-p -> min-p -> temperature -> draw from the softmax with a seeded PRNG.
 * Temperature 0 is greedy (argmax, ties to the lowest id) after bias and penalties.
 * A grammar's allowed-token mask, when given, comes before all of them (as in llama.cpp).
 */
import { WasmChordError } from '../errors.js';
import { checkNumber, optionalNumber } from '../validate.js';
import { randomSeed, Rng } from './rng.js';

export interface SamplingOptions {
  /** 0 is greedy. Default 0.8. */
  temperature?: number;
  /** Keep the k most likely tokens; 0 disables. Default 40. */
  topK?: number;
  /** Keep the smallest set whose probability reaches p; 1 disables. Default 0.95. */
  topP?: number;
  /** Drop tokens less likely than minP times the most likely one; 0 disables. Default 0.05. */
  minP?: number;
  /** Divides positive (multiplies negative) logits of recent tokens; 1 disables. Default 1. */
  repeatPenalty?: number;
  /** Subtracted once per occurrence of a recent token. Default 0. */
  frequencyPenalty?: number;
  /** Subtracted once from any recent token. Default 0. */
  presencePenalty?: number;
  /** How many recent tokens the penalties look at; 0 disables them. Default 64. */
  penaltyLastN?: number;
  /** Added to the logit of each token id; -Infinity bans a token. */
  logitBias?: Record<number, number> | ReadonlyMap<number, number>;
  /** PRNG seed; the same seed, model, prompt and options give the same tokens. Random if absent. */
  seed?: number;
}

export const SAMPLING_OPTION_KEYS = [
  'temperature', 'topK', 'topP', 'minP', 'repeatPenalty', 'frequencyPenalty', 'presencePenalty',
  'penaltyLastN', 'logitBias', 'seed',
] as const;

interface ResolvedSampling {
  temperature: number;
  topK: number;
  topP: number;
  minP: number;
  repeatPenalty: number;
  frequencyPenalty: number;
  presencePenalty: number;
  penaltyLastN: number;
  logitBias: [number, number][];
  seed: number;
}

/** The k largest entries of x (ties to the lower id), unordered, in O(n log k) with a min-heap. */
export function selectTopK(x: Float32Array | Float64Array, k: number): number[] {
  const heap: number[] = [];
  // a ranks below b when its value is smaller, or equal with a larger id.
  const below = (a: number, b: number) => x[a]! < x[b]! || (x[a] === x[b] && a > b);
  const siftDown = (i: number) => {
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < heap.length && below(heap[l]!, heap[m]!)) m = l;
      if (r < heap.length && below(heap[r]!, heap[m]!)) m = r;
      if (m === i) return;
      [heap[i], heap[m]] = [heap[m]!, heap[i]!];
      i = m;
    }
  };
  for (let id = 0; id < x.length; id++) {
    if (heap.length < k) {
      heap.push(id);
      for (let i = heap.length - 1; i > 0; ) {
        const parent = (i - 1) >> 1;
        if (!below(heap[i]!, heap[parent]!)) break;
        [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
        i = parent;
      }
    } else if (below(heap[0]!, id)) {
      heap[0] = id;
      siftDown(0);
    }
  }
  return heap;
}

function resolve(o: SamplingOptions): ResolvedSampling {
  if (typeof o !== 'object' || o === null) throw new WasmChordError('INVALID_ARGUMENT', 'sampling options must be an object');
  if (o.logitBias !== undefined && (typeof o.logitBias !== 'object' || o.logitBias === null)) {
    throw new WasmChordError('INVALID_ARGUMENT', `option logitBias must be an object or a Map of token id -> bias (got ${String(o.logitBias)})`);
  }
  const bias = o.logitBias === undefined ? [] : o.logitBias instanceof Map ? [...o.logitBias] : Object.entries(o.logitBias);
  return {
    temperature: optionalNumber('temperature', o.temperature, 0.8, { min: 0, max: 1e6 }),
    topK: optionalNumber('topK', o.topK, 40, { min: 0, integer: true }),
    topP: optionalNumber('topP', o.topP, 0.95, { above: 0, max: 1 }),
    minP: optionalNumber('minP', o.minP, 0.05, { min: 0, max: 1 }),
    repeatPenalty: optionalNumber('repeatPenalty', o.repeatPenalty, 1, { above: 0 }),
    frequencyPenalty: optionalNumber('frequencyPenalty', o.frequencyPenalty, 0),
    presencePenalty: optionalNumber('presencePenalty', o.presencePenalty, 0),
    penaltyLastN: optionalNumber('penaltyLastN', o.penaltyLastN, 64, { min: 0, integer: true }),
    logitBias: bias.map(([id, b]) => [
      checkNumber('logitBias token id', Number(id), { min: 0, integer: true }),
      checkNumber(`logitBias[${id}]`, b, { max: Infinity }),
    ]),
    seed: o.seed === undefined ? randomSeed() : checkNumber('seed', o.seed, { min: 0, max: 2 ** 32 - 1, integer: true }),
  };
}

/** Index of the largest value; ties go to the lowest index; NaN never wins. */
export function argmax(values: ArrayLike<number>): number {
  let best = 0;
  let bestValue = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v > bestValue) {
      bestValue = v;
      best = i;
    }
  }
  return best;
}

/**
 * Throws MODEL_INVALID when `logits` hold NaN or +Infinity: a model whose weights or
 * hyper-parameters are broken (NaN weights, a zero RoPE base, ...) would otherwise generate
 * token 0 forever, silently. -Infinity is a legitimate (banned) logit.
 */
export function checkLogits(logits: ArrayLike<number>): void {
  for (let i = 0; i < logits.length; i++) {
    if (!(logits[i]! < Infinity)) throw invalidLogit(logits[i]!, i);
  }
}

function invalidLogit(value: number, id: number): WasmChordError {
  return new WasmChordError(
    'MODEL_INVALID',
    `the model computed a logit of ${value} (token ${id}): its weights or hyper-parameters are invalid`,
  );
}

/** argmax that also refuses NaN and +Infinity with MODEL_INVALID (one pass for both). */
export function checkedArgmax(values: Float32Array): number {
  let best = 0;
  let bestValue = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v > bestValue) {
      if (v === Infinity) throw invalidLogit(v, i);
      bestValue = v;
      best = i;
    } else if (v !== v) throw invalidLogit(v, i);
  }
  return best;
}

/** Sets the logit of every token whose bit in `allowed` is clear to -Infinity. */
function applyMask(x: Float32Array, allowed: Uint32Array): void {
  for (let w = 0; w * 32 < x.length; w++) {
    const bits = allowed[w] ?? 0;
    if (bits === 0xffffffff) continue;
    const end = Math.min(x.length, w * 32 + 32);
    for (let id = w * 32; id < end; id++) if ((bits & (1 << (id & 31))) === 0) x[id] = -Infinity;
  }
}

export class Sampler {
  readonly options: Readonly<ResolvedSampling>;
  readonly #rng: Rng;
  #work = new Float32Array(0);
  #ids = new Int32Array(0);

  constructor(options: SamplingOptions = {}) {
    this.options = resolve(options);
    this.#rng = new Rng(this.options.seed);
  }

  get greedy(): boolean {
    return this.options.temperature === 0;
  }

  /**
   * Whether every choice is the plain argmax of the model's logits (greedy, no bias, no
   * penalties), which a backend can compute where the logits are (Session.evaluateArgmax).
   */
  get plainArgmax(): boolean {
    return this.greedy && this.options.logitBias.length === 0 && !this.#penalties;
  }

  /**
   * Picks the next token from `logits` (not modified). `history` is the context so far
   * (prompt and generated tokens); the penalties look at its last `penaltyLastN` entries.
   * `allowed`, a bitset over token ids (bit id & 31 of word id >> 5), bans every token whose
   * bit is clear before the rest of the chain runs.
   */
  sample(logits: Float32Array, history: readonly number[] = [], allowed?: Uint32Array): number {
    const o = this.options;
    const n = logits.length;
    const needsWork = o.logitBias.length > 0 || this.#penaltiesActive(history);
    if (this.greedy && !needsWork && !allowed) return checkedArgmax(logits);
    checkLogits(logits);

    if (this.#work.length !== n) {
      this.#work = new Float32Array(n);
      this.#ids = new Int32Array(n);
    }
    const x = this.#work;
    x.set(logits);
    if (allowed) applyMask(x, allowed);
    for (const [id, b] of o.logitBias) {
      if (id >= n) throw new WasmChordError('INVALID_ARGUMENT', `logitBias names token ${id}, but the vocabulary has ${n}`);
      x[id] = x[id]! + b;
    }
    this.#applyPenalties(x, history);
    if (this.greedy) return argmax(x);

    let count = this.#topK(x);
    count = this.#topP(x, count);
    count = this.#minP(x, count);
    return this.#draw(x, count);
  }

  #penaltiesActive(history: readonly number[]): boolean {
    return history.length > 0 && this.#penalties;
  }

  get #penalties(): boolean {
    const o = this.options;
    return o.penaltyLastN > 0 && (o.repeatPenalty !== 1 || o.frequencyPenalty !== 0 || o.presencePenalty !== 0);
  }

  #applyPenalties(x: Float32Array, history: readonly number[]): void {
    if (!this.#penaltiesActive(history)) return;
    const o = this.options;
    const counts = new Map<number, number>();
    for (let i = Math.max(0, history.length - o.penaltyLastN); i < history.length; i++) {
      const id = history[i]!;
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    for (const [id, c] of counts) {
      if (id < 0 || id >= x.length) continue;
      let v = x[id]!;
      v = v > 0 ? v / o.repeatPenalty : v * o.repeatPenalty;
      x[id] = v - c * o.frequencyPenalty - o.presencePenalty;
    }
  }

  /** Sorts candidate ids by logit, keeping the top k (all when k is 0); returns the count. */
  #topK(x: Float32Array): number {
    const k = this.options.topK;
    const kept = k > 0 && k < x.length ? selectTopK(x, k) : Array.from(x.keys()).filter((i) => x[i]! > -Infinity);
    // Ties keep the lower id first, so the kept set does not depend on the sort implementation.
    kept.sort((a, b) => x[b]! - x[a]! || a - b);
    let count = kept.length;
    while (count > 0 && x[kept[count - 1]!] === -Infinity) count--;
    if (count === 0) {
      // Banned by the caller's logitBias, or by the model itself (a broken file).
      const code = this.options.logitBias.length > 0 ? 'INVALID_ARGUMENT' : 'MODEL_INVALID';
      throw new WasmChordError(code, 'every token is banned (all logits are -Infinity)');
    }
    this.#ids.set(kept.slice(0, count));
    return count;
  }

  #topP(x: Float32Array, count: number): number {
    const p = this.options.topP;
    if (p >= 1 || count <= 1) return count;
    const ids = this.#ids;
    const max = x[ids[0]!]!;
    let total = 0;
    for (let i = 0; i < count; i++) total += Math.exp(x[ids[i]!]! - max);
    let cumulative = 0;
    for (let i = 0; i < count; i++) {
      cumulative += Math.exp(x[ids[i]!]! - max) / total;
      if (cumulative >= p) return i + 1;
    }
    return count;
  }

  #minP(x: Float32Array, count: number): number {
    const m = this.options.minP;
    if (m <= 0 || count <= 1) return count;
    const ids = this.#ids;
    const threshold = x[ids[0]!]! + Math.log(m);
    let keep = 1;
    while (keep < count && x[ids[keep]!]! >= threshold) keep++;
    return keep;
  }

  #draw(x: Float32Array, count: number): number {
    const ids = this.#ids;
    const t = this.options.temperature;
    const max = x[ids[0]!]! / t;
    let total = 0;
    const weights = new Float64Array(count);
    for (let i = 0; i < count; i++) {
      weights[i] = Math.exp(x[ids[i]!]! / t - max);
      total += weights[i]!;
    }
    let r = this.#rng.nextFloat() * total;
    for (let i = 0; i < count; i++) {
      r -= weights[i]!;
      if (r < 0) return ids[i]!;
    }
    return ids[count - 1]!;
  }
}
