/**
 * MXFP4 (OCP Microscaling, FP4 E2M1 elements with a shared E8M0 exponent), as ggml stores it:
 *   u8 e; u8 qs[16]   (17 B, 32 elements; element j < 16 in the low nibble of qs[j], j + 16 high)
 * An E2M1 code c holds sign (bit 3), exponent (bits 2..1) and mantissa (bit 0): the magnitudes
 * 0, 0.5, 1, 1.5, 2, 3, 4, 6. The value is E2M1(c)·2^(e−127). ggml keeps the doubled magnitudes
 * as integers and halves the scale instead: x = kvalues[c]·2^(e−128), exact in f32.
 *
 * Quantization follows ggml's quantize_row_mxfp4_ref: e = floor(log2(amax)) − 2 + 127 (so the
 * largest magnitude lands in [4, 8)·2^(e−127) and may clip to 6), then each element takes the
 * nearest level, the lower index on ties. There are no ggml vectors for this type.
 */
import { GGMLType } from './types.js';
import { f16ToF32Table } from './half.js';
import { type BlockCodec, i8, u16 } from './common.js';

// a local alias: an imported binding costs a getter call per use under some loaders (tsx)
const fr = Math.fround;

export const MXFP4_KVALUES: readonly number[] = [0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12];
const KV = Int8Array.from(MXFP4_KVALUES);

/** ggml's GGML_E8M0_TO_FP32_HALF: 2^(e−128), a power of two for every byte. */
function halfScale(e: number): number {
  return 2 ** (e - 128);
}

function nearestLevel(x: number, d: number): number {
  let best = 0;
  let bestErr = Math.abs(fr(fr(KV[0]! * d) - x));
  for (let i = 1; i < 16; i++) {
    const err = Math.abs(fr(fr(KV[i]! * d) - x));
    if (err < bestErr) {
      best = i;
      bestErr = err;
    }
  }
  return best;
}

export const MXFP4: BlockCodec = {
  dequantize(src, dst, blocks) {
    for (let b = 0; b < blocks; b++) {
      const o = b * 17, e = b * 32;
      const d = halfScale(src[o]!);
      for (let j = 0; j < 16; j++) {
        const q = src[o + 1 + j]!;
        dst[e + j] = KV[q & 15]! * d;
        dst[e + j + 16] = KV[q >> 4]! * d;
      }
    }
  },
  quantize(x, dst, blocks) {
    for (let b = 0; b < blocks; b++) {
      const o = b * 17, xo = b * 32;
      let amax = 0;
      for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[xo + j]!));
      // log2f is rounded to f32 before floorf; amax below 2^-125 would make e negative
      const e = amax > 0 ? Math.max(0, Math.floor(fr(Math.log2(amax))) - 2 + 127) : 0;
      dst[o] = e;
      const d = halfScale(e);
      for (let j = 0; j < 16; j++) dst[o + 1 + j] = nearestLevel(x[xo + j]!, d) | (nearestLevel(x[xo + j + 16]!, d) << 4);
    }
  },
  vecDotType: GGMLType.Q8_0,
  vecDot(w, a, blocks) {
    const h = f16ToF32Table();
    let sum = 0;
    for (let b = 0; b < blocks; b++) {
      const o = b * 17, oa = b * 34;
      let sumi = 0;
      for (let j = 0; j < 16; j++) {
        const q = w[o + 1 + j]!;
        sumi += KV[q & 15]! * i8(a, oa + 2 + j) + KV[q >> 4]! * i8(a, oa + 18 + j);
      }
      sum = fr(sum + fr(fr(h[u16(a, oa)]! * halfScale(w[o]!)) * sumi));
    }
    return sum;
  },
};
