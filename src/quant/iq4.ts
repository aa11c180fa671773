/**
 * Non-linear 4-bit quants: every 4-bit index selects one of 16 fixed levels (kvalues), scaled.
 *
 * Layouts (packed, little-endian, f16 = IEEE half):
 *   IQ4_NL  f16 d; u8 qs[16]                                   (18 B, 32 elements)
 *           x = d·kvalues[q]
 *   IQ4_XS  f16 d; u16 scales_h; u8 scales_l[4]; u8 qs[128]    (136 B, 256 elements)
 *           8 sub-blocks of 32 with 6-bit scales biased by 32: low nibble of scales_l[s/2]
 *           (high nibble for odd s), top two bits at bit 2s of scales_h; x = d·(ls − 32)·kvalues[q]
 * In every 32-element group, element j < 16 is the low nibble of qs[j], element j + 16 the high.
 *
 * The quantizer is ggml's quantize_row_iq4_nl_impl without an importance matrix and with 7 trial
 * scales either side, as ggml_quantize_chunk (and so the quantize tool) runs it for both types.
 */
import { GGMLType } from './types.js';
import { f16ToF32Table } from './half.js';
import { type BlockCodec, clamp, GROUP_MAX_EPS, i8, nearestInt, QK_K, u16, view, writeF16, writeU16 } from './common.js';

// a local alias: an imported binding costs a getter call per use under some loaders (tsx)
const fr = Math.fround;

export const IQ4_KVALUES: readonly number[] = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113];
const KV = Int8Array.from(IQ4_KVALUES);
const NTRY = 7;

const L = new Uint8Array(QK_K);
const SCALES = new Float32Array(8);

/** Index of the level nearest to x (ties go up); x is an f32 value. */
function bestIndex(x: number): number {
  if (x <= KV[0]!) return 0;
  if (x >= KV[15]!) return 15;
  let lo = 0, hi = 15;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (x < KV[mid]!) hi = mid;
    else lo = mid;
  }
  return fr(x - KV[hi - 1]!) < fr(KV[hi]! - x) ? hi - 1 : hi;
}

/**
 * Best scale for one group of 32 with weights x²: start from max/−127, refine by least squares,
 * then try the 2·NTRY+1 scales that map max onto kvalues[0] + t. Leaves the first guess's
 * indices in L (the callers recompute them from the final scale).
 */
function groupScale(x: Float32Array, xo: number, lo: number): number {
  let amax = 0, max = 0;
  for (let j = 0; j < 32; j++) {
    const ax = Math.abs(x[xo + j]!);
    if (ax > amax) {
      amax = ax;
      max = x[xo + j]!;
    }
  }
  if (amax < GROUP_MAX_EPS) {
    L.fill(0, lo, lo + 32);
    return 0;
  }
  let id = fr(1 / fr(-max / KV[0]!));
  let sumqx = 0, sumq2 = 0;
  for (let j = 0; j < 32; j++) {
    const xj = x[xo + j]!;
    const l = bestIndex(fr(id * xj));
    L[lo + j] = l;
    const w = fr(xj * xj), wq = fr(w * KV[l]!);
    sumqx = fr(sumqx + fr(wq * xj));
    sumq2 = fr(sumq2 + fr(wq * KV[l]!));
  }
  let d = sumq2 > 0 ? fr(sumqx / sumq2) : 0;
  let best = fr(d * sumqx);
  for (let t = -NTRY; t <= NTRY; t++) {
    id = fr((t + KV[0]!) / max);
    sumqx = 0;
    sumq2 = 0;
    for (let j = 0; j < 32; j++) {
      const xj = x[xo + j]!;
      const q = KV[bestIndex(fr(id * xj))]!;
      const wq = fr(fr(xj * xj) * q);
      sumqx = fr(sumqx + fr(wq * xj));
      sumq2 = fr(sumq2 + fr(wq * q));
    }
    if (sumq2 > 0 && fr(sumqx * sumqx) > fr(best * sumq2)) {
      d = fr(sumqx / sumq2);
      best = fr(d * sumqx);
    }
  }
  return d;
}

function packNibbles(dst: Uint8Array, o: number, groups: number): void {
  for (let g = 0; g < groups; g++) {
    for (let j = 0; j < 16; j++) dst[o + 16 * g + j] = L[32 * g + j]! | (L[32 * g + 16 + j]! << 4);
  }
}

/** Σ q8[j]·kvalues[q[j]] over one 32-element group: nibbles at w[ow..], int8 quants at a[oa..]. */
function groupDot(w: Uint8Array, ow: number, a: Uint8Array, oa: number): number {
  let s = 0;
  for (let j = 0; j < 16; j++) {
    const q = w[ow + j]!;
    s += KV[q & 15]! * i8(a, oa + j) + KV[q >> 4]! * i8(a, oa + 16 + j);
  }
  return s;
}

