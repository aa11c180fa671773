// Causal grouped-query attention of one layer over a KV cache, and the cache writes.
//
// Layouts (all f32 unless said): q and out are [token][head][head_dim]; the caches are
// [kv_head][kv_stride][head_dim] in f32 or f16, kv_stride being the per-head position capacity
// (at least pos0 + n_tokens). Token t sits at position p = pos0 + t and sees keys j <= p, minus
// those with p - j >= n_swa when n_swa > 0. Query head h reads KV head h / (n_head / n_kv_head).
//
// Per (token, head), in ggml's order (mul_mat, then soft-cap as scale/tanh/scale ops, then
// soft_max_ext with its scale; masked keys contribute exactly 0 there and are skipped here):
//   s_j = q . k_j (f32 lanes, fixed order; fused multiply-add in the relaxed build)
//   s_j = tanhf(s_j * f32(1/softcap)) * softcap     when softcap > 0
//   s_j = s_j * scale
//   w_j = expf(s_j - max s) * f32(1 / sum_j expf(...)), the sum in f64 in key order
//   out = sum_j w_j * v_j (f32 multiply-adds in key order)
// The f16 cache mirrors ggml's f16 mul_mat path: q is rounded to f16 before the K dot and the
// weights w_j are rounded to f16 before the V product (f16*f16 products are exact in f32, so the
// relaxed build's fusion changes nothing there).
//
// A call handles query heads [head0, head1) for every token; each output row is computed by one
// call in a fixed order, so any split of the heads gives the same bits. Each concurrent call
// needs its own scratch of attention_scratch_bytes(pos0 + n_tokens, head_dim) bytes.
import {
  exp_sum, f16_to_f32_row, f32_to_f16_row, hsum, load_f16, load_f16x4, madd, round_f16_row, round_f16x4, scale_in_place,
} from './simd';

/** Query rows (heads of one token sharing a KV head) processed together, each K/V row read once for all. */
// @ts-ignore: decorator
@inline const BLOCK = 4;

/**
 * Key/value rows a prompt step (more than one token) over an f16 cache widens to f32 once per
 * KV head, beyond which it reads the cache as it is: the f16 -> f32 conversion, repeated for
 * every block of query rows, was a third of a TinyLlama prompt step's attention.
 */
// @ts-ignore: decorator
@inline const WIDENED_ROWS = 2048;

/**
 * Scratch bytes one attention call needs: for each of 4 query rows, n_kv scores (padded to 16
 * bytes) and a q row; then room for up to WIDENED_ROWS K and V rows as f32.
 */
export function attention_scratch_bytes(n_kv: i32, head_dim: i32): i32 {
  return BLOCK * (((n_kv * 4 + 15) & ~15) + head_dim * 4) + 2 * min(n_kv, WIDENED_ROWS) * head_dim * 4;
}

export function attention_f32kv(
  q: usize, k_cache: usize, v_cache: usize, out: usize, scratch: usize,
  n_tokens: i32, pos0: i32, n_head: i32, n_kv_head: i32, head_dim: i32, kv_stride: i32,
  scale: f32, n_swa: i32, softcap: f32, head0: i32, head1: i32,
): void {
  attention(false, q, k_cache, v_cache, out, scratch, n_tokens, pos0, n_head, n_kv_head, head_dim, kv_stride, scale, n_swa, softcap, head0, head1);
}

export function attention_f16kv(
  q: usize, k_cache: usize, v_cache: usize, out: usize, scratch: usize,
  n_tokens: i32, pos0: i32, n_head: i32, n_kv_head: i32, head_dim: i32, kv_stride: i32,
  scale: f32, n_swa: i32, softcap: f32, head0: i32, head1: i32,
): void {
  attention(true, q, k_cache, v_cache, out, scratch, n_tokens, pos0, n_head, n_kv_head, head_dim, kv_stride, scale, n_swa, softcap, head0, head1);
}

/**
 * Writes n_tokens rows of K or V into an f32 cache at positions pos0.. : src row t (at
 * src + t*src_stride f32 elements) holds [kv_head][head_dim].
 */
