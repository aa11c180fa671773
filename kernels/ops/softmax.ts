import { max4 } from '../shared/half';
import { exp_sum, scale_in_place } from './simd';

// Row softmax as ggml's soft_max_ext (no ALiBi): v = x*scale (+ mask), m = max(v),
// e = expf(v - m) with the e summed in f64 in index order, out = e * f32(1/sum).
// Rows are contiguous, of length n; a call handles rows [row0, row1). In place is allowed.

/**
 * mask: 0 for none, else f32 values added after scaling (use -Infinity to hide an entry); row r
 * uses mask + r*mask_stride elements (mask_stride 0: one mask row for every row).
 * A row whose every entry is -Infinity comes out NaN, as in ggml.
 */
export function softmax_f32(x: usize, out: usize, n: i32, scale: f32, mask: usize, mask_stride: i32, row0: i32, row1: i32): void {
  const stride = <usize>n << 2;
  const vs = f32x4.splat(scale);
  for (let r = row0; r < row1; r++) {
    const xr = x + <usize>r * stride;
    const yr = out + <usize>r * stride;
    const mr = mask ? mask + ((<usize>r * <usize>mask_stride) << 2) : 0;
    // Pass 1: scaled (and masked) values into out, and their maximum.
    let vmax = f32x4.splat(-Infinity);
    let i = 0;
    for (; i + 4 <= n; i += 4) {
      const off = <usize>i << 2;
      let v = f32x4.mul(v128.load(xr + off), vs);
      if (mr) v = f32x4.add(v, v128.load(mr + off));
      v128.store(yr + off, v);
      vmax = f32x4.max(vmax, v);
    }
    let m = max4(vmax);
    for (; i < n; i++) {
      const off = <usize>i << 2;
      let v = load<f32>(xr + off) * scale;
      if (mr) v += load<f32>(mr + off);
      store<f32>(yr + off, v);
      m = max(m, v);
    }
    const sum = exp_sum(yr, n, m);
    scale_in_place(yr, n, <f32>(1.0 / sum));
  }
}
