/**
 * The tokenizer.ggml.* metadata of a SentencePiece ("llama") vocabulary whose ids 0, 1 and 2 are
 * unknown, BOS and EOS: what the GGUF files we write ourselves carry (the demo model, and the
 * models of tests and benchmarks), in one place.
 */
import { kv, type GGUFKeyValue } from '../gguf/metadata.js';

export interface SpmVocabulary {
  readonly tokens: readonly string[];
  readonly scores: readonly number[];
  /** llama_token_type per token (1 normal, 2 unknown, 3 control, 6 byte). */
  readonly types: readonly number[];
}

export function spmVocabularyEntries(vocab: SpmVocabulary, flags: { addBos?: boolean; addEos?: boolean } = {}): [string, GGUFKeyValue][] {
  const entries: [string, GGUFKeyValue][] = [
    ['tokenizer.ggml.model', kv.string('llama')],
    ['tokenizer.ggml.tokens', kv.stringArray(vocab.tokens)],
    ['tokenizer.ggml.scores', kv.f32Array(vocab.scores)],
    ['tokenizer.ggml.token_type', kv.i32Array(vocab.types)],
    ['tokenizer.ggml.unknown_token_id', kv.u32(0)],
    ['tokenizer.ggml.bos_token_id', kv.u32(1)],
    ['tokenizer.ggml.eos_token_id', kv.u32(2)],
  ];
  if (flags.addBos !== undefined) entries.push(['tokenizer.ggml.add_bos_token', kv.bool(flags.addBos)]);
  if (flags.addEos !== undefined) entries.push(['tokenizer.ggml.add_eos_token', kv.bool(flags.addEos)]);
  return entries;
}

/**
 * The first 259 tokens of the vocabularies we write: <unk>, <s>, </s> (ids 0, 1, 2, as
 * `spmVocabularyEntries` declares them) and the 256 byte-fallback tokens <0x00>..<0xFF>, with
 * their token types. Callers append their pieces.
 */
export function spmBaseTokens(): { tokens: string[]; types: number[] } {
  const tokens = ['<unk>', '<s>', '</s>'];
  const types = [2, 3, 3];
  for (let b = 0; b < 256; b++) {
    tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
    types.push(6);
  }
  return { tokens, types };
}

/**
 * The metadata of an SPM vocabulary of `size` tokens: the three specials, the 256 byte tokens,
 * then filler pieces (for models whose text does not matter: speed benchmarks, memory plans).
 */
export function fillerSpmVocabularyEntries(size: number): [string, GGUFKeyValue][] {
  const { tokens, types } = spmBaseTokens();
  for (let i = tokens.length; i < size; i++) {
    tokens.push(`\u2581t${i}`);
    types.push(1);
  }
  return spmVocabularyEntries({ tokens, scores: tokens.map((_, i) => -i), types });
}
