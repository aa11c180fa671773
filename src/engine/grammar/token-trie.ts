/**
 * A byte trie of a vocabulary's token pieces, laid out in preorder in flat arrays, and the walk
 * that turns a matcher state into the set of allowed tokens.
 *
 * Tokens sharing a prefix share its work: the walk advances the grammar once per trie node, not
 * once per token, and skips a whole subtree as soon as its prefix is refused. In preorder a
 * node's subtree is the index range [node, end[node]), so the walk is one loop with no recursion.
 *
 * Each node also summarises the characters below it (`below`). Where the walk reaches a state
 * that every one of those characters leads back to (inside a JSON string, say), the whole
 * subtree is allowed at once instead of node by node.
 */
import { utf8Complete, utf8Step, UTF8_INVALID } from './matcher.js';
import type { StateSet, StateSpace } from './state-space.js';

export class TokenTrie {
  /** Node count, the root (index 0, the empty prefix) included. */
  readonly size: number;
  /** The byte leading into each node (unused for the root). */
  readonly byte: Uint8Array;
  readonly depth: Uint16Array;
  /** One past the last node of each node's subtree. */
  readonly end: Int32Array;
  /** Token ids ending at node i: ids[tokenStart[i] .. tokenStart[i + 1]). */
  readonly tokenStart: Int32Array;
  readonly ids: Int32Array;
  readonly maxDepth: number;
  /**
   * Per node, BELOW_WORDS words about the nodes strictly below it (read from a character
   * boundary): the ASCII characters they complete (4 words of bits), then BELOW_NON_ASCII
   * (some byte >= 0x80) and BELOW_INVALID (a byte that makes the UTF-8 invalid).
   */
  readonly below: Uint32Array;

  private constructor(byte: Uint8Array, depth: Uint16Array, end: Int32Array, tokenStart: Int32Array, ids: Int32Array) {
    this.size = byte.length;
    this.byte = byte;
    this.depth = depth;
    this.end = end;
    this.tokenStart = tokenStart;
    this.ids = ids;
    let max = 0;
    for (const d of depth) max = Math.max(max, d);
    this.maxDepth = max;
    this.below = summarize(byte, depth, max);
  }

  /** Builds the trie of `pieces[id]`; an undefined or empty piece leaves token id out. */
  static build(pieces: readonly (Uint8Array | undefined)[]): TokenTrie {
    // Sorted by their bytes as Latin-1 strings: string order is byte order, and comparing
    // strings is faster than comparing arrays element by element. Equal pieces keep id order.
    const keys: string[] = [];
    const chosen: number[] = [];
    let total = 1;
    for (let id = 0; id < pieces.length; id++) {
      const piece = pieces[id];
      if (piece === undefined || piece.length === 0) continue;
      keys[id] = String.fromCharCode(...piece);
      chosen.push(id);
      total += piece.length;
    }
    const order = Int32Array.from(chosen).sort((a, b) => (keys[a]! < keys[b]! ? -1 : keys[a]! > keys[b]! ? 1 : a - b));

    // Sorted pieces arrive in preorder: each needs new nodes only past the prefix it shares
    // with the piece before it, and it ends at the newest node.
    const byte = new Uint8Array(total);
    const depth = new Uint16Array(total);
    const end = new Int32Array(total);
    const tokenNode = new Int32Array(order.length);
    const path = [0];
    let size = 1;
    let previous: Uint8Array = new Uint8Array(0);
    order.forEach((id, k) => {
      const piece = pieces[id]!;
      let common = 0;
      while (common < piece.length && common < previous.length && piece[common] === previous[common]) common++;
      while (path.length > common + 1) end[path.pop()!] = size;
      for (let d = common; d < piece.length; d++) {
        path.push(size);
        byte[size] = piece[d]!;
        depth[size] = d + 1;
        size++;
      }
      tokenNode[k] = path[path.length - 1]!;
      previous = piece;
    });
    while (path.length > 0) end[path.pop()!] = size;

    const tokenStart = new Int32Array(size + 1);
    for (const node of tokenNode) tokenStart[node + 1]!++;
    for (let i = 0; i < size; i++) tokenStart[i + 1]! += tokenStart[i]!;
    return new TokenTrie(byte.slice(0, size), depth.slice(0, size), end.slice(0, size), tokenStart, order);
  }
}

