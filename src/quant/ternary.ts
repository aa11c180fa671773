/**
 * Ternary types (BitNet b1.58, TriLM): every element is d·t with t in {−1, 0, 1}.
 *
 * Layouts (packed, little-endian, f16 = IEEE half):
 *   TQ1_0  u8 qs[48]; u8 qh[4]; f16 d   (54 B)  base-3 digits, 5 per byte in qs, 4 per byte in qh
 *   TQ2_0  u8 qs[64]; f16 d             (66 B)  2 bits per element (t + 1), 4 per byte
 *
 * TQ1_0 stores five trits t0..t4 (t0 most significant) as the byte ceil(256·Σ(t_i+1)·3^(4−i)/243):
 * a fixed-point fraction of 3^5, so multiplying the byte by 3^n (mod 256) and then by 3 brings
 * trit n into the top bits. Byte k of qs[0..31] holds elements k + 32n (n = 0..4); byte k of
 * qs[32..47] holds elements 160 + k + 16n; byte k of qh holds elements 240 + k + 4n (n = 0..3, the
 * fifth trit unused). TQ2_0 places element e like Q2_K: byte 32·(e>>7) + (e&31), shift 2·((e>>5)&3).
 */
import { GGMLType } from './types.js';
import { f16ToF32Table } from './half.js';
import { type BlockCodec, i8, QK_K, roundAway, u16, view, writeF16 } from './common.js';

// a local alias: an imported binding costs a getter call per use under some loaders (tsx)
const fr = Math.fround;

const POW3 = [1, 3, 9, 27, 81, 243];
const T = new Int8Array(QK_K);

/** Trit n (0 = most significant) of a TQ1_0 byte, as 0..2. */
function trit(byte: number, n: number): number {
  return (((byte * POW3[n]!) & 0xff) * 3) >> 8;
}

/** Fills T with the ternary values −1..1 of one TQ1_0 block. */
function tq1Levels(b: Uint8Array, o: number): void {
  for (let e = 0; e < 160; e++) T[e] = trit(b[o + (e & 31)]!, e >> 5) - 1;
  for (let e = 160; e < 240; e++) T[e] = trit(b[o + 32 + ((e - 160) & 15)]!, (e - 160) >> 4) - 1;
  for (let e = 240; e < QK_K; e++) T[e] = trit(b[o + 48 + ((e - 240) & 3)]!, (e - 240) >> 2) - 1;
}

function tq2Levels(b: Uint8Array, o: number): void {
  for (let e = 0; e < QK_K; e++) T[e] = ((b[o + 32 * (e >> 7) + (e & 31)]! >> (2 * ((e >> 5) & 3))) & 3) - 1;
}

/** d = absmax of the block; returns 1/d (0 for an all-zero block) after writing d. */
function writeScale(x: Float32Array, xo: number, dst: Uint8Array, od: number): number {
  let amax = 0;
  for (let j = 0; j < QK_K; j++) amax = Math.max(amax, Math.abs(x[xo + j]!));
  writeF16(dst, od, amax);
  return amax ? fr(1 / amax) : 0;
}

/** Packs trits (as 0..2, most significant first) into one byte: ceil(256·v/243). */
function packTrits(digits: number, value: number): number {
  for (let k = digits; k < 5; k++) value *= 3;
  return Math.floor((value * 256 + 242) / 243);
}

function ternaryCodec(
  typeSize: number, dOffset: number, levels: (b: Uint8Array, o: number) => void,
  quantize: (x: Float32Array, xo: number, id: number, dst: Uint8Array, o: number) => void,
): BlockCodec {
  return {
    dequantize(src, dst, blocks) {
      const h = f16ToF32Table();
      for (let b = 0; b < blocks; b++) {
        const o = b * typeSize, e = b * QK_K;
        const d = h[u16(src, o + dOffset)]!;
        levels(src, o);
        for (let j = 0; j < QK_K; j++) dst[e + j] = T[j]! * d;
      }
    },
    quantize(x, dst, blocks) {
      for (let b = 0; b < blocks; b++) {
        const o = b * typeSize, xo = b * QK_K;
        quantize(x, xo, writeScale(x, xo, dst, o + dOffset), dst, o);
      }
    },
    vecDotType: GGMLType.Q8_K,
    vecDot(w, a, blocks) {
      const h = f16ToF32Table(), av = view(a);
      let sum = 0;
      for (let b = 0; b < blocks; b++) {
        const o = b * typeSize, oa = b * 292;
        levels(w, o);
        let isum = 0;
        for (let j = 0; j < QK_K; j++) isum += T[j]! * i8(a, oa + 4 + j);
        sum = fr(sum + fr(isum * fr(h[u16(w, o + dOffset)]! * av.getFloat32(oa, true))));
      }
      return sum;
    },
  };
}

/** lroundf(x·id) + 1: the trit of one value as 0..2. */
function t01(x: number, id: number): number {
  return roundAway(fr(x * id)) + 1;
}

export const TQ1_0 = ternaryCodec(54, 52, tq1Levels, (x, xo, id, dst, o) => {
  for (let k = 0; k < 32; k++) {
    let v = 0;
    for (let n = 0; n < 5; n++) v = v * 3 + t01(x[xo + k + 32 * n]!, id);
    dst[o + k] = packTrits(5, v);
  }
  for (let k = 0; k < 16; k++) {
    let v = 0;
    for (let n = 0; n < 5; n++) v = v * 3 + t01(x[xo + 160 + k + 16 * n]!, id);
    dst[o + 32 + k] = packTrits(5, v);
  }
  for (let k = 0; k < 4; k++) {
    let v = 0;
    for (let n = 0; n < 4; n++) v = v * 3 + t01(x[xo + 240 + k + 4 * n]!, id);
    dst[o + 48 + k] = packTrits(4, v);
  }
});

export const TQ2_0 = ternaryCodec(66, 64, tq2Levels, (x, xo, id, dst, o) => {
  for (let e = 0; e < QK_K; e++) {
    const i = o + 32 * (e >> 7) + (e & 31);
    if (((e >> 5) & 3) === 0) dst[i] = 0;
    dst[i]! |= (t01(x[xo + e]!, id) & 3) << (2 * ((e >> 5) & 3));
  }
});
