/**
 * SentencePiece-style BPE (`tokenizer.ggml.model = "llama"`), as llama.cpp runs it.
 *
 * The text (spaces already escaped as U+2581) starts as one symbol per code point. Adjacent
 * symbols whose concatenation is a token merge, highest score first (ties: leftmost first),
 * through a priority queue. A final symbol that is not a token falls back to its UTF-8 bytes as
 * `<0xXX>` tokens.
 *
 * When no token has a U+2581 after another character (true of Llama-2's vocabulary), no merge
 * can join text across the start of a word, so each word is merged on its own (and cached): the
 * same result as merging the whole text at once, for a fraction of the work.
 *
 * Where llama.cpp throws (a character with no token and no byte tokens to spell it, as in the
 * TinyStories vocabularies), this tokenizer emits the UNK token for that character, which is
 * what SentencePiece itself does without byte fallback.
 */
import { PairTable } from './pair-table.js';
import { HandleHeap } from './priority-queue.js';
import { byteTokenIds, type Vocab } from './vocab.js';

const encoder = new TextEncoder();

const SPACE = 0x2581;
/** Words longer than this are not cached (they rarely repeat and would pin memory). */
const MAX_CACHED_WORD = 64;
const MAX_CACHE_ENTRIES = 32_768;

/** Whether a U+2581 follows another character in `text` (a token that joins across a word start). */
function startsWordInside(text: string): boolean {
  for (let i = text.indexOf('\u2581', 1); i > 0; i = text.indexOf('\u2581', i + 1)) {
    if (text.charCodeAt(i - 1) !== SPACE) return true;
  }
  return false;
}

export class SpmModel {
  readonly #vocab: Vocab;
  readonly #byteIds: Int32Array;
  readonly #unk: number;
  /** Token id of each single UTF-16 unit that is a token, -1 for the others. */
  readonly #unitTokens = new Int32Array(0x10000).fill(-1);
  #joins: PairTable | undefined;
  /** Whether words can be merged one at a time (see the module comment). */
  readonly #wordwise: boolean;
  readonly #cache = new Map<string, readonly number[]>();

  constructor(vocab: Vocab, unk: number) {
    this.#vocab = vocab;
    this.#byteIds = byteTokenIds(vocab);
    this.#unk = unk;
    let wordwise = true;
    // forEach, and a scan rather than a regular expression: a for-of over the map's entries and
    // a regex test per token made 5.6 MB of a TinyLlama load's garbage.
    vocab.idOf.forEach((id, text) => {
      if (text.length === 1) this.#unitTokens[text.charCodeAt(0)] = id;
      if (wordwise && startsWordInside(text)) wordwise = false;
    });
    this.#wordwise = wordwise;
  }

  /** Which token two adjacent tokens join into: every way of cutting each token in two. */
  #joinTable(): PairTable {
    if (this.#joins === undefined) {
      const { idOf } = this.#vocab;
      const joins = new PairTable(idOf.size * 4);
      for (const [text, id] of idOf) {
        for (let cut = 1; cut < text.length; cut++) {
          const left = idOf.get(text.slice(0, cut));
          if (left === undefined) continue;
          const right = idOf.get(text.slice(cut));
          if (right !== undefined) joins.setIfAbsent(left, right, id);
        }
      }
      this.#joins = joins;
    }
    return this.#joins;
  }

  /** Appends the ids of `text`, whose spaces are already escaped. */
  encode(text: string, out: number[]): void {
    if (!this.#wordwise) {
      this.#merge(text, out);
      return;
    }
    let start = 0;
    for (let i = 1; i < text.length; i++) {
      if (text.charCodeAt(i) === SPACE && text.charCodeAt(i - 1) !== SPACE) {
        this.#encodeWord(text.slice(start, i), out);
        start = i;
      }
    }
    this.#encodeWord(text.slice(start), out);
  }

  #encodeWord(word: string, out: number[]): void {
    let ids = this.#cache.get(word);
    if (ids === undefined) {
      const merged: number[] = [];
      this.#merge(word, merged);
      if (word.length <= MAX_CACHED_WORD) {
        if (this.#cache.size >= MAX_CACHE_ENTRIES) this.#cache.clear();
        this.#cache.set(word, merged);
      }
      ids = merged;
    }
    for (const id of ids) out.push(id);
  }

  #merge(text: string, out: number[]): void {
    const { idOf, scores } = this.#vocab;
    // Whole texts have many pairs to look up; single words are cheaper with string lookups.
    const joins = this.#wordwise ? undefined : this.#joinTable();
    const start: number[] = [];
    const length: number[] = [];
    const token: number[] = []; // the symbol's token id, -1 while it is a character with no token
    for (let i = 0; i < text.length; ) {
      const units = text.codePointAt(i)! > 0xffff ? 2 : 1;
      start.push(i);
      length.push(units);
      token.push(units === 1 ? this.#unitTokens[text.charCodeAt(i)]! : (idOf.get(text.slice(i, i + 2)) ?? -1));
      i += units;
    }
    const n = start.length;
    if (n === 0) return;
    const prev = new Int32Array(n);
    const next = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      prev[i] = i - 1;
      next[i] = i + 1 < n ? i + 1 : -1;
    }
    // Queued pairs, by handle: their left symbol, the joined token and the joined size.
    const pairLeft = new Int32Array(3 * n);
    const pairToken = new Int32Array(3 * n);
    const pairSize = new Int32Array(3 * n);
    let pairs = 0;
    const queue = new HandleHeap(3 * n, (a, b) => {
      const sa = scores[pairToken[a]!]!;
      const sb = scores[pairToken[b]!]!;
      return sa > sb || (sa === sb && pairLeft[a]! < pairLeft[b]!);
    });
    const tryPair = (left: number, right: number) => {
      if (left < 0 || right < 0) return;
      const size = length[left]! + length[right]!;
      const joined =
        joins !== undefined && token[left]! >= 0 && token[right]! >= 0
          ? joins.get(token[left]!, token[right]!)
          : (idOf.get(text.slice(start[left]!, start[left]! + size)) ?? -1);
      if (joined < 0) return;
      pairLeft[pairs] = left;
      pairToken[pairs] = joined;
      pairSize[pairs] = size;
      queue.push(pairs++);
    };
    for (let i = 1; i < n; i++) tryPair(i - 1, i);
    for (let pair = queue.pop(); pair >= 0; pair = queue.pop()) {
      const left = pairLeft[pair]!;
      const right = next[left]!;
      const size = pairSize[pair]!;
      // Stale once either side has merged elsewhere: the sizes no longer add up.
      if (length[left] === 0 || right < 0 || length[left]! + length[right]! !== size) continue;
      length[left] = size;
      length[right] = 0;
      token[left] = pairToken[pair]!;
      next[left] = next[right]!;
      if (next[right]! >= 0) prev[next[right]!] = left;
      tryPair(prev[left]!, left);
      tryPair(left, next[left]!);
    }
    for (let i = 0; i >= 0; i = next[i]!) {
      if (token[i]! >= 0) out.push(token[i]!);
      else this.#byteFallback(text.slice(start[i]!, start[i]! + length[i]!), out);
    }
  }

  #byteFallback(symbol: string, out: number[]): void {
    const bytes = encoder.encode(symbol);
    const ids: number[] = [];
    for (const b of bytes) {
      const id = this.#byteIds[b]!;
      if (id < 0) break;
      ids.push(id);
    }
    if (ids.length === bytes.length) {
      for (const id of ids) out.push(id);
    } else {
      out.push(this.#unk);
    }
  }
}