export const BELOW_WORDS = 5;
export const BELOW_NON_ASCII = 1;
export const BELOW_INVALID = 2;

function summarize(byte: Uint8Array, depth: Uint16Array, maxDepth: number): Uint32Array {
  const size = byte.length;
  const below = new Uint32Array(size * BELOW_WORDS);
  const parent = new Int32Array(size);
  const path = new Int32Array(maxDepth + 1);
  const utf8 = new Int32Array(maxDepth + 1);
  // Each node's own character goes to its parent...
  for (let i = 1; i < size; i++) {
    const d = depth[i]!;
    const p = path[d - 1]!;
    parent[i] = p;
    path[d] = i;
    const b = byte[i]!;
    const state = utf8Step(utf8[d - 1]!, b);
    utf8[d] = state === UTF8_INVALID ? 0 : state;
    if (state === UTF8_INVALID) below[p * BELOW_WORDS + 4]! |= BELOW_INVALID;
    else if (b >= 0x80) below[p * BELOW_WORDS + 4]! |= BELOW_NON_ASCII;
    else if (utf8Complete(state)) below[p * BELOW_WORDS + (b >> 5)]! |= 1 << (b & 31);
  }
  // ...and everything below it too: children come after their parent, so fold the last first.
  for (let i = size - 1; i >= 1; i--) {
    const p = parent[i]! * BELOW_WORDS;
    for (let w = 0; w < BELOW_WORDS; w++) below[p + w]! |= below[i * BELOW_WORDS + w]!;
  }
  return below;
}

/** Reusable per-depth state of the walk, kept between steps. */
export class TrieWalker {
  readonly #trie: TokenTrie;
  readonly #sets: StateSet[];
  readonly #utf8: Int32Array;

  constructor(trie: TokenTrie) {
    this.#trie = trie;
    this.#sets = new Array<StateSet>(trie.maxDepth + 1);
    this.#utf8 = new Int32Array(trie.maxDepth + 1);
  }

  /**
   * Sets the bit of every token whose bytes the grammar accepts from `start` (with partial
   * UTF-8 state `utf8` pending) in `mask`, which must be clear; returns how many were allowed.
   */
  fill(space: StateSpace, start: StateSet, utf8: number, mask: Uint32Array): number {
    const { size, byte, depth, end, tokenStart, ids, below } = this.#trie;
    const asciiClass = space.grammar.asciiClass;
    // The summaries are read from a character boundary at the root.
    const shortcuts = utf8 === 0;
    const sets = this.#sets;
    const states = this.#utf8;
    sets[0] = start;
    states[0] = utf8;
    let allowed = 0;
    for (let i = 1; i < size; ) {
      const d = depth[i]!;
      const parent = sets[d - 1]!;
      const b = byte[i]!;
      let set: StateSet | null | undefined;
      let state = states[d - 1]!;
      if (state === 0 && b < 0x80) {
        // ASCII, the common case: the memoized transition read directly.
        set = parent.next[asciiClass[b]!];
        if (set === undefined) set = space.step(parent, b);
      } else {
        state = utf8Step(state, b);
        if (state === UTF8_INVALID) set = null;
        else if (utf8Complete(state)) {
          set = space.step(parent, state >>> 5);
          state = 0;
        }
        // Inside a character: go on only if some character with these leading bytes fits.
        else set = space.acceptsPartial(parent, state) ? parent : null;
      }
      if (set === null) {
        i = end[i]!;
        continue;
      }
      // A character that led back to the same state: if every character below does too, the
      // whole subtree is allowed.
      const last = set === parent && state === 0 && shortcuts && end[i]! > i + 1 && space.loopsOver(set, below, i * BELOW_WORDS) ? end[i]! : i + 1;
      sets[d] = set;
      states[d] = state;
      for (let k = tokenStart[i]!; k < tokenStart[last]!; k++) {
        const id = ids[k]!;
        mask[id >>> 5]! |= 1 << (id & 31);
        allowed++;
      }
      i = last;
    }
    return allowed;
  }
}
