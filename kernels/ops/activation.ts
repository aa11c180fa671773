// Activations and other unary maps over n f32 values, with ggml's f32 formulas and rounding.
// Every element gets the same operations whether it falls in a vector or in the tail, so a host
// may split any of these by offsetting the pointers. In place (out equal to an input) is allowed.
import { f32x4_to_halfx4, halfx4_to_f32x4 } from '../shared/half';

// @ts-ignore: decorator
@inline const SQRT_2_OVER_PI: f32 = 0.7978845608028654;
// @ts-ignore: decorator
@inline const GELU_COEF_A: f32 = 0.044715;

/** silu(x) = x / (1 + expf(-x)). */
// @ts-ignore: decorator
@inline function silu(x: f32): f32 {
  return x / (<f32>1 + Mathf.exp(-x));
}

/** Tanh-approximation GELU, evaluated as ggml_gelu_f32 writes it (left-to-right f32 products). */
// @ts-ignore: decorator
@inline function gelu(x: f32): f32 {
  return <f32>0.5 * x * (<f32>1 + Mathf.tanh(SQRT_2_OVER_PI * x * (<f32>1 + GELU_COEF_A * x * x)));
}

/**
 * Fills the 65536-entry f16 GELU table (131072 bytes at `table`, owned by the host) that
 * gelu_ggml_f32 and geglu_ggml_f32 read: entry h = f16(gelu(f32(h))), as ggml builds its own.
 */
export function gelu_ggml_table_init(table: usize): void {
  for (let h = 0; h < 0x10000; h++) {
    const x = f32x4.extract_lane(halfx4_to_f32x4(i32x4.splat(h)), 0);
    store<u16>(table + (<usize>h << 1), <u16>i32x4.extract_lane(f32x4_to_halfx4(f32x4.splat(gelu(x))), 0));
  }
}

/**
 * ggml's CPU GELU on 4 lanes: x <= -10 -> 0, x >= 10 -> x, else the table entry of x rounded
 * to f16 (NaN goes through the table and stays NaN).
 */
// @ts-ignore: decorator
@inline function gelu_ggml4(x: v128, table: usize): v128 {
  const h = f32x4_to_halfx4(x);
  let t = i32x4.splat(<i32>load<u16>(table + (<usize>i32x4.extract_lane(h, 0) << 1)));
  t = i32x4.replace_lane(t, 1, <i32>load<u16>(table + (<usize>i32x4.extract_lane(h, 1) << 1)));
  t = i32x4.replace_lane(t, 2, <i32>load<u16>(table + (<usize>i32x4.extract_lane(h, 2) << 1)));
  t = i32x4.replace_lane(t, 3, <i32>load<u16>(table + (<usize>i32x4.extract_lane(h, 3) << 1)));
  const y = halfx4_to_f32x4(t);
  const hi = f32x4.ge(x, f32x4.splat(10));
  const lo = f32x4.le(x, f32x4.splat(-10));
  return v128.andnot(v128.bitselect(x, y, hi), lo);
}

export function silu_f32(x: usize, out: usize, n: i32): void {
  for (let i = 0; i < n; i++) {
    const off = <usize>i << 2;
    store<f32>(out + off, silu(load<f32>(x + off)));
  }
}

export function gelu_f32(x: usize, out: usize, n: i32): void {
  for (let i = 0; i < n; i++) {
    const off = <usize>i << 2;
    store<f32>(out + off, gelu(load<f32>(x + off)));
  }
}

/** ggml's CPU GELU through the table filled by gelu_ggml_table_init. */
export function gelu_ggml_f32(x: usize, out: usize, n: i32, table: usize): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const off = <usize>i << 2;
    v128.store(out + off, gelu_ggml4(v128.load(x + off), table));
  }
  for (; i < n; i++) {
    const off = <usize>i << 2;
    store<f32>(out + off, f32x4.extract_lane(gelu_ggml4(f32x4.splat(load<f32>(x + off)), table), 0));
  }
}

/** out[i] = silu(g[i]) * u[i], rounded as the two separate ops. */
export function swiglu_f32(g: usize, u: usize, out: usize, n: i32): void {
  for (let i = 0; i < n; i++) {
    const off = <usize>i << 2;
    store<f32>(out + off, silu(load<f32>(g + off)) * load<f32>(u + off));
  }
}

/** out[i] = gelu(g[i]) * u[i] with the f32 tanh GELU. */
export function geglu_f32(g: usize, u: usize, out: usize, n: i32): void {
  for (let i = 0; i < n; i++) {
    const off = <usize>i << 2;
    store<f32>(out + off, gelu(load<f32>(g + off)) * load<f32>(u + off));
  }
}

/** out[i] = gelu_ggml(g[i]) * u[i]: what llama.cpp's CPU backend computes for a GELU-gated FFN. */
export function geglu_ggml_f32(g: usize, u: usize, out: usize, n: i32, table: usize): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const off = <usize>i << 2;
    v128.store(out + off, f32x4.mul(gelu_ggml4(v128.load(g + off), table), v128.load(u + off)));
  }
  for (; i < n; i++) {
    const off = <usize>i << 2;
    store<f32>(out + off, f32x4.extract_lane(gelu_ggml4(f32x4.splat(load<f32>(g + off)), table), 0) * load<f32>(u + off));
  }
}

/** Soft-capping as ggml's scale/tanh/scale ops: out = tanhf(x * f32(1/cap)) * cap. */
export function softcap_f32(x: usize, out: usize, n: i32, cap: f32): void {
  const inv: f32 = <f32>1 / cap;
  for (let i = 0; i < n; i++) {
    const off = <usize>i << 2;
    store<f32>(out + off, Mathf.tanh(load<f32>(x + off) * inv) * cap);
  }
}

export function exp_f32(x: usize, out: usize, n: i32): void {
  for (let i = 0; i < n; i++) {
    const off = <usize>i << 2;
    store<f32>(out + off, Mathf.exp(load<f32>(x + off)));
  }
}

export function tanh_f32(x: usize, out: usize, n: i32): void {
  for (let i = 0; i < n; i++) {
    const off = <usize>i << 2;
    store<f32>(out + off, Mathf.tanh(load<f32>(x + off)));
  }
}
