/**
 * Special tokens: the ids named in metadata (with each model's defaults), the end-of-generation
 * set, and the splitting of input text around special-token text.
 *
 * Like llama.cpp (c392e50), tokens whose text marks the end of a turn (`<|im_end|>`,
 * `<|eot_id|>`, `<end_of_turn>`, ...) or a fill-in-the-middle role are treated as control tokens
 * even when the file types them otherwise, and the end-of-generation set is EOS, EOT, EOM, those
 * turn-end texts and the FIM pad/repo/file-separator tokens.
 */
import type { GGUFMetadata } from '../gguf/metadata.js';
import { TokenType, type Vocab } from './vocab.js';

export interface SpecialTokens {
  readonly bos?: number;
  readonly eos?: number;
  readonly eot?: number;
  readonly eom?: number;
  readonly unk?: number;
  readonly sep?: number;
  readonly pad?: number;
  readonly mask?: number;
  readonly eog: ReadonlySet<number>;
}

/** Default ids when metadata names none, per tokenizer model (llama.cpp's defaults). */
const DEFAULT_IDS: Record<Vocab['model'], Partial<Record<IdKind, number>>> = {
  llama: { bos: 1, eos: 2, unk: 0 },
  gpt2: { bos: 11, eos: 11 },
  bert: { bos: 101, unk: 100, sep: 102, pad: 0, mask: 103 },
};

const ID_KEYS = {
  bos: ['tokenizer.ggml.bos_token_id', 'tokenizer.ggml.cls_token_id'],
  eos: ['tokenizer.ggml.eos_token_id'],
  eot: ['tokenizer.ggml.eot_token_id'],
  eom: ['tokenizer.ggml.eom_token_id'],
  unk: ['tokenizer.ggml.unknown_token_id'],
  sep: ['tokenizer.ggml.seperator_token_id'],
  pad: ['tokenizer.ggml.padding_token_id'],
  mask: ['tokenizer.ggml.mask_token_id'],
  fimPre: ['tokenizer.ggml.fim_pre_token_id', 'tokenizer.ggml.prefix_token_id'],
  fimSuf: ['tokenizer.ggml.fim_suf_token_id', 'tokenizer.ggml.suffix_token_id'],
  fimMid: ['tokenizer.ggml.fim_mid_token_id', 'tokenizer.ggml.middle_token_id'],
  fimPad: ['tokenizer.ggml.fim_pad_token_id'],
  fimRep: ['tokenizer.ggml.fim_rep_token_id'],
  fimSep: ['tokenizer.ggml.fim_sep_token_id'],
} as const;

type IdKind = keyof typeof ID_KEYS;

/** Texts that identify a role when metadata does not, in order of preference. */
const DETECTED_TEXTS: Partial<Record<IdKind, readonly string[]>> = {
  eot: ['<|eot_id|>', '<|im_end|>', '<|end|>', '<end_of_turn>', '<|endoftext|>', '<EOT>', '_<EOT>', '<｜end▁of▁sentence｜>'],
  eom: ['<|eom_id|>'],
  fimPre: ['<|fim_prefix|>', '<fim-prefix>', '<｜fim▁begin｜>', '<PRE>'],
  fimSuf: ['<|fim_suffix|>', '<fim-suffix>', '<｜fim▁hole｜>', '<SUF>'],
  fimMid: ['<|fim_middle|>', '<fim-middle>', '<｜fim▁end｜>', '<MID>'],
  fimPad: ['<|fim_pad|>', '<fim-pad>', '<PAD>'],
  fimRep: ['<|fim_repo|>', '<fim-repo>', '<REPO>'],
  fimSep: ['<|file_sep|>'],
};

/** Turn-end texts that stop generation wherever they appear in a vocabulary. */
const EOG_TEXTS = ['<|eot_id|>', '<|im_end|>', '<|end|>', '<end_of_turn>', '<|endoftext|>', '<|eom_id|>', '<EOT>', '_<EOT>'];

