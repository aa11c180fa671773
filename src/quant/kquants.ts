/**
 * K-quants: 256-element super-blocks split into sub-blocks with their own 4-, 6- or 8-bit scales.
 *
 * Layouts (packed, little-endian, f16 = IEEE half):
 *   Q2_K  u8 scales[16]; u8 qs[64]; f16 d; f16 dmin                      (84 B)
 *         16 sub-blocks of 16; scales[s] = scale | min << 4; x = d·sc·q − dmin·m, q in 0..3
 *   Q3_K  u8 hmask[32]; u8 qs[64]; u8 scales[12]; f16 d                   (110 B)
 *         16 sub-blocks of 16; 6-bit scales biased by 32; x = d·(sc − 32)·q, q in −4..3
 *   Q4_K  f16 d; f16 dmin; u8 scales[12]; u8 qs[128]                      (144 B)
 *         8 sub-blocks of 32; 6-bit scale and min each; x = d·sc·q − dmin·m, q in 0..15
 *   Q5_K  f16 d; f16 dmin; u8 scales[12]; u8 qh[32]; u8 qs[128]           (176 B)
 *         as Q4_K with a fifth bit from qh; q in 0..31
 *   Q6_K  u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d                     (210 B)
 *         16 sub-blocks of 16; x = d·sc·(q − 32), q in 0..63
 *   Q8_K  f32 d; i8 qs[256]; i16 bsums[16]                                (292 B)
 *         the activation type; bsums[s] = Σ of the 16 quants of sub-block s
 *
 * Where the bits of element e sit: Q2_K/Q3_K take 2 bits of qs[32·(e>>7) + (e&31)] at shift
 * 2·((e>>5)&3) (Q3_K's high bit: bit (e>>5) of hmask[e&31]); Q4_K/Q5_K take the low nibble of
 * qs[32·(e>>6) + (e&31)] for the first 32 of each 64 and the high nibble for the next 32 (Q5_K's
 * fifth bit: bit (e>>5) of qh[e&31]); Q6_K: see q6Levels.
 *
 * Dequantizers are bit-exact with ggml's dequantize_row_*; quantizers port ggml's
 * quantize_row_*_ref (no importance matrix), which is what ggml_quantize_chunk runs without one.
 */
import { GGMLType } from './types.js';
import { f16ToF32Table, roundToF16 } from './half.js';
import { type BlockCodec, clamp, GROUP_MAX_EPS, i8, nearestInt, QK_K, u16, view, writeF16 } from './common.js';

// a local alias: an imported binding costs a getter call per use under some loaders (tsx)
const fr = Math.fround;

// Scratch space, reused by every call (JS runs one call at a time per realm).
const LEVELS = new Int8Array(QK_K);
const L = new Uint8Array(QK_K);
const L_AUX = new Uint8Array(32);
const WEIGHTS = new Float32Array(32);
const SCALES = new Float32Array(16);
const MINS = new Float32Array(16);

// ---------------------------------------------------------------------------------------------
// Unpacking: integer levels of one block, in element order

function q2Levels(b: Uint8Array, o: number, out: Int8Array): void {
  for (let e = 0; e < QK_K; e++) out[e] = (b[o + 16 + 32 * (e >> 7) + (e & 31)]! >> (2 * ((e >> 5) & 3))) & 3;
}

function q3Levels(b: Uint8Array, o: number, out: Int8Array): void {
  for (let e = 0; e < QK_K; e++) {
    const low = (b[o + 32 + 32 * (e >> 7) + (e & 31)]! >> (2 * ((e >> 5) & 3))) & 3;
    const high = (b[o + (e & 31)]! >> (e >> 5)) & 1;
    out[e] = low - (high ? 0 : 4);
  }
}

/** The 6-bit scale of Q3_K sub-block s (0..15), still biased by 32. */
function q3Scale(b: Uint8Array, o: number, s: number): number {
  const sc = o + 96;
  const low = s < 8 ? b[sc + s]! & 15 : b[sc + s - 8]! >> 4;
  const high = (b[sc + 8 + (s & 3)]! >> (2 * (s >> 2))) & 3;
  return low | (high << 4);
}

