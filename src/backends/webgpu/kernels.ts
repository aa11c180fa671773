/**
 * The WGSL kernels of the WebGPU backend, one generator per op family. Activations are f32
 * throughout (never staged through f16); every reduction has a fixed order (per-thread strided
 * partial sums, then a tree in workgroup memory), so a step's result does not depend on timing.
 *
 * Each kernel declares its bindings in order (group 0, binding i = bindings[i]) and a uniform
 * struct P of 4-byte fields, packed on the host by `packParams` in declaration order.
 */
import type { GGMLTypeId } from '../../quant/types.js';
import type { KVCacheType } from '../backend.js';
import { dequantWGSL } from './dequant-wgsl.js';

export type BindingKind = 'read' | 'write' | 'uniform';

export interface KernelSource {
  /** Identifies the pipeline (the same key, the same code). */
  readonly key: string;
  readonly code: string;
  readonly bindings: readonly BindingKind[];
}

/** A uniform field: a u32, or an f32 when given as { f32 }. */
export type ParamValue = number | { readonly f32: number };

/** The uniform bytes of P, fields in order, padded to 16 bytes. */
export function packParams(values: readonly ParamValue[]): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(Math.max(16, Math.ceil(values.length / 4) * 16));
  const view = new DataView(bytes.buffer);
  values.forEach((v, i) => (typeof v === 'number' ? view.setUint32(i * 4, v, true) : view.setFloat32(i * 4, v.f32, true)));
  return bytes;
}

/** Threads of a workgroup; 64 fits every adapter's limits (the WebGPU minimum is 256). */
export const WG = 64;
/** Elements per thread-group of the elementwise kernels. */
export const ELEMENTWISE_WG = 256;

const struct = (fields: string) => `struct P { ${fields} }`;

/**
 * Inputs i..i+3 of the activation row at \`row\`, zero past the row's k values (float weights may
 * have rows of any length; dq4 then reads past the row, and the zeros cancel what it reads).
 */
const X4 = `
fn x4(row: u32, i: u32, k: u32) -> vec4f {
  if (i + 4u <= k) { return vec4f(X[row + i], X[row + i + 1u], X[row + i + 2u], X[row + i + 3u]); }
  var v = vec4f(0.0);
  for (var c = 0u; c < k - i; c++) { v[c] = X[row + i + c]; }
  return v;
}`;

/** The flat workgroup index of a dispatch split over x and y (x is capped at 65535). */
export const FLAT = 'wid.x + wid.y * nwg.x';
export const ENTRY_BUILTINS = '@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32';

/** A tree sum of red[0..size) into red[0], every thread taking part (uniform control flow). */
const treeSum = (size: number) => `
  for (var stride = ${size / 2}u; stride > 0u; stride >>= 1u) {
    if (lid < stride) { red[lid] += red[lid + stride]; }
    workgroupBarrier();
  }`;
const TREE_SUM = treeSum(WG);

/**
 * Threads of a norm workgroup: a row's reduction is one workgroup's, so a decode step's norm is
 * one workgroup, whose speed is its threads' (256 is every adapter's minimum limit).
 */
const NORM_WG = 256;

/** f32 -> f16 bits, rounding to nearest even (WGSL leaves pack2x16float's rounding to the implementation). */
const F16_BITS = `
fn f16_bits(x: f32) -> u32 {
  let b = bitcast<u32>(x);
  let s = (b >> 16u) & 0x8000u;
  let a = b & 0x7fffffffu;
  if (a > 0x7f800000u) { return s | 0x7e00u; }
  if (a >= 0x477ff000u) { return s | 0x7c00u; }
  if (a >= 0x38800000u) { return s | (((a + 0xfffu + ((a >> 13u) & 1u)) >> 13u) - 0x1c000u); }
  return s | u32(round(bitcast<f32>(a) * 16777216.0));
}`;

/** Reads element i of a KV cache buffer C of the given type. */
const kvRead = (kv: KVCacheType, buf: string) =>
  kv === 'f32' ? `fn ${buf}_at(i: u32) -> f32 { return ${buf}[i]; }` : `fn ${buf}_at(i: u32) -> f32 { return unpack2x16float(${buf}[i >> 1u])[i & 1u]; }`;

function requireDequant(type: GGMLTypeId): string {
  const code = dequantWGSL(type);
  if (code === undefined) throw new Error(`no WGSL decoder for type ${type}`);
  return code;
}

