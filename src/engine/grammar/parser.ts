/**
 * GBNF (llama.cpp's grammar format) -> a compiled grammar: a flat program of rule alternatives
 * over code-point sets and rule references. Repetitions and groups become generated rules, so
 * the matcher only knows sequences, alternatives and references. Every problem that would make
 * matching hang or dead-end (undefined, left-recursive or never-ending rules) is refused here,
 * before any token is sampled.
 */
import { WasmChordError } from '../../errors.js';

/** Element kinds of the program. */
export const END = 0;
export const CHARS = 1;
export const RULE = 2;

const MAX_CODE_POINT = 0x10ffff;
/** Repetitions expand into copies; this bounds what a grammar may expand to. */
const MAX_PROGRAM_SIZE = 1 << 20;
/** Parentheses nest at most this deep (the parser recurses on them). */
const MAX_NESTING = 256;

export interface CompiledGrammar {
  /** Element kind at each program position: END closes an alternative. */
  readonly kinds: Uint8Array;
  /** Charset index (CHARS) or rule id (RULE) at each position. */
  readonly args: Int32Array;
  /** Start position of each alternative, per rule id. */
  readonly alternatives: readonly Int32Array[];
  /** Per charset: sorted, disjoint, inclusive code-point ranges [lo0, hi0, lo1, hi1, ...]. */
  readonly charsets: readonly Uint32Array[];
  /** Per charset: membership of code points 0..127, 4 words of bits. */
  readonly asciiBits: Uint32Array;
  /**
   * Code points split into classes that every charset treats alike: class k is
   * [classStarts[k], classStarts[k + 1]). Transitions are memoized per class, not per code point.
   */
  readonly classStarts: Uint32Array;
  /** The class of each ASCII code point. */
  readonly asciiClass: Uint16Array | Uint32Array;
  readonly ruleNames: readonly string[];
  readonly root: number;
}

/** The class of code point `cp` (see CompiledGrammar.classStarts). */
export function codePointClass(g: CompiledGrammar, cp: number): number {
  if (cp < 128) return g.asciiClass[cp]!;
  const starts = g.classStarts;
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid]! <= cp) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

type Item =
  | { kind: 'chars'; ranges: number[] }
  | { kind: 'ref'; name: string; at: number }
  | { kind: 'group'; alternatives: Item[][] }
  | { kind: 'repeat'; item: Item; min: number; max: number };

interface ParsedRule {
  name: string;
  at: number;
  alternatives: Item[][];
}

/** Parses and checks a GBNF grammar; GRAMMAR_INVALID says what is wrong and where. */
export function parseGrammar(text: string): CompiledGrammar {
  if (typeof text !== 'string') throw new WasmChordError('INVALID_ARGUMENT', 'option grammar must be a string of GBNF rules');
  const rules = new Parser(text).parse();
  return compile(rules, text);
}

function lineOf(text: string, at: number): string {
  const before = text.slice(0, at);
  const line = before.split('\n').length;
  return `line ${line}, column ${at - before.lastIndexOf('\n')}`;
}

function invalid(message: string): WasmChordError {
  return new WasmChordError('GRAMMAR_INVALID', `grammar: ${message}`);
}

const NAME_CHAR = /[A-Za-z0-9_-]/;
const RULE_START = /[A-Za-z0-9_-]+[ \t]*::=/y;

class Parser {
  readonly #text: string;
  #pos = 0;
  #depth = 0;

  constructor(text: string) {
    this.#text = text;
  }

