/**
 * Interned matcher states with memoized transitions: a lazily built automaton over the
 * grammar's stack sets. Equal stacks become one object (hash-consing), equal stack sets one
 * StateSet, and each StateSet remembers where each class of code points (those no charset
 * tells apart) took it. The mask walk then costs
 * a map lookup per trie node instead of re-expanding rules, and a state that recurs (inside a
 * JSON string, every character leads back to the same set) is expanded only once.
 */
import { acceptsRange, advance, Stack, utf8RangeHigh, utf8RangeLow, type StackSet } from './matcher.js';
import { codePointClass, type CompiledGrammar } from './parser.js';
import { BELOW_INVALID, BELOW_NON_ASCII } from './token-trie.js';

export class StateSet {
  /** Code-point class -> the set after any code point of it (null: refused). */
  readonly next: (StateSet | null | undefined)[] = [];
  /** Partial UTF-8 state -> whether some character it can still become is accepted. */
  readonly partial = new Map<number, boolean>();
  /** The characters that lead back to this set: ASCII bits (4 words) and all of the rest or not. */
  loop: { ascii: Uint32Array; nonAscii: boolean } | undefined;

  constructor(
    readonly id: number,
    readonly stacks: StackSet,
  ) {}
}

export class StateSpace {
  readonly grammar: CompiledGrammar;
  readonly #nodes = new Map<number, Stack>();
  readonly #sets = new Map<string, StateSet>();
  readonly #stride: number;
  #scratch: StackSet = [];

  constructor(grammar: CompiledGrammar) {
    this.grammar = grammar;
    this.#stride = grammar.kinds.length + 1;
  }

  /** Interned stacks plus sets: what the space holds (its owner replaces it when too large). */
  get size(): number {
    return this.#nodes.size + this.#sets.size;
  }

  /** The StateSet of `stacks` (any stacks of this grammar, interned or not). */
  canonical(stacks: StackSet): StateSet {
    const interned: (Stack | null)[] = [];
    for (const s of stacks) {
      const i = this.#intern(s);
      if (!interned.includes(i)) interned.push(i);
    }
    const key = interned.map((s) => (s === null ? 0 : s.id)).sort((a, b) => a - b).join(',');
    let set = this.#sets.get(key);
    if (set === undefined) {
      set = new StateSet(this.#sets.size + 1, interned);
      this.#sets.set(key, set);
    }
    return set;
  }

  /** The set after code point `cp`, or null when no stack takes it. */
  step(set: StateSet, cp: number): StateSet | null {
    const k = codePointClass(this.grammar, cp);
    let next = set.next[k];
    if (next === undefined) {
      const out = this.#scratch;
      out.length = 0;
      advance(this.grammar, set.stacks, cp, out);
      next = out.length === 0 ? null : this.canonical(out);
      set.next[k] = next;
    }
    return next;
  }

  /**
   * Whether every character a trie summary (token-trie.ts: `below` at `at`) lists leads from
   * `set` back to `set` itself, with no invalid UTF-8 among them.
   */
  loopsOver(set: StateSet, below: Uint32Array, at: number): boolean {
    const flags = below[at + 4]!;
    if (flags & BELOW_INVALID) return false;
    const loop = set.loop ?? this.#loop(set);
    if (flags & BELOW_NON_ASCII && !loop.nonAscii) return false;
    for (let w = 0; w < 4; w++) if ((below[at + w]! & ~loop.ascii[w]!) !== 0) return false;
    return true;
  }

  #loop(set: StateSet): { ascii: Uint32Array; nonAscii: boolean } {
    const ascii = new Uint32Array(4);
    for (let cp = 0; cp < 128; cp++) if (this.step(set, cp) === set) ascii[cp >> 5]! |= 1 << (cp & 31);
    // Non-ASCII: one code point per class stands for it (surrogates never occur in text).
    let nonAscii = true;
    const starts = this.grammar.classStarts;
    for (let k = 0; k < starts.length && nonAscii; k++) {
      const last = k + 1 < starts.length ? starts[k + 1]! - 1 : 0x10ffff;
      if (last < 128) continue;
      let cp = Math.max(starts[k]!, 128);
      if (cp >= 0xd800 && cp <= 0xdfff) cp = 0xe000;
      if (cp > last) continue;
      nonAscii = this.step(set, cp) === set;
    }
    return (set.loop = { ascii, nonAscii });
  }

  /** Whether `set` accepts a character that partial UTF-8 state `utf8` can still become. */
  acceptsPartial(set: StateSet, utf8: number): boolean {
    let ok = set.partial.get(utf8);
    if (ok === undefined) {
      ok = acceptsRange(this.grammar, set.stacks, utf8RangeLow(utf8), utf8RangeHigh(utf8));
      set.partial.set(utf8, ok);
    }
    return ok;
  }

  /** The interned equal of `s`: its raw part (above any interned tail) rebuilt bottom-up. */
  #intern(s: Stack | null): Stack | null {
    const raw: Stack[] = [];
    for (; s !== null && s.id === 0; s = s.next) raw.push(s);
    let node = s;
    for (let i = raw.length - 1; i >= 0; i--) {
      const key = (node === null ? 0 : node.id) * this.#stride + raw[i]!.pos;
      let found = this.#nodes.get(key);
      if (found === undefined) {
        found = new Stack(raw[i]!.pos, node);
        found.id = this.#nodes.size + 1;
        this.#nodes.set(key, found);
      }
      node = found;
    }
    return node;
  }
}
