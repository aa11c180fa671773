/**
 * Building blocks shared by the architectures: norms, self-attention in its variants (separate
 * or fused QKV, biases, per-head Q/K norms, RoPE or none, Q scaling, windows, soft-capping),
 * the FFN kinds (gated, fused gate|up, plain GELU MLP, mixture of experts) and the output head.
 * Node names follow llama.cpp's graph callbacks, so a divergence report reads like its debug dumps.
 */
import type { GraphBuilder, GraphNode, GluActivation, MoeParams, RopeParams, WeightHandle } from '../backends/graph.js';

export interface NormWeights {
  readonly weight?: WeightHandle;
  readonly bias?: WeightHandle;
}

export type NormKind = 'rms' | 'layer';

export function norm(g: GraphBuilder, name: string, x: GraphNode, kind: NormKind, w: NormWeights, eps: number): GraphNode {
  return kind === 'rms' ? g.rmsNorm(name, x, w.weight, eps) : g.layerNorm(name, x, w.weight, w.bias, eps);
}

export interface AttentionWeights {
  /** Separate projections... */
  readonly q?: WeightHandle;
  readonly k?: WeightHandle;
  readonly v?: WeightHandle;
  /** ...or one fused projection whose outputs are [Q | K | V]. */
  readonly qkv?: WeightHandle;
  readonly qBias?: WeightHandle;
  readonly kBias?: WeightHandle;
  readonly vBias?: WeightHandle;
  readonly qkvBias?: WeightHandle;
  /** Per-head RMS norms of Q and K (length headDim), applied before RoPE. */
  readonly qNorm?: WeightHandle;
  readonly kNorm?: WeightHandle;
  readonly output: WeightHandle;
  readonly outputBias?: WeightHandle;
}

export interface AttentionConfig {
  readonly layer: number;
  readonly nHead: number;
  readonly nKvHead: number;
  readonly headDim: number;
  /** RoPE of Q and K (nHead is filled in per projection); absent for learned positions. */
  readonly rope?: Omit<RopeParams, 'nHead'>;
  /** eps of the per-head Q/K norms. */
  readonly normEps: number;
  /** Q is multiplied by this after RoPE (phi3, gemma); the scores are then not scaled again. */
  readonly qScale?: number;
  /** Multiplies the scores when qScale is absent. Default 1/sqrt(headDim). */
  readonly kqScale?: number;
  readonly window?: number;
  readonly softcap?: number;
}

function project(g: GraphBuilder, name: string, x: GraphNode, w: WeightHandle, bias?: WeightHandle): GraphNode {
  const y = g.matmul(name, x, w);
  return bias ? g.addBias(`${name}_b`, y, bias) : y;
}

/** Self-attention with its output projection: [tokens, n_embd] -> [tokens, n_embd]. */
export function selfAttention(g: GraphBuilder, x: GraphNode, w: AttentionWeights, c: AttentionConfig): GraphNode {
  const qWidth = c.nHead * c.headDim;
  const kvWidth = c.nKvHead * c.headDim;
  let q: GraphNode, k: GraphNode, v: GraphNode;
  if (w.qkv) {
    const qkv = project(g, 'wqkv', x, w.qkv, w.qkvBias);
    q = g.cols('Qcur', qkv, 0, qWidth);
    k = g.cols('Kcur', qkv, qWidth, kvWidth);
    v = g.cols('Vcur', qkv, qWidth + kvWidth, kvWidth);
  } else {
    q = project(g, 'Qcur', x, w.q!, w.qBias);
    k = project(g, 'Kcur', x, w.k!, w.kBias);
    v = project(g, 'Vcur', x, w.v!, w.vBias);
  }
  if (w.qNorm) q = g.rmsNorm('Qcur_normed', q, w.qNorm, c.normEps, c.headDim);
  if (w.kNorm) k = g.rmsNorm('Kcur_normed', k, w.kNorm, c.normEps, c.headDim);
  if (c.rope) {
    q = g.rope('Qcur_rope', q, { ...c.rope, nHead: c.nHead });
    k = g.rope('Kcur_rope', k, { ...c.rope, nHead: c.nKvHead });
  }
  if (c.qScale !== undefined) q = g.scale('Qcur_scaled', q, c.qScale);
  const a = g.attention('kqv_out', q, k, v, {
    layer: c.layer,
    nHead: c.nHead,
    nKvHead: c.nKvHead,
    headDim: c.headDim,
    scale: c.qScale !== undefined ? 1 : (c.kqScale ?? 1 / Math.sqrt(c.headDim)),
    window: c.window ?? 0,
    softcap: c.softcap ?? 0,
  });
  return project(g, 'attn_out', a, w.output, w.outputBias);
}

export interface GatedFfnWeights {
  readonly gate: WeightHandle;
  readonly up: WeightHandle;
  readonly down: WeightHandle;
}

/** down(act(gate x) * up x): llama (SiLU), gemma (GELU). */
export function gatedFfn(g: GraphBuilder, x: GraphNode, w: GatedFfnWeights, act: GluActivation): GraphNode {
  const gate = g.matmul('ffn_gate', x, w.gate);
  const up = g.matmul('ffn_up', x, w.up);
  return g.matmul('ffn_out', g.glu('ffn_act', gate, up, act), w.down);
}

/** phi3: one projection gives [gate | up] (2·nFf values), then down(act(gate) * up). */
export function fusedGatedFfn(g: GraphBuilder, x: GraphNode, w: { up: WeightHandle; down: WeightHandle }, nFf: number, act: GluActivation): GraphNode {
  const gateUp = g.matmul('ffn_up', x, w.up);
  const gate = g.cols('ffn_gate', gateUp, 0, nFf);
  const up = g.cols('ffn_up_half', gateUp, nFf, nFf);
  return g.matmul('ffn_out', g.glu('ffn_act', gate, up, act), w.down);
}

export interface MlpWeights {
  readonly up: WeightHandle;
  readonly upBias?: WeightHandle;
  readonly down: WeightHandle;
  readonly downBias?: WeightHandle;
}

/** down(gelu(up x + b_up)) + b_down: gpt2, starcoder2. */
export function geluMlp(g: GraphBuilder, x: GraphNode, w: MlpWeights): GraphNode {
  const up = project(g, 'ffn_up', x, w.up, w.upBias);
  return project(g, 'ffn_out', g.gelu('ffn_gelu', up), w.down, w.downBias);
}

export interface MoeWeights {
  /** The router, [n_embd, n_expert]. */
  readonly router: WeightHandle;
  readonly gate: WeightHandle;
  readonly up: WeightHandle;
  readonly down: WeightHandle;
}

/** Mixture of experts: router softmax, top-k, Σ w_e · expert_e(x). */
export function moeFfn(g: GraphBuilder, x: GraphNode, w: MoeWeights, params: MoeParams): GraphNode {
  const logits = g.matmul('ffn_moe_logits', x, w.router);
  return g.moeFfn('ffn_moe_out', x, logits, w, params);
}

/**
 * Past the last layer's attention only the last token's row matters when only its logits are
 * wanted: cut every given node down to that row.
 */
export function lastTokenOnly(g: GraphBuilder, nodes: readonly GraphNode[]): GraphNode[] {
  return nodes.map((n) => (n.rows > 1 ? g.rows(`${n.name}_last`, n, n.rows - 1, 1) : n));
}

/** Whether the step wants only the last token's logits and has more than one token. */
export function wantsLastOnly(step: { nTokens: number; allLogits: boolean }): boolean {
  return !step.allLogits && step.nTokens > 1;
}