/** ggml's get_scale_min_k4: the 6-bit scale (which = 0) or min (which = 4) of sub-block j. */
function k4(b: Uint8Array, sc: number, j: number, which: 0 | 4): number {
  return j < 4
    ? b[sc + j + which]! & 63
    : which === 0
      ? (b[sc + j + 4]! & 15) | ((b[sc + j - 4]! >> 6) << 4)
      : (b[sc + j + 4]! >> 4) | ((b[sc + j]! >> 6) << 4);
}

function q4Levels(b: Uint8Array, o: number, out: Int8Array): void {
  for (let e = 0; e < QK_K; e++) {
    const q = b[o + 16 + 32 * (e >> 6) + (e & 31)]!;
    out[e] = e & 32 ? q >> 4 : q & 15;
  }
}

function q5Levels(b: Uint8Array, o: number, out: Int8Array): void {
  for (let e = 0; e < QK_K; e++) {
    const q = b[o + 48 + 32 * (e >> 6) + (e & 31)]!;
    out[e] = (e & 32 ? q >> 4 : q & 15) | (((b[o + 16 + (e & 31)]! >> (e >> 5)) & 1) << 4);
  }
}

/** Q6_K: each 128-half h uses ql[64h..64h+63] and qh[32h..32h+31]; quarter k = (e>>5)&3. */
function q6Levels(b: Uint8Array, o: number, out: Int8Array): void {
  for (let e = 0; e < QK_K; e++) {
    const h = e >> 7, k = (e >> 5) & 3, l = e & 31;
    const ql = b[o + 64 * h + l + (k & 1 ? 32 : 0)]!;
    const low = k < 2 ? ql & 15 : ql >> 4;
    const high = (b[o + 128 + 32 * h + l]! >> (2 * k)) & 3;
    out[e] = (low | (high << 4)) - 32;
  }
}

// ---------------------------------------------------------------------------------------------
// Dot-product helpers over a Q8_K activation block at byte offset oa

/** Σ q8·level over elements [start, start + count) of the current block. */
function groupDot(levels: Int8Array, a: Uint8Array, oa: number, start: number, count: number): number {
  let s = 0;
  for (let t = start; t < start + count; t++) s += levels[t]! * i8(a, oa + 4 + t);
  return s;
}

function bsum(av: DataView, oa: number, s: number): number {
  return av.getInt16(oa + 260 + 2 * s, true);
}

// ---------------------------------------------------------------------------------------------
// ggml's scale search helpers (make_qkx2_quants, make_q3_quants, make_qx_quants)

/**
 * Fits x ≈ scale·L + min with L in 0..nmax and min ≤ 0, minimising the weighted error; tries
 * nstep+1 rescalings around nmax/(max−min). Writes the levels into the scratch L at `lo` and −min
 * into mins[mi]; returns scale.
 */
