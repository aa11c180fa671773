/**
 * The generation loop: ingest the prompt (reusing whatever prefix the session already holds),
 * then sample, stream text and decide when to stop (end-of-generation token, stop string,
 * token budget, a full context, abort). With context shift, a full context makes room instead.
 */
import { WasmChordError } from '../errors.js';
import { throwIfAborted } from '../gguf/byte-source.js';
import { checkBoolean, checkFunction, checkKnownKeys, checkNumber, checkSignal, checkString, checkStringArray, describe } from '../validate.js';
import { grammarVocabulary, TokenConstraint, type ConstraintTokenizer } from './grammar/constraint.js';
import { jsonSchemaToGrammar } from './grammar/json-schema.js';
import { parseGrammar } from './grammar/parser.js';
import { GreedyChain } from './greedy-chain.js';
import { checkLogits, Sampler, selectTopK, type SamplingOptions } from './sampler.js';
import type { Session } from './session.js';
import { StopStringFilter } from './stop-strings.js';

/** What the loop needs from a tokenizer (the token pieces and types serve grammars). */
export interface GenerationTokenizer extends ConstraintTokenizer {
  readonly bos?: number;
  isEndOfGeneration(id: number): boolean;
  createStreamDecoder(options?: { skipSpecial?: boolean; stripLeadingSpace?: boolean; cleanSpaces?: boolean }): {
    push(id: number): string;
    flush(): string;
  };
}

/** A custom sampler: picks the next token from the logits and the context so far. */
export type SamplerFunction = (logits: Float32Array, history: readonly number[]) => number;

export interface GenerateOptions extends SamplingOptions {
  /** Most tokens to generate. Default 256. */
  maxTokens?: number;
  /** Generation ends before the first occurrence of any of these strings (not emitted). */
  stop?: readonly string[];
  /** Keep going past end-of-generation tokens. Default false. */
  ignoreEos?: boolean;
  /** Replace the sampling chain (not with `grammar` or `jsonSchema`). */
  sampler?: SamplerFunction;
  /**
   * A GBNF grammar (llama.cpp's format, starting at rule `root`): only tokens that keep the
   * text a prefix of a sentence of the grammar are sampled, and generation ends ('eos') when
   * the sentence is complete and the model picks an end-of-generation token, or when nothing
   * can follow. With ignoreEos, only the latter ends it.
   */
  grammar?: string;
  /** A JSON Schema the output must validate against (converted to a grammar; not with `grammar`). */
  jsonSchema?: object | boolean;
  /**
   * Report with each step the sampled token's log-probability under the model (the log-softmax
   * of its logits, before any sampling step changes them) and the `logprobs` most likely tokens
   * (0-20).
   */
  logprobs?: number;
  /** Write special tokens (e.g. `<|python_tag|>`) into the text instead of skipping them. Default false. */
  special?: boolean;
  /**
   * When the context is full: false ends generation (stopReason 'context'); true or { nKeep }
   * keeps the first nKeep tokens, drops the oldest half of the rest and goes on (llama.cpp's
   * context shift). Needs RoPE in every layer; otherwise generation ends with 'context'.
   */
  contextShift?: ContextShift;
  signal?: AbortSignal;
}

/**
 * Context shift settings. nKeep (at most the prompt's length) defaults to 1 when the prompt
 * starts with the BOS token, else 0: like llama.cpp's CLI, which keeps the BOS it added.
 */
export type ContextShift = boolean | { readonly nKeep?: number };

/** 'context': the context filled up (no context shift, or one was impossible). */
export type StopReason = 'eos' | 'stop' | 'length' | 'context';

export interface GenerationStats {
  promptTokens: number;
  /** Prompt tokens that were already in the KV cache and were not evaluated again. */
  reusedTokens: number;
  generatedTokens: number;
  prefillMs: number;
  decodeMs: number;
}

/**
 * One streamed step: the sampled token and the text it completed (may be empty). The last step
 * may carry only text: what was held back until generation ended.
 */
export interface GenerationStep {
  token?: number;
  text: string;
  /** With the `logprobs` option: the token's log-probability and the most likely alternatives. */
  logprobs?: StepLogprobs;
}

export interface TokenLogprob {
  readonly token: number;
  readonly logprob: number;
}

export interface StepLogprobs extends TokenLogprob {
  /** The most likely tokens, most likely first (ties: lower id first). */
  readonly top: readonly TokenLogprob[];
}

export const MAX_LOGPROBS = 20;

