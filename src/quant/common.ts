/**
 * Shared pieces of the reference codecs: the codec interface, f32 rounding helpers that
 * reproduce C float arithmetic, and little-endian field access.
 *
 * Bit-exactness rule used throughout: every C `float` operation is one JS operation followed by
 * Math.fround (aliased `fr` in each module). A double result of +, -, *, / or sqrt on two f32 values rounds to the same f32
 * as the f32 operation would (double has more than 2·24+2 bits), so this reproduces ggml exactly
 * as long as the order of operations is the same. A store into a Float32Array rounds too, so the
 * last step of an expression written into one needs no explicit fround.
 */
import { f32ToF16Bits } from './half.js';

const fr = Math.fround;

/** ggml's QK_K: elements per K-quant super-block. */
export const QK_K = 256;

/** ggml's GROUP_MAX_EPS: below this absolute maximum a group counts as all zero. */
export const GROUP_MAX_EPS = fr(1e-15);

/**
 * One block type. Every function works on whole blocks from the start of the arrays it gets
 * (callers pass subarrays), and trusts the caller for lengths; codecs.ts checks them.
 */
export interface BlockCodec {
  dequantize(src: Uint8Array, dst: Float32Array, blocks: number): void;
  quantize?(src: Float32Array, dst: Uint8Array, blocks: number): void;
  /** ggml's vec_dot_type: the GGMLType id the activation row is quantized to. */
  readonly vecDotType?: number;
  /** ggml's CPU vec_dot over `blocks` weight blocks (and the same number of activation blocks). */
  vecDot?(weights: Uint8Array, activation: Uint8Array, blocks: number): number;
}

const nearestBits = new Float32Array(1);
const nearestInts = new Int32Array(nearestBits.buffer);

/**
 * ggml's nearest_int: adds 1.5·2^23 in f32 so that the FPU rounds to an integer (half to even)
 * and reads it back from the low mantissa bits. `x` must already be an f32 value; beyond
 * |x| < 2^22 (outside ggml's assert) the result is ggml's too: 0 for a NaN, −2^22 for ±inf.
 */
export function nearestInt(x: number): number {
  nearestBits[0] = x + 12582912;
  return (nearestInts[0]! & 0x7fffff) - 0x400000;
}

/** C roundf / lroundf: halves round away from zero. Exact for f32 inputs. */
export function roundAway(x: number): number {
  return x < 0 ? -Math.floor(0.5 - x) : Math.floor(x + 0.5);
}

export function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}

export function u16(b: Uint8Array, o: number): number {
  return b[o]! | (b[o + 1]! << 8);
}

export function u32(b: Uint8Array, o: number): number {
  return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
}

/** Reads a signed byte. */
export function i8(b: Uint8Array, o: number): number {
  return (b[o]! << 24) >> 24;
}

export function writeU16(b: Uint8Array, o: number, v: number): void {
  b[o] = v & 0xff;
  b[o + 1] = (v >>> 8) & 0xff;
}

export function writeF16(b: Uint8Array, o: number, x: number): void {
  writeU16(b, o, f32ToF16Bits(x));
}

export function view(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}