function makeQkx2(
  n: number, nmax: number, x: Float32Array, xo: number, w: Float32Array, lo: number,
  rmin: number, rdelta: number, nstep: number, useMad: boolean, mins: Float32Array, mi: number,
): number {
  let min = x[xo]!, max = x[xo]!;
  let sumW = w[0]!, sumX = fr(sumW * x[xo]!);
  for (let i = 1; i < n; i++) {
    const xi = x[xo + i]!;
    if (xi < min) min = xi;
    if (xi > max) max = xi;
    sumW = fr(sumW + w[i]!);
    sumX = fr(sumX + fr(w[i]! * xi));
  }
  if (min > 0) min = 0;
  if (max === min) {
    L.fill(0, lo, lo + n);
    mins[mi] = -min;
    return 0;
  }
  let iscale = fr(nmax / fr(max - min));
  let scale = fr(1 / iscale);
  let bestError = 0;
  for (let i = 0; i < n; i++) {
    const l = clamp(nearestInt(fr(iscale * fr(x[xo + i]! - min))), 0, nmax);
    L[lo + i] = l;
    let diff = fr(fr(fr(scale * l) + min) - x[xo + i]!);
    diff = useMad ? Math.abs(diff) : fr(diff * diff);
    bestError = fr(bestError + fr(w[i]! * diff));
  }
  for (let is = 0; is <= nstep; is++) {
    // min is the best fit so far, so later trials scale against the updated range
    iscale = fr(fr(fr(rmin + fr(rdelta * is)) + nmax) / fr(max - min));
    let sumL = 0, sumL2 = 0, sumXL = 0;
    for (let i = 0; i < n; i++) {
      const l = clamp(nearestInt(fr(iscale * fr(x[xo + i]! - min))), 0, nmax);
      L_AUX[i] = l;
      const wl = fr(w[i]! * l);
      sumL = fr(sumL + wl);
      sumL2 = fr(sumL2 + fr(wl * l));
      sumXL = fr(sumXL + fr(wl * x[xo + i]!));
    }
    const D = fr(fr(sumW * sumL2) - fr(sumL * sumL));
    if (D > 0) {
      let thisScale = fr(fr(fr(sumW * sumXL) - fr(sumX * sumL)) / D);
      let thisMin = fr(fr(fr(sumL2 * sumX) - fr(sumL * sumXL)) / D);
      if (thisMin > 0) {
        thisMin = 0;
        thisScale = fr(sumXL / sumL2);
      }
      let curError = 0;
      for (let i = 0; i < n; i++) {
        let diff = fr(fr(fr(thisScale * L_AUX[i]!) + thisMin) - x[xo + i]!);
        diff = useMad ? Math.abs(diff) : fr(diff * diff);
        curError = fr(curError + fr(w[i]! * diff));
      }
      if (curError < bestError) {
        L.set(L_AUX.subarray(0, n), lo);
        bestError = curError;
        scale = thisScale;
        min = thisMin;
      }
    }
  }
  mins[mi] = -min;
  return scale;
}

/** The signed value of the first element of largest magnitude (0 for an all-zero group). */
function signedMax(x: Float32Array, xo: number, n: number): number {
  let amax = 0, max = 0;
  for (let i = 0; i < n; i++) {
    const ax = Math.abs(x[xo + i]!);
    if (ax > amax) {
      amax = ax;
      max = x[xo + i]!;
    }
  }
  return max;
}

/**
 * Symmetric fit x ≈ scale·l with l in −nmax..nmax−1, weights x², then up to 5 rounds of
 * coordinate descent on single elements. Stores l + nmax into `out`; returns scale.
 */
function makeQ3(n: number, nmax: number, x: Float32Array, xo: number, out: Int8Array, lo: number): number {
  const max = signedMax(x, xo, n);
  if (Math.abs(max) < GROUP_MAX_EPS) {
    out.fill(0, lo, lo + n);
    return 0;
  }
  const iscale = fr(-nmax / max);
  let sumlx = 0, suml2 = 0;
  for (let i = 0; i < n; i++) {
    const xi = x[xo + i]!;
    const l = clamp(nearestInt(fr(iscale * xi)), -nmax, nmax - 1);
    out[lo + i] = l;
    const w = fr(xi * xi);
    sumlx = fr(sumlx + fr(fr(w * xi) * l));
    suml2 = fr(suml2 + fr(fr(w * l) * l));
  }
  for (let itry = 0; itry < 5; itry++) {
    let changed = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[xo + i]!;
      const li = out[lo + i]!;
      const w = fr(xi * xi);
      let slx = fr(sumlx - fr(fr(w * xi) * li));
      if (slx > 0) {
        let sl2 = fr(suml2 - fr(fr(w * li) * li));
        const nl = clamp(nearestInt(fr(fr(xi * sl2) / slx)), -nmax, nmax - 1);
        if (nl !== li) {
          slx = fr(slx + fr(fr(w * xi) * nl));
          sl2 = fr(sl2 + fr(fr(w * nl) * nl));
          if (sl2 > 0 && fr(fr(slx * slx) * suml2) > fr(fr(sumlx * sumlx) * sl2)) {
            out[lo + i] = nl;
            sumlx = slx;
            suml2 = sl2;
            changed++;
          }
        }
      }
    }
    if (!changed) break;
  }
  for (let i = 0; i < n; i++) out[lo + i]! += nmax;
  return suml2 > 0 ? fr(sumlx / suml2) : 0;
}

