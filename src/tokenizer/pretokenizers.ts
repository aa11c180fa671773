/**
 * Byte-level BPE pre-tokenizers, chosen by `tokenizer.ggml.pre`.
 *
 * Each pre-tokenizer is a list of regexes applied in turn, as llama.cpp (c392e50) does: every
 * regex splits each piece left by the previous one, and the text between matches is kept as a
 * piece of its own. The regexes are written for the JavaScript engine's Unicode support:
 * - `\s` is Unicode White_Space everywhere (llama.cpp maps non-ASCII whitespace to a space
 *   class before matching), so a whitespace character never matches a literal range either;
 * - where llama.cpp hand-codes the GPT-2 and Llama-3 regexes, these are the regexes they
 *   implement, including the final `\s+` alternative that the hand-written code applies;
 * - DeepSeek-LLM's long list of cased-letter ranges is the general category `\p{LC}`. The two
 *   differ only for cased letters its list leaves out (e.g. Latin Extended-D/E, Georgian
 *   Mkhedruli, which later Unicode versions made lowercase).
 */
import { WasmChordError } from '../errors.js';

export interface BpePreset {
  /** The family name the `tokenizer.ggml.pre` value resolved to. */
  readonly family: string;
  readonly regexes: readonly RegExp[];
  /** llama.cpp's `clean_spaces`: the detokenizer removes spaces before punctuation. */
  readonly cleanSpaces: boolean;
  /** A word that is itself a token is taken whole, without merges (Llama-3). */
  readonly ignoreMerges: boolean;
  /** The BOS default when the file has no `tokenizer.ggml.add_bos_token`. */
  readonly addBos: boolean;
}

/** Compiles a regex written with `\s`/`\S`, reading them as Unicode White_Space. */
function unicodeRegex(source: string): RegExp {
  const expanded = source.replaceAll('\\s', '\\p{White_Space}').replaceAll('\\S', '\\P{White_Space}');
  return new RegExp(expanded, 'gu');
}

const GPT2 = String.raw`'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`;
const LLAMA3 = String.raw`'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD]|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`;
const QWEN2 = String.raw`'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD]|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`;
/** CJK ideographs, U+0800..U+9FA5 and Hangul (as DeepSeek's tokenizers list them), minus whitespace. */
const DEEPSEEK_CJK = String.raw`(?:(?!\s)[\u0800-\u9FA5\uAC00-\uD7FF])+`;

interface Family {
  regexes: readonly string[];
  cleanSpaces: boolean;
  ignoreMerges?: boolean;
  addBos?: boolean;
}

const FAMILIES: Record<string, Family> = {
  default: {
    regexes: [String.raw`[\p{P}$+<=>^~|]+`, GPT2, String.raw`\p{N}+`, '[0-9][0-9][0-9]'],
    cleanSpaces: true,
  },
  'gpt-2': { regexes: [GPT2], cleanSpaces: true },
  llama3: { regexes: [LLAMA3], cleanSpaces: true, ignoreMerges: true, addBos: true },
  qwen2: { regexes: [QWEN2], cleanSpaces: false },
  'deepseek-llm': {
    regexes: [
      '[\\r\\n]',
      String.raw`\s?\p{LC}+`,
      // ASCII punctuation and symbols, their full-width forms, curly quotes, 、 and 。
      String.raw`\s?[!-/:-~\uFF01-\uFF0F\uFF1A-\uFF5E\u2018-\u201F\u3001\u3002]+`,
      String.raw`\s+$`,
      DEEPSEEK_CJK,
      String.raw`\p{N}+`,
    ],
    cleanSpaces: false,
  },
  'deepseek-coder': {
    regexes: ['[\\r\\n]', String.raw`\s?\p{L}+`, String.raw`\s?\p{P}+`, DEEPSEEK_CJK, String.raw`\p{N}`],
    cleanSpaces: false,
  },
  falcon: {
    regexes: [String.raw`[\p{P}$+<=>^~|` + '`]+', GPT2, '[0-9][0-9][0-9]'],
    cleanSpaces: true,
  },
  starcoder: { regexes: [String.raw`\p{N}`, GPT2], cleanSpaces: true },
};

