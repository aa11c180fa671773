/**
 * WGSL decoders for GGUF weight blocks: for one tensor type, a snippet that defines
 * `fn dq4(row: u32, i: u32) -> vec4<f32>`, the four values i..i+3 (i a multiple of 4) of the row
 * that starts at byte offset `row` of `W`. The shader that pastes the snippet in declares
 * `@group(0) @binding(0) var<storage, read> W: array<u32>;` holding the raw tensor bytes as stored
 * in the file (ggml block layout, little-endian, zero-padded to whole words). Rows and fields may
 * start at any byte, so every read goes through the unaligned helpers below.
 *
 * Results are bit-identical to `dequantize` in src/quant (the layouts are documented there): each
 * value is computed with the same f32 operations in the same order. Where a product is rounded
 * (Q6_K, IQ4_XS) it is a single correctly rounded multiplication, as in the codec; everywhere else
 * the scale × quant product is exact, so a compiler that fuses it with the following add into an
 * FMA cannot change the result either.
 *
 * Every helper is named dq_* so the snippet can be pasted next to other code; only dq4 is public.
 * No `f16` type is used (shader-f16 is optional): halves go through unpack2x16float, bf16 through
 * a shift.
 */
import { GGMLType, IQ4_KVALUES, type GGMLTypeId } from '../../quant/index.js';

/** Byte and word access at any byte offset, shared by every type. */
const HELPERS = /* wgsl */ `
// The byte at byte offset b of W.
fn dq_byte(b: u32) -> u32 {
  return (W[b >> 2u] >> ((b & 3u) * 8u)) & 0xffu;
}

// The byte at byte offset b of W, sign-extended.
fn dq_sbyte(b: u32) -> i32 {
  return bitcast<i32>(dq_byte(b) << 24u) >> 24u;
}

// The 4 bytes at byte offset b as a little-endian u32, from the two words they straddle.
// "<< (31 - s) << 1" shifts the second word out entirely when b is aligned (a single shift by 32
// would use only the low 5 bits of the amount); that word may then lie past the end of W, which
// WebGPU's robust buffer access makes harmless, and its value is discarded.
fn dq_u32(b: u32) -> u32 {
  let w = b >> 2u;
  let s = (b & 3u) * 8u;
  return (W[w] >> s) | ((W[w + 1u] << (31u - s)) << 1u);
}

// 8 bytes at byte offset b as two little-endian u32 (3 word loads).
fn dq_u32x2(b: u32) -> vec2<u32> {
  let w = b >> 2u;
  let s = (b & 3u) * 8u;
  let a = vec3<u32>(W[w], W[w + 1u], W[w + 2u]);
  return (a.xy >> vec2<u32>(s)) | ((a.yz << vec2<u32>(31u - s)) << vec2<u32>(1u));
}

// 16 bytes at byte offset b as four little-endian u32 (5 word loads).
fn dq_u32x4(b: u32) -> vec4<u32> {
  let w = b >> 2u;
  let s = (b & 3u) * 8u;
  let a = vec4<u32>(W[w], W[w + 1u], W[w + 2u], W[w + 3u]);
  let n = vec4<u32>(a.yzw, W[w + 4u]);
  return (a >> vec4<u32>(s)) | ((n << vec4<u32>(31u - s)) << vec4<u32>(1u));
}

// The f16 at byte offset b, as f32 (exact).
fn dq_f16(b: u32) -> f32 {
  return unpack2x16float(dq_u32(b)).x;
}

// The 4 bytes of u, low byte first.
fn dq_bytes(u: u32) -> vec4<u32> {
  return (vec4<u32>(u) >> vec4<u32>(0u, 8u, 16u, 24u)) & vec4<u32>(0xffu);
}

// The 4 bytes of u, low byte first, sign-extended.
fn dq_sbytes(u: u32) -> vec4<i32> {
  return bitcast<vec4<i32>>(vec4<u32>(u) << vec4<u32>(24u, 16u, 8u, 0u)) >> vec4<u32>(24u);
}

// 4-bit quants j..j+3 (j a multiple of 4) of a 32-element group whose 16 bytes start at byte qs:
// element j < 16 is the low nibble of byte j, element j + 16 the high nibble of byte j, so four
// consecutive elements are one nibble of four consecutive bytes.
fn dq_nib32(qs: u32, j: u32) -> vec4<u32> {
  return dq_bytes((dq_u32(qs + (j & 15u)) >> ((j & 16u) >> 2u)) & 0x0f0f0f0fu);
}

// Bits j..j+3 of qh, one per lane (the fifth bits of Q5_0/Q5_1; j <= 28).
fn dq_bits4(qh: u32, j: u32) -> vec4<u32> {
  return (vec4<u32>(qh >> j) >> vec4<u32>(0u, 1u, 2u, 3u)) & vec4<u32>(1u);
}
`;

