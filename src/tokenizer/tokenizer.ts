/**
 * A model's tokenizer, built from GGUF metadata alone, behaving as llama.cpp (c392e50) does:
 * `encode` matches `llama_tokenize` and `decode` matches `llama_detokenize` (special tokens
 * rendered unless skipped).
 */
import { WasmChordError } from '../errors.js';
import type { GGUFMetadata } from '../gguf/metadata.js';
import { BpeModel } from './bpe.js';
import { TokenPieces, cleanUpSpaces } from './pieces.js';
import { bpePreset } from './pretokenizers.js';
import { SpecialTokenSplitter, resolveSpecialTokens, unescapeSpecialText, type Fragment } from './special-tokens.js';
import { SpmModel } from './spm.js';
import { PieceStreamDecoder, newUtf8Decoder, type StreamDecoder } from './stream-decoder.js';
import { readVocab, tokenTypeName, type TokenTypeName, type TokenizerModel, type Vocab } from './vocab.js';
import { WordPieceModel } from './wordpiece.js';

export interface EncodeOptions {
  /** Add the BOS/EOS (WordPiece: CLS/SEP) tokens the model asks for. Default true. */
  addSpecial?: boolean;
  /** Turn special-token text such as `<|im_end|>` in the input into its token. Default false. */
  parseSpecial?: boolean;
  /**
   * The text holds parts escaped by `escapeSpecialText`: special-token text in those parts stays
   * text even with parseSpecial (chat messages inside a template). Default false.
   */
  escaped?: boolean;
}

export interface DecodeOptions {
  /** Render control and unknown tokens as nothing instead of their text. Default false. */
  skipSpecial?: boolean;
  /**
   * Drop one space at the start of the first token's piece: the space SentencePiece's encoder
   * prepends. Default: the model's add_space_prefix (true for SentencePiece vocabularies). Pass
   * false when decoding a continuation of earlier text.
   */
  stripLeadingSpace?: boolean;
  /** Remove spaces before punctuation as llama.cpp does. Default: the model's setting. */
  cleanSpaces?: boolean;
}

interface TextModel {
  encode(text: string, out: number[]): void;
}

export class Tokenizer {
  /** `tokenizer.ggml.model`: llama (SentencePiece), gpt2 (byte-level BPE) or bert (WordPiece). */
  readonly model: TokenizerModel;
  /** The BPE pre-tokenizer family in use; undefined for the other models. */
  readonly preTokenizer: string | undefined;
  readonly vocabSize: number;
  readonly bos?: number;
  readonly eos?: number;
  /** End of turn (e.g. `<|eot_id|>`, `<|im_end|>`). */
  readonly eot?: number;
  readonly pad?: number;
  readonly unk?: number;
  /** Separator (WordPiece's SEP). */
  readonly sep?: number;
  readonly addBos: boolean;
  readonly addEos: boolean;
  /** SentencePiece's leading space before text; decoding drops it again. */
  readonly addSpacePrefix: boolean;
  /** Whether `decode` removes spaces before punctuation by default. */
  readonly cleanSpaces: boolean;
  /** Every id that ends generation: EOS, EOT, EOM and turn-end tokens. */
  readonly endOfGenerationIds: readonly number[];

  readonly #vocab: Vocab;
  readonly #eog: ReadonlySet<number>;
  readonly #splitter: SpecialTokenSplitter;
  readonly #text: TextModel;
  readonly #pieces: TokenPieces;

  private constructor(metadata: GGUFMetadata) {
    const vocab = readVocab(metadata);
    const special = resolveSpecialTokens(metadata, vocab);
    this.#vocab = vocab;
    this.#eog = special.eog;
    this.#splitter = new SpecialTokenSplitter(vocab, metadata);
    this.#pieces = new TokenPieces(vocab);
    this.model = vocab.model;
    this.vocabSize = vocab.tokens.length;
    this.bos = special.bos;
    this.eos = special.eos;
    this.eot = special.eot;
    this.pad = special.pad;
    this.unk = special.unk;
    this.sep = special.sep;
    this.endOfGenerationIds = [...special.eog].sort((a, b) => a - b);

    let addBos: boolean;
    switch (vocab.model) {
      case 'llama':
        // SentencePiece vocabularies always have UNK: id 0 unless metadata names another.
        this.#text = new SpmModel(vocab, special.unk ?? 0);
        this.preTokenizer = undefined;
        addBos = true;
        this.addSpacePrefix = metadata.getBool('tokenizer.ggml.add_space_prefix') ?? true;
        this.cleanSpaces = false;
        break;
      case 'gpt2': {
        const preset = bpePreset(metadata.getString('tokenizer.ggml.pre'));
        this.#text = new BpeModel(vocab, metadata, preset);
        this.preTokenizer = preset.family;
        addBos = preset.addBos;
        this.addSpacePrefix = metadata.getBool('tokenizer.ggml.add_space_prefix') ?? false;
        this.cleanSpaces = preset.cleanSpaces;
        break;
      }
      case 'bert':
        this.#text = new WordPieceModel(vocab, special.unk);
        this.preTokenizer = undefined;
        addBos = true;
        this.addSpacePrefix = metadata.getBool('tokenizer.ggml.add_space_prefix') ?? false;
        this.cleanSpaces = true;
        break;
    }
    this.addBos = metadata.getBool('tokenizer.ggml.add_bos_token') ?? addBos;
    this.addEos = metadata.getBool('tokenizer.ggml.add_eos_token') ?? false;
    if (this.addBos && this.bos === undefined) throw missingSpecial('add_bos_token', 'BOS');
    if (this.addEos && this.eos === undefined) throw missingSpecial('add_eos_token', 'EOS');
  }