/** How a matmul workgroup splits its rows: threads per row, and groups of 4 inputs a thread takes in a row. */
export interface MatmulShape {
  /** Threads per weight row (a power of two dividing WG): WG / lanes rows per workgroup. */
  readonly lanes: number;
  /** Consecutive groups of 4 inputs per thread per iteration (8 = a whole 32-value block). */
  readonly groups: number;
}

/**
 * An elementwise op of the matmul's result and another input R, done as the result is written
 * (one dispatch instead of two): a residual connection's add, or a GLU whose up projection is
 * this matmul (R is the gate). The matmul's uniform `epilogue` picks it (1 + its index here), so
 * one pipeline serves all three.
 */
export const MATMUL_EPILOGUES = ['add', 'glu_silu', 'glu_gelu'] as const;
export type MatmulEpilogue = (typeof MATMUL_EPILOGUES)[number];

/** The binary ops that matmuls fuse, as WGSL over two operand expressions: one text for both kernels, so fused equals unfused bit for bit. */
const BINARY: { readonly [K in MatmulEpilogue]: (a: string, b: string) => string } = {
  add: (a, b) => `${a} + ${b}`,
  glu_silu: (gate, up) => `silu(${gate}) * ${up}`,
  glu_gelu: (gate, up) => `gelu(${gate}) * ${up}`,
};

/**
 * The uniform and bindings every matmul kernel shares, and the epilogue function when fused. X is
 * read as f32 (with x4) or, for kernels that need k to be a multiple of 4, as vec4f.
 */
export function matmulPreamble(epilogue: boolean, x: 'f32' | 'vec4f' = 'f32'): string {
  // R is the first operand: a GLU's gate (and an add's other term: IEEE addition commutes).
  const cases = MATMUL_EPILOGUES.map((e, i) => `case ${i + 1}u: { return ${BINARY[e]('R[at]', 'v')}; }`);
  return `
${struct('k: u32, m: u32, rowBytes: u32, rowOffset: u32, rows: u32, nTok: u32, epilogue: u32')}
@group(0) @binding(0) var<storage, read> W: array<u32>;
@group(0) @binding(1) var<storage, read> X: array<${x}>;
@group(0) @binding(2) var<storage, read_write> Y: array<f32>;
@group(0) @binding(3) var<uniform> p: P;
${!epilogue ? '' : `@group(0) @binding(4) var<storage, read> R: array<f32>;
${TANH}
${GELU}
${SILU}
fn epilogue(v: f32, at: u32) -> f32 {
  switch p.epilogue {
    ${cases.join('\n    ')}
    default: { return v; }
  }
}`}
${x === 'f32' ? X4 : ''}`;
}

/** The bindings of every matmul kernel: W, X, Y, P, and R when an epilogue reads it. */
export const matmulBindings = (epilogue: boolean): BindingKind[] => (epilogue ? ['read', 'read', 'write', 'uniform', 'read'] : ['read', 'read', 'write', 'uniform']);

/**
 * y[rowOffset + r] = x · W[r] for the rows of one weight chunk and one token (decode; several
 * tokens go to the tiled GEMM of gemm-kernel.ts). A workgroup takes WG/lanes rows; each row's
 * lanes sum interleaved runs of `groups`·4 inputs, then a tree per row. An epilogue combines the
 * result with R as it is written.
 */
export function matmulKernel(type: GGMLTypeId, shape: MatmulShape, epilogue = false): KernelSource {
  const { lanes: L, groups: G } = shape;
  return {
    key: `matmul/${type}/1/${L}x${G}${epilogue ? '/epilogue' : ''}`,
    bindings: matmulBindings(epilogue),
    code: `${matmulPreamble(epilogue)}
${requireDequant(type)}
var<workgroup> red: array<f32, ${WG}>;
@compute @workgroup_size(${WG})
fn main(${ENTRY_BUILTINS}) {
  let lane = lid % ${L}u;
  let r = (${FLAT}) * ${WG / L}u + lid / ${L}u;
  var acc = 0.0;
  if (r < p.rows) {
    let base = r * p.rowBytes;
    for (var i0 = lane * ${4 * G}u; i0 < p.k; i0 += ${L * 4 * G}u) {
      for (var g = 0u; g < ${G}u; g++) {
        let i = i0 + g * 4u;
        if (i < p.k) { acc += dot(dq4(base, i), x4(0u, i, p.k)); }
      }
    }
  }
  red[lid] = acc;
  workgroupBarrier();
  for (var s = ${L / 2}u; s > 0u; s >>= 1u) {
    if (lane < s) { red[lid] += red[lid + s]; }
    workgroupBarrier();
  }
  if (r < p.rows && lane == 0u) {
    let at = p.rowOffset + r;
    let v = red[lid];
    Y[at] = ${epilogue ? 'epilogue(v, at)' : 'v'};
  }
}`,
  };
}

