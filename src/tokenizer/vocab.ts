/**
 * The vocabulary as a GGUF file stores it: token texts, SentencePiece scores, token types and
 * BPE merges, read once into lookup structures that every tokenizer session shares.
 */
import { WasmChordError } from '../errors.js';
import type { GGUFMetadata } from '../gguf/metadata.js';

/** `tokenizer.ggml.token_type` values (llama.cpp's llama_token_type). */
export const TokenType = {
  UNDEFINED: 0,
  NORMAL: 1,
  UNKNOWN: 2,
  CONTROL: 3,
  USER_DEFINED: 4,
  UNUSED: 5,
  BYTE: 6,
} as const;

export type TokenTypeName = 'undefined' | 'normal' | 'unknown' | 'control' | 'user-defined' | 'unused' | 'byte';

const TYPE_NAMES: readonly TokenTypeName[] = ['undefined', 'normal', 'unknown', 'control', 'user-defined', 'unused', 'byte'];

export function tokenTypeName(type: number): TokenTypeName {
  return TYPE_NAMES[type] ?? 'undefined';
}

/** The three tokenizer algorithms, named by their `tokenizer.ggml.model` value. */
export type TokenizerModel = 'llama' | 'gpt2' | 'bert';

const SUPPORTED_MODELS: readonly string[] = ['llama', 'gpt2', 'bert'];

export interface Vocab {
  readonly model: TokenizerModel;
  readonly tokens: readonly string[];
  /** Token text to id. When a text repeats, the last id wins (as in llama.cpp c392e50). */
  readonly idOf: ReadonlyMap<string, number>;
  /** SentencePiece scores (zeros when the file has none). */
  readonly scores: Float32Array;
  /** Token types; special-token detection may turn some into CONTROL, so this is a private copy. */
  readonly types: Uint8Array;
  /** Longest token text in UTF-16 code units (WordPiece bounds its search with it). */
  readonly maxTokenLength: number;
}

export function readVocab(metadata: GGUFMetadata): Vocab {
  const model = metadata.requireString('tokenizer.ggml.model');
  if (!SUPPORTED_MODELS.includes(model)) {
    throw new WasmChordError(
      'TOKENIZER_UNSUPPORTED',
      `tokenizer model "${model}" is not supported (supported: ${SUPPORTED_MODELS.join(', ')})`,
    );
  }
  const tokens = metadata.getStringArray('tokenizer.ggml.tokens');
  if (tokens === undefined || tokens.length === 0) {
    throw new WasmChordError('GGUF_MALFORMED', 'the file has no tokenizer.ggml.tokens: it carries no vocabulary');
  }
  const n = tokens.length;
  const scores = new Float32Array(n);
  const rawScores = metadata.getNumberArray('tokenizer.ggml.scores');
  if (rawScores !== undefined) {
    if (rawScores.length < n) throw lengthMismatch('tokenizer.ggml.scores', rawScores.length, n);
    for (let i = 0; i < n; i++) scores[i] = rawScores[i]!;
  }
  const types = new Uint8Array(n).fill(TokenType.NORMAL);
  const rawTypes = metadata.getNumberArray('tokenizer.ggml.token_type');
  if (rawTypes !== undefined) {
    if (rawTypes.length < n) throw lengthMismatch('tokenizer.ggml.token_type', rawTypes.length, n);
    for (let i = 0; i < n; i++) {
      const t = rawTypes[i]!;
      types[i] = t >= TokenType.NORMAL && t <= TokenType.BYTE ? t : TokenType.UNDEFINED;
    }
  }
  const idOf = new Map<string, number>();
  let maxTokenLength = 0;
  for (let i = 0; i < n; i++) {
    const text = tokens[i]!;
    if (text.length === 0) continue; // an empty token can never match input
    idOf.set(text, i);
    if (text.length > maxTokenLength) maxTokenLength = text.length;
  }
  return { model: model as TokenizerModel, tokens, idOf, scores, types, maxTokenLength };
}

function lengthMismatch(key: string, got: number, want: number): WasmChordError {
  return new WasmChordError('GGUF_MALFORMED', `${key} has ${got} entries but the vocabulary has ${want} tokens`);
}

/** The id of `<0xXX>` byte tokens by byte value (SentencePiece byte fallback); -1 where absent. */
export function byteTokenIds(vocab: Vocab): Int32Array {
  const ids = new Int32Array(256).fill(-1);
  for (let b = 0; b < 256; b++) {
    const id = vocab.idOf.get(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
    if (id !== undefined) ids[b] = id;
  }
  return ids;
}