  static fromGGUF(metadata: GGUFMetadata): Tokenizer {
    return new Tokenizer(metadata);
  }

  encode(text: string, options: EncodeOptions = {}): number[] {
    if (typeof text !== 'string') throw new WasmChordError('INVALID_ARGUMENT', 'encode takes a string');
    if (typeof options !== 'object' || options === null) throw new WasmChordError('INVALID_ARGUMENT', 'encode options must be an object');
    const { addSpecial = true, parseSpecial = false, escaped = false } = options;
    const out: number[] = [];
    let fragments = this.#splitter.split(toWellFormed(text), parseSpecial);
    if (escaped) fragments = fragments.map((f) => (typeof f === 'string' ? unescapeSpecialText(f) : f)).filter((f) => f !== '');
    switch (this.model) {
      case 'llama': {
        if (addSpecial && this.addBos) out.push(this.bos!);
        // The space prefix goes before the text and after every special token, as in llama.cpp.
        let afterSpecial = true;
        for (const fragment of fragments) {
          if (typeof fragment === 'number') {
            out.push(fragment);
            afterSpecial = true;
            continue;
          }
          const spaced = this.addSpacePrefix && afterSpecial ? ` ${fragment}` : fragment;
          this.#text.encode(spaced.replaceAll(' ', '\u2581'), out);
          afterSpecial = false;
        }
        if (addSpecial && this.addEos) out.push(this.eos!);
        break;
      }
      case 'gpt2':
        if (addSpecial && this.addBos) out.push(this.bos!);
        this.#encodeFragments(fragments, out);
        if (addSpecial && this.addEos) out.push(this.eos!);
        break;
      case 'bert':
        if (addSpecial && this.bos !== undefined) out.push(this.bos);
        this.#encodeFragments(fragments, out);
        if (addSpecial && this.sep !== undefined) out.push(this.sep);
        break;
    }
    return out;
  }

  #encodeFragments(fragments: readonly Fragment[], out: number[]): void {
    for (const fragment of fragments) {
      if (typeof fragment === 'number') out.push(fragment);
      else this.#text.encode(fragment, out);
    }
  }

  /**
   * `text` with its special-token text (control tokens such as `</s>` or `<|im_end|>`) escaped:
   * `encode(..., { parseSpecial: true, escaped: true })` of a text containing it tokenizes that
   * part exactly as plain text, while the special-token text around it still parses. The escapes
   * are Unicode noncharacters inserted only where special-token text occurs, so everything else
   * (trimming, comparisons in a chat template) sees the original text.
   */
  escapeSpecialText(text: string): string {
    if (typeof text !== 'string') throw new WasmChordError('INVALID_ARGUMENT', 'escapeSpecialText takes a string');
    return this.#splitter.escape(text);
  }

  decode(ids: ArrayLike<number>, options: DecodeOptions = {}): string {
    if (typeof ids !== 'object' || ids === null || typeof ids.length !== 'number') {
      throw new WasmChordError('INVALID_ARGUMENT', 'decode takes an array of token ids');
    }
    const settings = this.#decodeSettings(options);
    const parts: Uint8Array[] = [];
    let total = 0;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      this.#checkId(id);
      let bytes = this.#pieces.bytes(id, settings.special);
      if (i === 0 && settings.stripLeadingSpace && bytes[0] === 0x20) bytes = bytes.subarray(1);
      parts.push(bytes);
      total += bytes.length;
    }
    const all = new Uint8Array(total);
    let offset = 0;
    for (const part of parts) {
      all.set(part, offset);
      offset += part.length;
    }
    const text = newUtf8Decoder().decode(all);
    return settings.cleanSpaces ? cleanUpSpaces(text) : text;
  }

  /** A decoder for ids arriving one at a time; its chunks join to `decode(ids, options)`. */
  createStreamDecoder(options: DecodeOptions = {}): StreamDecoder {
    return new PieceStreamDecoder(this.#pieces, this.#decodeSettings(options), (id) => this.#checkId(id));
  }

  /** The bytes token `id` stands for; with `special: false`, control tokens give none. */
  tokenToPiece(id: number, options: { special?: boolean } = {}): Uint8Array {
    this.#checkId(id);
    return this.#pieces.bytes(id, options.special ?? true).slice();
  }

  tokenType(id: number): TokenTypeName {
    this.#checkId(id);
    return tokenTypeName(this.#vocab.types[id]!);
  }

  isEndOfGeneration(id: number): boolean {
    return this.#eog.has(id);
  }

  #decodeSettings(options: DecodeOptions) {
    if (typeof options !== 'object' || options === null) throw new WasmChordError('INVALID_ARGUMENT', 'decode options must be an object');
    return {
      special: !(options.skipSpecial ?? false),
      stripLeadingSpace: options.stripLeadingSpace ?? this.addSpacePrefix,
      cleanSpaces: options.cleanSpaces ?? this.cleanSpaces,
    };
  }

  #checkId(id: number): void {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
      throw new WasmChordError('TOKENIZER_INPUT', `token id ${id} is not in the vocabulary (0..${this.vocabSize - 1})`);
    }
  }
}

function missingSpecial(flag: string, role: string): WasmChordError {
  return new WasmChordError('GGUF_MALFORMED', `tokenizer.ggml.${flag} is true but the vocabulary has no ${role} token`);
}

/** Lone surrogates have no UTF-8 form; like TextEncoder, read them as U+FFFD. */
function toWellFormed(text: string): string {
  return text.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');
}
