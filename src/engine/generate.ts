/**
 * The generation loop: ingest the prompt (reusing whatever prefix the session already holds),
 * then sample, stream text and decide when to stop (end-of-generation token, stop string,
 * token budget, a full context, abort). With context shift, a full context makes room instead.
 */
import { WasmChordError } from '../errors.js';
import { throwIfAborted } from '../gguf/byte-source.js';
import { checkBoolean, checkFunction, checkKnownKeys, checkNumber, checkSignal, checkStringArray } from '../validate.js';
import { checkLogits, Sampler, type SamplingOptions } from './sampler.js';
import type { Session } from './session.js';
import { StopStringFilter } from './stop-strings.js';

/** What the loop needs from a tokenizer. */
export interface GenerationTokenizer {
  readonly bos?: number;
  isEndOfGeneration(id: number): boolean;
  createStreamDecoder(options?: { skipSpecial?: boolean; stripLeadingSpace?: boolean }): {
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
  /** Replace the sampling chain. */
  sampler?: SamplerFunction;
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
}

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
  checkSignal('signal', options.signal);
  const vocab = session.model.vocabSize;
  const sample: SamplerFunction = options.sampler ? customSampler(options.sampler, vocab) : samplerFunction(new Sampler(options));
  const stop = new StopStringFilter(checkStringArray('stop', options.stop) ?? []);
  // The text continues the prompt, so a leading space is kept (" upon" after "Once"), unlike
  // detokenizing the generated ids on their own.
  const decoder = tokenizer.createStreamDecoder({ skipSpecial: true, stripLeadingSpace: false });
  const signal = options.signal;
  const shift = checkContextShift(options.contextShift);
  // Prompt tokens that a context shift never drops.
  const nKeep = Math.min(shift?.nKeep ?? (prompt[0] === tokenizer.bos ? 1 : 0), prompt.length);

  // Keep the cached prefix; at least the last prompt token is evaluated, for its logits.
  let keep = 0;
  const cached = session.tokens;
  while (keep < cached.length && keep < prompt.length - 1 && cached[keep] === prompt[keep]) keep++;
  session.truncate(keep);
  stats.promptTokens = prompt.length;
  stats.reusedTokens = keep;
  let t0 = performance.now();
  let logits = await session.evaluate(prompt.slice(keep), { signal });
  stats.prefillMs = performance.now() - t0;
  t0 = performance.now();

  const history = [...prompt];
  let reason: StopReason = 'length';
  try {
    for (let n = 0; n < maxTokens; n++) {
      throwIfAborted(signal);
      const token = sample(logits, history);
      if (!options.ignoreEos && tokenizer.isEndOfGeneration(token)) {
        reason = 'eos';
        break;
      }
      history.push(token);
      stats.generatedTokens++;
      const { text, stopped } = stop.push(decoder.push(token));
      yield { token, text };
      if (stopped) return 'stop';
      if (n + 1 === maxTokens) break;
      if (session.tokens.length >= session.capacity && !(shift && (await shiftContext(session, nKeep)))) {
        reason = 'context';
        break;
      }
      logits = await session.evaluate([token], { signal });
    }
  } finally {
    stats.decodeMs = performance.now() - t0;
  }
  // Text held back (an unfinished character, a possible stop string) is now final.
  const flushed = stop.push(decoder.flush());
  const tail = flushed.text + (flushed.stopped ? '' : stop.flush());
  if (tail) yield { text: tail };
  return flushed.stopped ? 'stop' : reason;
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

function samplerFunction(sampler: Sampler): SamplerFunction {
  return (logits, history) => sampler.sample(logits, history);
}

/** A caller's sampler: it sees checked logits, and must answer a token id of the vocabulary. */
function customSampler(sampler: SamplerFunction, vocab: number): SamplerFunction {
  return (logits, history) => {
    checkLogits(logits);
    const id = sampler(logits, history);
    if (!Number.isInteger(id) || id < 0 || id >= vocab) {
      throw new WasmChordError('INVALID_ARGUMENT', `the sampler returned ${String(id)}, which is not a token id (0..${vocab - 1})`);
    }
    return id;
  };
}
