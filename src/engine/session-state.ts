/**
 * A session's saved state: its tokens and their KV cache entries, as bytes, so that a
 * conversation resumes without evaluating its prompt again.
 *
 * Layout (version 1, little-endian):
 *
 *   0    4  magic "WCSS"
 *   4    4  u32 version (1)
 *   8    4  u32 H: byte length of the header
 *   12   H  header, UTF-8 JSON: { arch, vocabSize, kvType, layers: [[nKvHead, headDim], …], nTokens }
 *           (the layout fingerprint: a state only loads into a session with the same one)
 *   …       zero padding to a multiple of 4
 *   …       nTokens × i32 token ids
 *   …       per layer: keys then values, each [kvHead][position][headDim] elements of kvType
 *           for positions [0, nTokens) (Backend.readKV's layout)
 *   end-4 4 u32 CRC-32 of every byte before it
 *
 * Decoding checks every size against the bytes present before reading, so truncated, garbled
 * or foreign bytes end in a WasmChordError, never in an out-of-range read.
 */
import { WasmChordError } from '../errors.js';
import { kvElementBytes, type KVCacheType } from '../backends/backend.js';
import type { SessionSnapshot } from './session.js';

const MAGIC = 0x53534357; // "WCSS" read as a little-endian u32
const VERSION = 1;
/** Bounds that keep a hostile header's arithmetic small; real models are far below them. */
const MAX_HEADER = 1 << 20;

/** What must match for a state to load: the model's KV layout. */
export interface StateLayout {
  readonly arch: string;
  readonly vocabSize: number;
  readonly kvType: KVCacheType;
  /** [nKvHead, headDim] per layer. */
  readonly layers: readonly (readonly [number, number])[];
}

interface Header extends StateLayout {
  readonly nTokens: number;
}

export function encodeSessionState(layout: StateLayout, snapshot: SessionSnapshot): Uint8Array {
  const header = new TextEncoder().encode(JSON.stringify({ ...layout, nTokens: snapshot.tokens.length } satisfies Header));
  const tokensAt = align4(12 + header.length);
  const kvBytes = snapshot.layers.reduce((sum, l) => sum + l.keys.length + l.values.length, 0);
  const out = new Uint8Array(tokensAt + snapshot.tokens.length * 4 + kvBytes + 4);
  const view = new DataView(out.buffer);
  view.setUint32(0, MAGIC, true);
  view.setUint32(4, VERSION, true);
  view.setUint32(8, header.length, true);
  out.set(header, 12);
  snapshot.tokens.forEach((t, i) => view.setInt32(tokensAt + i * 4, t, true));
  let at = tokensAt + snapshot.tokens.length * 4;
  for (const l of snapshot.layers) {
    out.set(l.keys, at);
    at += l.keys.length;
    out.set(l.values, at);
    at += l.values.length;
  }
  view.setUint32(at, crc32(out.subarray(0, at)), true);
  return out;
}

/**
 * Decodes a state saved by encodeSessionState and checks it against `expected` (the session it
 * is loaded into). The returned KV data are views of `bytes`.
 */
export function decodeSessionState(bytes: unknown, expected: StateLayout): SessionSnapshot {
  if (!(bytes instanceof Uint8Array)) throw invalid('a session state must be a Uint8Array');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 16 || view.getUint32(0, true) !== MAGIC) throw invalid('these bytes are not a wasm-chord session state');
  const version = view.getUint32(4, true);
  if (version !== VERSION) throw invalid(`session state version ${version} is not supported (this version reads ${VERSION})`);
  const headerLength = view.getUint32(8, true);
  if (headerLength > MAX_HEADER || 12 + headerLength + 4 > bytes.length) throw invalid('the session state is truncated (its header is cut off)');
  const header = parseHeader(bytes.subarray(12, 12 + headerLength));

  const eb = kvElementBytes(header.kvType);
  const layerBytes = header.layers.map(([nKvHead, headDim]) => nKvHead * header.nTokens * headDim * eb);
  const tokensAt = align4(12 + headerLength);
  const total = tokensAt + header.nTokens * 4 + 2 * layerBytes.reduce((a, b) => a + b, 0) + 4;
  if (bytes.length < total) throw invalid(`the session state is truncated (${bytes.length} of ${total} bytes)`);
  if (bytes.length > total) throw invalid(`the session state has ${bytes.length - total} unexpected trailing bytes`);
  if (view.getUint32(total - 4, true) !== crc32(bytes.subarray(0, total - 4))) throw invalid('the session state is corrupted (checksum mismatch)');

  if (describe(header) !== describe(expected)) {
    throw invalid(`this state was saved from another model or KV layout (${describe(header)}); this session is ${describe(expected)}`);
  }
  const tokens: number[] = [];
  for (let i = 0; i < header.nTokens; i++) {
    const t = view.getInt32(tokensAt + i * 4, true);
    if (t < 0 || t >= header.vocabSize) throw invalid(`the session state holds token id ${t}, outside the vocabulary`);
    tokens.push(t);
  }
  let at = tokensAt + header.nTokens * 4;
  const take = (n: number) => bytes.subarray(at, (at += n));
  const layers = layerBytes.map((n) => ({ keys: take(n), values: take(n) }));
  return { tokens, layers };
}

function parseHeader(raw: Uint8Array): Header {
  let h: Record<string, unknown>;
  try {
    h = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(raw)) as Record<string, unknown>;
  } catch {
    throw invalid('the session state header is not readable');
  }
  const count = (v: unknown, max: number) => Number.isInteger(v) && (v as number) >= 0 && (v as number) <= max;
  const ok =
    h !== null &&
    typeof h === 'object' &&
    typeof h.arch === 'string' &&
    count(h.vocabSize, 2 ** 31) &&
    (h.kvType === 'f32' || h.kvType === 'f16') &&
    count(h.nTokens, 2 ** 31) &&
    Array.isArray(h.layers) &&
    h.layers.length <= 1 << 16 &&
    h.layers.every((l) => Array.isArray(l) && l.length === 2 && count(l[0], 1 << 16) && count(l[1], 1 << 16));
  if (!ok) throw invalid('the session state header is malformed');
  return h as unknown as Header;
}

/** A one-line description of a layout, also used to compare two of them. */
function describe(l: StateLayout): string {
  const shapes = l.layers.map(([h, d]) => `${h}×${d}`);
  const shape = shapes.every((s) => s === shapes[0]) ? (shapes[0] ?? '-') : shapes.join(' ');
  return `${l.arch}, vocabulary ${l.vocabSize}, ${l.layers.length} layers of ${shape} KV heads×dim, ${l.kvType} cache`;
}

function invalid(message: string): WasmChordError {
  return new WasmChordError('INVALID_ARGUMENT', message);
}

function align4(n: number): number {
  return (n + 3) & ~3;
}

let CRC_TABLE: Uint32Array | undefined;

/** CRC-32 (IEEE 802.3, as zlib): catches a flipped byte anywhere in the state. */
export function crc32(data: Uint8Array): number {
  if (!CRC_TABLE) {
    CRC_TABLE = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      CRC_TABLE[n] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = CRC_TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
