/**
 * Building blocks shared by the architectures: norms, self-attention in its variants (separate
 * or fused QKV, biases, per-head Q/K norms, RoPE or none, Q scaling, windows, soft-capping),
 * the FFN kinds (gated, fused gate|up, plain GELU MLP, mixture of experts) and the output head.
 * Node names follow llama.cpp's graph callbacks, so a divergence report reads like its debug dumps.
 */
import { GraphBuilder, type Graph, type GraphNode, type GluActivation, type MoeParams, type RopeParams, type WeightHandle } from '../backends/graph.js';
import type { KVLayerSpec } from '../backends/backend.js';
import type { ModelDefinition, StepShape } from './model.js';
import type { WeightDeclarations } from './weights.js';

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

/** One block of a decoder: norm -> attention (-> post-norm) -> +x -> norm -> FFN (-> post-norm) -> +x. */
export interface DecoderLayer {
  readonly attnNorm: NormWeights;
  readonly attn: AttentionWeights;
  readonly attnConfig: AttentionConfig;
  /** Gemma 2/3 normalise the attention and FFN outputs before the residual adds. */
  readonly postAttnNorm?: NormWeights;
  readonly ffnNorm: NormWeights;
  readonly ffn: (g: GraphBuilder, x: GraphNode) => GraphNode;
  readonly postFfnNorm?: NormWeights;
}

/** A pre-norm decoder-only transformer: what every architecture here is. */
export interface Decoder {
  readonly normKind: NormKind;
  readonly eps: number;
  readonly tokenEmbd: WeightHandle;
  /** What the architecture does to the token embeddings (scale, add positions); none by default. */
  input?(g: GraphBuilder, embedded: GraphNode): GraphNode;
  readonly layers: readonly DecoderLayer[];
  readonly outputNorm: NormWeights;
  readonly output: WeightHandle;
  /** Soft-capping of the logits (Gemma 2), 0 or absent for none. */
  readonly finalSoftcap?: number;
}

function buildDecoder(d: Decoder, step: StepShape): Graph {
  const g = new GraphBuilder(step.nTokens);
  const n = (name: string, x: GraphNode, w: NormWeights) => norm(g, name, x, d.normKind, w, d.eps);
  const embedded = g.embed('inp_embd', d.tokenEmbd);
  let x = d.input ? d.input(g, embedded) : embedded;
  d.layers.forEach((w, il) => {
    g.layer(il);
    let a = selfAttention(g, n('attn_norm', x, w.attnNorm), w.attn, w.attnConfig);
    if (il === d.layers.length - 1 && !step.allLogits && step.nTokens > 1) {
      // Past the last attention only the last token's row matters.
      [a, x] = [a, x].map((v) => g.rows(`${v.name}_last`, v, v.rows - 1, 1)) as [GraphNode, GraphNode];
    }
    if (w.postAttnNorm) a = n('attn_post_norm', a, w.postAttnNorm);
    x = g.add('ffn_inp', x, a);
    let f = w.ffn(g, n('ffn_norm', x, w.ffnNorm));
    if (w.postFfnNorm) f = n('ffn_post_norm', f, w.postFfnNorm);
    x = g.add('l_out', x, f);
  });
  g.layer(-1);
  const logits = g.matmul('result_output', n('result_norm', x, d.outputNorm), d.output);
  return g.finish(d.finalSoftcap ? g.softcap('result_output_capped', logits, d.finalSoftcap) : logits);
}

/** The KV cache layout of a decoder's layers (with their RoPE, for context shifts). */
function kvLayersOf(layers: readonly DecoderLayer[]): KVLayerSpec[] {
  return layers.map(({ attnConfig: c }) => ({ nKvHead: c.nKvHead, headDim: c.headDim, rope: c.rope && { ...c.rope, nHead: c.nKvHead } }));
}

/**
 * A model definition whose forward pass is `decoder`, loading what `weights` declared (read last,
 * so that the decoder's own declarations, such as the output norm, are in it).
 */
export function decoderModel(
  model: Omit<ModelDefinition, 'tensors' | 'kvLayers' | 'buildGraph'>,
  weights: WeightDeclarations,
  decoder: Decoder,
): ModelDefinition {
  return { ...model, tensors: weights.tensors, kvLayers: kvLayersOf(decoder.layers), buildGraph: (step) => buildDecoder(decoder, step) };
}
