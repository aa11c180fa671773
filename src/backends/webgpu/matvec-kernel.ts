/**
 * Decode (one token) matrix × vector kernels for Q4_0, Q8_0, Q4_K and Q6_K that take a slice of
 * 32 values per thread at a time: its words loaded together, the quants unpacked four at a time,
 * the activations read as vec4 once for several rows, and the scales applied once per slice
 * (y += d · Σ q·x, as ggml's dot products do, not Σ (d·q)·x). The generic kernel (kernels.ts)
 * decodes four values per call through unaligned byte helpers and reads the activations again
 * for every row, which bounds a decode step on a fast GPU (docs/benchmarks.md). Each lane sums
 * its slices in order, then a tree per row: a fixed order.
 */
import { GGMLType, type GGMLTypeId } from '../../quant/types.js';
import { ENTRY_BUILTINS, FLAT, matmulBindings, matmulPreamble, WG, type KernelSource, type MatmulShape } from './kernels.js';

/** Rows each thread of a slice kernel computes (sharing the activations it reads). */
const ROWS_PER_THREAD = 4;

/**
 * Slice u (values 32u..32u+31) of the row starting at byte rb, as WGSL that defines `part`, its
 * dot product with the activations xs (8 × vec4). Legacy blocks (one slice each) start at even
 * byte offsets: a word of the block is the word at its offset shifted by 0 or 16 bits (w16).
 */
interface Slice {
  readonly helpers?: string;
  readonly code: string;
}

/** The word at byte 4i of a block whose first byte is 4w + s/8 (s = 0 or 16). */
const W16 = `
fn w16(w: u32, s: u32, i: u32) -> u32 {
  return select((W[w + i] >> 16u) | (W[w + i + 1u] << 16u), W[w + i], s == 0u);
}`;

/** w and s of w16 for the block at byte offset `at` (an even WGSL expression) of the row at rb. */
const blockAt = (at: string) => `
      let o = rb + ${at};
      let w = o >> 2u;
      let s = (o & 2u) * 8u;`;

const SLICES = new Map<GGMLTypeId, Slice>([
  [GGMLType.Q4_0, {
    helpers: W16,
    // 18 bytes: f16 d, then 16 bytes whose low nibbles are values 0..15 and high nibbles 16..31.
    code: `${blockAt('18u * u')}
      let bw = array<u32, 5>(w16(w, s, 0u), w16(w, s, 1u), w16(w, s, 2u), w16(w, s, 3u), w16(w, s, 4u));
      let d = unpack2x16float(bw[0]).x;
      var sum = 0.0;
      for (var c = 0u; c < 4u; c++) {
        let q = (bw[c] >> 16u) | (bw[c + 1u] << 16u);
        let lo = vec4f(vec4i((vec4u(q) >> vec4u(0u, 8u, 16u, 24u)) & vec4u(15u)) - 8);
        let hi = vec4f(vec4i((vec4u(q) >> vec4u(4u, 12u, 20u, 28u)) & vec4u(15u)) - 8);
        sum += dot(lo, xs[c]) + dot(hi, xs[4u + c]);
      }
      let part = d * sum;`,
  }],
  [GGMLType.Q8_0, {
    helpers: W16,
    // 34 bytes: f16 d, then 32 signed bytes.
    code: `${blockAt('34u * u')}
      let d = unpack2x16float(w16(w, s, 0u)).x;
      var sum = 0.0;
      for (var c = 0u; c < 8u; c++) {
        let q = (w16(w, s, c) >> 16u) | (w16(w, s, c + 1u) << 16u);
        sum += dot(vec4f(bitcast<vec4i>(vec4u(q) << vec4u(24u, 16u, 8u, 0u)) >> vec4u(24u)), xs[c]);
      }
      let part = d * sum;`,
  }],
  [GGMLType.Q4_K, {
    // 144 bytes per 256 values (word-aligned): f16 d, f16 dmin, 12 bytes of 6-bit scales and
    // mins (ggml's get_scale_min_k4), 128 bytes of nibbles: sub-block j is the low (even j) or
    // high nibbles of bytes 32·(j/2)... x = d·sc·q − dmin·m.
    code: `
      let j = u & 7u;
      let w = (rb + 144u * (u >> 3u)) >> 2u;
      let dm = unpack2x16float(W[w]);
      let sc = vec3u(W[w + 1u], W[w + 2u], W[w + 3u]);
      let lo = vec4u(sc[0], sc[0] >> 8u, sc[0] >> 16u, sc[0] >> 24u) & vec4u(255u); // scale bytes 0..3
      let mi = vec4u(sc[1], sc[1] >> 8u, sc[1] >> 16u, sc[1] >> 24u) & vec4u(255u); // bytes 4..7
      let hi = vec4u(sc[2], sc[2] >> 8u, sc[2] >> 16u, sc[2] >> 24u) & vec4u(255u); // bytes 8..11
      let jj = j & 3u;
      let scale = select((hi[jj] & 15u) | ((lo[jj] >> 6u) << 4u), lo[jj] & 63u, j < 4u);
      let minimum = select((hi[jj] >> 4u) | ((mi[jj] >> 6u) << 4u), mi[jj] & 63u, j < 4u);
      let q0 = w + 4u + 8u * (j >> 1u);
      let shift = vec4u(0u, 8u, 16u, 24u) + vec4u(4u * (j & 1u));
      var sq = 0.0;
      var sx = 0.0;
      for (var c = 0u; c < 8u; c++) {
        sq += dot(vec4f((vec4u(W[q0 + c]) >> shift) & vec4u(15u)), xs[c]);
        sx += dot(xs[c], vec4f(1.0));
      }
      let part = dm.x * f32(scale) * sq - dm.y * f32(minimum) * sx;`,
  }],
  [GGMLType.Q6_K, {
    helpers: W16,
    // 210 bytes per 256 values: ql[128], qh[64], i8 scales[16], f16 d. Sub-block j = 4h + k:
    // low 4 bits from ql[64h + 32·(k%2) + l] (high nibble for k >= 2), top 2 bits from
    // qh[32h + l] at shift 2k; scales[2j] for its first 16 values, scales[2j + 1] for the rest.
    // x = d·sc·(q − 32).
    code: `${blockAt('210u * (u >> 3u)')}
      let j = u & 7u;
      let h = j >> 2u;
      let k = j & 3u;
      let qlShift = vec4u(0u, 8u, 16u, 24u) + vec4u(4u * (k >> 1u));
      let qhShift = vec4u(0u, 8u, 16u, 24u) + vec4u(2u * k);
      var sq = vec2f(0.0);
      for (var c = 0u; c < 8u; c++) {
        let low = (vec4u(w16(w, s, 16u * h + 8u * (k & 1u) + c)) >> qlShift) & vec4u(15u);
        let high = (vec4u(w16(w, s, 32u + 8u * h + c)) >> qhShift) & vec4u(3u);
        sq[c >> 2u] += dot(vec4f(vec4i(low | (high << vec4u(4u))) - 32), xs[c]);
      }
      let sc = bitcast<vec2i>(vec2u(w16(w, s, 48u + (j >> 1u)) >> (16u * (j & 1u))) << vec2u(24u, 16u)) >> vec2u(24u);
      let part = unpack2x16float(w16(w, s, 52u)).x * (f32(sc.x) * sq.x + f32(sc.y) * sq.y);`,
  }],
]);

