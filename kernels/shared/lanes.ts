// Vector constants read from memory. V8 13 (Node 22+, current Chrome) materialises a v128
// constant afresh at every use inside a loop, three instructions each (a 64-bit load, a move, an
// unpack): the Q4_0 decode loop spent ~90 of its ~240 instructions per step on them and decoded
// 25% slower than on Node 20, whose V8 keeps such constants in registers. A value loaded from
// memory is an ordinary value to V8: repeated loads of it in a loop body merge into one, and it
// is held or spilled like any other. The pool is read-only data, the same in every instance;
// kernels take its vectors with `pooled(NAME)`.

// @ts-ignore: decorator
@lazy @inline const POOL = memory.data<u32>([
  0x0f0f0f0f, 0x0f0f0f0f, 0x0f0f0f0f, 0x0f0f0f0f,
  0x03030303, 0x03030303, 0x03030303, 0x03030303,
  0x01010101, 0x01010101, 0x01010101, 0x01010101,
  0x08080808, 0x08080808, 0x08080808, 0x08080808,
  0x10101010, 0x10101010, 0x10101010, 0x10101010,
  0x00010001, 0x00010001, 0x00010001, 0x00010001,
  0x8fffffff, 0x8fffffff, 0x8fffffff, 0x8fffffff,
  0x0f800000, 0x0f800000, 0x0f800000, 0x0f800000,
  0x77800000, 0x77800000, 0x77800000, 0x77800000,
  0x7f800000, 0x7f800000, 0x7f800000, 0x7f800000,
  0x00007fff, 0x00007fff, 0x00007fff, 0x00007fff,
  0x00008000, 0x00008000, 0x00008000, 0x00008000,
  0x8fffe000, 0x8fffe000, 0x8fffe000, 0x8fffe000,
  0x7c007c00, 0x7c007c00, 0x7c007c00, 0x7c007c00,
  0xffff0000, 0xffff0000, 0xffff0000, 0xffff0000,
], 16);

// The pool's vectors, by their offsets in it.
/** i8x16 15: the low nibble of every byte. */
export const NIBBLE_MASK: usize = 0;
/** i8x16 3: the low two bits of every byte. */
export const TWO_BIT_MASK: usize = 16;
/** i8x16 1: the low bit of every byte. */
export const BIT_MASK: usize = 32;
/** i8x16 8: Q4_0's code offset. */
export const I8_8: usize = 48;
/** i8x16 16: Q5_0's code offset. */
export const I8_16: usize = 64;
/** i16x8 1. */
export const I16_ONES: usize = 80;
/** i32x4 0x8fffffff: the bits of an f16 shifted left by 13 that are f32 sign, exponent and mantissa. */
export const F16_BITS: usize = 96;
/** i32x4 0x0f800000: an f16 exponent field, shifted into f32 position. */
export const F16_EXPONENT: usize = 112;
/** f32x4 2^112: rebiases an f16 exponent placed in f32 position. */
export const F16_REBIAS_X4: usize = 128;
/** i32x4 0x7f800000: the f32 exponent field (inf/NaN). */
export const F32_EXPONENT: usize = 144;
/** i32x4 0x7fff: an f16 without its sign. */
export const F16_MAGNITUDE: usize = 160;
/** i32x4 0x8000: an f16 sign bit. */
export const F16_SIGN: usize = 176;
/** i32x4 0x8fffe000: an f16 in the high half of a lane, shifted right by 3 (arithmetic), as f32 bits (unbiased). */
export const F16_HIGH_BITS: usize = 192;
/** i16x8 0x7c00: the f16 exponent field (all ones: inf or NaN). */
export const F16_EXPONENT_X8: usize = 208;
/** i32x4 0xffff0000: the high half of a lane (a bf16 there is an f32). */
export const HIGH_HALF: usize = 224;

/** The pool's vector at `at` (one of the offsets above). */
// @ts-ignore: decorator
@inline export function pooled(at: usize): v128 {
  return v128.load(POOL + at);
}
