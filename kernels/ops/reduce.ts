// Reductions.

/**
 * Index of the largest of n f32 values; ties go to the lowest index. NaN never compares greater,
 * so NaNs are skipped; when no value exceeds -Infinity (all -Infinity or NaN, or n == 0) the
 * result is 0. This is ggml_vec_argmax_f32's rule (strict > against a running max from -Inf).
 */
export function argmax_f32(x: usize, n: i32): i32 {
  // Four lanes keep the first index of their own maximum (strict >), then the lanes are merged.
  let vmax = f32x4.splat(-Infinity);
  let vidx = i32x4.splat(0);
  let cur = i32x4(0, 1, 2, 3);
  const four = i32x4.splat(4);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const v = v128.load(x + (<usize>i << 2));
    const gt = f32x4.gt(v, vmax);
    vmax = v128.bitselect(v, vmax, gt);
    vidx = v128.bitselect(cur, vidx, gt);
    cur = i32x4.add(cur, four);
  }
  let best: f32 = -Infinity;
  let bi = 0;
  for (let l = 0; l < 4; l++) {
    const m = lane_f32(vmax, l);
    const li = lane_i32(vidx, l);
    if (m > best || (m == best && m > -Infinity && li < bi)) {
      best = m;
      bi = li;
    }
  }
  for (; i < n; i++) {
    const v = load<f32>(x + (<usize>i << 2));
    if (v > best) {
      best = v;
      bi = i;
    }
  }
  return bi;
}

// @ts-ignore: decorator
@inline function lane_f32(v: v128, l: i32): f32 {
  return l == 0 ? f32x4.extract_lane(v, 0) : l == 1 ? f32x4.extract_lane(v, 1) : l == 2 ? f32x4.extract_lane(v, 2) : f32x4.extract_lane(v, 3);
}

// @ts-ignore: decorator
@inline function lane_i32(v: v128, l: i32): i32 {
  return l == 0 ? i32x4.extract_lane(v, 0) : l == 1 ? i32x4.extract_lane(v, 1) : l == 2 ? i32x4.extract_lane(v, 2) : i32x4.extract_lane(v, 3);
}
