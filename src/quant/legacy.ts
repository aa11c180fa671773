/**
 * The original 32-element block types: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 and the activation type Q8_1.
 *
 * Layouts (packed, little-endian, f16 = IEEE half):
 *   Q4_0  f16 d; u8 qs[16]                 x = d·(q − 8)
 *   Q4_1  f16 d; f16 m; u8 qs[16]          x = d·q + m
 *   Q5_0  f16 d; u8 qh[4]; u8 qs[16]       x = d·(q − 16)
 *   Q5_1  f16 d; f16 m; u8 qh[4]; u8 qs[16] x = d·q + m
 *   Q8_0  f16 d; i8 qs[32]                 x = d·q
 *   Q8_1  f16 d; f16 s; i8 qs[32]          x = d·q, s = d·Σq (used by the Q4_1/Q5_1 dot)
 * 4-bit quants: element j < 16 is the low nibble of qs[j], element j + 16 its high nibble.
 * 5-bit quants: the fifth bit of element j is bit j of qh read as a little-endian u32.
 *
 * Quantizers follow ggml's quantize_row_*_ref; dot products follow ggml's scalar vec_dot:
 * an integer sum per block, scaled by the block's f16 scales, accumulated in f32.
 */
import { GGMLType } from './types.js';
import { f16ToF32Table } from './half.js';
import { type BlockCodec, i8, roundAway, u16, u32, writeF16 } from './common.js';

// a local alias: an imported binding costs a getter call per use under some loaders (tsx)
const fr = Math.fround;

const QK = 32;

/** The 5-bit quant (0..31) of element j of a Q5 block, before Q5_0 removes its offset of 16. */
function q5(qs: number, qh: number, j: number): number {
  return (j < 16 ? qs & 15 : qs >> 4) | (((qh >>> j) & 1) << 4);
}

/** Scans a block for the element of largest magnitude; returns it with its sign (first wins). */
function signedAbsMax(x: Float32Array, base: number): number {
  let amax = 0;
  let max = 0;
  for (let j = 0; j < QK; j++) {
    const v = x[base + j]!;
    if (amax < Math.abs(v)) {
      amax = Math.abs(v);
      max = v;
    }
  }
  return max;
}

export const Q4_0: BlockCodec = {
  dequantize(src, dst, blocks) {
    const h = f16ToF32Table();
    for (let b = 0; b < blocks; b++) {
      const o = b * 18, e = b * QK;
      const d = h[u16(src, o)]!;
      for (let j = 0; j < 16; j++) {
        const q = src[o + 2 + j]!;
        dst[e + j] = ((q & 15) - 8) * d;
        dst[e + j + 16] = ((q >> 4) - 8) * d;
      }
    }
  },
  quantize(src, dst, blocks) {
    for (let b = 0; b < blocks; b++) {
      const o = b * 18, e = b * QK;
      const d = fr(signedAbsMax(src, e) / -8);
      const id = d ? fr(1 / d) : 0;
      writeF16(dst, o, d);
      for (let j = 0; j < 16; j++) {
        // (int8_t)(x·id + 8.5f): the sum is rounded to f32 before truncation
        const lo = Math.min(15, Math.trunc(fr(fr(src[e + j]! * id) + 8.5)));
        const hi = Math.min(15, Math.trunc(fr(fr(src[e + j + 16]! * id) + 8.5)));
        dst[o + 2 + j] = lo | (hi << 4);
      }
    }
  },
  vecDotType: GGMLType.Q8_0,
  vecDot(w, a, blocks) {
    const h = f16ToF32Table();
    let sum = 0;
    for (let b = 0; b < blocks; b++) {
      const o = b * 18, oa = b * 34;
      let sumi = 0;
      for (let j = 0; j < 16; j++) {
        const q = w[o + 2 + j]!;
        sumi += ((q & 15) - 8) * i8(a, oa + 2 + j) + ((q >> 4) - 8) * i8(a, oa + 18 + j);
      }
      sum = fr(sum + fr(fr(sumi * h[u16(w, o)]!) * h[u16(a, oa)]!));
    }
    return sum;
  },
};

