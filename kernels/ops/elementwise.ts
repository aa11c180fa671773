// Elementwise f32 kernels. Each output element depends only on the inputs at the same index
// (or on the broadcast row), so a host may split any of these by offsetting the pointers.
// In-place use (out equal to an input) is allowed.

/** out[i] = a[i] + b[i] for i < n. Pointers are byte addresses of f32 arrays. */
export function add_f32(a: usize, b: usize, out: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const off = <usize>i << 2;
    v128.store(out + off, f32x4.add(v128.load(a + off), v128.load(b + off)));
  }
  for (; i < n; i++) {
    const off = <usize>i << 2;
    store<f32>(out + off, load<f32>(a + off) + load<f32>(b + off));
  }
}

/** out[i] = a[i] * b[i] for i < n. */
export function mul_f32(a: usize, b: usize, out: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const off = <usize>i << 2;
    v128.store(out + off, f32x4.mul(v128.load(a + off), v128.load(b + off)));
  }
  for (; i < n; i++) {
    const off = <usize>i << 2;
    store<f32>(out + off, load<f32>(a + off) * load<f32>(b + off));
  }
}

/** out[r][i] = x[r][i] + row[i]: a bias of length n added to each of `rows` rows of length n. */
export function add_row_f32(x: usize, row: usize, out: usize, n: i32, rows: i32): void {
  const stride = <usize>n << 2;
  for (let r = 0; r < rows; r++) {
    add_f32(x + <usize>r * stride, row, out + <usize>r * stride, n);
  }
}

/** out[r][i] = x[r][i] * row[i]: a norm weight of length n applied to each of `rows` rows. */
export function mul_row_f32(x: usize, row: usize, out: usize, n: i32, rows: i32): void {
  const stride = <usize>n << 2;
  for (let r = 0; r < rows; r++) {
    mul_f32(x + <usize>r * stride, row, out + <usize>r * stride, n);
  }
}

/** out[i] = x[i] * s (ggml_scale). */
export function scale_f32(x: usize, out: usize, n: i32, s: f32): void {
  const vs = f32x4.splat(s);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const off = <usize>i << 2;
    v128.store(out + off, f32x4.mul(v128.load(x + off), vs));
  }
  for (; i < n; i++) {
    const off = <usize>i << 2;
    store<f32>(out + off, load<f32>(x + off) * s);
  }
}

/** Copies n f32 values (the ranges may overlap). */
export function copy_f32(src: usize, dst: usize, n: i32): void {
  memory.copy(dst, src, <usize>n << 2);
}

/**
 * Copies `rows` rows of n f32 values between strided layouts (strides in f32 elements), e.g. to
 * split a fused QKV projection [token][Q|K|V] into separate tensors.
 */
export function copy_rows_f32(src: usize, src_stride: i32, dst: usize, dst_stride: i32, n: i32, rows: i32): void {
  for (let r = 0; r < rows; r++) {
    memory.copy(dst + ((<usize>r * <usize>dst_stride) << 2), src + ((<usize>r * <usize>src_stride) << 2), <usize>n << 2);
  }
}