export function kv_store_f32(
  src: usize, src_stride: i32, cache: usize, n_tokens: i32, n_kv_head: i32, head_dim: i32, kv_stride: i32, pos0: i32,
): void {
  const rowBytes = <usize>head_dim << 2;
  for (let t = 0; t < n_tokens; t++) {
    for (let h = 0; h < n_kv_head; h++) {
      const s = src + ((<usize>t * <usize>src_stride) << 2) + <usize>h * rowBytes;
      memory.copy(cache + (<usize>h * <usize>kv_stride + <usize>(pos0 + t)) * rowBytes, s, rowBytes);
    }
  }
}

/** As kv_store_f32 into an f16 cache, rounding to nearest even. */
export function kv_store_f16(
  src: usize, src_stride: i32, cache: usize, n_tokens: i32, n_kv_head: i32, head_dim: i32, kv_stride: i32, pos0: i32,
): void {
  for (let t = 0; t < n_tokens; t++) {
    for (let h = 0; h < n_kv_head; h++) {
      const s = src + ((<usize>t * <usize>src_stride + <usize>h * <usize>head_dim) << 2);
      const d = cache + ((<usize>h * <usize>kv_stride + <usize>(pos0 + t)) * <usize>head_dim << 1);
      f32_to_f16_row(s, d, head_dim);
    }
  }
}

/** The first key token p sees: 0, or the start of its sliding window. */
// @ts-ignore: decorator
@inline function first_key(p: i32, n_swa: i32): i32 {
  return n_swa > 0 && p - n_swa + 1 > 0 ? p - n_swa + 1 : 0;
}

// A prompt step over an f16 cache takes the KV heads one at a time and widens the rows its
// tokens read to f32 first (exact, so the bits do not change); a decode step, and a step that
// reads more than WIDENED_ROWS rows, read the f16 rows directly.
// @ts-ignore: decorator
@inline function attention(
  f16: bool, q: usize, k_cache: usize, v_cache: usize, out: usize, scratch: usize,
  n_tokens: i32, pos0: i32, n_head: i32, n_kv_head: i32, head_dim: i32, kv_stride: i32,
  scale: f32, n_swa: i32, softcap: f32, head0: i32, head1: i32,
): void {
  const group = n_head / n_kv_head;
  const first = first_key(pos0, n_swa), rows = pos0 + n_tokens - first;
  if (!f16 || n_tokens == 1 || rows > WIDENED_ROWS) {
    const rowBytes = <usize>head_dim << (f16 ? 1 : 2);
    query_rows(f16, f16, q, k_cache, v_cache, rowBytes, <usize>kv_stride * rowBytes, out, scratch, n_tokens, pos0, n_head, group, head_dim, scale, n_swa, softcap, head0, head1);
    return;
  }
  const scoreBytes = (<usize>(pos0 + n_tokens) * 4 + 15) & ~<usize>15;
  const kw = scratch + <usize>BLOCK * (scoreBytes + (<usize>head_dim << 2)), vw = kw + (<usize>(rows * head_dim) << 2);
  const rowBytes = <usize>head_dim << 2, halfBytes = <usize>head_dim << 1;
  for (let kvh = head0 / group; kvh * group < head1; kvh++) {
    const src = (<usize>kvh * <usize>kv_stride + <usize>first) * halfBytes;
    f16_to_f32_row(k_cache + src, kw, rows * head_dim);
    f16_to_f32_row(v_cache + src, vw, rows * head_dim);
    // Bases such that row j (j >= first) is at k0 + j·rowBytes; headBytes 0, as query_rows then
    // only reads this KV head.
    const k0 = kw - <usize>first * rowBytes, v0 = vw - <usize>first * rowBytes;
    query_rows(true, false, q, k0, v0, rowBytes, 0, out, scratch, n_tokens, pos0, n_head, group, head_dim, scale, n_swa, softcap,
      max(head0, kvh * group), min(head1, (kvh + 1) * group));
  }
}

