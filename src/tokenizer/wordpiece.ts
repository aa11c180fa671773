/**
 * WordPiece (`tokenizer.ggml.model = "bert"`), as llama.cpp runs it on converted BERT vocabularies,
 * where word-initial pieces carry a U+2581 prefix and continuation pieces carry none ("##" dropped).
 *
 * Normalisation: each code point is replaced by the first code point of its NFD form (which drops
 * combining accents of precomposed letters) and lower-cased; whitespace separates words; control
 * characters, NUL and U+FFFD are dropped; punctuation, ASCII symbols and CJK ideographs become
 * words of their own. Each word is then matched greedily, longest piece first; a word that cannot
 * be spelled entirely becomes one UNK token.
 */
import type { Vocab } from './vocab.js';

const WHITESPACE = /\p{White_Space}/u;
/** General category C except unassigned (Cn). */
const CONTROL = /[\p{Cc}\p{Cf}\p{Co}\p{Cs}]/u;
const PUNCTUATION = /\p{P}/u;
const SYMBOL = /\p{S}/u;

/** The CJK ideograph blocks BERT's basic tokenizer isolates (with its 0x2B920 typo kept). */
function isChineseChar(cp: number): boolean {
  return (
    (cp >= 0x4e00 && cp <= 0x9fff) ||
    (cp >= 0x3400 && cp <= 0x4dbf) ||
    (cp >= 0x20000 && cp <= 0x2a6df) ||
    (cp >= 0x2a700 && cp <= 0x2b73f) ||
    (cp >= 0x2b740 && cp <= 0x2b81f) ||
    (cp >= 0x2b920 && cp <= 0x2ceaf) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0x2f800 && cp <= 0x2fa1f)
  );
}

function firstCodePoint(s: string): string {
  return String.fromCodePoint(s.codePointAt(0)!);
}

function splitBertWords(text: string): string[] {
  const words: string[] = [];
  let word = '';
  const finish = () => {
    if (word.length > 0) words.push(word);
    word = '';
  };
  for (const original of text) {
    const ch = firstCodePoint(original.normalize('NFD'));
    const cp = ch.codePointAt(0)!;
    if (WHITESPACE.test(ch)) {
      finish();
      continue;
    }
    if (cp === 0 || cp === 0xfffd || CONTROL.test(ch)) continue;
    const lower = firstCodePoint(ch.toLowerCase());
    if (PUNCTUATION.test(ch) || (cp < 0x7f && SYMBOL.test(ch)) || isChineseChar(cp)) {
      finish();
      words.push(lower);
    } else {
      word += lower;
    }
  }
  finish();
  return words;
}

export class WordPieceModel {
  readonly #vocab: Vocab;
  readonly #unk: number | undefined;

  constructor(vocab: Vocab, unk: number | undefined) {
    this.#vocab = vocab;
    this.#unk = unk;
  }

  encode(text: string, out: number[]): void {
    const { idOf, maxTokenLength } = this.#vocab;
    for (const bare of splitBertWords(text)) {
      const word = `\u2581${bare}`;
      const before = out.length;
      for (let i = 0; i < word.length; ) {
        let end = Math.min(word.length, i + maxTokenLength);
        let id: number | undefined;
        for (; end > i; end--) {
          id = idOf.get(word.slice(i, end));
          if (id !== undefined) break;
        }
        if (id === undefined) {
          out.length = before; // the whole word fails
          break;
        }
        out.push(id);
        i = end;
      }
      if (out.length === before && this.#unk !== undefined) out.push(this.#unk);
    }
  }
}