  parse(): ParsedRule[] {
    const rules: ParsedRule[] = [];
    this.#skipSpace();
    while (this.#pos < this.#text.length) {
      const at = this.#pos;
      const name = this.#name();
      this.#skipSpace();
      if (!this.#text.startsWith('::=', this.#pos)) throw this.#error('expected "::=" after the rule name');
      this.#pos += 3;
      this.#skipSpace();
      rules.push({ name, at, alternatives: this.#alternatives(false) });
    }
    return rules;
  }

  #error(message: string): WasmChordError {
    return invalid(`${message} at ${lineOf(this.#text, this.#pos)}`);
  }

  /** Spaces, newlines and `#` comments. */
  #skipSpace(): void {
    const t = this.#text;
    while (this.#pos < t.length) {
      const c = t[this.#pos]!;
      if (c === ' ' || c === '\t' || c === '\n' || c === '\r') this.#pos++;
      else if (c === '#') {
        while (this.#pos < t.length && t[this.#pos] !== '\n') this.#pos++;
      } else break;
    }
  }

  #name(): string {
    const start = this.#pos;
    while (this.#pos < this.#text.length && NAME_CHAR.test(this.#text[this.#pos]!)) this.#pos++;
    if (this.#pos === start) throw this.#error('expected a rule name');
    return this.#text.slice(start, this.#pos);
  }

  #alternatives(nested: boolean): Item[][] {
    const alternatives = [this.#sequence(nested)];
    while (this.#text[this.#pos] === '|') {
      this.#pos++;
      this.#skipSpace();
      alternatives.push(this.#sequence(nested));
    }
    return alternatives;
  }

  /**
   * Items up to `|`, `)`, the end of the text or the next rule. A new rule is recognised by
   * `name ::=`, which can never continue a sequence, so rules may span lines freely.
   */
  #sequence(nested: boolean): Item[] {
    const items: Item[] = [];
    const t = this.#text;
    for (;;) {
      const c = t[this.#pos];
      if (c === undefined || c === '|' || c === ')') break;
      RULE_START.lastIndex = this.#pos;
      if (!nested && RULE_START.test(t)) break;
      let item: Item;
      if (c === '"') item = this.#literal();
      else if (c === '[') item = this.#charClass();
      else if (c === '.') {
        this.#pos++;
        item = { kind: 'chars', ranges: withoutSurrogates([0, MAX_CODE_POINT]) };
      } else if (c === '(') {
        if (++this.#depth > MAX_NESTING) throw this.#error(`parentheses nest more than ${MAX_NESTING} deep`);
        this.#pos++;
        this.#skipSpace();
        const alternatives = this.#alternatives(true);
        if (t[this.#pos] !== ')') throw this.#error('expected ")"');
        this.#pos++;
        this.#depth--;
        item = { kind: 'group', alternatives };
      } else if (NAME_CHAR.test(c)) {
        const at = this.#pos;
        item = { kind: 'ref', name: this.#name(), at };
      } else throw this.#error(`unexpected ${JSON.stringify(c)}`);
      this.#skipSpace();
      items.push(this.#repetitions(item));
    }
    if (!nested && t[this.#pos] === ')') throw this.#error('unmatched ")"');
    return items;
  }

  #repetitions(item: Item): Item {
    for (;;) {
      const c = this.#text[this.#pos];
      let min: number;
      let max: number;
      if (c === '*') [min, max] = [0, Infinity];
      else if (c === '+') [min, max] = [1, Infinity];
      else if (c === '?') [min, max] = [0, 1];
      else if (c === '{') [min, max] = this.#bounds();
      else return item;
      if (c !== '{') this.#pos++;
      this.#skipSpace();
      item = { kind: 'repeat', item, min, max };
    }
  }

  /** `{m}`, `{m,}` or `{m,n}`, the `{` at the current position. */
  #bounds(): [number, number] {
    const m = /\{[ \t]*(\d+)[ \t]*(?:(,)[ \t]*(\d*)[ \t]*)?\}/y;
    m.lastIndex = this.#pos;
    const found = m.exec(this.#text);
    if (!found) throw this.#error('expected {m}, {m,} or {m,n}');
    const min = Number(found[1]);
    const max = found[2] === undefined ? min : found[3] === '' ? Infinity : Number(found[3]);
    if (max < min) throw this.#error(`repetition {${min},${max}} has its maximum below its minimum`);
    this.#pos = m.lastIndex;
    return [min, max];
  }

  #literal(): Item {
    const t = this.#text;
    this.#pos++;
    const chars: number[] = [];
    for (;;) {
      const c = t[this.#pos];
      if (c === undefined || c === '\n') throw this.#error('unterminated string literal');
      if (c === '"') break;
      chars.push(this.#char());
    }
    this.#pos++;
    // A literal is a group of one alternative: a sequence of single code points.
    return { kind: 'group', alternatives: [chars.map((cp) => ({ kind: 'chars' as const, ranges: withoutSurrogates([cp, cp]) }))] };
  }

  #charClass(): Item {
    const t = this.#text;
    this.#pos++;
    const negated = t[this.#pos] === '^';
    if (negated) this.#pos++;
    const ranges: number[] = [];
    while (t[this.#pos] !== ']') {
      if (this.#pos >= t.length) throw this.#error('unterminated character class');
      const lo = this.#char();
      let hi = lo;
      if (t[this.#pos] === '-' && t[this.#pos + 1] !== ']' && this.#pos + 1 < t.length) {
        this.#pos++;
        hi = this.#char();
        if (hi < lo) throw this.#error('character range is reversed');
      }
      ranges.push(lo, hi);
    }
    this.#pos++;
    const set = normalizeRanges(ranges);
    return { kind: 'chars', ranges: withoutSurrogates(negated ? complementRanges(set) : set) };
  }

  /** One code point of a literal or class, escapes decoded. */
  #char(): number {
    const t = this.#text;
    const cp = t.codePointAt(this.#pos)!;
    if (cp !== 0x5c) {
      this.#pos += cp > 0xffff ? 2 : 1;
      return cp;
    }
    const e = t[this.#pos + 1];
    this.#pos += 2;
    switch (e) {
      case 'n': return 0x0a;
      case 't': return 0x09;
      case 'r': return 0x0d;
      case '\\': case '"': case "'": case '[': case ']': case '-': case '^': case '/':
        return e.charCodeAt(0);
      case 'x': return this.#hex(2);
      case 'u': return this.#hex(4);
      case 'U': return this.#hex(8);
      default:
        this.#pos -= 2;
        throw this.#error(`unknown escape "\\${e ?? ''}"`);
    }
  }

  #hex(digits: number): number {
    const s = this.#text.slice(this.#pos, this.#pos + digits);
    if (!new RegExp(`^[0-9A-Fa-f]{${digits}}$`).test(s)) throw this.#error(`expected ${digits} hex digits`);
    const cp = parseInt(s, 16);
    if (cp > MAX_CODE_POINT) throw this.#error(`code point ${s} is beyond U+10FFFF`);
    this.#pos += digits;
    return cp;
  }
}

/** Sorts and merges inclusive ranges. */
export function normalizeRanges(ranges: readonly number[]): number[] {
  const pairs: [number, number][] = [];
  for (let i = 0; i < ranges.length; i += 2) pairs.push([ranges[i]!, ranges[i + 1]!]);
  pairs.sort((a, b) => a[0] - b[0]);
  const out: number[] = [];
  for (const [lo, hi] of pairs) {
    if (out.length > 0 && lo <= out[out.length - 1]! + 1) out[out.length - 1] = Math.max(out[out.length - 1]!, hi);
    else out.push(lo, hi);
  }
  return out;
}

/** Surrogate code points are not characters: text can never hold them (an empty set remains). */
function withoutSurrogates(set: readonly number[]): number[] {
  const out: number[] = [];
  for (let i = 0; i < set.length; i += 2) {
    const lo = set[i]!;
    const hi = set[i + 1]!;
    if (lo < 0xd800) out.push(lo, Math.min(hi, 0xd7ff));
    if (hi > 0xdfff) out.push(Math.max(lo, 0xe000), hi);
  }
  return out;
}

function complementRanges(set: readonly number[]): number[] {
  const out: number[] = [];
  let next = 0;
  for (let i = 0; i < set.length; i += 2) {
    if (set[i]! > next) out.push(next, set[i]! - 1);
    next = set[i + 1]! + 1;
  }
  if (next <= MAX_CODE_POINT) out.push(next, MAX_CODE_POINT);
  return out;
}

type Sym = { chars: number } | { rule: number };

/** Lowers parsed rules to the flat program and runs the up-front checks. */
function compile(parsed: readonly ParsedRule[], text: string): CompiledGrammar {
  const ids = new Map<string, number>();
  const names: string[] = [];
  const bodies: Sym[][][] = [];
  const charsets: Uint32Array[] = [];
  const charsetIds = new Map<string, number>();
  let size = 0;

  for (const rule of parsed) {
    if (ids.has(rule.name)) throw invalid(`rule "${rule.name}" is defined twice (${lineOf(text, rule.at)})`);
    ids.set(rule.name, names.length);
    names.push(rule.name);
    bodies.push([]);
  }
  if (!ids.has('root')) throw invalid('there is no "root" rule');

  const charset = (ranges: number[]): number => {
    const key = ranges.join(',');
    let id = charsetIds.get(key);
    if (id === undefined) {
      id = charsets.length;
      charsets.push(Uint32Array.from(ranges));
      charsetIds.set(key, id);
    }
    return id;
  };
  const grow = (n: number) => {
    size += n;
    if (size > MAX_PROGRAM_SIZE) throw invalid(`the grammar expands to more than ${MAX_PROGRAM_SIZE} elements (lower the repetition counts)`);
  };
  const newRule = (base: string, alternatives: Sym[][]): number => {
    const id = names.length;
    names.push(`${base}-${id}`);
    bodies.push(alternatives);
    return id;
  };
  const lower = (items: readonly Item[], owner: string): Sym[] => {
    const out: Sym[] = [];
    for (const item of items) lowerItem(item, owner, out);
    grow(out.length + 1);
    return out;
  };
  const lowerItem = (item: Item, owner: string, out: Sym[]): void => {
    switch (item.kind) {
      case 'chars':
        out.push({ chars: charset(item.ranges) });
        return;
      case 'ref': {
        const id = ids.get(item.name);
        if (id === undefined) throw invalid(`rule "${owner}" refers to undefined rule "${item.name}" (${lineOf(text, item.at)})`);
        out.push({ rule: id });
        return;
      }
      case 'group':
        // One alternative inlines into the sequence; several become a rule of their own.
        if (item.alternatives.length === 1) for (const inner of item.alternatives[0]!) lowerItem(inner, owner, out);
        else out.push({ rule: newRule(owner, item.alternatives.map((alt) => lower(alt, owner))) });
        return;
      case 'repeat': {
        const unit: Sym[] = [];
        lowerItem(item.item, owner, unit);
        const optional = item.max === Infinity ? 1 : item.max - item.min;
        grow(unit.length * (item.min + 2 * optional));
        for (let i = 0; i < item.min; i++) out.push(...unit);
        if (item.max === Infinity) {
          // x* is star ::= x star | "", right-recursive so the matcher's stacks never grow.
          const star = newRule(owner, []);
          bodies[star]!.push([...unit, { rule: star }], []);
          out.push({ rule: star });
        } else if (optional > 0) {
          // x{0,n}: opt_n ::= x opt_(n-1) | "", nested so each count parses one way.
          let opt = newRule(owner, [unit, []]);
          for (let i = 1; i < optional; i++) opt = newRule(owner, [[...unit, { rule: opt }], []]);
          out.push({ rule: opt });
        }
        return;
      }
    }
  };
  for (const rule of parsed) bodies[ids.get(rule.name)!] = rule.alternatives.map((alt) => lower(alt, rule.name));

  checkRules(bodies, names, charsets, ids.get('root')!);
  return toProgram(bodies, names, charsets, ids.get('root')!);
}

/**
 * Refuses left recursion (the matcher would expand forever) and rules reachable from root that
 * can never finish (the matcher would follow them into a dead end).
 */
function checkRules(bodies: readonly Sym[][][], names: readonly string[], charsets: readonly Uint32Array[], root: number): void {
  const n = bodies.length;
  // Nullable: derives "". Productive: derives some finite string (no empty charset on the way).
  const nullable = solveRules(bodies, () => false);
  const productive = solveRules(bodies, (c) => charsets[c]!.length > 0);
  // Rules a rule can start with: those reached before anything that must consume a character.
  const leftCorner = bodies.map((alts) => {
    const out: number[] = [];
    for (const alt of alts) {
      for (const s of alt) {
        if (!('rule' in s)) break;
        out.push(s.rule);
        if (!nullable[s.rule]) break;
      }
    }
    return out;
  });
  // Depth-first search for a cycle, with an explicit path (rule chains can be long).
  const state = new Uint8Array(n); // 0 unvisited, 1 on the path, 2 done
  const path: number[] = [];
  const edge: number[] = []; // per path entry: the next left corner to try
  for (let r0 = 0; r0 < n; r0++) {
    if (state[r0] !== 0) continue;
    state[r0] = 1;
    path.push(r0);
    edge.push(0);
    while (path.length > 0) {
      const r = path[path.length - 1]!;
      const corners = leftCorner[r]!;
      const i = edge[edge.length - 1]!;
      if (i === corners.length) {
        state[r] = 2;
        path.pop();
        edge.pop();
        continue;
      }
      edge[edge.length - 1] = i + 1;
      const next = corners[i]!;
      if (state[next] === 1) {
        let cycle = [...new Set(path.slice(path.indexOf(next)).map((id) => userName(names[id]!)))];
        if (cycle.length > 8) cycle = [...cycle.slice(0, 4), `(${cycle.length - 6} more)`, ...cycle.slice(-2)];
        throw invalid(`left recursion: ${cycle.join(' -> ')} -> ${userName(names[next]!)} (a rule reaches itself before consuming any character; a repetition of something that can be empty does too)`);
      }
      if (state[next] === 0) {
        state[next] = 1;
        path.push(next);
        edge.push(0);
      }
    }
  }

  const reached = new Uint8Array(n);
  const queue = [root];
  reached[root] = 1;
  while (queue.length > 0) {
    const r = queue.pop()!;
    if (!productive[r]) throw invalid(`rule "${userName(names[r]!)}" can never finish: every alternative needs itself again or an empty character class`);
    for (const alt of bodies[r]!) {
      for (const s of alt) {
        if ('rule' in s && !reached[s.rule]) {
          reached[s.rule] = 1;
          queue.push(s.rule);
        }
      }
    }
  }
}

/**
 * The rules that derive something, given which charsets count as derivable: a rule does when
 * one of its alternatives has only derivable charsets and rules. A worklist, so it stays linear
 * however long the chains of rules are.
 */
function solveRules(bodies: readonly Sym[][][], charsetOk: (charset: number) => boolean): Uint8Array {
  const ok = new Uint8Array(bodies.length);
  const waiting: number[] = []; // per alternative: rule references not yet known to derive
  const owner: number[] = [];
  const users: number[][] = bodies.map(() => []); // per rule: alternatives referring to it
  const queue: number[] = [];
  const settle = (rule: number) => {
    if (!ok[rule]) {
      ok[rule] = 1;
      queue.push(rule);
    }
  };
  bodies.forEach((alts, r) => {
    for (const alt of alts) {
      if (alt.some((sym) => !('rule' in sym) && !charsetOk(sym.chars))) continue;
      const a = waiting.length;
      owner.push(r);
      waiting.push(0);
      for (const sym of alt) {
        if ('rule' in sym) {
          waiting[a]!++;
          users[sym.rule]!.push(a);
        }
      }
      if (waiting[a] === 0) settle(r);
    }
  });
  while (queue.length > 0) {
    for (const a of users[queue.pop()!]!) if (--waiting[a]! === 0) settle(owner[a]!);
  }
  return ok;
}

/** A generated rule is named after the user's rule it came from: `value-12` -> `value`. */
function userName(name: string): string {
  return name.replace(/(-\d+)+$/, '') || name;
}

function toProgram(bodies: readonly Sym[][][], names: readonly string[], charsets: readonly Uint32Array[], root: number): CompiledGrammar {
  let size = 0;
  for (const alts of bodies) for (const alt of alts) size += alt.length + 1;
  const kinds = new Uint8Array(size);
  const args = new Int32Array(size);
  const alternatives: Int32Array[] = [];
  let p = 0;
  for (const alts of bodies) {
    const starts = new Int32Array(alts.length);
    alts.forEach((alt, i) => {
      starts[i] = p;
      for (const s of alt) {
        if ('rule' in s) {
          kinds[p] = RULE;
          args[p] = s.rule;
        } else {
          kinds[p] = CHARS;
          args[p] = s.chars;
        }
        p++;
      }
      kinds[p++] = END;
    });
    alternatives.push(starts);
  }
  const asciiBits = new Uint32Array(charsets.length * 4);
  charsets.forEach((set, c) => {
    for (let i = 0; i < set.length; i += 2) {
      for (let cp = set[i]!; cp <= Math.min(set[i + 1]!, 127); cp++) asciiBits[c * 4 + (cp >> 5)]! |= 1 << (cp & 31);
    }
  });
  const bounds = new Set<number>([0]);
  for (const set of charsets) for (let i = 0; i < set.length; i += 2) bounds.add(set[i]!).add(set[i + 1]! + 1);
  const classStarts = Uint32Array.from([...bounds].filter((b) => b <= MAX_CODE_POINT).sort((a, b) => a - b));
  const asciiClass = classStarts.length <= 0xffff ? new Uint16Array(128) : new Uint32Array(128);
  for (let cp = 0, k = 0; cp < 128; cp++) {
    while (k + 1 < classStarts.length && classStarts[k + 1]! <= cp) k++;
    asciiClass[cp] = k;
  }
  return { kinds, args, alternatives, charsets, asciiBits, classStarts, asciiClass, ruleNames: names, root };
}