/** Reads the special ids; tokens found by their text become CONTROL in `vocab.types`. */
export function resolveSpecialTokens(metadata: GGUFMetadata, vocab: Vocab): SpecialTokens {
  const n = vocab.tokens.length;
  const inRange = (id: number | undefined) => (id !== undefined && id >= 0 && id < n ? id : undefined);
  const markControl = (id: number) => {
    vocab.types[id] = TokenType.CONTROL;
  };
  const ids: Partial<Record<IdKind, number>> = {};
  for (const kind of Object.keys(ID_KEYS) as IdKind[]) {
    let id = inRange(DEFAULT_IDS[vocab.model][kind]);
    for (const key of ID_KEYS[kind]) {
      const fromFile = inRange(metadata.getInteger(key));
      if (fromFile !== undefined) {
        id = fromFile;
        break;
      }
    }
    if (id === undefined) {
      const text = DETECTED_TEXTS[kind]?.find((t) => vocab.idOf.has(t));
      if (text !== undefined) {
        id = vocab.idOf.get(text)!;
        markControl(id);
      }
    }
    if (id !== undefined) ids[kind] = id;
  }
  const eog = new Set<number>();
  for (const text of EOG_TEXTS) {
    const id = vocab.idOf.get(text);
    if (id !== undefined) {
      eog.add(id);
      markControl(id);
    }
  }
  for (const kind of ['eos', 'eot', 'eom', 'fimPad', 'fimRep', 'fimSep'] as const) {
    if (ids[kind] !== undefined) eog.add(ids[kind]);
  }
  return {
    bos: ids.bos,
    eos: ids.eos,
    eot: ids.eot,
    eom: ids.eom,
    unk: ids.unk,
    sep: ids.sep,
    pad: ids.pad,
    mask: ids.mask,
    eog,
  };
}

/** A piece of input: raw text still to tokenize, or the id of a special token found in it. */
export type Fragment = string | number;

interface SpecialText {
  readonly id: number;
  readonly text: string;
  /** Whitespace after the token is swallowed (Phi-3's special tokens). */
  readonly rstrip: boolean;
}

const utf8 = new TextEncoder();

/**
 * Finds special-token text in input. Tokens are tried longest first (by UTF-8 length); each
 * splits every remaining text fragment at all its occurrences, left to right. User-defined
 * tokens are always split out; control and unknown tokens only when special parsing is on.
 */
export class SpecialTokenSplitter {
  readonly #always: readonly SpecialText[];
  readonly #all: readonly SpecialText[];
  readonly #alwaysIds: ReadonlySet<number>;
  readonly #firstChars: ReadonlySet<string>;
  /** Finds which specials occur in a text, for vocabularies with many of them. */
  readonly #index: SpecialIndex;

  constructor(vocab: Vocab, metadata: GGUFMetadata) {
    // llama.cpp's Phi-3 rule: its special tokens swallow the whitespace after them.
    const phi3 = /phi-?3/.test((metadata.getString('general.name') ?? '').toLowerCase());
    const candidates: (SpecialText & { bytes: number; type: number })[] = [];
    for (let id = 0; id < vocab.tokens.length; id++) {
      const type = vocab.types[id]!;
      if (type !== TokenType.CONTROL && type !== TokenType.USER_DEFINED && type !== TokenType.UNKNOWN) continue;
      const text = vocab.tokens[id]!;
      if (text.length === 0) continue;
      candidates.push({ id, text, type, bytes: utf8.encode(text).length, rstrip: phi3 && !PHI3_KEEP_SPACE.has(text) });
    }
    candidates.sort((a, b) => b.bytes - a.bytes);
    this.#all = candidates;
    this.#always = candidates.filter((c) => c.type === TokenType.USER_DEFINED);
    this.#alwaysIds = new Set(this.#always.map((c) => c.id));
    this.#index = new SpecialIndex(candidates);
    this.#firstChars = new Set(candidates.filter((c) => c.type !== TokenType.USER_DEFINED).map((c) => String.fromCodePoint(c.text.codePointAt(0)!)));
  }

