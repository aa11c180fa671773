/**
 * Byte-level BPE (`tokenizer.ggml.model = "gpt2"`).
 *
 * Text is split into words by the pre-tokenizer, each word is spelled in GPT-2's byte alphabet,
 * and adjacent symbols are merged lowest merge rank first (ties: leftmost first), through a
 * priority queue, so a word of n bytes costs O(n log n). Results are cached per word.
 */
import { WasmChordError } from '../errors.js';
import type { GGUFMetadata } from '../gguf/metadata.js';
import { toByteLevel } from './byte-level.js';
import { splitWords, type BpePreset } from './pretokenizers.js';
import { PairTable } from './pair-table.js';
import { HandleHeap } from './priority-queue.js';
import type { Vocab } from './vocab.js';

/** Words longer than this are not cached (they rarely repeat and would pin memory). */
const MAX_CACHED_WORD = 64;
const MAX_CACHE_ENTRIES = 32_768;

export class BpeModel {
  readonly #vocab: Vocab;
  readonly #preset: BpePreset;
  readonly #merges: readonly string[];
  /** Merge rank of a pair of tokens (the first listing of a merge wins). */
  readonly #ranks: PairTable;
  /** The token each merge makes, by rank; -1 when its result is not in the vocabulary. */
  readonly #mergeResult: Int32Array;
  /** Merge ranks by "left right" text, built only if a symbol that is not a token appears. */
  #ranksByText: Map<string, number> | undefined;
  readonly #cache = new Map<string, readonly number[]>();
  /** Token id of each byte-alphabet character (all below U+0144), -1 where absent. */
  readonly #byteTokens = new Int32Array(0x144).fill(-1);

  constructor(vocab: Vocab, metadata: GGUFMetadata, preset: BpePreset) {
    this.#vocab = vocab;
    this.#preset = preset;
    const merges = metadata.getStringArray('tokenizer.ggml.merges');
    if (merges === undefined) {
      throw new WasmChordError('GGUF_MALFORMED', 'a BPE vocabulary needs tokenizer.ggml.merges, which is missing');
    }
    this.#merges = merges;
    for (let code = 0; code < this.#byteTokens.length; code++) {
      this.#byteTokens[code] = vocab.idOf.get(String.fromCharCode(code)) ?? -1;
    }
    this.#ranks = new PairTable(merges.length);
    this.#mergeResult = new Int32Array(merges.length).fill(-1);
    for (let rank = 0; rank < merges.length; rank++) {
      const [left, right] = splitMerge(merges[rank]!);
      const l = vocab.idOf.get(left);
      const r = vocab.idOf.get(right);
      if (l !== undefined && r !== undefined) this.#ranks.setIfAbsent(l, r, rank);
      this.#mergeResult[rank] = vocab.idOf.get(left + right) ?? -1;
    }
  }

  /** Appends the ids of raw text (no special tokens inside). */
  encode(text: string, out: number[]): void {
    for (const word of splitWords(text, this.#preset.regexes)) {
      const cached = this.#cache.get(word);
      if (cached !== undefined) {
        for (const id of cached) out.push(id);
        continue;
      }
      const ids: number[] = [];
      this.#encodeWord(toByteLevel(word), ids);
      if (word.length <= MAX_CACHED_WORD) {
        if (this.#cache.size >= MAX_CACHE_ENTRIES) this.#cache.clear();
        this.#cache.set(word, ids);
      }
      for (const id of ids) out.push(id);
    }
  }

  #encodeWord(word: string, out: number[]): void {
    const idOf = this.#vocab.idOf;
    if (this.#preset.ignoreMerges) {
      const whole = idOf.get(word);
      if (whole !== undefined) {
        out.push(whole);
        return;
      }
    }
    // One symbol per byte (each byte-alphabet character is one UTF-16 unit). Symbol i always
    // starts at word[i]: a merge only ever grows the left symbol.
    const n = word.length;
    if (n === 0) return;
    const length = new Int32Array(n).fill(1);
    const token = new Int32Array(n); // the symbol's token id, -1 when its text is not a token
    const prev = new Int32Array(n);
    const next = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      token[i] = this.#byteTokens[word.charCodeAt(i)]!;
      prev[i] = i - 1;
      next[i] = i + 1 < n ? i + 1 : -1;
    }
    // Queued pairs, by handle: their merge rank, left symbol and the two sides' lengths.
    const pairRank = new Int32Array(3 * n);
    const pairLeft = new Int32Array(3 * n);
    const pairLeftLength = new Int32Array(3 * n);
    const pairRightLength = new Int32Array(3 * n);
    let pairs = 0;
    const queue = new HandleHeap(3 * n, (a, b) => {
      const ra = pairRank[a]!;
      const rb = pairRank[b]!;
      return ra < rb || (ra === rb && pairLeft[a]! < pairLeft[b]!);
    });
    const symbolText = (i: number) => word.slice(i, i + length[i]!);
    const tryPair = (left: number, right: number) => {
      if (left < 0 || right < 0) return;
      const rank =
        token[left]! >= 0 && token[right]! >= 0
          ? this.#ranks.get(token[left]!, token[right]!)
          : this.#rankOfText(symbolText(left), symbolText(right));
      if (rank < 0) return;
      pairRank[pairs] = rank;
      pairLeft[pairs] = left;
      pairLeftLength[pairs] = length[left]!;
      pairRightLength[pairs] = length[right]!;
      queue.push(pairs++);
    };
    for (let i = 1; i < n; i++) tryPair(i - 1, i);
    for (let pair = queue.pop(); pair >= 0; pair = queue.pop()) {
      const left = pairLeft[pair]!;
      const right = next[left]!;
      // A pair is stale once either side has merged with something else since it was queued.
      if (length[left] !== pairLeftLength[pair] || right < 0 || length[right] !== pairRightLength[pair]) continue;
      length[left] = length[left]! + length[right]!;
      length[right] = 0;
      token[left] = this.#mergeResult[pairRank[pair]!]!;
      next[left] = next[right]!;
      if (next[right]! >= 0) prev[next[right]!] = left;
      tryPair(prev[left]!, left);
      tryPair(left, next[left]!);
    }
    for (let i = 0; i >= 0; i = next[i]!) {
      if (token[i]! >= 0) {
        out.push(token[i]!);
        continue;
      }
      // A merge whose result is not in the vocabulary: fall back to its single bytes.
      for (const ch of symbolText(i)) {
        const byteId = idOf.get(ch);
        if (byteId !== undefined) out.push(byteId);
      }
    }
  }

  #rankOfText(left: string, right: string): number {
    if (this.#ranksByText === undefined) {
      this.#ranksByText = new Map();
      this.#merges.forEach((merge, rank) => {
        const [l, r] = splitMerge(merge);
        if (!this.#ranksByText!.has(`${l} ${r}`)) this.#ranksByText!.set(`${l} ${r}`, rank);
      });
    }
    return this.#ranksByText.get(`${left} ${right}`) ?? -1;
  }
}

/** A merge is "left right", split at the first space after the first character (as llama.cpp). */
function splitMerge(merge: string): [string, string] {
  const space = merge.indexOf(' ', 1);
  return space < 0 ? ['', ''] : [merge.slice(0, space), merge.slice(space + 1)];
}