export const Q4_1: BlockCodec = {
  dequantize(src, dst, blocks) {
    const h = f16ToF32Table();
    for (let b = 0; b < blocks; b++) {
      const o = b * 20, e = b * QK;
      const d = h[u16(src, o)]!, m = h[u16(src, o + 2)]!;
      for (let j = 0; j < 16; j++) {
        const q = src[o + 4 + j]!;
        dst[e + j] = fr((q & 15) * d) + m;
        dst[e + j + 16] = fr((q >> 4) * d) + m;
      }
    }
  },
  quantize(src, dst, blocks) {
    for (let b = 0; b < blocks; b++) {
      const o = b * 20, e = b * QK;
      let min = Infinity, max = -Infinity;
      for (let j = 0; j < QK; j++) {
        const v = src[e + j]!;
        if (v < min) min = v;
        if (v > max) max = v;
      }
      const d = fr(fr(max - min) / 15);
      const id = d ? fr(1 / d) : 0;
      writeF16(dst, o, d);
      writeF16(dst, o + 2, min);
      for (let j = 0; j < 16; j++) {
        const lo = Math.min(15, Math.trunc(fr(fr(fr(src[e + j]! - min) * id) + 0.5)));
        const hi = Math.min(15, Math.trunc(fr(fr(fr(src[e + j + 16]! - min) * id) + 0.5)));
        dst[o + 4 + j] = lo | (hi << 4);
      }
    }
  },
  vecDotType: GGMLType.Q8_1,
  vecDot(w, a, blocks) {
    const h = f16ToF32Table();
    let sum = 0;
    for (let b = 0; b < blocks; b++) {
      const o = b * 20, oa = b * 36;
      let sumi = 0;
      for (let j = 0; j < 16; j++) {
        const q = w[o + 4 + j]!;
        sumi += (q & 15) * i8(a, oa + 4 + j) + (q >> 4) * i8(a, oa + 20 + j);
      }
      // m·Σ(d_y·q_y) is taken from the activation's stored s = d_y·Σq_y
      const dd = fr(h[u16(w, o)]! * h[u16(a, oa)]!);
      sum = fr(sum + fr(fr(dd * sumi) + fr(h[u16(w, o + 2)]! * h[u16(a, oa + 2)]!)));
    }
    return sum;
  },
};

export const Q5_0: BlockCodec = {
  dequantize(src, dst, blocks) {
    const h = f16ToF32Table();
    for (let b = 0; b < blocks; b++) {
      const o = b * 22, e = b * QK;
      const d = h[u16(src, o)]!;
      const qh = u32(src, o + 2);
      for (let j = 0; j < 16; j++) {
        const q = src[o + 6 + j]!;
        dst[e + j] = (q5(q, qh, j) - 16) * d;
        dst[e + j + 16] = (q5(q, qh, j + 16) - 16) * d;
      }
    }
  },
  quantize(src, dst, blocks) {
    for (let b = 0; b < blocks; b++) {
      const o = b * 22, e = b * QK;
      const d = fr(signedAbsMax(src, e) / -16);
      const id = d ? fr(1 / d) : 0;
      writeF16(dst, o, d);
      let qh = 0;
      for (let j = 0; j < 16; j++) {
        const lo = Math.min(31, Math.trunc(fr(fr(src[e + j]! * id) + 16.5)));
        const hi = Math.min(31, Math.trunc(fr(fr(src[e + j + 16]! * id) + 16.5)));
        dst[o + 6 + j] = (lo & 15) | ((hi & 15) << 4);
        qh |= ((lo >> 4) << j) | ((hi >> 4) << (j + 16));
      }
      dst.set([qh & 0xff, (qh >>> 8) & 0xff, (qh >>> 16) & 0xff, qh >>> 24], o + 2);
    }
  },
  vecDotType: GGMLType.Q8_0,
  vecDot(w, a, blocks) {
    const h = f16ToF32Table();
    let sum = 0;
    for (let b = 0; b < blocks; b++) {
      const o = b * 22, oa = b * 34;
      const qh = u32(w, o + 2);
      let sumi = 0;
      for (let j = 0; j < 16; j++) {
        const q = w[o + 6 + j]!;
        sumi += (q5(q, qh, j) - 16) * i8(a, oa + 2 + j) + (q5(q, qh, j + 16) - 16) * i8(a, oa + 18 + j);
      }
      sum = fr(sum + fr(fr(h[u16(w, o)]! * h[u16(a, oa)]!) * sumi));
    }
    return sum;
  },
};

