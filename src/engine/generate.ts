/**
 * The generation loop: ingest the prompt (reusing whatever prefix the session already holds),
 * then sample, stream text and decide when to stop (end-of-generation token, stop string,
 * token budget, abort).
 */
import { WasmChordError } from '../errors.js';
import { throwIfAborted } from '../gguf/byte-source.js';
import { checkNumber } from '../validate.js';
import { Sampler, type SamplingOptions } from './sampler.js';
import type { Session } from './session.js';
import { StopStringFilter } from './stop-strings.js';

/** What the loop needs from a tokenizer. */
export interface GenerationTokenizer {
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
  signal?: AbortSignal;
}

export type StopReason = 'eos' | 'stop' | 'length';

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
  const sample: SamplerFunction = options.sampler ?? samplerFunction(new Sampler(options));
  const stop = new StopStringFilter(options.stop ?? []);
  // The text continues the prompt, so a leading space is kept (" upon" after "Once"), unlike
  // detokenizing the generated ids on their own.
  const decoder = tokenizer.createStreamDecoder({ skipSpecial: true, stripLeadingSpace: false });
  const signal = options.signal;

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
      if (n + 1 < maxTokens) logits = await session.evaluate([token], { signal });
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

function samplerFunction(sampler: Sampler): SamplerFunction {
  return (logits, history) => sampler.sample(logits, history);
}
