/**
 * A pushdown matcher over a compiled grammar, advancing one Unicode code point at a time.
 *
 * The state is a set of parse stacks. A stack is an immutable linked list of program positions:
 * the top is always a character set still to be matched, and each element below is where to
 * continue once the rule above it ends. Immutability lets stacks share their tails, so advancing
 * allocates only the few nodes that change; an empty stack (null) means the root rule has ended.
 * Bytes arrive through a small UTF-8 state, so a token may end inside a character.
 */
import { WasmChordError } from '../../errors.js';
import { CHARS, END, type CompiledGrammar } from './parser.js';

export class Stack {
  /** Non-zero once interned by a StateSpace (see state-space.ts). */
  id = 0;

  constructor(
    readonly pos: number,
    readonly next: Stack | null,
  ) {}
}

/** The live stacks; null stands for a finished parse. */
export type StackSet = (Stack | null)[];

function sameStack(a: Stack | null, b: Stack | null): boolean {
  while (a !== b) {
    if (a === null || b === null || a.pos !== b.pos) return false;
    a = a.next;
    b = b.next;
  }
  return true;
}

/** More parses alive at once than this is refused rather than matched ever more slowly. */
const MAX_STACKS = 4096;

function addUnique(out: StackSet, s: Stack | null): void {
  for (let i = 0; i < out.length; i++) if (sameStack(out[i]!, s)) return;
  if (out.length === MAX_STACKS) {
    pending.length = 0;
    throw new WasmChordError('GRAMMAR_INVALID', `grammar: more than ${MAX_STACKS} parses are alive at once; it is too ambiguous (a repetition of something that can be empty, say)`);
  }
  out.push(s);
}

/** Whether charset `c` holds code point `cp`. */
export function charsetHas(g: CompiledGrammar, c: number, cp: number): boolean {
  if (cp < 128) return (g.asciiBits[c * 4 + (cp >> 5)]! & (1 << (cp & 31))) !== 0;
  const r = g.charsets[c]!;
  // Binary search for the last range starting at or below cp.
  let lo = 0;
  let hi = (r.length >> 1) - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (r[mid * 2]! <= cp) lo = mid + 1;
    else hi = mid - 1;
  }
  return hi >= 0 && cp <= r[hi * 2 + 1]!;
}

function charsetMeets(g: CompiledGrammar, c: number, lo: number, hi: number): boolean {
  const r = g.charsets[c]!;
  for (let i = 0; i < r.length; i += 2) if (r[i]! <= hi && r[i + 1]! >= lo) return true;
  return false;
}

/** Stacks still to open up in `expand` (never re-entered, so one list serves every call). */
const pending: (Stack | null)[] = [];

/**
 * Pushes onto `out` every stack `s` leads to once rule references are opened up. Iterative:
 * a chain of references as long as the grammar allows must not exhaust the call stack.
 */
export function expand(g: CompiledGrammar, s: Stack | null, out: StackSet): void {
  pending.push(s);
  while (pending.length > 0) {
    let top: Stack | null = pending.pop()!;
    while (top !== null && g.kinds[top.pos] === END) top = top.next;
    if (top === null || g.kinds[top.pos] === CHARS) {
      addUnique(out, top);
      continue;
    }
    // A reference: continue after it (dropped when it is the last element, so right recursion
    // does not deepen the stack), below each alternative of the rule it names.
    const after = top.pos + 1;
    const cont = g.kinds[after] === END ? top.next : new Stack(after, top.next);
    const alts = g.alternatives[g.args[top.pos]!]!;
    for (let i = alts.length - 1; i >= 0; i--) pending.push(g.kinds[alts[i]!] === END ? cont : new Stack(alts[i]!, cont));
  }
}

/** The stacks before any input. */
export function initialStacks(g: CompiledGrammar): StackSet {
  const out: StackSet = [];
  for (const start of g.alternatives[g.root]!) expand(g, new Stack(start, null), out);
  return out;
}

/** Pushes onto `out` the stacks after code point `cp` (none when `stacks` cannot take it). */
export function advance(g: CompiledGrammar, stacks: StackSet, cp: number, out: StackSet): void {
  for (let i = 0; i < stacks.length; i++) {
    const s = stacks[i]!;
    if (s === null || !charsetHas(g, g.args[s.pos]!, cp)) continue;
    const after = s.pos + 1;
    if (g.kinds[after] === CHARS) addUnique(out, new Stack(after, s.next));
    else expand(g, g.kinds[after] === END ? s.next : new Stack(after, s.next), out);
  }
}

/** Whether some stack takes a code point in lo..hi. */
export function acceptsRange(g: CompiledGrammar, stacks: StackSet, lo: number, hi: number): boolean {
  for (let i = 0; i < stacks.length; i++) {
    const s = stacks[i]!;
    if (s !== null && charsetMeets(g, g.args[s.pos]!, lo, hi)) return true;
  }
  return false;
}