/**
 * The expert matmul of a MoE FFN: slot s = t·nUsed + u computes y[s][r] = x · W_e[r] for expert
 * e = R[s], reading x row s (the hidden layer) or t (the FFN input).
 */
export function expertMatmulKernel(type: GGMLTypeId): KernelSource {
  return {
    key: `expert_matmul/${type}`,
    bindings: ['read', 'read', 'write', 'read', 'uniform'],
    code: `
${struct('k: u32, m: u32, rowBytes: u32, nUsed: u32, xPerSlot: u32, firstExpert: u32, nExperts: u32')}
@group(0) @binding(0) var<storage, read> W: array<u32>;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> Y: array<f32>;
@group(0) @binding(3) var<storage, read> R: array<u32>;
@group(0) @binding(4) var<uniform> p: P;
${requireDequant(type)}
${X4}
var<workgroup> red: array<f32, ${WG}>;
@compute @workgroup_size(${WG})
fn main(${ENTRY_BUILTINS}) {
  let r = wid.x;
  let slot = wid.y;
  let xr = select(slot / p.nUsed, slot, p.xPerSlot == 1u);
  // This dispatch holds experts [firstExpert, firstExpert + nExperts) of the tensor.
  let e = R[slot];
  let mine = e >= p.firstExpert && e - p.firstExpert < p.nExperts;
  let base = ((e - p.firstExpert) * p.m + r) * p.rowBytes;
  var acc = 0.0;
  if (mine) {
    for (var i = lid * 4u; i < p.k; i += ${WG * 4}u) { acc += dot(dq4(base, i), x4(xr * p.k, i, p.k)); }
  }
  red[lid] = acc;
  workgroupBarrier();
  ${TREE_SUM}
  if (mine && lid == 0u) { Y[slot * p.m + r] = red[0]; }
}`,
  };
}

/** MoE routing per token: softmax over the experts, the nUsed most probable (ties: lower index). */
export function moeRouteKernel(): KernelSource {
  return {
    key: 'moe_route',
    bindings: ['read', 'write', 'write', 'uniform'],
    code: `
${struct('nExpert: u32, nUsed: u32, normalize: u32, nTok: u32')}
@group(0) @binding(0) var<storage, read> L: array<f32>;
@group(0) @binding(1) var<storage, read_write> R: array<u32>;
@group(0) @binding(2) var<storage, read_write> RW: array<f32>;
@group(0) @binding(3) var<uniform> p: P;
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) g: vec3u) {
  let t = g.x;
  if (t >= p.nTok) { return; }
  let l0 = t * p.nExpert;
  var mx = L[l0];
  for (var i = 1u; i < p.nExpert; i++) { mx = max(mx, L[l0 + i]); }
  var sum = 0.0;
  for (var i = 0u; i < p.nExpert; i++) { sum += exp(L[l0 + i] - mx); }
  var taken: array<u32, 8>;
  var chosen = 0.0;
  for (var u = 0u; u < p.nUsed; u++) {
    var best = 0xffffffffu;
    var bestP = 0.0;
    for (var i = 0u; i < p.nExpert; i++) {
      if ((taken[i >> 5u] & (1u << (i & 31u))) != 0u) { continue; }
      let pi = exp(L[l0 + i] - mx) / sum;
      if (best == 0xffffffffu || pi > bestP) { best = i; bestP = pi; }
    }
    taken[best >> 5u] |= 1u << (best & 31u);
    R[t * p.nUsed + u] = best;
    RW[t * p.nUsed + u] = bestP;
    chosen += bestP;
  }
  if (p.normalize == 1u) {
    for (var u = 0u; u < p.nUsed; u++) { RW[t * p.nUsed + u] = RW[t * p.nUsed + u] / chosen; }
  }
}`,
  };
}