/** `tokenizer.ggml.pre` values and the family each one uses (llama.cpp's table, trimmed). */
const ALIASES: Record<string, { family: string; cleanSpaces?: boolean; ignoreMerges?: boolean; addBos?: boolean }> = {
  default: { family: 'default' },
  'gpt-2': { family: 'gpt-2' },
  mpt: { family: 'gpt-2' },
  'phi-2': { family: 'gpt-2' },
  olmo: { family: 'gpt-2' },
  'roberta-bpe': { family: 'gpt-2' },
  llama3: { family: 'llama3' },
  'llama-v3': { family: 'llama3' },
  'llama-bpe': { family: 'llama3' },
  falcon3: { family: 'llama3' },
  dbrx: { family: 'llama3', ignoreMerges: false, addBos: false },
  'smaug-bpe': { family: 'llama3', ignoreMerges: false, addBos: false },
  qwen2: { family: 'qwen2' },
  'deepseek-r1-qwen': { family: 'qwen2' },
  stablelm2: { family: 'qwen2', cleanSpaces: true },
  megrez: { family: 'qwen2', cleanSpaces: true },
  'deepseek-llm': { family: 'deepseek-llm' },
  'deepseek-coder': { family: 'deepseek-coder' },
  falcon: { family: 'falcon' },
  starcoder: { family: 'starcoder' },
  refact: { family: 'starcoder' },
  codeshell: { family: 'starcoder' },
  smollm: { family: 'starcoder', cleanSpaces: false },
  'command-r': { family: 'starcoder', cleanSpaces: false },
};

export const SUPPORTED_PRE_TOKENIZERS: readonly string[] = Object.keys(ALIASES);

/** The pre-tokenizer for a `tokenizer.ggml.pre` value; a missing value means `default`. */
export function bpePreset(pre: string | undefined): BpePreset {
  // The name comes from the file: look it up as an own key only ("constructor" is no preset).
  const name = pre ?? 'default';
  const alias = Object.hasOwn(ALIASES, name) ? ALIASES[name] : undefined;
  if (alias === undefined) {
    throw new WasmChordError(
      'TOKENIZER_UNSUPPORTED',
      `BPE pre-tokenizer "${pre}" is not supported (supported: ${SUPPORTED_PRE_TOKENIZERS.join(', ')})`,
    );
  }
  const family = FAMILIES[alias.family]!;
  return {
    family: alias.family,
    regexes: family.regexes.map(unicodeRegex),
    cleanSpaces: alias.cleanSpaces ?? family.cleanSpaces,
    ignoreMerges: alias.ignoreMerges ?? family.ignoreMerges ?? false,
    addBos: alias.addBos ?? family.addBos ?? false,
  };
}

/** Splits text into the words BPE merges within, keeping every character. */
export function splitWords(text: string, regexes: readonly RegExp[]): string[] {
  let pieces = [text];
  for (const regex of regexes) {
    const next: string[] = [];
    for (const piece of pieces) splitKeepingGaps(piece, regex, next);
    pieces = next;
  }
  return pieces;
}

function splitKeepingGaps(piece: string, regex: RegExp, out: string[]): void {
  let last = 0;
  regex.lastIndex = 0;
  for (let m = regex.exec(piece); m !== null; m = regex.exec(piece)) {
    const start = m.index;
    const end = start + m[0].length;
    if (end === start) {
      // never happens with these regexes; step over one code point to stay finite
      regex.lastIndex = start + (piece.codePointAt(start)! > 0xffff ? 2 : 1);
      continue;
    }
    if (start > last) out.push(piece.slice(last, start));
    out.push(m[0]);
    last = end;
  }
  if (last < piece.length) out.push(piece.slice(last));
}