/*
 * UTF-8 state packed in one number: value * 32 + length * 4 + bytes still needed. 0 is "between
 * characters". Overlong forms, surrogates and values past U+10FFFF are refused at the second
 * byte, the first that shows them, so a token never ends on a prefix no character completes.
 */
const MIN_BY_LENGTH = [0, 0, 0x80, 0x800, 0x10000];
const MAX_BY_LENGTH = [0, 0x7f, 0x7ff, 0xffff, 0x10ffff];
/** 64 ** n: the span of code points n more continuation bytes can still reach. */
const SPAN = [1, 64, 4096, 262144];
export const UTF8_INVALID = -1;

/** The state after `byte`, or UTF8_INVALID. */
export function utf8Step(state: number, byte: number): number {
  const need = state & 3;
  if (need === 0) {
    if (byte < 0x80) return byte * 32 + 4;
    if (byte >= 0xc2 && byte <= 0xdf) return (byte & 0x1f) * 32 + 8 + 1;
    if (byte >= 0xe0 && byte <= 0xef) return (byte & 0x0f) * 32 + 12 + 2;
    if (byte >= 0xf0 && byte <= 0xf4) return (byte & 0x07) * 32 + 16 + 3;
    return UTF8_INVALID;
  }
  if ((byte & 0xc0) !== 0x80) return UTF8_INVALID;
  const value = state >>> 5;
  const length = (state >> 2) & 7;
  if (need === length - 1) {
    // The second byte of E0 (overlong), ED (surrogates), F0 (overlong) and F4 (past U+10FFFF).
    if (length === 3 && ((value === 0 && byte < 0xa0) || (value === 0xd && byte > 0x9f))) return UTF8_INVALID;
    if (length === 4 && ((value === 0 && byte < 0x90) || (value === 4 && byte > 0x8f))) return UTF8_INVALID;
  }
  return ((value << 6) | (byte & 0x3f)) * 32 + (state & 28) + need - 1;
}

/** Lowest code point a partial state can still become. */
export function utf8RangeLow(state: number): number {
  return Math.max((state >>> 5) * SPAN[state & 3]!, MIN_BY_LENGTH[(state >> 2) & 7]!);
}

/** Highest code point a partial state can still become. */
export function utf8RangeHigh(state: number): number {
  const span = SPAN[state & 3]!;
  return Math.min((state >>> 5) * span + span - 1, MAX_BY_LENGTH[(state >> 2) & 7]!);
}

/** Complete character in a state with nothing left to read. */
export function utf8Complete(state: number): boolean {
  return (state & 3) === 0;
}

const encoder = new TextEncoder();

/** Matches text against a grammar incrementally: feed bytes or strings, ask whether it can end. */
export class GrammarMatcher {
  readonly grammar: CompiledGrammar;
  #stacks: StackSet;
  #utf8 = 0;

  constructor(grammar: CompiledGrammar) {
    this.grammar = grammar;
    this.#stacks = initialStacks(grammar);
  }

  /** The current stacks (read-only use: the mask walk starts from them). */
  get stacks(): StackSet {
    return this.#stacks;
  }

  /** The pending partial UTF-8 character (0 when none). */
  get utf8State(): number {
    return this.#utf8;
  }

  /** The text so far is a complete sentence of the grammar. */
  get isComplete(): boolean {
    return this.#utf8 === 0 && this.#stacks.includes(null);
  }

  /** Some continuation of the text so far is still in the grammar. */
  get canContinue(): boolean {
    return this.#stacks.some((s) => s !== null);
  }

  /** Consumes `bytes` if the grammar allows them all; otherwise returns false and keeps the state. */
  acceptBytes(bytes: Uint8Array): boolean {
    let stacks = this.#stacks;
    let utf8 = this.#utf8;
    for (const byte of bytes) {
      utf8 = utf8Step(utf8, byte);
      if (utf8 === UTF8_INVALID) return false;
      if (!utf8Complete(utf8)) {
        if (!acceptsRange(this.grammar, stacks, utf8RangeLow(utf8), utf8RangeHigh(utf8))) return false;
        continue;
      }
      const next: StackSet = [];
      advance(this.grammar, stacks, utf8 >>> 5, next);
      if (next.length === 0) return false;
      stacks = next;
      utf8 = 0;
    }
    this.#stacks = stacks;
    this.#utf8 = utf8;
    return true;
  }

  acceptString(text: string): boolean {
    return this.acceptBytes(encoder.encode(text));
  }

  /** A key equal for equal states: the stacks (as position lists) and the pending UTF-8 bytes. */
  stateKey(): string {
    const parts = this.#stacks.map((s) => {
      const positions: number[] = [];
      for (; s !== null; s = s.next) positions.push(s.pos);
      return positions.join(',');
    });
    return `${this.#utf8}|${parts.sort().join(';')}`;
  }
}

/** Whether the whole of `text` is a sentence of the grammar. */
export function grammarAccepts(grammar: CompiledGrammar, text: string): boolean {
  const m = new GrammarMatcher(grammar);
  return m.acceptString(text) && m.isComplete;
}
