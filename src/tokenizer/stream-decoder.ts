/**
 * Incremental detokenization: text comes out as soon as it is final, so the chunks joined are
 * exactly what `Tokenizer.decode` gives for all the ids at once.
 * - Bytes of an incomplete UTF-8 character wait for the rest (invalid bytes become U+FFFD, at
 *   the same place `decode` puts them).
 * - The leading-space strip applies to the first token only, so no space between pieces is
 *   lost or doubled.
 * - With space clean-up on, text that a later `?` or `'s` could still change is held back.
 */
import { cleanUpSpaces, settledCleanUpLength, type TokenPieces } from './pieces.js';

export interface StreamDecoder {
  /** The text that token `id` completes (often '', e.g. mid-character). */
  push(id: number): string;
  /** Everything still held back; the decoder then starts afresh. */
  flush(): string;
}

export interface DecodeSettings {
  readonly special: boolean;
  readonly stripLeadingSpace: boolean;
  readonly cleanSpaces: boolean;
}

/** A UTF-8 decoder that keeps a leading U+FEFF (the default would drop it as a BOM). */
export function newUtf8Decoder(): TextDecoder {
  return new TextDecoder('utf-8', { ignoreBOM: true });
}

export class PieceStreamDecoder implements StreamDecoder {
  readonly #pieces: TokenPieces;
  readonly #settings: DecodeSettings;
  readonly #checkId: (id: number) => void;
  #utf8 = newUtf8Decoder();
  #first = true;
  #held = '';

  constructor(pieces: TokenPieces, settings: DecodeSettings, checkId: (id: number) => void) {
    this.#pieces = pieces;
    this.#settings = settings;
    this.#checkId = checkId;
  }

  push(id: number): string {
    this.#checkId(id);
    let bytes = this.#pieces.bytes(id, this.#settings.special);
    if (this.#first) {
      this.#first = false;
      if (this.#settings.stripLeadingSpace && bytes[0] === 0x20) bytes = bytes.subarray(1);
    }
    return this.#release(this.#utf8.decode(bytes, { stream: true }), false);
  }

  flush(): string {
    const text = this.#release(this.#utf8.decode(), true);
    this.#utf8 = newUtf8Decoder();
    this.#first = true;
    return text;
  }

  #release(text: string, final: boolean): string {
    if (!this.#settings.cleanSpaces) return text;
    const pending = this.#held + text;
    const cut = final ? pending.length : settledCleanUpLength(pending);
    this.#held = pending.slice(cut);
    return cleanUpSpaces(pending.slice(0, cut));
  }
}
