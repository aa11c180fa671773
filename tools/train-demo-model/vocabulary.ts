/**
 * Trains the demo model's SentencePiece-style vocabulary: byte-pair merges learned on the corpus,
 * written as a "llama" (SPM) vocabulary whose scores rank the merges, so that llama.cpp's
 * tokenizer, and ours, rebuild each word from the highest-ranked pieces.
 *
 * Text is split into units before counting: a run of letters (apostrophes included) or a single
 * other character, each with the space before it (as "\u2581"). No piece is learned across a
 * unit boundary, so no token mixes a word with its punctuation or spans two words.
 */
import { spmBaseTokens, type SpmVocabulary } from '../../src/tokenizer/spm-entries.js';

const SPACE = '\u2581';
const TOKEN_NORMAL = 1;

/** The units of a text, spaces escaped the SentencePiece way (its leading space included). */
export function units(text: string): string[] {
  return (` ${text}`.match(/ ?[A-Za-z']+| ?[^ A-Za-z']/g) ?? []).map((u) => u.replace(/^ /, SPACE));
}

/**
 * A vocabulary of `size` tokens: <unk>, <s>, </s>, the 256 byte tokens, every character of the
 * corpus, then merged pieces in the order they were learned (most frequent pair first).
 */
export function trainVocabulary(texts: Iterable<string>, size: number): SpmVocabulary {
  const counts = new Map<string, number>();
  for (const text of texts) for (const u of units(text)) counts.set(u, (counts.get(u) ?? 0) + 1);

  const { tokens, types } = spmBaseTokens();
  const chars = new Set<string>();
  for (const unit of counts.keys()) for (const ch of unit) chars.add(ch);
  const pieces = [...chars].sort();

  // Each distinct unit as its current list of symbols, weighted by how often it occurs.
  const words = [...counts].map(([unit, count]) => ({ symbols: [...unit], count }));
  const budget = size - tokens.length - pieces.length;
  if (budget < 0) throw new Error(`a vocabulary of ${size} cannot hold the corpus' ${pieces.length} characters`);
  for (let m = 0; m < budget; m++) {
    const pairs = new Map<string, number>();
    for (const { symbols, count } of words) {
      for (let i = 0; i + 1 < symbols.length; i++) {
        const key = `${symbols[i]}\u0000${symbols[i + 1]}`;
        pairs.set(key, (pairs.get(key) ?? 0) + count);
      }
    }
    let best: string | undefined;
    let bestCount = 1; // a pair seen once is not worth a token
    for (const [key, count] of pairs) {
      // Ties go to the lexically smaller pair, so the result never depends on Map order.
      if (count > bestCount || (count === bestCount && best !== undefined && key < best)) {
        best = key;
        bestCount = count;
      }
    }
    if (best === undefined) break;
    const [left, right] = best.split('\u0000') as [string, string];
    const merged = left + right;
    pieces.push(merged);
    for (const word of words) {
      const s = word.symbols;
      for (let i = 0; i + 1 < s.length; i++) {
        if (s[i] === left && s[i + 1] === right) s.splice(i, 2, merged);
      }
    }
  }

  // Scores: every merged piece outranks the characters, and earlier merges outrank later ones.
  const nChars = chars.size;
  const scores = tokens.map(() => 0);
  pieces.forEach((piece, i) => {
    tokens.push(piece);
    types.push(TOKEN_NORMAL);
    scores.push(i < nChars ? -1e6 - i : -(i - nChars));
  });
  return { tokens, scores, types };
}

