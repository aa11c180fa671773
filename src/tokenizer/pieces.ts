/**
 * The bytes each token stands for (llama.cpp's token_to_piece), and the detokenizer's clean-up of
 * spaces before punctuation.
 */
import { fromByteLevel } from './byte-level.js';
import { TokenType, type Vocab } from './vocab.js';

const EMPTY = new Uint8Array(0);
const utf8 = new TextEncoder();

export class TokenPieces {
  readonly #vocab: Vocab;
  readonly #cache: (Uint8Array | undefined)[];

  constructor(vocab: Vocab) {
    this.#vocab = vocab;
    this.#cache = new Array<Uint8Array | undefined>(vocab.tokens.length);
  }

  /** The piece of a valid id; control and unknown tokens give nothing unless `special`. */
  bytes(id: number, special: boolean): Uint8Array {
    const type = this.#vocab.types[id]!;
    if (!special && (type === TokenType.CONTROL || type === TokenType.UNKNOWN)) return EMPTY;
    let piece = this.#cache[id];
    if (piece === undefined) this.#cache[id] = piece = this.#build(id, type);
    return piece;
  }

  #build(id: number, type: number): Uint8Array {
    const text = this.#vocab.tokens[id]!;
    switch (type) {
      case TokenType.CONTROL:
      case TokenType.UNKNOWN:
      case TokenType.USER_DEFINED:
        return utf8.encode(text);
      case TokenType.NORMAL:
        return this.#vocab.model === 'gpt2' ? fromByteLevel(text) : utf8.encode(text.replaceAll('\u2581', ' '));
      case TokenType.BYTE: {
        const match = /^<0x([0-9A-Fa-f]{2})>$/.exec(text);
        return match ? Uint8Array.of(parseInt(match[1]!, 16)) : EMPTY;
      }
      default:
        return EMPTY; // unused and undefined tokens render as nothing, as in llama.cpp
    }
  }
}

/** Every rewrite below starts at a space followed by one of these. */
const MAY_NEED_CLEANUP = / [?!.,']/;

/**
 * llama.cpp's `clean_spaces` pass over detokenized text: drops the space before `?`, `!`, `.`
 * and `,`; turns ` ' ` into `'`; and drops the space before `'s`, `'m`, `'re` and `'ve`.
 */
export function cleanUpSpaces(text: string): string {
  if (!MAY_NEED_CLEANUP.test(text)) return text;
  return text
    .replace(/ ([?!.,])/g, '$1')
    .replace(/ ' /g, "'")
    .replace(/ '(?=[sm]|re|ve)/g, "'");
}

/** The characters the clean-up reads; it never looks across a character outside this set. */
const CLEANUP_CHARS = new Set([' ', "'", '?', '!', '.', ',', 's', 'm', 'r', 'e', 'v']);

/**
 * How much of `text` the clean-up has settled even if more text follows: every rewrite
 * happens inside a run of CLEANUP_CHARS, so text up to the last other character is final.
 */
export function settledCleanUpLength(text: string): number {
  for (let i = text.length - 1; i >= 0; i--) {
    if (!CLEANUP_CHARS.has(text[i]!)) return i + 1;
  }
  return 0;
}