export const Q5_1: BlockCodec = {
  dequantize(src, dst, blocks) {
    const h = f16ToF32Table();
    for (let b = 0; b < blocks; b++) {
      const o = b * 24, e = b * QK;
      const d = h[u16(src, o)]!, m = h[u16(src, o + 2)]!;
      const qh = u32(src, o + 4);
      for (let j = 0; j < 16; j++) {
        const q = src[o + 8 + j]!;
        dst[e + j] = fr(q5(q, qh, j) * d) + m;
        dst[e + j + 16] = fr(q5(q, qh, j + 16) * d) + m;
      }
    }
  },
  quantize(src, dst, blocks) {
    for (let b = 0; b < blocks; b++) {
      const o = b * 24, e = b * QK;
      let min = Infinity, max = -Infinity;
      for (let j = 0; j < QK; j++) {
        const v = src[e + j]!;
        if (v < min) min = v;
        if (v > max) max = v;
      }
      const d = fr(fr(max - min) / 31);
      const id = d ? fr(1 / d) : 0;
      writeF16(dst, o, d);
      writeF16(dst, o + 2, min);
      let qh = 0;
      for (let j = 0; j < 16; j++) {
        // (uint8_t)(x + 0.5f), no clamp: ggml relies on the range being 0..31
        const lo = Math.trunc(fr(fr(fr(src[e + j]! - min) * id) + 0.5)) & 0xff;
        const hi = Math.trunc(fr(fr(fr(src[e + j + 16]! - min) * id) + 0.5)) & 0xff;
        dst[o + 8 + j] = (lo & 15) | ((hi & 15) << 4);
        qh |= (((lo & 0x10) >> 4) << j) | (((hi & 0x10) >> 4) << (j + 16));
      }
      dst.set([qh & 0xff, (qh >>> 8) & 0xff, (qh >>> 16) & 0xff, qh >>> 24], o + 4);
    }
  },
  vecDotType: GGMLType.Q8_1,
  vecDot(w, a, blocks) {
    const h = f16ToF32Table();
    let sum = 0;
    for (let b = 0; b < blocks; b++) {
      const o = b * 24, oa = b * 36;
      const qh = u32(w, o + 4);
      let sumi = 0;
      for (let j = 0; j < 16; j++) {
        const q = w[o + 8 + j]!;
        sumi += q5(q, qh, j) * i8(a, oa + 4 + j) + q5(q, qh, j + 16) * i8(a, oa + 20 + j);
      }
      const dd = fr(h[u16(w, o)]! * h[u16(a, oa)]!);
      sum = fr(sum + fr(fr(dd * sumi) + fr(h[u16(w, o + 2)]! * h[u16(a, oa + 2)]!)));
    }
    return sum;
  },
};

/** The f32 scale of a Q8_0/Q8_1 block: amax/127. */
function q8Scale(src: Float32Array, e: number): number {
  let amax = 0;
  for (let j = 0; j < QK; j++) amax = Math.max(amax, Math.abs(src[e + j]!));
  return fr(amax / 127);
}

/** Writes d (as f16) and q = roundf(x/d) of one Q8_0/Q8_1 block; returns Σq. */
function writeQ8Block(src: Float32Array, e: number, d: number, dst: Uint8Array, o: number, qsOffset: number): number {
  const id = d ? fr(1 / d) : 0;
  writeF16(dst, o, d);
  let sum = 0;
  for (let j = 0; j < QK; j++) {
    const q = roundAway(fr(src[e + j]! * id));
    dst[o + qsOffset + j] = q & 0xff;
    sum += q;
  }
  return sum;
}

export const Q8_0: BlockCodec = {
  dequantize(src, dst, blocks) {
    const h = f16ToF32Table();
    for (let b = 0; b < blocks; b++) {
      const o = b * 34, e = b * QK;
      const d = h[u16(src, o)]!;
      for (let j = 0; j < QK; j++) dst[e + j] = i8(src, o + 2 + j) * d;
    }
  },
  quantize(src, dst, blocks) {
    for (let b = 0; b < blocks; b++) writeQ8Block(src, b * QK, q8Scale(src, b * QK), dst, b * 34, 2);
  },
  vecDotType: GGMLType.Q8_0,
  vecDot(w, a, blocks) {
    const h = f16ToF32Table();
    let sum = 0;
    for (let b = 0; b < blocks; b++) {
      const o = b * 34;
      let sumi = 0;
      for (let j = 0; j < QK; j++) sumi += i8(w, o + 2 + j) * i8(a, o + 2 + j);
      sum = fr(sum + fr(sumi * fr(h[u16(w, o)]! * h[u16(a, o)]!)));
    }
    return sum;
  },
};

/** Activation-only: ggml has no vec_dot with Q8_1 weights. */
export const Q8_1: BlockCodec = {
  dequantize(src, dst, blocks) {
    const h = f16ToF32Table();
    for (let b = 0; b < blocks; b++) {
      const o = b * 36, e = b * QK;
      const d = h[u16(src, o)]!;
      for (let j = 0; j < QK; j++) dst[e + j] = i8(src, o + 4 + j) * d;
    }
  },
  quantize(src, dst, blocks) {
    for (let b = 0; b < blocks; b++) {
      const d = q8Scale(src, b * QK);
      const sum = writeQ8Block(src, b * QK, d, dst, b * 36, 4);
      writeF16(dst, b * 36 + 2, fr(sum * d)); // the f32 d, not its f16 rounding
    }
  },
};
