// Vector constants read from memory. V8 13 (Node 22+, current Chrome) materialises a v128
// constant afresh at every use inside a loop, three instructions each (a 64-bit load, a move, an
// unpack): the Q4_0 decode loop spent ~90 of its ~240 instructions per step on them and decoded
// 25% slower than on Node 20, whose V8 keeps such constants in registers. A value loaded from
// memory is an ordinary value to V8: repeated loads of it in a loop body merge into one, and it
// is held or spilled like any other. The pool is read-only data, the same in every instance.

// @ts-ignore: decorator
@lazy @inline const POOL = memory.data<u32>([
  0x0f0f0f0f, 0x0f0f0f0f, 0x0f0f0f0f, 0x0f0f0f0f, //   0: i8x16 15
  0x00010001, 0x00010001, 0x00010001, 0x00010001, //  16: i16x8 1
  0x08080808, 0x08080808, 0x08080808, 0x08080808, //  32: i8x16 8
  0x10101010, 0x10101010, 0x10101010, 0x10101010, //  48: i8x16 16
  0x8fffffff, 0x8fffffff, 0x8fffffff, 0x8fffffff, //  64: i32x4 f16 sign+exponent+mantissa in f32 position
  0x0f800000, 0x0f800000, 0x0f800000, 0x0f800000, //  80: i32x4 f16 exponent field in f32 position
  0x77800000, 0x77800000, 0x77800000, 0x77800000, //  96: f32x4 2^112
  0x7f800000, 0x7f800000, 0x7f800000, 0x7f800000, // 112: i32x4 f32 exponent field
  0x03030303, 0x03030303, 0x03030303, 0x03030303, // 128: i8x16 3
  0x01010101, 0x01010101, 0x01010101, 0x01010101, // 144: i8x16 1
  0x00007fff, 0x00007fff, 0x00007fff, 0x00007fff, // 160: i32x4 0x7fff
  0x00008000, 0x00008000, 0x00008000, 0x00008000, // 176: i32x4 0x8000
], 16);

/** i8x16.splat(15): the low nibble of every byte. */
// @ts-ignore: decorator
@inline export function nibble_mask(): v128 {
  return v128.load(POOL);
}

/** i8x16.splat(3): the low two bits of every byte. */
// @ts-ignore: decorator
@inline export function two_bit_mask(): v128 {
  return v128.load(POOL, 128);
}

/** i8x16.splat(1): the low bit of every byte. */
// @ts-ignore: decorator
@inline export function bit_mask(): v128 {
  return v128.load(POOL, 144);
}

/** i32x4.splat(0x7fff): an f16 without its sign. */
// @ts-ignore: decorator
@inline export function f16_magnitude(): v128 {
  return v128.load(POOL, 160);
}

/** i32x4.splat(0x8000): an f16 sign bit. */
// @ts-ignore: decorator
@inline export function f16_sign(): v128 {
  return v128.load(POOL, 176);
}

/** i16x8.splat(1). */
// @ts-ignore: decorator
@inline export function ones_i16(): v128 {
  return v128.load(POOL, 16);
}

/** i8x16.splat(v) for v = 8 or 16 (the Q4_0 / Q5_0 code offsets). */
// @ts-ignore: decorator
@inline export function offset_i8(v: i32): v128 {
  return v == 8 ? v128.load(POOL, 32) : v128.load(POOL, 48);
}

/** i32x4.splat(0x8fffffff): the bits of an f16 shifted left by 13 that are f32 sign, exponent and mantissa. */
// @ts-ignore: decorator
@inline export function f16_bits_mask(): v128 {
  return v128.load(POOL, 64);
}

/** i32x4.splat(0x0f800000): an f16 exponent field, shifted into f32 position. */
// @ts-ignore: decorator
@inline export function f16_exponent(): v128 {
  return v128.load(POOL, 80);
}

/** f32x4.splat(2^112): rebiases an f16 exponent placed in f32 position. */
// @ts-ignore: decorator
@inline export function f16_rebias(): v128 {
  return v128.load(POOL, 96);
}

/** i32x4.splat(0x7f800000): the f32 exponent field (inf/NaN). */
// @ts-ignore: decorator
@inline export function f32_exponent(): v128 {
  return v128.load(POOL, 112);
}