/** Runs generation, yielding each step; returns why it stopped. */
export async function* generate(
  session: Session,
  tokenizer: GenerationTokenizer,
  prompt: readonly number[],
  options: GenerateOptions,
  stats: GenerationStats,
): AsyncGenerator<GenerationStep, StopReason> {
  const maxTokens = options.maxTokens === undefined ? 256 : checkNumber('maxTokens', options.maxTokens, { min: 0, integer: true });
  if (prompt.length === 0) throw new WasmChordError('INVALID_ARGUMENT', 'the prompt is empty (no tokens)');
  checkFunction('sampler', options.sampler);
  checkBoolean('ignoreEos', options.ignoreEos);
  checkBoolean('special', options.special);
  checkSignal('signal', options.signal);
  const topLogprobs = options.logprobs === undefined ? undefined : checkNumber('logprobs', options.logprobs, { min: 0, max: MAX_LOGPROBS, integer: true });
  const vocab = session.model.vocabSize;
  const constraint = grammarConstraint(options, tokenizer, vocab);
  const sampler = options.sampler ? undefined : new Sampler(options);
  const sample: MaskedSampler = sampler ? samplerFunction(sampler) : customSampler(options.sampler!, vocab);
  const stop = new StopStringFilter(checkStringArray('stop', options.stop) ?? []);
  // The text continues the prompt, so a leading space is kept (" upon" after "Once"), unlike
  // detokenizing the generated ids on their own. Under a grammar the text is exactly the
  // pieces it matched: no clean-up of spaces before punctuation.
  const decoder = tokenizer.createStreamDecoder({ skipSpecial: !options.special, stripLeadingSpace: false, ...(constraint && { cleanSpaces: false }) });
  const signal = options.signal;
  const shift = checkContextShift(options.contextShift);
  // Prompt tokens that a context shift never drops.
  const nKeep = Math.min(shift?.nKeep ?? (prompt[0] === tokenizer.bos ? 1 : 0), prompt.length);
  // Plain greedy decoding needs only the logits' argmax: the backend chooses the tokens, in chains
  // (a GPU then reads back token ids, not logits).
  const greedy = sampler?.plainArgmax && !constraint && topLogprobs === undefined ? new GreedyChain(session, signal) : undefined;
  // Our sampler reads each step's logits before the next: one array serves every step. A
  // caller's sampler gets an array of its own each step, which it may keep.
  const output = sampler && !greedy ? new Float32Array(vocab) : undefined;
  // The logits after `tokens`, or (greedy) the token they choose; `wanted`: tokens still to come, that one included.
  const evaluate = (tokens: readonly number[], wanted: number): Promise<Float32Array | number> =>
    greedy ? greedy.next(tokens, wanted) : session.evaluate(tokens, { signal, output });

  // Keep the cached prefix; at least the last prompt token is evaluated, for its logits.
  let keep = 0;
  const cached = session.tokens;
  while (keep < cached.length && keep < prompt.length - 1 && cached[keep] === prompt[keep]) keep++;
  session.truncate(keep);
  stats.promptTokens = prompt.length;
  stats.reusedTokens = keep;
  let t0 = performance.now();
  let logits = await evaluate(prompt.slice(keep), maxTokens);
  stats.prefillMs = performance.now() - t0;
  t0 = performance.now();

  const history = [...prompt];
  let reason: StopReason = 'length';
  let distribution: Float64Array | undefined;
  try {
    for (let n = 0; n < maxTokens; n++) {
      throwIfAborted(signal);
      const allowed = constraint?.mask();
      if (constraint && !allowed) {
        // Complete, and no token of the vocabulary can continue: as if the model had ended.
        reason = 'eos';
        break;
      }
      // The model's distribution, read before the sampler sees the logits (one buffer per generation).
      if (topLogprobs !== undefined) distribution = logSoftmax(logits as Float32Array, distribution);
      const token = typeof logits === 'number' ? logits : sample(logits, history, allowed);
      if (!options.ignoreEos && tokenizer.isEndOfGeneration(token)) {
        reason = 'eos';
        break;
      }
      constraint?.accept(token);
      history.push(token);
      stats.generatedTokens++;
      const { text, stopped } = stop.push(decoder.push(token));
      yield distribution ? { token, text, logprobs: stepLogprobs(distribution, token, topLogprobs!) } : { token, text };
      if (stopped) return 'stop';
      if (constraint?.finished) {
        // Nothing can follow in the grammar: end now, without evaluating another token.
        reason = 'eos';
        break;
      }
      if (n + 1 === maxTokens) break;
      if (!greedy?.hasAhead && session.tokens.length >= session.capacity && !(shift && (await shiftContext(session, nKeep)))) {
        reason = 'context';
        break;
      }
      logits = await evaluate([token], maxTokens - n - 1);
    }
  } finally {
    greedy?.settle();
    stats.decodeMs = performance.now() - t0;
  }
  // Text held back (an unfinished character, a possible stop string) is now final.
  const flushed = stop.push(decoder.flush());
  const tail = flushed.text + (flushed.stopped ? '' : stop.flush());
  if (tail) yield { text: tail };
  return flushed.stopped ? 'stop' : reason;
}

