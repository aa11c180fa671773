// Row normalisations, as ggml's CPU backend computes them: the reductions run sequentially in
// f64 over f32 terms, the scale is formed in f32. Rows are contiguous, of length n; a call
// handles rows [row0, row1), so any split of the rows gives the same bits. In place is allowed.

/**
 * RMSNorm: y = x * (1/sqrt(mean(x*x) + eps)), then y * w when w != 0.
 * Rounds exactly as ggml's rms_norm followed by a separate mul: each x*x is an f32 product
 * summed in f64 in index order, mean = f32(sum/n), scale = 1/sqrtf(mean + eps) in f32.
 */
export function rms_norm_f32(x: usize, w: usize, out: usize, n: i32, eps: f32, row0: i32, row1: i32): void {
  const stride = <usize>n << 2;
  for (let r = row0; r < row1; r++) {
    const xr = x + <usize>r * stride;
    const yr = out + <usize>r * stride;
    let sum: f64 = 0;
    for (let i = 0; i < n; i++) {
      const v = load<f32>(xr + (<usize>i << 2));
      sum += <f64>(v * v);
    }
    const mean = <f32>(sum / <f64>n);
    const scale: f32 = <f32>1 / Mathf.sqrt(mean + eps);
    scale_row(xr, w, 0, yr, n, scale);
  }
}

/**
 * LayerNorm: y = (x - mean) * (1/sqrt(var + eps)), then * w when w != 0, then + b when b != 0.
 * As ggml's norm: mean = f32(sum(x)/n) with the sum in f64; v = x - mean in f32; the biased
 * variance f32(sum(v*v)/n) with f32 products summed in f64; every later step in f32.
 */
export function layer_norm_f32(x: usize, w: usize, b: usize, out: usize, n: i32, eps: f32, row0: i32, row1: i32): void {
  const stride = <usize>n << 2;
  for (let r = row0; r < row1; r++) {
    const xr = x + <usize>r * stride;
    const yr = out + <usize>r * stride;
    let sum: f64 = 0;
    for (let i = 0; i < n; i++) sum += <f64>load<f32>(xr + (<usize>i << 2));
    const mean = <f32>(sum / <f64>n);
    let sum2: f64 = 0;
    for (let i = 0; i < n; i++) {
      const v = load<f32>(xr + (<usize>i << 2)) - mean;
      sum2 += <f64>(v * v);
    }
    const variance = <f32>(sum2 / <f64>n);
    const scale: f32 = <f32>1 / Mathf.sqrt(variance + eps);
    scale_row(xr, w, b, yr, n, scale, mean);
  }
}

/** y[i] = ((x[i] - shift) * scale) [* w[i]] [+ b[i]], each step rounded to f32. */
// @ts-ignore: decorator
@inline function scale_row(x: usize, w: usize, b: usize, y: usize, n: i32, scale: f32, shift: f32 = 0): void {
  const vs = f32x4.splat(scale);
  const vm = f32x4.splat(shift);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const off = <usize>i << 2;
    let v = f32x4.mul(f32x4.sub(v128.load(x + off), vm), vs);
    if (w) v = f32x4.mul(v, v128.load(w + off));
    if (b) v = f32x4.add(v, v128.load(b + off));
    v128.store(y + off, v);
  }
  for (; i < n; i++) {
    const off = <usize>i << 2;
    let v = (load<f32>(x + off) - shift) * scale;
    if (w) v *= load<f32>(w + off);
    if (b) v += load<f32>(b + off);
    store<f32>(y + off, v);
  }
}