/** The types with a slice kernel for decode. */
export const SLICE_MATVEC_TYPES: ReadonlySet<GGMLTypeId> = new Set(SLICES.keys());

/**
 * Threads per row group: twice a subgroup, at most a workgroup. Measured on a 5632×2048 matrix
 * (bench/webgpu-matmul.bench.ts): on an H200 (subgroups of 32) 64 lanes stream 1.1–1.2× the bytes
 * of 32 and 1.3–1.8× those of 16; on lavapipe (8) 16 lanes run 1.2× faster than 32 for all but
 * Q4_0 (0.9×).
 */
export const sliceLanes = (shape: MatmulShape) => Math.min(WG, 2 * shape.lanes);

/** Rows one workgroup of sliceMatvecKernel computes. */
export const sliceMatvecRows = (lanes: number) => (WG / lanes) * ROWS_PER_THREAD;

/**
 * y[rowOffset + r] = x · W[r] for one token. A workgroup takes WG / lanes groups of
 * ROWS_PER_THREAD rows; lane j of a group takes slices j, j + lanes, ... of each of its rows,
 * reading the slice's 32 activations once for all of them (activations read again for every
 * row were most of a decode matmul's time on an H200: docs/benchmarks.md).
 */
export function sliceMatvecKernel(type: GGMLTypeId, lanes: number, epilogue = false): KernelSource {
  const slice = SLICES.get(type);
  if (!slice) throw new Error(`no slice decode kernel for type ${type}`);
  const [L, R] = [lanes, ROWS_PER_THREAD];
  return {
    key: `matmul/${type}/1/${L}x${R}/slices${epilogue ? '/epilogue' : ''}`,
    bindings: matmulBindings(epilogue),
    code: `${matmulPreamble(epilogue, 'vec4f')}
${slice.helpers ?? ''}
var<workgroup> red: array<f32, ${WG * R}>;
@compute @workgroup_size(${WG})
fn main(${ENTRY_BUILTINS}) {
  let lane = lid % ${L}u;
  let r0 = ((${FLAT}) * ${WG / L}u + lid / ${L}u) * ${R}u;
  var acc: array<f32, ${R}>;
  for (var u = lane; u < p.k / 32u; u += ${L}u) {
    let xs = array<vec4f, 8>(X[u * 8u], X[u * 8u + 1u], X[u * 8u + 2u], X[u * 8u + 3u], X[u * 8u + 4u], X[u * 8u + 5u], X[u * 8u + 6u], X[u * 8u + 7u]);
    for (var i = 0u; i < ${R}u; i++) {
      // Rows past the last compute the last row again (uniform work); they are not written.
      let rb = min(r0 + i, p.rows - 1u) * p.rowBytes;
      ${slice.code}
      acc[i] += part;
    }
  }
  for (var i = 0u; i < ${R}u; i++) { red[i * ${WG}u + lid] = acc[i]; }
  workgroupBarrier();
  for (var s = ${L / 2}u; s > 0u; s >>= 1u) {
    if (lane < s) { for (var i = 0u; i < ${R}u; i++) { red[i * ${WG}u + lid] += red[i * ${WG}u + lid + s]; } }
    workgroupBarrier();
  }
  if (lane < ${R}u && r0 + lane < p.rows) {
    let at = p.rowOffset + r0 + lane;
    let v = red[lane * ${WG}u + lid - lane];
    Y[at] = ${epilogue ? 'epilogue(v, at)' : 'v'};
  }
}`,
  };
}