/** MoE output: y[t][i] = Σ_u RW[t][u] · D[t·nUsed + u][i], in selection order. */
export function moeCombineKernel(): KernelSource {
  return {
    key: 'moe_combine',
    bindings: ['read', 'read', 'write', 'uniform'],
    code: `
${struct('n: u32, nUsed: u32, total: u32')}
@group(0) @binding(0) var<storage, read> D: array<f32>;
@group(0) @binding(1) var<storage, read> RW: array<f32>;
@group(0) @binding(2) var<storage, read_write> Y: array<f32>;
@group(0) @binding(3) var<uniform> p: P;
@compute @workgroup_size(${ELEMENTWISE_WG})
fn main(${ENTRY_BUILTINS}) {
  let j = (${FLAT}) * ${ELEMENTWISE_WG}u + lid;
  if (j >= p.total) { return; }
  let t = j / p.n;
  let i = j % p.n;
  var acc = 0.0;
  for (var u = 0u; u < p.nUsed; u++) { acc += RW[t * p.nUsed + u] * D[(t * p.nUsed + u) * p.n + i]; }
  Y[j] = acc;
}`,
  };
}

/**
 * Rows of a table (one weight chunk): the step's token ids, or (positions) pos0 + t. Tokens whose
 * row lies in another chunk are left to that chunk's dispatch.
 */
export function embedKernel(type: GGMLTypeId): KernelSource {
  return {
    key: `embed/${type}`,
    bindings: ['read', 'read', 'write', 'uniform', 'uniform'],
    code: `
${struct('width: u32, rowBytes: u32, rowOffset: u32, rows: u32, positions: u32')}
struct S { pos0: u32 }
@group(0) @binding(0) var<storage, read> W: array<u32>;
@group(0) @binding(1) var<storage, read> TOK: array<i32>;
@group(0) @binding(2) var<storage, read_write> Y: array<f32>;
@group(0) @binding(3) var<uniform> p: P;
@group(0) @binding(4) var<uniform> step: S;
${requireDequant(type)}
@compute @workgroup_size(${WG})
fn main(${ENTRY_BUILTINS}) {
  let i = (wid.x * ${WG}u + lid) * 4u;
  let t = wid.y;
  if (i >= p.width) { return; }
  let row = select(u32(TOK[t]), step.pos0 + t, p.positions == 1u);
  if (row < p.rowOffset || row - p.rowOffset >= p.rows) { return; }
  // Rows of float tables may have any length: dq4 may read into the next row; keep what is ours.
  let v = dq4((row - p.rowOffset) * p.rowBytes, i);
  for (var c = 0u; c < min(4u, p.width - i); c++) { Y[t * p.width + i + c] = v[c]; }
}`,
  };
}

/** RMS norm over each run of `group` values, times an optional f32 weight. */
export function rmsNormKernel(): KernelSource {
  return {
    key: 'rms_norm',
    bindings: ['read', 'read', 'write', 'uniform'],
    code: `
${struct('group: u32, hasWeight: u32, eps: f32')}
@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(1) var<storage, read> G: array<f32>;
@group(0) @binding(2) var<storage, read_write> Y: array<f32>;
@group(0) @binding(3) var<uniform> p: P;
var<workgroup> red: array<f32, ${NORM_WG}>;
@compute @workgroup_size(${NORM_WG})
fn main(${ENTRY_BUILTINS}) {
  let at = (${FLAT}) * p.group;
  var s = 0.0;
  for (var i = lid; i < p.group; i += ${NORM_WG}u) { s += X[at + i] * X[at + i]; }
  red[lid] = s;
  workgroupBarrier();
  ${treeSum(NORM_WG)}
  let r = 1.0 / sqrt(red[0] / f32(p.group) + p.eps);
  for (var i = lid; i < p.group; i += ${NORM_WG}u) {
    Y[at + i] = X[at + i] * r * select(1.0, G[i], p.hasWeight == 1u);
  }
}`,
  };
}