/** log(softmax(logits)), summed in f64, into `out` when it has the right length. */
function logSoftmax(logits: Float32Array, out?: Float64Array): Float64Array {
  let max = -Infinity;
  for (const x of logits) if (x > max) max = x;
  let sum = 0;
  for (const x of logits) sum += Math.exp(x - max);
  const offset = max + Math.log(sum);
  if (out?.length !== logits.length) out = new Float64Array(logits.length);
  for (let i = 0; i < logits.length; i++) out[i] = logits[i]! - offset;
  return out;
}

function stepLogprobs(distribution: Float64Array, token: number, count: number): StepLogprobs {
  const top = selectTopK(distribution, count).sort((a, b) => distribution[b]! - distribution[a]! || a - b);
  return { token, logprob: distribution[token]!, top: top.map((id) => ({ token: id, logprob: distribution[id]! })) };
}

/**
 * llama.cpp's context shift: keep the first nKeep tokens, drop half of the rest (the oldest).
 * False when nothing can be dropped or the cache cannot be re-positioned (no RoPE).
 */
async function shiftContext(session: Session, nKeep: number): Promise<boolean> {
  const used = session.tokens.length;
  const discard = Math.floor((used - nKeep) / 2);
  if (discard < 1 || !session.canShift) return false;
  await session.shift(nKeep, discard);
  return true;
}

/** Checks a contextShift option; undefined when shifting is off. */
export function checkContextShift(value: unknown): { nKeep?: number } | undefined {
  if (value === undefined || value === false) return undefined;
  if (value === true) return {};
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new WasmChordError('INVALID_ARGUMENT', `option contextShift must be a boolean or { nKeep } (got ${String(value)})`);
  }
  checkKnownKeys('contextShift', value, ['nKeep']);
  const nKeep = (value as { nKeep?: unknown }).nKeep;
  return nKeep === undefined ? {} : { nKeep: checkNumber('contextShift.nKeep', nKeep, { min: 0, integer: true }) };
}

/** The grammar constraint of `grammar` or `jsonSchema`, checked; undefined when neither is set. */
function grammarConstraint(options: GenerateOptions, tokenizer: GenerationTokenizer, vocab: number): TokenConstraint | undefined {
  const { grammar, jsonSchema } = options;
  if (grammar === undefined && jsonSchema === undefined) return undefined;
  if (grammar !== undefined && jsonSchema !== undefined) {
    throw new WasmChordError('INVALID_ARGUMENT', 'options grammar and jsonSchema cannot be used together');
  }
  if (options.sampler !== undefined) {
    throw new WasmChordError('INVALID_ARGUMENT', 'a custom sampler cannot be used with a grammar or jsonSchema (the grammar masks the sampling chain\'s logits)');
  }
  if (jsonSchema !== undefined && typeof jsonSchema !== 'boolean' && (typeof jsonSchema !== 'object' || jsonSchema === null || Array.isArray(jsonSchema))) {
    throw new WasmChordError('INVALID_ARGUMENT', `option jsonSchema must be a JSON Schema object (got ${describe(jsonSchema)})`);
  }
  const text = grammar === undefined ? jsonSchemaToGrammar(jsonSchema) : checkString('grammar', grammar)!;
  return new TokenConstraint(parseGrammar(text), grammarVocabulary(tokenizer), vocab, !options.ignoreEos);
}

/** A sampler that may be given a grammar's allowed-token bitset (never a caller's sampler). */
type MaskedSampler = (logits: Float32Array, history: readonly number[], allowed?: Uint32Array) => number;

function samplerFunction(sampler: Sampler): MaskedSampler {
  return (logits, history, allowed) => sampler.sample(logits, history, allowed);
}

/** A caller's sampler: it sees checked logits, and must answer a token id of the vocabulary. */
function customSampler(sampler: SamplerFunction, vocab: number): MaskedSampler {
  return (logits, history) => {
    checkLogits(logits);
    const id = sampler(logits, history);
    if (!Number.isInteger(id) || id < 0 || id >= vocab) {
      throw new WasmChordError('INVALID_ARGUMENT', `the sampler returned ${String(id)}, which is not a token id (0..${vocab - 1})`);
    }
    return id;
  };
}