// Query heads sharing a KV head are processed in blocks of BLOCK rows that read each K and V
// row once. Every row's arithmetic is the same sequence of operations whether it runs in a block
// or alone (dot4/dot1 and weighted4/weighted1 mirror each other lane by lane), which keeps the
// output independent of how the host splits the heads. `f16`: the f16 cache's arithmetic (q and
// the weights rounded to f16); `half`: whether the K/V rows (rowBytes apart, KV heads headBytes
// apart) hold f16 or f32.
// @ts-ignore: decorator
@inline function query_rows(
  f16: bool, half: bool, q: usize, k_cache: usize, v_cache: usize, rowBytes: usize, headBytes: usize, out: usize, scratch: usize,
  n_tokens: i32, pos0: i32, n_head: i32, group: i32, head_dim: i32,
  scale: f32, n_swa: i32, softcap: f32, head0: i32, head1: i32,
): void {
  const qBytes = <usize>head_dim << 2;
  const scoreBytes = (<usize>(pos0 + n_tokens) * 4 + 15) & ~<usize>15;
  const qh = scratch + <usize>BLOCK * scoreBytes;
  for (let t = 0; t < n_tokens; t++) {
    const p = pos0 + t;
    const j0 = first_key(p, n_swa);
    const nk = p - j0 + 1;
    let h = head0;
    while (h < head1) {
      const kvh = h / group;
      const nb = min(BLOCK, min(head1, (kvh + 1) * group) - h);
      const row = (<usize>t * <usize>n_head + <usize>h) * qBytes;
      let qb = q + row;
      if (f16) {
        // ggml converts q to f16 for the f16 K dot; keep the rounded values as f32.
        for (let r = 0; r < nb; r++) round_f16_row(qb + <usize>r * qBytes, qh + <usize>r * qBytes, head_dim);
        qb = qh;
      }
      const kb = k_cache + <usize>kvh * headBytes + <usize>j0 * rowBytes;
      const vb = v_cache + <usize>kvh * headBytes + <usize>j0 * rowBytes;
      // Raw dot products q.k_j into the score rows.
      for (let j = 0; j < nk; j++) {
        const kr = kb + <usize>j * rowBytes;
        const dst = scratch + (<usize>j << 2);
        if (nb == BLOCK) dot4(half, qb, qBytes, kr, head_dim, dst, scoreBytes);
        else for (let r = 0; r < nb; r++) store<f32>(dst + <usize>r * scoreBytes, dot1(half, qb + <usize>r * qBytes, kr, head_dim));
      }
      for (let r = 0; r < nb; r++) softmax_scores(f16, scratch + <usize>r * scoreBytes, nk, scale, softcap);
      if (nb == BLOCK) weighted4(half, scratch, scoreBytes, nk, vb, rowBytes, out + row, qBytes, head_dim);
      else for (let r = 0; r < nb; r++) weighted1(half, scratch + <usize>r * scoreBytes, nk, vb, rowBytes, out + row + <usize>r * qBytes, head_dim);
      h += nb;
    }
  }
}

/** Soft-cap, scale, softmax of one row of raw scores, in place; the f16 path rounds the weights to f16. */
// @ts-ignore: decorator
@inline function softmax_scores(f16: bool, s: usize, nk: i32, scale: f32, softcap: f32): void {
  const inv_cap: f32 = <f32>1 / softcap;
  let m: f32 = -Infinity;
  let j = 0;
  if (softcap <= 0) {
    // Scale and running max four keys at a time (the max of the same values in another order:
    // ties between -0 and +0 do not matter, since expf(±0 - m) is the same).
    const sv = f32x4.splat(scale);
    let mv = f32x4.splat(-Infinity);
    for (; j + 4 <= nk; j += 4) {
      const at = s + (<usize>j << 2);
      const v = f32x4.mul(v128.load(at), sv);
      v128.store(at, v);
      mv = f32x4.max(mv, v);
    }
    m = max(max(f32x4.extract_lane(mv, 0), f32x4.extract_lane(mv, 1)), max(f32x4.extract_lane(mv, 2), f32x4.extract_lane(mv, 3)));
  }
  for (; j < nk; j++) {
    const at = s + (<usize>j << 2);
    let v = load<f32>(at);
    if (softcap > 0) v = Mathf.tanh(v * inv_cap) * softcap;
    v *= scale;
    store<f32>(at, v);
    m = max(m, v);
  }
  const sum = exp_sum(s, nk, m);
  scale_in_place(s, nk, <f32>(1.0 / sum));
  // Whole vectors: the row's padding to 16 bytes covers the last lanes.
  if (f16) for (let j = 0; j < nk; j += 4) v128.store(s + (<usize>j << 2), round_f16x4(v128.load(s + (<usize>j << 2))));
}

/** Four lanes of K (f32, or f16 widened) at element i of row k. */
// @ts-ignore: decorator
@inline function load_k(f16: bool, k: usize, i: i32): v128 {
  return f16 ? load_f16x4(k + (<usize>i << 1)) : v128.load(k + (<usize>i << 2));
}

