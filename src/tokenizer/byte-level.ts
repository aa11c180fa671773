/**
 * GPT-2's byte-level alphabet: every byte is shown as one printable character, so that BPE can
 * work on text while staying lossless. Printable Latin-1 bytes stand for themselves; the other 68
 * bytes take the characters U+0100 upwards, in byte order.
 */

function isSelfMapped(byte: number): boolean {
  return (byte >= 0x21 && byte <= 0x7e) || (byte >= 0xa1 && byte <= 0xac) || (byte >= 0xae && byte <= 0xff);
}

/** Character code of each byte's stand-in. */
const BYTE_TO_CHAR = new Uint16Array(256);
/** Byte value of each stand-in character code, -1 for characters outside the alphabet. */
const CHAR_TO_BYTE = new Int16Array(0x144).fill(-1);

{
  let next = 0x100;
  for (let b = 0; b < 256; b++) {
    const code = isSelfMapped(b) ? b : next++;
    BYTE_TO_CHAR[b] = code;
    CHAR_TO_BYTE[code] = b;
  }
}

/** The byte-level spelling of a string's UTF-8 bytes. */
export function toByteLevel(text: string): string {
  const codes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    let cp = text.charCodeAt(i);
    if (cp < 0x80) {
      codes.push(BYTE_TO_CHAR[cp]!);
      continue;
    }
    if (cp >= 0xd800 && cp < 0xdc00 && i + 1 < text.length) {
      const low = text.charCodeAt(i + 1);
      if (low >= 0xdc00 && low < 0xe000) {
        cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
        i++;
      }
    }
    if (cp >= 0xd800 && cp < 0xe000) cp = 0xfffd; // a lone surrogate has no UTF-8 form
    if (cp < 0x800) {
      codes.push(BYTE_TO_CHAR[0xc0 | (cp >> 6)]!, BYTE_TO_CHAR[0x80 | (cp & 0x3f)]!);
    } else if (cp < 0x10000) {
      codes.push(BYTE_TO_CHAR[0xe0 | (cp >> 12)]!, BYTE_TO_CHAR[0x80 | ((cp >> 6) & 0x3f)]!, BYTE_TO_CHAR[0x80 | (cp & 0x3f)]!);
    } else {
      codes.push(
        BYTE_TO_CHAR[0xf0 | (cp >> 18)]!,
        BYTE_TO_CHAR[0x80 | ((cp >> 12) & 0x3f)]!,
        BYTE_TO_CHAR[0x80 | ((cp >> 6) & 0x3f)]!,
        BYTE_TO_CHAR[0x80 | (cp & 0x3f)]!,
      );
    }
  }
  return charCodesToString(codes);
}

/** String.fromCharCode in slices, so that a very long word cannot overflow the call stack. */
function charCodesToString(codes: readonly number[]): string {
  const SLICE = 8192;
  if (codes.length <= SLICE) return String.fromCharCode(...codes);
  let s = '';
  for (let i = 0; i < codes.length; i += SLICE) s += String.fromCharCode(...codes.slice(i, i + SLICE));
  return s;
}

const encoder = new TextEncoder();

/**
 * The bytes a byte-level token text stands for. A character outside the alphabet (only in a
 * malformed vocabulary) contributes its own UTF-8 bytes.
 */
export function fromByteLevel(text: string): Uint8Array {
  const out: number[] = [];
  for (const ch of text) {
    const code = ch.codePointAt(0)!;
    const byte = code < CHAR_TO_BYTE.length ? CHAR_TO_BYTE[code]! : -1;
    if (byte >= 0) out.push(byte);
    else out.push(...encoder.encode(ch));
  }
  return Uint8Array.from(out);
}
