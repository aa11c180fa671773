/**
 * Plain element types (block size 1): F32, F16, BF16 and, for reading only, F64, I8, I16, I32.
 * Dot products mirror ggml's scalar vec_dot_f32/f16/bf16: each product in f32 (exact for f16
 * and bf16 inputs), summed in f64, rounded to f32 at the end.
 */
import { GGMLType } from './types.js';
import { bf16BitsToF32, f16ToF32Table, f32ToBF16Bits, f32ToF16Bits } from './half.js';
import { type BlockCodec, u16, view, writeU16 } from './common.js';

// a local alias: an imported binding costs a getter call per use under some loaders (tsx)
const fr = Math.fround;

export const F32: BlockCodec = {
  dequantize(src, dst, n) {
    const v = view(src);
    for (let i = 0; i < n; i++) dst[i] = v.getFloat32(4 * i, true);
  },
  quantize(src, dst, n) {
    const v = view(dst);
    for (let i = 0; i < n; i++) v.setFloat32(4 * i, src[i]!, true);
  },
  vecDotType: GGMLType.F32,
  vecDot(w, a, n) {
    const vw = view(w), va = view(a);
    let sum = 0;
    for (let i = 0; i < n; i++) sum += fr(vw.getFloat32(4 * i, true) * va.getFloat32(4 * i, true));
    return fr(sum);
  },
};

export const F16: BlockCodec = {
  dequantize(src, dst, n) {
    const h = f16ToF32Table();
    for (let i = 0; i < n; i++) dst[i] = h[u16(src, 2 * i)]!;
  },
  quantize(src, dst, n) {
    for (let i = 0; i < n; i++) writeU16(dst, 2 * i, f32ToF16Bits(src[i]!));
  },
  vecDotType: GGMLType.F16,
  vecDot(w, a, n) {
    const h = f16ToF32Table();
    let sum = 0;
    for (let i = 0; i < n; i++) sum += h[u16(w, 2 * i)]! * h[u16(a, 2 * i)]!;
    return fr(sum);
  },
};

export const BF16: BlockCodec = {
  dequantize(src, dst, n) {
    for (let i = 0; i < n; i++) dst[i] = bf16BitsToF32(u16(src, 2 * i));
  },
  quantize(src, dst, n) {
    for (let i = 0; i < n; i++) writeU16(dst, 2 * i, f32ToBF16Bits(src[i]!));
  },
  vecDotType: GGMLType.BF16,
  vecDot(w, a, n) {
    let sum = 0;
    for (let i = 0; i < n; i++) sum += bf16BitsToF32(u16(w, 2 * i)) * bf16BitsToF32(u16(a, 2 * i));
    return fr(sum);
  },
};

/** A read-only integer or f64 type: the value converted to the nearest f32. */
function readOnly(read: (v: DataView, i: number) => number): BlockCodec {
  return {
    dequantize(src, dst, n) {
      const v = view(src);
      for (let i = 0; i < n; i++) dst[i] = read(v, i);
    },
  };
}

export const F64 = readOnly((v, i) => v.getFloat64(8 * i, true));
export const I8 = readOnly((v, i) => v.getInt8(i));
export const I16 = readOnly((v, i) => v.getInt16(2 * i, true));
export const I32 = readOnly((v, i) => v.getInt32(4 * i, true));