/** The 16 IQ4 levels, written out from the codec's table so that the two cannot drift apart. */
const KVALUES = /* wgsl */ `
// IQ4_NL / IQ4_XS levels (ggml's kvalues_iq4nl).
const dq_kvalues = array<f32, 16>(${IQ4_KVALUES.map((v) => `${v}.0`).join(', ')});

fn dq_kv4(q: vec4<u32>) -> vec4<f32> {
  return vec4<f32>(dq_kvalues[q.x], dq_kvalues[q.y], dq_kvalues[q.z], dq_kvalues[q.w]);
}
`;

/**
 * Q4_K / Q5_K: the 6-bit scale (x) and min (y) of sub-block j (0..7) from the 12 bytes at sc
 * (ggml's get_scale_min_k4): bytes 0..3 hold scales 0..3 and bytes 4..7 mins 0..3 in their low
 * 6 bits; scales/mins 4..7 take their low 4 bits from the nibbles of bytes 8..11 and their top
 * 2 bits from the spare top bits of bytes 0..3 / 4..7.
 */
const K4_SCALES = /* wgsl */ `
fn dq_k4(sc: u32, j: u32) -> vec2<u32> {
  if (j < 4u) {
    return vec2<u32>(dq_byte(sc + j) & 63u, dq_byte(sc + j + 4u) & 63u);
  }
  let a = dq_byte(sc + j + 4u);
  return vec2<u32>((a & 15u) | ((dq_byte(sc + j - 4u) >> 6u) << 4u), (a >> 4u) | ((dq_byte(sc + j) >> 6u) << 4u));
}
`;

interface Decoder {
  /** Extra helper source the body needs. */
  readonly needs?: readonly string[];
  readonly body: string;
}