// @ts-ignore: decorator
@inline function load_k1(f16: bool, k: usize, i: i32): f32 {
  return f16 ? load_f16(k + (<usize>i << 1)) : load<f32>(k + (<usize>i << 2));
}

/** q.k over n elements: two 4-lane partial sums over blocks of 8, one more block of 4, the fixed-order lane sum, then the scalar tail. */
// @ts-ignore: decorator
@inline function dot1(f16: bool, q: usize, k: usize, n: i32): f32 {
  let a0 = f32x4.splat(0);
  let a1 = f32x4.splat(0);
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const off = <usize>i << 2;
    a0 = madd(v128.load(q + off), load_k(f16, k, i), a0);
    a1 = madd(v128.load(q + off + 16), load_k(f16, k, i + 4), a1);
  }
  if (i + 4 <= n) {
    a0 = madd(v128.load(q + (<usize>i << 2)), load_k(f16, k, i), a0);
    i += 4;
  }
  let s = hsum(f32x4.add(a0, a1));
  for (; i < n; i++) s += load<f32>(q + (<usize>i << 2)) * load_k1(f16, k, i);
  return s;
}

/** dot1 for 4 q rows (qStride bytes apart) against one k row; result r goes to dst + r*dstStride. */
// @ts-ignore: decorator
@inline function dot4(f16: bool, q: usize, qStride: usize, k: usize, n: i32, dst: usize, dstStride: usize): void {
  const q1 = q + qStride, q2 = q1 + qStride, q3 = q2 + qStride;
  let a00 = f32x4.splat(0), a01 = f32x4.splat(0), a10 = f32x4.splat(0), a11 = f32x4.splat(0);
  let a20 = f32x4.splat(0), a21 = f32x4.splat(0), a30 = f32x4.splat(0), a31 = f32x4.splat(0);
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const off = <usize>i << 2;
    const k0 = load_k(f16, k, i);
    const k1 = load_k(f16, k, i + 4);
    a00 = madd(v128.load(q + off), k0, a00);
    a01 = madd(v128.load(q + off + 16), k1, a01);
    a10 = madd(v128.load(q1 + off), k0, a10);
    a11 = madd(v128.load(q1 + off + 16), k1, a11);
    a20 = madd(v128.load(q2 + off), k0, a20);
    a21 = madd(v128.load(q2 + off + 16), k1, a21);
    a30 = madd(v128.load(q3 + off), k0, a30);
    a31 = madd(v128.load(q3 + off + 16), k1, a31);
  }
  if (i + 4 <= n) {
    const off = <usize>i << 2;
    const k0 = load_k(f16, k, i);
    a00 = madd(v128.load(q + off), k0, a00);
    a10 = madd(v128.load(q1 + off), k0, a10);
    a20 = madd(v128.load(q2 + off), k0, a20);
    a30 = madd(v128.load(q3 + off), k0, a30);
    i += 4;
  }
  let s0 = hsum(f32x4.add(a00, a01));
  let s1 = hsum(f32x4.add(a10, a11));
  let s2 = hsum(f32x4.add(a20, a21));
  let s3 = hsum(f32x4.add(a30, a31));
  for (; i < n; i++) {
    const off = <usize>i << 2;
    const kv = load_k1(f16, k, i);
    s0 += load<f32>(q + off) * kv;
    s1 += load<f32>(q1 + off) * kv;
    s2 += load<f32>(q2 + off) * kv;
    s3 += load<f32>(q3 + off) * kv;
  }
  store<f32>(dst, s0);
  store<f32>(dst + dstStride, s1);
  store<f32>(dst + 2 * dstStride, s2);
  store<f32>(dst + 3 * dstStride, s3);
}

/**
 * out[d] = sum_j w[j] * v_j[d] for d < n over the keys j < nk in order (v_j at vb + j*rowBytes):
 * each element's sum is one chain of multiply-adds (scalar multiply then add for the columns
 * past the last whole vector). V rows are read sequentially; the sums live in out, in L1.
 */
// @ts-ignore: decorator
@inline function weighted1(f16: bool, w: usize, nk: i32, vb: usize, rowBytes: usize, out: usize, n: i32): void {
  memory.fill(out, 0, <usize>n << 2);
  for (let j = 0; j < nk; j++) add_weighted_row(f16, load<f32>(w + (<usize>j << 2)), vb + <usize>j * rowBytes, out, n);
}

