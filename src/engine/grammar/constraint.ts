/**
 * Grammar-constrained sampling for one generation: which tokens the grammar allows next (as a
 * bitset over the logits), and the matcher advanced by each chosen token.
 */
import { WasmChordError } from '../../errors.js';
import { GrammarMatcher } from './matcher.js';
import type { CompiledGrammar } from './parser.js';
import { StateSpace } from './state-space.js';
import { TokenTrie, TrieWalker } from './token-trie.js';

/** What the constraint needs from a tokenizer (a structural subset of Tokenizer). */
export interface ConstraintTokenizer {
  readonly vocabSize: number;
  readonly endOfGenerationIds: readonly number[];
  readonly bos?: number;
  readonly eos?: number;
  readonly eot?: number;
  readonly pad?: number;
  readonly unk?: number;
  readonly sep?: number;
  tokenType(id: number): string;
  tokenToPiece(id: number, options?: { special?: boolean }): Uint8Array;
}

/** A vocabulary as the grammar sees it: the text pieces a grammar may produce, in a trie. */
export interface GrammarVocabulary {
  /** Bytes per token id; undefined for tokens a grammar never allows (control, unknown, empty). */
  readonly pieces: readonly (Uint8Array | undefined)[];
  readonly trie: TokenTrie;
  readonly endOfGeneration: readonly number[];
}

/** Token types whose pieces are text; control, unknown and unused tokens never match a grammar. */
const TEXT_TYPES = new Set(['normal', 'byte', 'user-defined']);

const vocabularies = new WeakMap<object, GrammarVocabulary>();

/** The grammar vocabulary of a tokenizer, built on first use and cached with it. */
export function grammarVocabulary(tokenizer: ConstraintTokenizer): GrammarVocabulary {
  let vocab = vocabularies.get(tokenizer);
  if (vocab === undefined) {
    // Special tokens stay out even where a vocabulary types them as text: picking one inside a
    // string would end generation (or start a new sequence) with half a sentence.
    const t = tokenizer;
    const special = new Set([...t.endOfGenerationIds, t.bos, t.eos, t.eot, t.pad, t.unk, t.sep]);
    const pieces: (Uint8Array | undefined)[] = [];
    for (let id = 0; id < tokenizer.vocabSize; id++) {
      if (special.has(id) || !TEXT_TYPES.has(tokenizer.tokenType(id))) {
        pieces.push(undefined);
        continue;
      }
      const piece = tokenizer.tokenToPiece(id, { special: false });
      pieces.push(piece.length > 0 ? piece : undefined);
    }
    vocab = { pieces, trie: TokenTrie.build(pieces), endOfGeneration: tokenizer.endOfGenerationIds };
    vocabularies.set(tokenizer, vocab);
  }
  return vocab;
}

/** Masks kept per matcher state: generation often returns to a state (inside a string, say). */
const MASK_CACHE_SIZE = 16;
/** Interned stacks and sets after which the state space starts afresh, bounding its memory. */
const MAX_SPACE_SIZE = 1 << 18;

export class TokenConstraint {
  readonly #vocab: GrammarVocabulary;
  readonly #matcher: GrammarMatcher;
  readonly #walker: TrieWalker;
  #space: StateSpace;
  readonly #words: number;
  readonly #allowEnd: boolean;
  readonly #cache = new Map<string, { mask: Uint32Array; tokens: number }>();
  readonly #decoder = new TextDecoder();
  /** The end of the accepted text, for error messages. */
  #tail = '';

  /**
   * `logitCount` is the model's vocabulary size (it may exceed the tokenizer's). With
   * `allowEnd` false (ignoreEos), end-of-generation tokens are never allowed.
   */
  constructor(grammar: CompiledGrammar, vocab: GrammarVocabulary, logitCount: number, allowEnd: boolean) {
    this.#vocab = vocab;
    this.#matcher = new GrammarMatcher(grammar);
    this.#walker = new TrieWalker(vocab.trie);
    this.#space = new StateSpace(grammar);
    this.#words = (logitCount + 31) >>> 5;
    this.#allowEnd = allowEnd;
  }

  /** The text accepted so far is a complete sentence of the grammar. */
  get isComplete(): boolean {
    return this.#matcher.isComplete;
  }

  /** Complete, and the grammar allows nothing more. */
  get finished(): boolean {
    return this.#matcher.isComplete && !this.#matcher.canContinue;
  }

  /**
   * The allowed tokens as a bitset (do not modify; valid until the next call), or undefined
   * when the text is complete and no token can continue it: generation is over.
   */
  mask(): Uint32Array | undefined {
    const key = this.#matcher.stateKey();
    let entry = this.#cache.get(key);
    if (entry !== undefined) {
      this.#cache.delete(key); // re-inserted below as the most recent
    } else {
      const mask = this.#cache.size >= MASK_CACHE_SIZE ? this.#evict() : new Uint32Array(this.#words);
      mask.fill(0);
      if (this.#space.size > MAX_SPACE_SIZE) this.#space = new StateSpace(this.#matcher.grammar);
      const start = this.#space.canonical(this.#matcher.stacks);
      const tokens = this.#matcher.canContinue ? this.#walker.fill(this.#space, start, this.#matcher.utf8State, mask) : 0;
      entry = { mask, tokens };
    }
    this.#cache.set(key, entry);
    const complete = this.#matcher.isComplete;
    if (entry.tokens === 0) {
      if (complete) return undefined;
      throw new WasmChordError(
        'GRAMMAR_INVALID',
        `grammar: no token of this vocabulary can continue the text ${JSON.stringify(this.#tail)}`,
      );
    }
    // End-of-generation bits depend only on completeness, which the key already fixes.
    if (complete && this.#allowEnd) for (const id of this.#vocab.endOfGeneration) entry.mask[id >>> 5]! |= 1 << (id & 31);
    return entry.mask;
  }

  #evict(): Uint32Array {
    const oldest = this.#cache.keys().next().value!;
    const { mask } = this.#cache.get(oldest)!;
    this.#cache.delete(oldest);
    return mask;
  }

  /** Advances past `token`; INVALID_ARGUMENT when the grammar does not allow it. */
  accept(token: number): void {
    const piece = this.#vocab.pieces[token];
    if (piece === undefined || !this.#matcher.acceptBytes(piece)) {
      throw new WasmChordError('INVALID_ARGUMENT', `token ${token} is not allowed by the grammar here`);
    }
    this.#tail = (this.#tail + this.#decoder.decode(piece, { stream: true })).slice(-40);
  }
}