/** (x - mean) / sqrt(var + eps) * weight + bias over whole rows (biased variance, as ggml). */
export function layerNormKernel(): KernelSource {
  return {
    key: 'layer_norm',
    bindings: ['read', 'read', 'read', 'write', 'uniform'],
    code: `
${struct('cols: u32, hasWeight: u32, hasBias: u32, eps: f32')}
@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(1) var<storage, read> G: array<f32>;
@group(0) @binding(2) var<storage, read> B: array<f32>;
@group(0) @binding(3) var<storage, read_write> Y: array<f32>;
@group(0) @binding(4) var<uniform> p: P;
var<workgroup> red: array<f32, ${NORM_WG}>;
@compute @workgroup_size(${NORM_WG})
fn main(${ENTRY_BUILTINS}) {
  let at = (${FLAT}) * p.cols;
  var s = 0.0;
  for (var i = lid; i < p.cols; i += ${NORM_WG}u) { s += X[at + i]; }
  red[lid] = s;
  workgroupBarrier();
  ${treeSum(NORM_WG)}
  let mean = red[0] / f32(p.cols);
  workgroupBarrier();
  var v = 0.0;
  for (var i = lid; i < p.cols; i += ${NORM_WG}u) { let d = X[at + i] - mean; v += d * d; }
  red[lid] = v;
  workgroupBarrier();
  ${treeSum(NORM_WG)}
  let r = 1.0 / sqrt(red[0] / f32(p.cols) + p.eps);
  for (var i = lid; i < p.cols; i += ${NORM_WG}u) {
    Y[at + i] = (X[at + i] - mean) * r * select(1.0, G[i], p.hasWeight == 1u) + select(0.0, B[i], p.hasBias == 1u);
  }
}`,
  };
}

/**
 * Greedy decoding's choice: the index of the largest of X[offset..offset+n) (ties to the lowest
 * index) into Out[0], and into Out[1] whether any value is NaN or +Infinity (then the logits are
 * read back for the engine to report). One workgroup: a vocabulary row is a few hundred KiB.
 * Values are classified by their bits and no infinity is ever a constant, since WGSL lets a
 * compiler assume floats are finite.
 */
export function argmaxKernel(): KernelSource {
  const none = '0xffffffffu';
  return {
    key: 'argmax',
    bindings: ['read', 'write', 'uniform'],
    code: `
${struct('offset: u32, n: u32')}
@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(1) var<storage, read_write> Out: array<u32>;
@group(0) @binding(2) var<uniform> p: P;
var<workgroup> bestV: array<f32, ${NORM_WG}>;
var<workgroup> bestI: array<u32, ${NORM_WG}>;
var<workgroup> invalid: array<u32, ${NORM_WG}>;
@compute @workgroup_size(${NORM_WG})
fn main(@builtin(local_invocation_index) lid: u32) {
  var v = 0.0;
  var at = ${none};
  var bad = 0u;
  // Each thread's indices increase, so a strict > keeps the lowest index of its ties.
  for (var i = lid; i < p.n; i += ${NORM_WG}u) {
    let x = X[p.offset + i];
    let bits = bitcast<u32>(x);
    if ((bits & 0x7fffffffu) > 0x7f800000u || bits == 0x7f800000u) { bad = 1u; }
    else if (at == ${none} || x > v) { v = x; at = i; }
  }
  bestV[lid] = v;
  bestI[lid] = at;
  invalid[lid] = bad;
  workgroupBarrier();
  for (var stride = ${NORM_WG / 2}u; stride > 0u; stride >>= 1u) {
    if (lid < stride) {
      let o = lid + stride;
      let oi = bestI[o];
      let mine = bestI[lid];
      if (oi != ${none} && (mine == ${none} || bestV[o] > bestV[lid] || (bestV[o] == bestV[lid] && oi < mine))) {
        bestV[lid] = bestV[o];
        bestI[lid] = oi;
      }
      invalid[lid] |= invalid[o];
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    Out[0] = bestI[0];
    Out[1] = invalid[0];
  }
}`,
  };
}

/** tanh with its argument clamped: a naive (e^2x - 1)/(e^2x + 1) would give inf/inf = NaN. */
const TANH = 'fn tanh_c(x: f32) -> f32 { return tanh(clamp(x, -15.0, 15.0)); }';
const GELU = `fn gelu(x: f32) -> f32 { return 0.5 * x * (1.0 + tanh_c(0.7978845608028654 * x * (1.0 + 0.044715 * x * x))); }`;
const SILU = 'fn silu(x: f32) -> f32 { return x / (1.0 + exp(-x)); }';

export type ElementwiseOp = 'add' | 'add_bias' | 'scale' | 'softcap' | 'gelu' | 'glu_silu' | 'glu_gelu' | 'cols' | 'rows';