/**
 * make_qx_quants with rmse_type 1 and no importance weights: symmetric fit with weights x²,
 * trying 18 rescalings of nmax around the first guess. Stores l + nmax; returns scale.
 */
function makeQx(n: number, nmax: number, x: Float32Array, xo: number, out: Int8Array, lo: number): number {
  const max = signedMax(x, xo, n);
  if (Math.abs(max) < GROUP_MAX_EPS) {
    out.fill(0, lo, lo + n);
    return 0;
  }
  let iscale = fr(-nmax / max);
  let sumlx = 0, suml2 = 0;
  for (let i = 0; i < n; i++) {
    const xi = x[xo + i]!;
    const l = clamp(nearestInt(fr(iscale * xi)), -nmax, nmax - 1);
    out[lo + i] = l + nmax;
    const w = fr(xi * xi);
    sumlx = fr(sumlx + fr(fr(w * xi) * l));
    suml2 = fr(suml2 + fr(fr(w * l) * l));
  }
  let scale = suml2 ? fr(sumlx / suml2) : 0;
  let best = fr(scale * sumlx);
  for (let is = -9; is <= 9; is++) {
    if (is === 0) continue;
    iscale = fr(-fr(nmax + fr(fr(0.1) * is)) / max);
    sumlx = 0;
    suml2 = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[xo + i]!;
      const l = clamp(nearestInt(fr(iscale * xi)), -nmax, nmax - 1);
      const w = fr(xi * xi);
      sumlx = fr(sumlx + fr(fr(w * xi) * l));
      suml2 = fr(suml2 + fr(fr(w * l) * l));
    }
    if (suml2 > 0 && fr(sumlx * sumlx) > fr(best * suml2)) {
      for (let i = 0; i < n; i++) {
        out[lo + i] = nmax + clamp(nearestInt(fr(iscale * x[xo + i]!)), -nmax, nmax - 1);
      }
      scale = fr(sumlx / suml2);
      best = fr(scale * sumlx);
    }
  }
  return scale;
}

/** Packs 2-bit levels L[0..255] four per byte, as Q2_K and Q3_K store qs. */
function pack2(dst: Uint8Array, o: number, levels: ArrayLike<number>): void {
  for (let j = 0; j < QK_K; j += 128) {
    for (let l = 0; l < 32; l++) {
      dst[o + j / 4 + l] =
        levels[j + l]! | (levels[j + l + 32]! << 2) | (levels[j + l + 64]! << 4) | (levels[j + l + 96]! << 6);
    }
  }
}

/** Weights av_x + |x| of Q4_K/Q5_K's reference quantizer, av_x = rms of the 32 values. */
function rmsWeights(x: Float32Array, xo: number): void {
  let sumX2 = 0;
  for (let l = 0; l < 32; l++) sumX2 = fr(sumX2 + fr(x[xo + l]! * x[xo + l]!));
  const avX = fr(Math.sqrt(fr(sumX2 / 32)));
  for (let l = 0; l < 32; l++) WEIGHTS[l] = avX + Math.abs(x[xo + l]!);
}

/**
 * The shared tail of Q4_K and Q5_K: 6-bit scales and mins packed into 12 bytes at `sc`, the two
 * f16 super-scales, then every value requantized against the rounded scales into L.
 */