export const IQ4_NL: BlockCodec = {
  dequantize(src, dst, blocks) {
    const h = f16ToF32Table();
    for (let b = 0; b < blocks; b++) {
      const o = b * 18, e = b * 32;
      const d = h[u16(src, o)]!;
      for (let j = 0; j < 16; j++) {
        const q = src[o + 2 + j]!;
        dst[e + j] = d * KV[q & 15]!;
        dst[e + j + 16] = d * KV[q >> 4]!;
      }
    }
  },
  quantize(x, dst, blocks) {
    for (let b = 0; b < blocks; b++) {
      const o = b * 18, xo = b * 32;
      const d = groupScale(x, xo, 0);
      writeF16(dst, o, d);
      const id = d ? fr(1 / d) : 0;
      for (let j = 0; j < 32; j++) L[j] = bestIndex(fr(id * x[xo + j]!));
      packNibbles(dst, o + 2, 1);
    }
  },
  vecDotType: GGMLType.Q8_0,
  vecDot(w, a, blocks) {
    const h = f16ToF32Table();
    let sum = 0;
    for (let b = 0; b < blocks; b++) {
      const o = b * 18, oa = b * 34;
      const d = fr(h[u16(a, oa)]! * h[u16(w, o)]!);
      sum = fr(sum + fr(d * groupDot(w, o + 2, a, oa + 2)));
    }
    return sum;
  },
};

/** The 6-bit scale of IQ4_XS sub-block s, still biased by 32. */
function xsScale(b: Uint8Array, o: number, s: number): number {
  return ((b[o + 4 + (s >> 1)]! >> (4 * (s & 1))) & 15) | (((u16(b, o + 2) >> (2 * s)) & 3) << 4);
}

export const IQ4_XS: BlockCodec = {
  dequantize(src, dst, blocks) {
    const h = f16ToF32Table();
    for (let b = 0; b < blocks; b++) {
      const o = b * 136;
      const d = h[u16(src, o)]!;
      for (let s = 0; s < 8; s++) {
        const dl = fr(d * (xsScale(src, o, s) - 32));
        const qs = o + 8 + 16 * s, e = b * QK_K + 32 * s;
        for (let j = 0; j < 16; j++) {
          const q = src[qs + j]!;
          dst[e + j] = dl * KV[q & 15]!;
          dst[e + j + 16] = dl * KV[q >> 4]!;
        }
      }
    }
  },
  quantize(x, dst, blocks) {
    for (let b = 0; b < blocks; b++) {
      const o = b * 136, xo = b * QK_K;
      let maxScale = 0, amaxScale = 0;
      for (let s = 0; s < 8; s++) {
        SCALES[s] = groupScale(x, xo + 32 * s, 32 * s);
        if (Math.abs(SCALES[s]!) > amaxScale) {
          amaxScale = Math.abs(SCALES[s]!);
          maxScale = SCALES[s]!;
        }
      }
      const d = fr(-maxScale / 32);
      writeF16(dst, o, d);
      const id = d ? fr(1 / d) : 0;
      let scalesH = 0;
      dst.fill(0, o + 4, o + 8);
      for (let s = 0; s < 8; s++) {
        const l = clamp(nearestInt(fr(id * SCALES[s]!)), -32, 31);
        // indices are chosen against the f32 sub-scale d·l, not its stored f16 rounding
        const dl = fr(d * l);
        const idl = dl ? fr(1 / dl) : 0;
        for (let j = 0; j < 32; j++) L[32 * s + j] = bestIndex(fr(idl * x[xo + 32 * s + j]!));
        const biased = l + 32;
        dst[o + 4 + (s >> 1)]! |= (biased & 15) << (4 * (s & 1));
        scalesH |= (biased >> 4) << (2 * s);
      }
      writeU16(dst, o + 2, scalesH);
      packNibbles(dst, o + 8, 8);
    }
  },
  vecDotType: GGMLType.Q8_K,
  vecDot(w, a, blocks) {
    const h = f16ToF32Table(), av = view(a);
    let sum = 0;
    for (let b = 0; b < blocks; b++) {
      const o = b * 136, oa = b * 292;
      const d4d8 = fr(h[u16(w, o)]! * av.getFloat32(oa, true));
      for (let s = 0; s < 8; s++) {
        const dl = fr(d4d8 * (xsScale(w, o, s) - 32));
        sum = fr(sum + fr(dl * groupDot(w, o + 8 + 16 * s, a, oa + 4 + 32 * s)));
      }
    }
    return sum;
  },
};