  /** Occurrences of `specials` in `text`, longest first, as `split` finds them (no rstrip). */
  #find(text: string, specials: readonly SpecialText[], onMatch: (s: SpecialText) => void): (string | SpecialText)[] {
    let pieces: (string | SpecialText)[] = text.length > 0 ? [text] : [];
    const present = this.#index.presentIn(text, specials.length);
    for (const special of specials) {
      if (present ? !present.has(special) : !text.includes(special.text[0]!)) continue;
      const next: (string | SpecialText)[] = [];
      for (const piece of pieces) {
        if (typeof piece !== 'string') {
          next.push(piece);
          continue;
        }
        let pos = 0;
        for (let at = piece.indexOf(special.text); at >= 0; at = piece.indexOf(special.text, pos)) {
          if (at > pos) next.push(piece.slice(pos, at));
          next.push(special);
          onMatch(special);
          pos = at + special.text.length;
        }
        if (pos < piece.length) next.push(piece.slice(pos));
      }
      pieces = next;
    }
    return pieces;
  }

  /**
   * `text` with every special-token text that only special parsing would find (control and
   * unknown tokens) made unrecognisable to `split`, reversibly: see `escapeSpecialText`.
   * User-defined tokens stay, since they are split out with or without special parsing.
   */
  escape(text: string): string {
    let out = text.replaceAll(MARK, MARK + MARK);
    // A match is never found across a mark; shorter specials inside a broken longer one may
    // still match, so repeat until none does (once, for real vocabularies).
    for (let pass = 0; pass < 8; pass++) {
      let changed = false;
      const pieces: (string | SpecialText)[] = this.#find(out, this.#all, (piece) => {
        changed ||= !this.#alwaysIds.has(piece.id);
      });
      if (!changed) return out;
      out = pieces.map((p) => (typeof p === 'string' ? p : this.#alwaysIds.has(p.id) ? p.text : breakToken(p.text))).join('');
    }
    // Pathological vocabularies: escape every character that starts some special token.
    return [...out].map((ch) => (this.#firstChars.has(ch) ? hexEscape(ch) : ch)).join('');
  }

  split(text: string, parseSpecial: boolean): Fragment[] {
    let fragments: Fragment[] = text.length > 0 ? [text] : [];
    // Fragments are pieces of `text`, so a token whose first character `text` lacks cannot occur.
    const hasChar = new Map<string, boolean>();
    const specials = parseSpecial ? this.#all : this.#always;
    const occurring = this.#index.presentIn(text, specials.length);
    for (const special of specials) {
      if (occurring && !occurring.has(special)) continue;
      const first = special.text[0]!;
      let present = hasChar.get(first);
      if (present === undefined) hasChar.set(first, (present = text.includes(first)));
      if (!present) continue;
      const next: Fragment[] = [];
      for (const fragment of fragments) {
        if (typeof fragment === 'number') next.push(fragment);
        else splitAround(fragment, special, next);
      }
      fragments = next;
    }
    return fragments;
  }
}

/**
 * The escape mark: U+FDD0 is a Unicode noncharacter, reserved for a program's internal use, so no
 * vocabulary or text is expected to hold it. In escaped text, MARK MARK stands for one MARK,
 * MARK HEX + four hex digits (U+FDE0..U+FDEF) for one UTF-16 code unit, and a lone MARK for
 * nothing: it only breaks the special-token text it sits in.
 */
const MARK = '\uFDD0';
const HEX = '\uFDD1';
const ESCAPE = /\uFDD0(?:(\uFDD0)|\uFDD1([\uFDE0-\uFDEF]{4}))?/g;

/** Removes the escapes of `SpecialTokenSplitter.escape` from text. */
export function unescapeSpecialText(text: string): string {
  if (!text.includes(MARK)) return text;
  return text.replace(ESCAPE, (_, mark: string | undefined, hex: string | undefined) => {
    if (mark) return MARK;
    if (hex) return String.fromCharCode([...hex].reduce((n, d) => n * 16 + (d.charCodeAt(0) - 0xfde0), 0));
    return '';
  });
}

/** Special-token text made unmatchable: a mark after its first character (code point). */
function breakToken(text: string): string {
  const first = String.fromCodePoint(text.codePointAt(0)!);
  if (first.length === text.length) return hexEscape(text);
  return first + MARK + text.slice(first.length);
}

/** Each UTF-16 unit of `ch` as MARK HEX dddd (for one-character special tokens). */
function hexEscape(ch: string): string {
  let out = '';
  for (let i = 0; i < ch.length; i++) {
    const code = ch.charCodeAt(i);
    out += MARK + HEX;
    for (let shift = 12; shift >= 0; shift -= 4) out += String.fromCharCode(0xfde0 + ((code >> shift) & 15));
  }
  return out;
}

/**
 * Which special tokens occur in a text, in time linear in the text per distinct token length
 * (rolling hashes), not per token: splitting tries each special token in turn, which a
 * vocabulary with hundreds of thousands of them would turn into seconds per prompt. Used only
 * when there are many specials; the result is exact (hash hits are verified).
 */
class SpecialIndex {
  static readonly MIN_SPECIALS = 128;
  static readonly #MOD = 2147483647;
  /** A random base, so that no file can be crafted to make every hash collide. */
  readonly #base = 1009 + Math.floor(Math.random() * 50000);
  readonly #byLength = new Map<number, Map<number, SpecialText[]>>();

  constructor(specials: readonly SpecialText[]) {
    if (specials.length < SpecialIndex.MIN_SPECIALS) return;
    for (const s of specials) {
      const d = s.text.length;
      let table = this.#byLength.get(d);
      if (!table) this.#byLength.set(d, (table = new Map()));
      const h = this.#hash(s.text, 0, d);
      const list = table.get(h);
      if (list) list.push(s);
      else table.set(h, [s]);
    }
  }

  /** The specials found in `text`, or undefined when the list is short enough to scan directly. */
  presentIn(text: string, listLength: number): Set<SpecialText> | undefined {
    if (listLength < SpecialIndex.MIN_SPECIALS || this.#byLength.size === 0) return undefined;
    const found = new Set<SpecialText>();
    const p = SpecialIndex.#MOD;
    const b = this.#base;
    for (const [d, table] of this.#byLength) {
      if (d > text.length) continue;
      let pow = 1; // base^(d-1)
      for (let i = 1; i < d; i++) pow = (pow * b) % p;
      let h = this.#hash(text, 0, d);
      for (let i = 0; ; i++) {
        const hits = table.get(h);
        if (hits) for (const s of hits) if (text.startsWith(s.text, i)) found.add(s);
        if (i + d >= text.length) break;
        h = (h - ((text.charCodeAt(i) * pow) % p) + p) % p;
        h = (h * b + text.charCodeAt(i + d)) % p;
      }
    }
    return found;
  }

  #hash(text: string, start: number, length: number): number {
    let h = 0;
    for (let i = start; i < start + length; i++) h = (h * this.#base + text.charCodeAt(i)) % SpecialIndex.#MOD;
    return h;
  }
}

/** Phi-3 special tokens that keep the whitespace after them. */
const PHI3_KEEP_SPACE = new Set(['<unk>', '<s>', '<|endoftext|>']);

/** ASCII whitespace as C's isspace sees it. */
function isAsciiSpace(code: number): boolean {
  return code === 0x20 || (code >= 0x09 && code <= 0x0d);
}

function splitAround(text: string, special: SpecialText, out: Fragment[]): void {
  let pos = 0;
  for (;;) {
    const at = text.indexOf(special.text, pos);
    if (at < 0) break;
    if (at > pos) out.push(text.slice(pos, at));
    out.push(special.id);
    pos = at + special.text.length;
    if (special.rstrip) while (pos < text.length && isAsciiSpace(text.charCodeAt(pos))) pos++;
  }
  if (pos < text.length) out.push(text.slice(pos));
}