/** y[j] for j < n from A (and B): the value expressions of the elementwise ops. */
const ELEMENTWISE: { readonly [K in ElementwiseOp]: string } = {
  add: BINARY.add('A[j]', 'B[j]'),
  add_bias: 'A[j] + B[j % p.cols]',
  scale: 'A[j] * p.f',
  softcap: 'p.f * tanh_c(A[j] / p.f)',
  gelu: 'gelu(A[j])',
  glu_silu: BINARY.glu_silu('A[j]', 'B[j]'),
  glu_gelu: BINARY.glu_gelu('A[j]', 'B[j]'),
  // Columns [start, start + cols) of rows of xcols values; rows from `start` elements on.
  cols: 'A[(j / p.cols) * p.xcols + p.start + j % p.cols]',
  rows: 'A[p.start + j]',
};

export function elementwiseKernel(op: ElementwiseOp): KernelSource {
  return {
    key: `elementwise/${op}`,
    bindings: ['read', 'read', 'write', 'uniform'],
    code: `
${struct('n: u32, cols: u32, xcols: u32, start: u32, f: f32')}
@group(0) @binding(0) var<storage, read> A: array<f32>;
@group(0) @binding(1) var<storage, read> B: array<f32>;
@group(0) @binding(2) var<storage, read_write> Y: array<f32>;
@group(0) @binding(3) var<uniform> p: P;
${TANH}
${GELU}
${SILU}
@compute @workgroup_size(${ELEMENTWISE_WG})
fn main(${ENTRY_BUILTINS}) {
  let j = (${FLAT}) * ${ELEMENTWISE_WG}u + lid;
  if (j >= p.n) { return; }
  Y[j] = ${ELEMENTWISE[op]};
}`,
  };
}

/**
 * Rotary embedding of [tokens][nHead·headDim], one thread per output value, with the step's
 * cos/sin table CS[t][i] (computed on the host in f64 for the step's positions).
 */
export function ropeKernel(): KernelSource {
  return {
    key: 'rope',
    bindings: ['read', 'read', 'write', 'uniform'],
    code: `
${struct('n: u32, headDim: u32, nRot: u32, neox: u32, nHead: u32')}
@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(1) var<storage, read> CS: array<vec2f>;
@group(0) @binding(2) var<storage, read_write> Y: array<f32>;
@group(0) @binding(3) var<uniform> p: P;
@compute @workgroup_size(${ELEMENTWISE_WG})
fn main(${ENTRY_BUILTINS}) {
  let j = (${FLAT}) * ${ELEMENTWISE_WG}u + lid;
  if (j >= p.n) { return; }
  let d = j % p.headDim;
  if (d >= p.nRot) { Y[j] = X[j]; return; }
  let half = p.nRot / 2u;
  let t = j / (p.headDim * p.nHead);
  let head = j - d;
  var i: u32; var a: u32; var b: u32;
  if (p.neox == 1u) { i = d % half; a = i; b = i + half; } else { i = d / 2u; a = 2u * i; b = a + 1u; }
  let cs = CS[t * half + i];
  let x0 = X[head + a];
  let x1 = X[head + b];
  Y[j] = select(x0 * cs.y + x1 * cs.x, x0 * cs.x - x1 * cs.y, d == a);
}`,
  };
}

/** Writes the step's keys and values [t][kvHead·headDim] into their caches at pos0 + t: one dispatch for both. */
export function kvStoreKernel(kv: KVCacheType): KernelSource {
  const f16 = kv === 'f16';
  const store = (src: string, dst: string) =>
    f16 ? `${dst}[at >> 1u] = f16_bits(${src}[j]) | (f16_bits(${src}[j + 1u]) << 16u);` : `${dst}[at] = ${src}[j];`;
  return {
    key: `kv_store/${kv}`,
    bindings: ['read', 'read', 'write', 'write', 'uniform', 'uniform'],
    code: `
${struct('nKv: u32, headDim: u32, ctx: u32, n: u32')}
struct S { pos0: u32 }
@group(0) @binding(0) var<storage, read> K: array<f32>;
@group(0) @binding(1) var<storage, read> V: array<f32>;
@group(0) @binding(2) var<storage, read_write> KC: array<${f16 ? 'u32' : 'f32'}>;
@group(0) @binding(3) var<storage, read_write> VC: array<${f16 ? 'u32' : 'f32'}>;
@group(0) @binding(4) var<uniform> p: P;
@group(0) @binding(5) var<uniform> step: S;
${f16 ? F16_BITS : ''}
@compute @workgroup_size(${ELEMENTWISE_WG})
fn main(${ENTRY_BUILTINS}) {
  // One thread per ${f16 ? 'pair of values (an f16 pair is one word)' : 'value'} of K and the same of V.
  let j = ((${FLAT}) * ${ELEMENTWISE_WG}u + lid) * ${f16 ? 2 : 1}u;
  if (j >= p.n) { return; }
  let d = j % p.headDim;
  let h = (j / p.headDim) % p.nKv;
  let t = j / (p.headDim * p.nKv);
  let at = (h * p.ctx + step.pos0 + t) * p.headDim + d;
  ${store('K', 'KC')}
  ${store('V', 'VC')}
}`,
  };
}

