// Conversions between f32, f16 and bf16.
// f32 -> f16 rounds to nearest even (NaN keeps its top payload bits with the quiet bit set, as
// F16C does); f16/bf16 -> f32 are exact. Pointers to f16/bf16 data address raw 16-bit patterns.
import { bf16_to_f32_row, f16_to_f32_row, f32_to_f16_row } from './simd';

/** dst[i] = f16(src[i]), i < n. */
export function f32_to_f16(src: usize, dst: usize, n: i32): void {
  f32_to_f16_row(src, dst, n);
}

/** dst[i] = f32(src[i]), i < n, src f16. */
export function f16_to_f32(src: usize, dst: usize, n: i32): void {
  f16_to_f32_row(src, dst, n);
}

/** dst[i] = f32(src[i]), i < n, src bf16. */
export function bf16_to_f32(src: usize, dst: usize, n: i32): void {
  bf16_to_f32_row(src, dst, n);
}