const DECODERS = new Map<GGMLTypeId, Decoder>([
  [GGMLType.F32, {
    body: /* wgsl */ `
// F32: the bits as stored.
fn dq4(row: u32, i: u32) -> vec4<f32> {
  return bitcast<vec4<f32>>(dq_u32x4(row + 4u * i));
}
`,
  }],
  [GGMLType.F16, {
    body: /* wgsl */ `
// F16: two halves per word; the conversion to f32 is exact.
fn dq4(row: u32, i: u32) -> vec4<f32> {
  let u = dq_u32x2(row + 2u * i);
  return vec4<f32>(unpack2x16float(u.x), unpack2x16float(u.y));
}
`,
  }],
  [GGMLType.BF16, {
    body: /* wgsl */ `
// BF16: the top half of an f32, so moving the 16 bits up is the conversion.
fn dq4(row: u32, i: u32) -> vec4<f32> {
  let u = dq_u32x2(row + 2u * i);
  return bitcast<vec4<f32>>(vec4<u32>(u.x << 16u, u.x & 0xffff0000u, u.y << 16u, u.y & 0xffff0000u));
}
`,
  }],
  [GGMLType.Q4_0, {
    body: /* wgsl */ `
// Q4_0, 18 bytes per 32: f16 d; u8 qs[16]. x = d·(q − 8), exact in f32.
fn dq4(row: u32, i: u32) -> vec4<f32> {
  let o = row + 18u * (i >> 5u);
  let d = dq_f16(o);
  let q = dq_nib32(o + 2u, i & 31u);
  return vec4<f32>(vec4<i32>(q) - 8) * d;
}
`,
  }],
  [GGMLType.Q4_1, {
    body: /* wgsl */ `
// Q4_1, 20 bytes per 32: f16 d; f16 m; u8 qs[16]. x = d·q + m; d·q is exact, so the one
// rounding is at "+ m" as in the codec (also when fused into an FMA).
fn dq4(row: u32, i: u32) -> vec4<f32> {
  let o = row + 20u * (i >> 5u);
  let dm = unpack2x16float(dq_u32(o));
  let q = dq_nib32(o + 4u, i & 31u);
  return vec4<f32>(q) * dm.x + dm.y;
}
`,
  }],
  [GGMLType.Q5_0, {
    body: /* wgsl */ `
// Q5_0, 22 bytes per 32: f16 d; u8 qh[4]; u8 qs[16]. The fifth bit of element j is bit j of qh.
// x = d·(q − 16), exact in f32.
fn dq4(row: u32, i: u32) -> vec4<f32> {
  let o = row + 22u * (i >> 5u);
  let j = i & 31u;
  let d = dq_f16(o);
  let q = dq_nib32(o + 6u, j) | (dq_bits4(dq_u32(o + 2u), j) << vec4<u32>(4u));
  return vec4<f32>(vec4<i32>(q) - 16) * d;
}
`,
  }],
  [GGMLType.Q5_1, {
    body: /* wgsl */ `
// Q5_1, 24 bytes per 32: f16 d; f16 m; u8 qh[4]; u8 qs[16]. x = d·q + m, d·q exact (as Q4_1).
fn dq4(row: u32, i: u32) -> vec4<f32> {
  let o = row + 24u * (i >> 5u);
  let j = i & 31u;
  let dm = unpack2x16float(dq_u32(o));
  let q = dq_nib32(o + 8u, j) | (dq_bits4(dq_u32(o + 4u), j) << vec4<u32>(4u));
  return vec4<f32>(q) * dm.x + dm.y;
}
`,
  }],
  [GGMLType.Q8_0, {
    body: /* wgsl */ `
// Q8_0, 34 bytes per 32: f16 d; i8 qs[32]. x = d·q, exact in f32.
fn dq4(row: u32, i: u32) -> vec4<f32> {
  let o = row + 34u * (i >> 5u);
  let d = dq_f16(o);
  return vec4<f32>(dq_sbytes(dq_u32(o + 2u + (i & 31u)))) * d;
}
`,
  }],
  [GGMLType.Q2_K, {
    body: /* wgsl */ `
// Q2_K, 84 bytes per 256: u8 scales[16]; u8 qs[64]; f16 d; f16 dmin. Sub-block s = e/16 has
// scales[s] = sc | m << 4; element e is 2 bits of qs[32·(e/128) + e%32] at shift 2·((e/32)%4).
// x = (d·sc)·q − dmin·m: d·sc and (d·sc)·q are exact, one rounding at the subtraction.
fn dq4(row: u32, i: u32) -> vec4<f32> {
  let o = row + 84u * (i >> 8u);
  let e = i & 255u;
  let dd = unpack2x16float(dq_u32(o + 80u));
  let sc = dq_byte(o + (e >> 4u));
  let dl = dd.x * f32(sc & 15u);
  let ml = dd.y * f32(sc >> 4u);
  let q = dq_bytes((dq_u32(o + 16u + 32u * (e >> 7u) + (e & 31u)) >> (2u * ((e >> 5u) & 3u))) & 0x03030303u);
  return dl * vec4<f32>(q) - ml;
}
`,
  }],
  [GGMLType.Q3_K, {
    body: /* wgsl */ `
// Q3_K, 110 bytes per 256: u8 hmask[32]; u8 qs[64]; u8 scales[12]; f16 d. Low 2 bits of element
// e as in Q2_K; its high bit is bit e/32 of hmask[e%32], and a clear bit means "minus 4".
// The 6-bit scale of sub-block s (biased by 32): low 4 bits from scales[s%8] (high nibble for
// s >= 8), top 2 bits from scales[8 + s%4] at shift 2·(s/4). x = (d·(sc − 32))·q, all exact.
fn dq4(row: u32, i: u32) -> vec4<f32> {
  let o = row + 110u * (i >> 8u);
  let e = i & 255u;
  let s = e >> 4u;
  let sc = ((dq_byte(o + 96u + (s & 7u)) >> (4u * (s >> 3u))) & 15u)
    | (((dq_byte(o + 104u + (s & 3u)) >> (2u * (s >> 2u))) & 3u) << 4u);
  let dl = dq_f16(o + 108u) * f32(i32(sc) - 32);
  let low = (dq_u32(o + 32u + 32u * (e >> 7u) + (e & 31u)) >> (2u * ((e >> 5u) & 3u))) & 0x03030303u;
  let high = (dq_u32(o + (e & 31u)) >> (e >> 5u)) & 0x01010101u;
  return dl * vec4<f32>(vec4<i32>(dq_bytes(low | (high << 2u))) - 4);
}
`,
  }],
  [GGMLType.Q4_K, {
    needs: [K4_SCALES],
    body: /* wgsl */ `
// Q4_K, 144 bytes per 256: f16 d; f16 dmin; u8 scales[12]; u8 qs[128]. Sub-blocks of 32 with
// 6-bit scale and min; element e is the low nibble of qs[32·(e/64) + e%32] when e%64 < 32, else
// the high nibble. x = (d·sc)·q − dmin·m, the products exact, one rounding at the subtraction.
fn dq4(row: u32, i: u32) -> vec4<f32> {
  let o = row + 144u * (i >> 8u);
  let e = i & 255u;
  let dd = unpack2x16float(dq_u32(o));
  let sm = dq_k4(o + 4u, e >> 5u);
  let ds = dd.x * f32(sm.x);
  let ms = dd.y * f32(sm.y);
  let q = dq_bytes((dq_u32(o + 16u + 32u * (e >> 6u) + (e & 31u)) >> ((e & 32u) >> 3u)) & 0x0f0f0f0fu);
  return ds * vec4<f32>(q) - ms;
}
`,
  }],
  [GGMLType.Q5_K, {
    needs: [K4_SCALES],
    body: /* wgsl */ `
// Q5_K, 176 bytes per 256: f16 d; f16 dmin; u8 scales[12]; u8 qh[32]; u8 qs[128]. As Q4_K, with
// a fifth bit from bit e/32 of qh[e%32]; the products stay exact.
fn dq4(row: u32, i: u32) -> vec4<f32> {
  let o = row + 176u * (i >> 8u);
  let e = i & 255u;
  let dd = unpack2x16float(dq_u32(o));
  let sm = dq_k4(o + 4u, e >> 5u);
  let ds = dd.x * f32(sm.x);
  let ms = dd.y * f32(sm.y);
  let low = (dq_u32(o + 48u + 32u * (e >> 6u) + (e & 31u)) >> ((e & 32u) >> 3u)) & 0x0f0f0f0fu;
  let high = (dq_u32(o + 16u + (e & 31u)) >> (e >> 5u)) & 0x01010101u;
  return ds * vec4<f32>(dq_bytes(low | (high << 4u))) - ms;
}
`,
  }],
  [GGMLType.Q6_K, {
    body: /* wgsl */ `
// Q6_K, 210 bytes per 256: u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d. In half h = e/128,
// quarter k = (e/32)%4, l = e%32: low 4 bits from ql[64h + 32·(k%2) + l] (high nibble for k >= 2),
// top 2 bits from qh[32h + l] at shift 2k. x = (d·sc)·(q − 32): d·sc is exact and the second
// product is rounded once, as in the codec (no add follows, so nothing can be fused into it).
fn dq4(row: u32, i: u32) -> vec4<f32> {
  let o = row + 210u * (i >> 8u);
  let e = i & 255u;
  let h = e >> 7u;
  let k = (e >> 5u) & 3u;
  let l = e & 31u;
  let ds = dq_f16(o + 208u) * f32(dq_sbyte(o + 192u + (e >> 4u)));
  let low = (dq_u32(o + 64u * h + 32u * (k & 1u) + l) >> (4u * (k >> 1u))) & 0x0f0f0f0fu;
  let high = (dq_u32(o + 128u + 32u * h + l) >> (2u * k)) & 0x03030303u;
  return ds * vec4<f32>(vec4<i32>(dq_bytes(low | (high << 4u))) - 32);
}
`,
  }],
  [GGMLType.IQ4_NL, {
    needs: [KVALUES],
    body: /* wgsl */ `
// IQ4_NL, 18 bytes per 32: f16 d; u8 qs[16] (nibbles as Q4_0). x = d·kvalues[q], exact in f32.
fn dq4(row: u32, i: u32) -> vec4<f32> {
  let o = row + 18u * (i >> 5u);
  return dq_f16(o) * dq_kv4(dq_nib32(o + 2u, i & 31u));
}
`,
  }],
  [GGMLType.IQ4_XS, {
    needs: [KVALUES],
    body: /* wgsl */ `
// IQ4_XS, 136 bytes per 256: f16 d; u16 scales_h; u8 scales_l[4]; u8 qs[128]. Sub-block s = e/32
// has the 6-bit scale (biased by 32) low nibble of scales_l[s/2] (high nibble for odd s) | bits
// 2s..2s+1 of scales_h << 4; its 16 bytes of nibbles (as Q4_0) start at qs[16s].
// x = (d·(ls − 32))·kvalues[q]: the first product is exact, the second rounded once as in the codec.
fn dq4(row: u32, i: u32) -> vec4<f32> {
  let o = row + 136u * (i >> 8u);
  let e = i & 255u;
  let s = e >> 5u;
  let dh = dq_u32(o); // d in the low half, scales_h in the high half
  let ls = ((dq_byte(o + 4u + (s >> 1u)) >> (4u * (s & 1u))) & 15u) | (((dh >> (16u + 2u * s)) & 3u) << 4u);
  let dl = unpack2x16float(dh).x * f32(i32(ls) - 32);
  return dl * dq_kv4(dq_nib32(o + 8u + 16u * s, e & 31u));
}
`,
  }],
]);

/** The types dequantWGSL decodes. */
export const WGSL_DEQUANT_TYPES: ReadonlySet<GGMLTypeId> = new Set(DECODERS.keys());

/**
 * WGSL source defining `fn dq4(row: u32, i: u32) -> vec4<f32>` for weights of `type`, or
 * undefined when the type has no WGSL decoder. See the file comment for the contract.
 */
export function dequantWGSL(type: GGMLTypeId): string | undefined {
  const d = DECODERS.get(type);
  if (!d) return undefined;
  return HELPERS + (d.needs ?? []).join('') + d.body;
}