/** weighted1 for 4 weight rows (wStride bytes apart) into 4 output rows (outStride bytes apart), reading each V row once. */
// @ts-ignore: decorator
@inline function weighted4(
  f16: bool, w: usize, wStride: usize, nk: i32, vb: usize, rowBytes: usize, out: usize, outStride: usize, n: i32,
): void {
  const w1 = w + wStride, w2 = w1 + wStride, w3 = w2 + wStride;
  const o1 = out + outStride, o2 = o1 + outStride, o3 = o2 + outStride;
  for (let r: usize = 0; r < <usize>BLOCK; r++) memory.fill(out + r * outStride, 0, <usize>n << 2);
  const nv = n & ~3;
  let vr = vb;
  let j = 0;
  // Two keys at a time: each output lane takes the same two multiply-adds in key order, without
  // a store and reload in between.
  for (; j + 2 <= nk; j += 2) {
    const off = <usize>j << 2;
    const x0 = v128.load32_splat(w + off), y0 = v128.load32_splat(w + off + 4);
    const x1 = v128.load32_splat(w1 + off), y1 = v128.load32_splat(w1 + off + 4);
    const x2 = v128.load32_splat(w2 + off), y2 = v128.load32_splat(w2 + off + 4);
    const x3 = v128.load32_splat(w3 + off), y3 = v128.load32_splat(w3 + off + 4);
    const vs = vr + rowBytes;
    for (let d = 0; d < nv; d += 4) {
      const v = load_k(f16, vr, d), u = load_k(f16, vs, d);
      const od = <usize>d << 2;
      v128.store(out + od, madd(y0, u, madd(x0, v, v128.load(out + od))));
      v128.store(o1 + od, madd(y1, u, madd(x1, v, v128.load(o1 + od))));
      v128.store(o2 + od, madd(y2, u, madd(x2, v, v128.load(o2 + od))));
      v128.store(o3 + od, madd(y3, u, madd(x3, v, v128.load(o3 + od))));
    }
    if (nv < n) {
      for (let r: usize = 0; r < <usize>BLOCK; r++) {
        add_weighted_tail(f16, load<f32>(w + r * wStride + off), vr, out + r * outStride, nv, n);
        add_weighted_tail(f16, load<f32>(w + r * wStride + off + 4), vs, out + r * outStride, nv, n);
      }
    }
    vr += 2 * rowBytes;
  }
  for (; j < nk; j++) {
    const off = <usize>j << 2;
    const x0 = v128.load32_splat(w + off);
    const x1 = v128.load32_splat(w1 + off);
    const x2 = v128.load32_splat(w2 + off);
    const x3 = v128.load32_splat(w3 + off);
    for (let d = 0; d < nv; d += 4) {
      const v = load_k(f16, vr, d);
      const od = <usize>d << 2;
      v128.store(out + od, madd(x0, v, v128.load(out + od)));
      v128.store(o1 + od, madd(x1, v, v128.load(o1 + od)));
      v128.store(o2 + od, madd(x2, v, v128.load(o2 + od)));
      v128.store(o3 + od, madd(x3, v, v128.load(o3 + od)));
    }
    if (nv < n) {
      for (let r: usize = 0; r < <usize>BLOCK; r++) {
        add_weighted_tail(f16, load<f32>(w + r * wStride + off), vr, out + r * outStride, nv, n);
      }
    }
    vr += rowBytes;
  }
}

/** out[d] += x * v[d] for d < n (vector columns by multiply-add, the rest by multiply then add). */
// @ts-ignore: decorator
@inline function add_weighted_row(f16: bool, x: f32, v: usize, out: usize, n: i32): void {
  const xv = f32x4.splat(x);
  const nv = n & ~3;
  for (let d = 0; d < nv; d += 4) {
    const o = out + (<usize>d << 2);
    v128.store(o, madd(xv, load_k(f16, v, d), v128.load(o)));
  }
  add_weighted_tail(f16, x, v, out, nv, n);
}

/** The scalar columns [nv, n) of add_weighted_row. */
// @ts-ignore: decorator
@inline function add_weighted_tail(f16: bool, x: f32, v: usize, out: usize, nv: i32, n: i32): void {
  for (let d = nv; d < n; d++) {
    const o = out + (<usize>d << 2);
    store<f32>(o, load<f32>(o) + x * load_k1(f16, v, d));
  }
}
