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
  }

  split(text: string, parseSpecial: boolean): Fragment[] {
    let fragments: Fragment[] = text.length > 0 ? [text] : [];
    // Fragments are pieces of `text`, so a token whose first character `text` lacks cannot occur.
    const hasChar = new Map<string, boolean>();
    for (const special of parseSpecial ? this.#all : this.#always) {
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
