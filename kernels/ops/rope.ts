// Rotary position embedding (no YaRN: ext_factor 0, attn_factor 1), as ggml's CPU rope:
//   theta_scale = powf(freq_base, -2/n_rot) in f32;
//   for pair i (0 <= i < n_rot/2): theta_i = p * theta_scale^i, formed by repeated f32
//   multiplication starting from the position p as f32; the angle is
//   freq_scale * (theta_i / freq_factors[i]) in f32, with cosf/sinf of it in f32.
// NORM rotates the pairs (2i, 2i+1), NEOX the pairs (i, i + n_rot/2); dims from n_rot up pass
// through. x and out are [token][head][head_dim] f32 rows with per-token strides in f32 elements
// (so a fused QKV row can be read in place); positions is i32 per token; freq_factors is 0 or
// n_rot/2 f32 values. A call handles tokens [tok0, tok1). out == x (same strides) is allowed.

export function rope_norm_f32(
  x: usize, x_stride: i32, out: usize, out_stride: i32, positions: usize,
  n_heads: i32, head_dim: i32, n_rot: i32, freq_base: f32, freq_scale: f32, freq_factors: usize,
  tok0: i32, tok1: i32,
): void {
  rope(false, x, x_stride, out, out_stride, positions, n_heads, head_dim, n_rot, freq_base, freq_scale, freq_factors, tok0, tok1);
}

export function rope_neox_f32(
  x: usize, x_stride: i32, out: usize, out_stride: i32, positions: usize,
  n_heads: i32, head_dim: i32, n_rot: i32, freq_base: f32, freq_scale: f32, freq_factors: usize,
  tok0: i32, tok1: i32,
): void {
  rope(true, x, x_stride, out, out_stride, positions, n_heads, head_dim, n_rot, freq_base, freq_scale, freq_factors, tok0, tok1);
}

// @ts-ignore: decorator
@inline function rope(
  neox: bool,
  x: usize, x_stride: i32, out: usize, out_stride: i32, positions: usize,
  n_heads: i32, head_dim: i32, n_rot: i32, freq_base: f32, freq_scale: f32, freq_factors: usize,
  tok0: i32, tok1: i32,
): void {
  const theta_scale = Mathf.pow(freq_base, <f32>-2 / <f32>n_rot);
  const half = n_rot >> 1;
  const headBytes = <usize>head_dim << 2;
  // The pair loop is outermost so that each angle is computed once per token and applied to
  // every head; four pairs at a time use f32x4 for the rotations.
  for (let t = tok0; t < tok1; t++) {
    const src = x + <usize>t * (<usize>x_stride << 2);
    const dst = out + <usize>t * (<usize>out_stride << 2);
    let theta = <f32>load<i32>(positions + (<usize>t << 2));
    let i = 0;
    for (; i + 4 <= half; i += 4) {
      const a0 = angle(theta, freq_scale, freq_factors, i);
      theta *= theta_scale;
      const a1 = angle(theta, freq_scale, freq_factors, i + 1);
      theta *= theta_scale;
      const a2 = angle(theta, freq_scale, freq_factors, i + 2);
      theta *= theta_scale;
      const a3 = angle(theta, freq_scale, freq_factors, i + 3);
      theta *= theta_scale;
      let c = f32x4.splat(Mathf.cos(a0));
      c = f32x4.replace_lane(c, 1, Mathf.cos(a1));
      c = f32x4.replace_lane(c, 2, Mathf.cos(a2));
      c = f32x4.replace_lane(c, 3, Mathf.cos(a3));
      let s = f32x4.splat(Mathf.sin(a0));
      s = f32x4.replace_lane(s, 1, Mathf.sin(a1));
      s = f32x4.replace_lane(s, 2, Mathf.sin(a2));
      s = f32x4.replace_lane(s, 3, Mathf.sin(a3));
      for (let h = 0; h < n_heads; h++) {
        const hs = src + <usize>h * headBytes;
        const hd = dst + <usize>h * headBytes;
        if (neox) {
          const p0 = <usize>i << 2;
          const p1 = <usize>(i + half) << 2;
          const x0 = v128.load(hs + p0);
          const x1 = v128.load(hs + p1);
          v128.store(hd + p0, f32x4.sub(f32x4.mul(x0, c), f32x4.mul(x1, s)));
          v128.store(hd + p1, f32x4.add(f32x4.mul(x0, s), f32x4.mul(x1, c)));
        } else {
          const p = <usize>i << 3;
          const lo = v128.load(hs + p);
          const hi = v128.load(hs + p + 16);
          const x0 = v128.shuffle<f32>(lo, hi, 0, 2, 4, 6);
          const x1 = v128.shuffle<f32>(lo, hi, 1, 3, 5, 7);
          const y0 = f32x4.sub(f32x4.mul(x0, c), f32x4.mul(x1, s));
          const y1 = f32x4.add(f32x4.mul(x0, s), f32x4.mul(x1, c));
          v128.store(hd + p, v128.shuffle<f32>(y0, y1, 0, 4, 1, 5));
          v128.store(hd + p + 16, v128.shuffle<f32>(y0, y1, 2, 6, 3, 7));
        }
      }
    }
    for (; i < half; i++) {
      const a = angle(theta, freq_scale, freq_factors, i);
      theta *= theta_scale;
      const c = Mathf.cos(a);
      const s = Mathf.sin(a);
      for (let h = 0; h < n_heads; h++) {
        const hs = src + <usize>h * headBytes;
        const hd = dst + <usize>h * headBytes;
        const p0: usize = neox ? <usize>i << 2 : <usize>i << 3;
        const p1: usize = neox ? <usize>(i + half) << 2 : p0 + 4;
        const x0 = load<f32>(hs + p0);
        const x1 = load<f32>(hs + p1);
        store<f32>(hd + p0, x0 * c - x1 * s);
        store<f32>(hd + p1, x0 * s + x1 * c);
      }
    }
    if (src != dst && n_rot < head_dim) {
      const passBytes = <usize>(head_dim - n_rot) << 2;
      const rotBytes = <usize>n_rot << 2;
      for (let h = 0; h < n_heads; h++) {
        memory.copy(dst + <usize>h * headBytes + rotBytes, src + <usize>h * headBytes + rotBytes, passBytes);
      }
    }
  }
}

/** freq_scale * (theta / ff_i), the argument ggml passes to cosf/sinf (ff_i = 1 without factors). */
// @ts-ignore: decorator
@inline function angle(theta: f32, freq_scale: f32, freq_factors: usize, i: i32): f32 {
  const t = freq_factors ? theta / load<f32>(freq_factors + (<usize>i << 2)) : theta;
  return freq_scale * t;
}