/** Value rows one attention thread loads before adding them up. */
const ATTENTION_V_RUN = 8;

/**
 * Causal attention of one (head, token) per workgroup over the cache, in tiles of WG positions
 * (one score per thread). Pass 1 finds the softmax's max and sum (online, tile by tile, trees in
 * workgroup memory); pass 2 recomputes the scores and accumulates each output dimension over the
 * positions in order with the normalized weights. An f16 cache rounds those weights to f16 first,
 * as ggml does before its f16 product with V (and q to f16 before the product with K).
 */
export function attentionKernel(kv: KVCacheType, vectorK = false): KernelSource {
  const f16 = kv === 'f16';
  const maxDims = 4; // head sizes up to 4·WG = 256
  // With vectorK (head sizes a multiple of 8 for f16, 4 for f32), a key row is read 16 bytes at a
  // time: a thread's score is a chain of headDim/8 (f16) loads instead of headDim.
  const kElement = vectorK ? (f16 ? 'vec4<u32>' : 'vec4<f32>') : f16 ? 'u32' : 'f32';
  const kDot = !vectorK
    ? `for (var d = 0u; d < p.headDim; d++) { dotp += q[d] * KC_at(kvBase + j * p.headDim + d); }`
    : f16
      ? `let row = (kvBase + j * p.headDim) / 8u;
  let n = p.headDim / 8u;
  var c = 0u;
  for (; c + 4u <= n; c += 4u) {
    let w = array<vec4<u32>, 4>(KC[row + c], KC[row + c + 1u], KC[row + c + 2u], KC[row + c + 3u]);
    for (var u = 0u; u < 4u; u++) { dotp += dot8(w[u], (c + u) * 8u); }
  }
  for (; c < n; c++) { dotp += dot8(KC[row + c], c * 8u); }`
      : `let row = (kvBase + j * p.headDim) / 4u;
  let n = p.headDim / 4u;
  var c = 0u;
  for (; c + 4u <= n; c += 4u) {
    let w = array<vec4f, 4>(KC[row + c], KC[row + c + 1u], KC[row + c + 2u], KC[row + c + 3u]);
    for (var u = 0u; u < 4u; u++) { dotp += dot(w[u], q4((c + u) * 4u)); }
  }
  for (; c < n; c++) { dotp += dot(KC[row + c], q4(c * 4u)); }`;
  // With vector K rows, 4 of them are loaded before their dot products (the same sums in the same
  // order): a loop of one load and one dot product waits a memory round trip per 16 bytes.
  const vectorHelpers = !vectorK
    ? ''
    : `fn q4(d: u32) -> vec4f { return vec4f(q[d], q[d + 1u], q[d + 2u], q[d + 3u]); }
${f16 ? 'fn dot8(w: vec4<u32>, d: u32) -> f32 { return dot(vec4f(unpack2x16float(w.x), unpack2x16float(w.y)), q4(d)) + dot(vec4f(unpack2x16float(w.z), unpack2x16float(w.w)), q4(d + 4u)); }' : ''}`;
  return {
    key: `attention/${kv}${vectorK ? '/vector-k' : ''}`,
    bindings: ['read', 'read', 'read', 'write', 'uniform', 'uniform'],
    code: `
${struct('nHead: u32, nKv: u32, headDim: u32, ctx: u32, window: u32, softcap: f32, scale: f32')}
struct S { pos0: u32 }
@group(0) @binding(0) var<storage, read> Q: array<f32>;
@group(0) @binding(1) var<storage, read> KC: array<${kElement}>;
@group(0) @binding(2) var<storage, read> VC: array<${f16 ? 'u32' : 'f32'}>;
@group(0) @binding(3) var<storage, read_write> Y: array<f32>;
@group(0) @binding(4) var<uniform> p: P;
@group(0) @binding(5) var<uniform> step: S;
${vectorK ? '' : kvRead(kv, 'KC')}
${kvRead(kv, 'VC')}
${f16 ? F16_BITS : ''}
${TANH}
var<workgroup> q: array<f32, ${maxDims * WG}>;
var<workgroup> sc: array<f32, ${WG}>;
var<workgroup> red: array<f32, ${WG}>;
${vectorHelpers}

/** The scaled (and soft-capped) score of position j, or -FLT_MAX past the last position. */
fn score(j: u32, last: u32, kvBase: u32) -> f32 {
  if (j > last) { return -3.4028234e38; }
  var dotp = 0.0;
  ${kDot}
  if (p.softcap > 0.0) { dotp = p.softcap * tanh_c(dotp / p.softcap); }
  return dotp * p.scale;
}

@compute @workgroup_size(${WG})
fn main(${ENTRY_BUILTINS}) {
  let h = wid.x;
  let t = wid.y;
  let hd = p.headDim;
  let pos = step.pos0 + t;
  let first = select(0u, pos + 1u - min(p.window, pos + 1u), p.window > 0u);
  let kvBase = (h / (p.nHead / p.nKv)) * p.ctx * hd;
  let qAt = (t * p.nHead + h) * hd;
  for (var d = lid; d < hd; d += ${WG}u) { q[d] = ${f16 ? 'unpack2x16float(f16_bits(Q[qAt + d])).x' : 'Q[qAt + d]'}; }
  workgroupBarrier();
  // Pass 1: the max m and the sum l of exp(s - m), tile by tile.
  var m = -3.4028234e38;
  var l = 0.0;
  for (var j0 = first; j0 <= pos; j0 += ${WG}u) {
    let s = score(j0 + lid, pos, kvBase);
    red[lid] = s;
    workgroupBarrier();
    for (var w = ${WG / 2}u; w > 0u; w >>= 1u) {
      if (lid < w) { red[lid] = max(red[lid], red[lid + w]); }
      workgroupBarrier();
    }
    let mNew = max(m, red[0]);
    workgroupBarrier();
    red[lid] = select(0.0, exp(s - mNew), j0 + lid <= pos);
    workgroupBarrier();
    ${TREE_SUM}
    l = l * exp(m - mNew) + red[0];
    m = mNew;
    workgroupBarrier();
  }
  // Pass 2: o = Σ_j w_j · V_j, w_j = exp(s_j - m) / l, positions in order.
  var o: array<f32, ${maxDims}>;
  for (var j0 = first; j0 <= pos; j0 += ${WG}u) {
    let wj = exp(score(j0 + lid, pos, kvBase) - m) / l;
    sc[lid] = ${f16 ? 'unpack2x16float(f16_bits(wj)).x' : 'wj'};
    workgroupBarrier();
    let n = min(${WG}u, pos + 1u - j0);
    for (var k = 0u; k < ${maxDims}u; k++) {
      let d = lid + k * ${WG}u;
      if (d < hd) {
        var acc = o[k];
        // ${ATTENTION_V_RUN} rows' loads issued before their adds (the same adds in the same order):
        // a loop of one load and one add waits a memory round trip per position.
        var jj = 0u;
        for (; jj + ${ATTENTION_V_RUN}u <= n; jj += ${ATTENTION_V_RUN}u) {
          let at = kvBase + (j0 + jj) * hd + d;
          ${Array.from({ length: ATTENTION_V_RUN }, (_, u) => `let v${u} = VC_at(at + ${u}u * hd);`).join(' ')}
          ${Array.from({ length: ATTENTION_V_RUN }, (_, u) => `acc += sc[jj + ${u}u] * v${u};`).join(' ')}
        }
        for (; jj < n; jj++) { acc += sc[jj] * VC_at(kvBase + (j0 + jj) * hd + d); }
        o[k] = acc;
      }
    }
    workgroupBarrier();
  }
  for (var k = 0u; k < ${maxDims}u; k++) {
    let d = lid + k * ${WG}u;
    if (d < hd) { Y[qAt + d] = o[k]; }
  }
}`,
  };
}

/** The largest head size the attention kernel holds. */
export const MAX_HEAD_DIM = 4 * WG;