function packScalesMinsK4(x: Float32Array, xo: number, dst: Uint8Array, o: number, nmax: number): void {
  let maxScale = 0, maxMin = 0;
  for (let j = 0; j < 8; j++) {
    if (SCALES[j]! > maxScale) maxScale = SCALES[j]!;
    if (MINS[j]! > maxMin) maxMin = MINS[j]!;
  }
  const invScale = maxScale > 0 ? fr(63 / maxScale) : 0;
  const invMin = maxMin > 0 ? fr(63 / maxMin) : 0;
  const sc = o + 4;
  for (let j = 0; j < 8; j++) {
    const ls = Math.min(63, nearestInt(fr(invScale * SCALES[j]!)) & 0xff);
    const lm = Math.min(63, nearestInt(fr(invMin * MINS[j]!)) & 0xff);
    if (j < 4) {
      dst[sc + j] = ls;
      dst[sc + j + 4] = lm;
    } else {
      dst[sc + j + 4] = (ls & 15) | ((lm & 15) << 4);
      dst[sc + j - 4]! |= (ls >> 4) << 6;
      dst[sc + j]! |= (lm >> 4) << 6;
    }
  }
  writeF16(dst, o, fr(maxScale / 63));
  writeF16(dst, o + 2, fr(maxMin / 63));
  const d = roundToF16(fr(maxScale / 63)), dmin = roundToF16(fr(maxMin / 63));
  for (let j = 0; j < 8; j++) {
    const dj = fr(d * k4(dst, sc, j, 0));
    if (!dj) continue;
    const dm = fr(dmin * k4(dst, sc, j, 4));
    for (let i = 0; i < 32; i++) {
      L[32 * j + i] = clamp(nearestInt(fr(fr(x[xo + 32 * j + i]! + dm) / dj)), 0, nmax);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Codecs

export const Q2_K: BlockCodec = {
  dequantize(src, dst, blocks) {
    const h = f16ToF32Table();
    for (let b = 0; b < blocks; b++) {
      const o = b * 84, e = b * QK_K;
      const d = h[u16(src, o + 80)]!, dmin = h[u16(src, o + 82)]!;
      q2Levels(src, o, LEVELS);
      for (let s = 0; s < 16; s++) {
        const sc = src[o + s]!;
        const dl = fr(d * (sc & 15)), ml = fr(dmin * (sc >> 4));
        for (let t = 16 * s; t < 16 * s + 16; t++) dst[e + t] = fr(dl * LEVELS[t]!) - ml;
      }
    }
  },
  quantize(x, dst, blocks) {
    for (let b = 0; b < blocks; b++) {
      const o = b * 84, xo = b * QK_K;
      let maxScale = 0, maxMin = 0;
      for (let j = 0; j < 16; j++) {
        for (let l = 0; l < 16; l++) WEIGHTS[l] = Math.abs(x[xo + 16 * j + l]!);
        SCALES[j] = makeQkx2(16, 3, x, xo + 16 * j, WEIGHTS, 16 * j, -0.5, fr(0.1), 15, true, MINS, j);
        if (SCALES[j]! > maxScale) maxScale = SCALES[j]!;
        if (MINS[j]! > maxMin) maxMin = MINS[j]!;
      }
      if (maxScale > 0) {
        const iscale = fr(15 / maxScale);
        for (let j = 0; j < 16; j++) dst[o + j] = nearestInt(fr(iscale * SCALES[j]!));
        writeF16(dst, o + 80, fr(maxScale / 15));
      } else {
        dst.fill(0, o, o + 16);
        writeF16(dst, o + 80, 0);
      }
      if (maxMin > 0) {
        const iscale = fr(15 / maxMin);
        for (let j = 0; j < 16; j++) dst[o + j]! |= nearestInt(fr(iscale * MINS[j]!)) << 4;
        writeF16(dst, o + 82, fr(maxMin / 15));
      } else {
        writeF16(dst, o + 82, 0);
      }
      const d = f16ToF32Table()[u16(dst, o + 80)]!, dmin = f16ToF32Table()[u16(dst, o + 82)]!;
      for (let j = 0; j < 16; j++) {
        const dj = fr(d * (dst[o + j]! & 15));
        if (!dj) continue;
        const dm = fr(dmin * (dst[o + j]! >> 4));
        for (let i = 0; i < 16; i++) {
          L[16 * j + i] = clamp(nearestInt(fr(fr(x[xo + 16 * j + i]! + dm) / dj)), 0, 3);
        }
      }
      pack2(dst, o + 16, L);
    }
  },
  vecDotType: GGMLType.Q8_K,
  vecDot(w, a, blocks) {
    const h = f16ToF32Table(), av = view(a);
    let sum = 0;
    for (let b = 0; b < blocks; b++) {
      const o = b * 84, oa = b * 292;
      q2Levels(w, o, LEVELS);
      let isum = 0, summs = 0;
      for (let s = 0; s < 16; s++) {
        const sc = w[o + s]!;
        isum += (sc & 15) * groupDot(LEVELS, a, oa, 16 * s, 16);
        summs += (sc >> 4) * bsum(av, oa, s);
      }
      const yd = av.getFloat32(oa, true);
      const dall = fr(yd * h[u16(w, o + 80)]!), dmin = fr(yd * h[u16(w, o + 82)]!);
      sum = fr(sum + fr(fr(dall * isum) - fr(dmin * summs)));
    }
    return sum;
  },
};

export const Q3_K: BlockCodec = {
  dequantize(src, dst, blocks) {
    const h = f16ToF32Table();
    for (let b = 0; b < blocks; b++) {
      const o = b * 110, e = b * QK_K;
      const d = h[u16(src, o + 108)]!;
      q3Levels(src, o, LEVELS);
      for (let s = 0; s < 16; s++) {
        const dl = fr(d * (q3Scale(src, o, s) - 32));
        for (let t = 16 * s; t < 16 * s + 16; t++) dst[e + t] = dl * LEVELS[t]!;
      }
    }
  },
  quantize(x, dst, blocks) {
    const levels = LEVELS; // signed levels + 4, i.e. 0..7
    for (let b = 0; b < blocks; b++) {
      const o = b * 110, xo = b * QK_K;
      let maxScale = 0, amax = 0;
      for (let j = 0; j < 16; j++) {
        SCALES[j] = makeQ3(16, 4, x, xo + 16 * j, levels, 16 * j);
        if (Math.abs(SCALES[j]!) > amax) {
          amax = Math.abs(SCALES[j]!);
          maxScale = SCALES[j]!;
        }
      }
      const sc = o + 96;
      dst.fill(0, sc, sc + 12);
      if (maxScale) {
        const iscale = fr(-32 / maxScale);
        for (let j = 0; j < 16; j++) {
          const l = clamp(nearestInt(fr(iscale * SCALES[j]!)), -32, 31) + 32;
          if (j < 8) dst[sc + j] = l & 15;
          else dst[sc + j - 8]! |= (l & 15) << 4;
          dst[sc + 8 + (j & 3)]! |= (l >> 4) << (2 * (j >> 2));
        }
        writeF16(dst, o + 108, fr(1 / iscale));
      } else {
        writeF16(dst, o + 108, 0);
      }
      const d = f16ToF32Table()[u16(dst, o + 108)]!;
      for (let j = 0; j < 16; j++) {
        const dj = fr(d * (q3Scale(dst, o, j) - 32));
        if (!dj) continue;
        for (let i = 0; i < 16; i++) {
          levels[16 * j + i] = clamp(nearestInt(fr(x[xo + 16 * j + i]! / dj)), -4, 3) + 4;
        }
      }
      // the high bit of element e goes to bit (e>>5) of hmask[e&31]
      dst.fill(0, o, o + 32);
      for (let e = 0; e < QK_K; e++) {
        if (levels[e]! > 3) {
          dst[o + (e & 31)]! |= 1 << (e >> 5);
          levels[e]! -= 4;
        }
      }
      pack2(dst, o + 32, levels);
    }
  },
  vecDotType: GGMLType.Q8_K,
  vecDot(w, a, blocks) {
    const h = f16ToF32Table(), av = view(a);
    let sum = 0;
    for (let b = 0; b < blocks; b++) {
      const o = b * 110, oa = b * 292;
      q3Levels(w, o, LEVELS);
      let isum = 0;
      for (let s = 0; s < 16; s++) isum += (q3Scale(w, o, s) - 32) * groupDot(LEVELS, a, oa, 16 * s, 16);
      sum = fr(sum + fr(fr(h[u16(w, o + 108)]! * av.getFloat32(oa, true)) * isum));
    }
    return sum;
  },
};

/** Q4_K and Q5_K differ only in the level unpacker, the level range and the packing of qs. */
function k4Codec(
  typeSize: number, nmax: number, rmin: number, nstep: number,
  levels: (b: Uint8Array, o: number, out: Int8Array) => void,
  packLevels: (dst: Uint8Array, o: number) => void,
): BlockCodec {
  return {
    dequantize(src, dst, blocks) {
      const h = f16ToF32Table();
      for (let b = 0; b < blocks; b++) {
        const o = b * typeSize, e = b * QK_K;
        const d = h[u16(src, o)]!, dmin = h[u16(src, o + 2)]!;
        levels(src, o, LEVELS);
        for (let s = 0; s < 8; s++) {
          const ds = fr(d * k4(src, o + 4, s, 0)), ms = fr(dmin * k4(src, o + 4, s, 4));
          for (let t = 32 * s; t < 32 * s + 32; t++) dst[e + t] = fr(ds * LEVELS[t]!) - ms;
        }
      }
    },
    quantize(x, dst, blocks) {
      for (let b = 0; b < blocks; b++) {
        const o = b * typeSize, xo = b * QK_K;
        for (let j = 0; j < 8; j++) {
          rmsWeights(x, xo + 32 * j);
          SCALES[j] = makeQkx2(32, nmax, x, xo + 32 * j, WEIGHTS, 32 * j, rmin, fr(0.1), nstep, false, MINS, j);
        }
        packScalesMinsK4(x, xo, dst, o, nmax);
        packLevels(dst, o);
      }
    },
    vecDotType: GGMLType.Q8_K,
    vecDot(w, a, blocks) {
      const h = f16ToF32Table(), av = view(a);
      let sum = 0;
      for (let b = 0; b < blocks; b++) {
        const o = b * typeSize, oa = b * 292;
        levels(w, o, LEVELS);
        let isum = 0, summs = 0;
        for (let s = 0; s < 8; s++) {
          isum += k4(w, o + 4, s, 0) * groupDot(LEVELS, a, oa, 32 * s, 32);
          summs += k4(w, o + 4, s, 4) * (bsum(av, oa, 2 * s) + bsum(av, oa, 2 * s + 1));
        }
        const yd = av.getFloat32(oa, true);
        const d = fr(h[u16(w, o)]! * yd), dmin = fr(h[u16(w, o + 2)]! * yd);
        sum = fr(sum + fr(fr(d * isum) - fr(dmin * summs)));
      }
      return sum;
    },
  };
}

export const Q4_K = k4Codec(144, 15, -1, 20, q4Levels, (dst, o) => {
  for (let c = 0; c < 4; c++) {
    for (let l = 0; l < 32; l++) dst[o + 16 + 32 * c + l] = L[64 * c + l]! | (L[64 * c + l + 32]! << 4);
  }
});

export const Q5_K = k4Codec(176, 31, -0.5, 15, q5Levels, (dst, o) => {
  dst.fill(0, o + 16, o + 48);
  for (let c = 0; c < 4; c++) {
    for (let l = 0; l < 32; l++) {
      const l1 = L[64 * c + l]!, l2 = L[64 * c + l + 32]!;
      dst[o + 16 + l]! |= ((l1 >> 4) << (2 * c)) | ((l2 >> 4) << (2 * c + 1));
      dst[o + 48 + 32 * c + l] = (l1 & 15) | ((l2 & 15) << 4);
    }
  }
});

export const Q6_K: BlockCodec = {
  dequantize(src, dst, blocks) {
    const h = f16ToF32Table();
    for (let b = 0; b < blocks; b++) {
      const o = b * 210, e = b * QK_K;
      const d = h[u16(src, o + 208)]!;
      q6Levels(src, o, LEVELS);
      for (let s = 0; s < 16; s++) {
        const ds = fr(d * i8(src, o + 192 + s));
        for (let t = 16 * s; t < 16 * s + 16; t++) dst[e + t] = ds * LEVELS[t]!;
      }
    }
  },
  quantize(x, dst, blocks) {
    const levels = LEVELS; // level + 32, i.e. 0..63
    for (let b = 0; b < blocks; b++) {
      const o = b * 210, xo = b * QK_K;
      let maxScale = 0, maxAbsScale = 0;
      for (let j = 0; j < 16; j++) {
        SCALES[j] = makeQx(16, 32, x, xo + 16 * j, levels, 16 * j);
        if (Math.abs(SCALES[j]!) > maxAbsScale) {
          maxAbsScale = Math.abs(SCALES[j]!);
          maxScale = SCALES[j]!;
        }
      }
      if (maxAbsScale < GROUP_MAX_EPS) {
        dst.fill(0, o, o + 210);
        continue;
      }
      const iscale = fr(-128 / maxScale);
      writeF16(dst, o + 208, fr(1 / iscale));
      for (let j = 0; j < 16; j++) dst[o + 192 + j] = Math.min(127, nearestInt(fr(iscale * SCALES[j]!))) & 0xff;
      const d = f16ToF32Table()[u16(dst, o + 208)]!;
      for (let j = 0; j < 16; j++) {
        const dj = fr(d * i8(dst, o + 192 + j));
        if (!dj) continue;
        for (let i = 0; i < 16; i++) {
          levels[16 * j + i] = clamp(nearestInt(fr(x[xo + 16 * j + i]! / dj)), -32, 31) + 32;
        }
      }
      for (let hh = 0; hh < 2; hh++) {
        const lb = 128 * hh, ql = o + 64 * hh, qh = o + 128 + 32 * hh;
        for (let l = 0; l < 32; l++) {
          const q1 = levels[lb + l]!, q2 = levels[lb + l + 32]!, q3 = levels[lb + l + 64]!, q4 = levels[lb + l + 96]!;
          dst[ql + l] = (q1 & 15) | ((q3 & 15) << 4);
          dst[ql + l + 32] = (q2 & 15) | ((q4 & 15) << 4);
          dst[qh + l] = (q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6);
        }
      }
    }
  },
  vecDotType: GGMLType.Q8_K,
  vecDot(w, a, blocks) {
    const h = f16ToF32Table(), av = view(a);
    let sum = 0;
    for (let b = 0; b < blocks; b++) {
      const o = b * 210, oa = b * 292;
      q6Levels(w, o, LEVELS);
      let isum = 0;
      for (let s = 0; s < 16; s++) isum += i8(w, o + 192 + s) * groupDot(LEVELS, a, oa, 16 * s, 16);
      sum = fr(sum + fr(fr(h[u16(w, o + 208)]! * av.getFloat32(oa, true)) * isum));
    }
    return sum;
  },
};

/** Activation-only: ggml has no vec_dot with Q8_K weights. */
export const Q8_K: BlockCodec = {
  dequantize(src, dst, blocks) {
    const v = view(src);
    for (let b = 0; b < blocks; b++) {
      const o = b * 292, e = b * QK_K;
      const d = v.getFloat32(o, true);
      for (let j = 0; j < QK_K; j++) dst[e + j] = d * i8(src, o + 4 + j);
    }
  },
  quantize(x, dst, blocks) {
    const v = view(dst);
    for (let b = 0; b < blocks; b++) {
      const o = b * 292, xo = b * QK_K;
      const max = signedMax(x, xo, QK_K);
      if (!max) {
        dst.fill(0, o, o + 292);
        continue;
      }
      // −127 rather than −128 keeps every quant in −127..127
      const iscale = fr(-127 / max);
      for (let j = 0; j < QK_K; j++) dst[o + 4 + j] = Math.min(127, nearestInt(fr(iscale * x[xo + j]!))) & 0xff;
      for (let s = 0; s < 16; s++) {
        let sum = 0;
        for (let t = 0; t < 16; t++) sum += i8(dst, o + 4 + 16 * s + t);
        v.setInt16(o + 260 + 2 * s, sum, true);
      }
      v.setFloat32(o, fr(1 / iscale), true);
    }
  },
};
