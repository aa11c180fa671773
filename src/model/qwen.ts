/**
 * The Qwen family: qwen2 (Qwen1.5/2/2.5), qwen3, and qwen3moe. All three are llama-shaped
 * (RMSNorm, grouped-query attention, SiLU-gated FFN, output tied when `output.weight` is absent)
 * but with NEOX RoPE, since the converter leaves Q/K rows in HF order. They differ only in:
 * - qwen2: biases on Q, K and V (none on the output projection);
 * - qwen3: per-head RMSNorm of Q and K before RoPE, and a head size (key_length) that need not be
 *   n_embd/n_head; the converter writes no rope.dimension_count, so n_rot defaults to it;
 * - qwen3moe: qwen3 attention with a mixture of experts (softmax, top-k, renormalised) as FFN.
 */
import type { GGUFFile } from '../gguf/reader.js';
import { GraphBuilder, type GraphNode } from '../backends/graph.js';
import type { ModelDefinition, StepShape } from './model.js';
import { HParamReader } from './hparams.js';
import { WeightDeclarations } from './weights.js';
import { gatedFfn, lastTokenOnly, moeFfn, selfAttention, wantsLastOnly, type AttentionWeights, type GatedFfnWeights, type MoeWeights } from './blocks.js';

interface QwenVariant {
  readonly arch: 'qwen2' | 'qwen3' | 'qwen3moe';
  /** Q/K/V biases (qwen2). */
  readonly qkvBias: boolean;
  /** Per-head Q/K RMSNorm (qwen3). */
  readonly qkNorm: boolean;
  /** Mixture-of-experts FFN (qwen3moe). */
  readonly moe: boolean;
}

export const defineQwen2 = (file: GGUFFile) => defineQwen(file, { arch: 'qwen2', qkvBias: true, qkNorm: false, moe: false });
export const defineQwen3 = (file: GGUFFile) => defineQwen(file, { arch: 'qwen3', qkvBias: false, qkNorm: true, moe: false });
export const defineQwen3Moe = (file: GGUFFile) => defineQwen(file, { arch: 'qwen3moe', qkvBias: false, qkNorm: true, moe: true });

function defineQwen(file: GGUFFile, v: QwenVariant): ModelDefinition {
  const r: HParamReader = new HParamReader(file, v.arch);
  const nEmbd = r.integer('embedding_length');
  const nLayer = r.integer('block_count');
  const nHead = r.integer('attention.head_count');
  const nHeadKv = r.optionalInteger('attention.head_count_kv', nHead);
  const headDim = r.optionalInteger('attention.key_length', nHead > 0 ? nEmbd / nHead : 0);
  const nRot = r.optionalInteger('rope.dimension_count', headDim);
  const eps = r.number('attention.layer_norm_rms_epsilon');
  r.require(Number.isInteger(headDim) && headDim > 0, `head size ${headDim} is not a positive integer`);
  r.require(r.optionalInteger('attention.value_length', headDim) === headDim, 'value_length differs from key_length');
  r.require(nHeadKv > 0 && nHead % nHeadKv === 0, `${nHead} heads cannot share ${nHeadKv} KV heads`);
  r.require(nRot > 0 && nRot % 2 === 0 && nRot <= headDim, `RoPE dimensions ${nRot} for head size ${headDim}`);
  // Dense FFN width, or the experts' (llama.cpp falls back to n_ff / n_used when the key is absent).
  const nExpert = v.moe ? r.integer('expert_count') : 0;
  const nExpertUsed = v.moe ? r.integer('expert_used_count') : 0;
  r.require(!v.moe || (nExpertUsed > 0 && nExpertUsed <= nExpert), `${nExpertUsed} of ${nExpert} experts used`);
  const nFf = v.moe
    ? r.optionalInteger('expert_feed_forward_length', 0) || r.integer('feed_forward_length') / nExpertUsed
    : r.integer('feed_forward_length');
  r.require(Number.isInteger(nFf) && nFf > 0, `FFN width ${nFf}`);

  const d = new WeightDeclarations(file, v.arch);
  const vocabSize = file.tensor('token_embd.weight')?.shape[1] ?? 0;
  const tokenEmbd = d.required('token_embd.weight', [nEmbd, vocabSize]);
  const output = d.optional('output.weight', [nEmbd, vocabSize]) ?? tokenEmbd;
  const outputNorm = d.required('output_norm.weight', [nEmbd]);
  const rope = {
    headDim,
    nRot,
    mode: 'neox' as const,
    freqBase: r.optionalNumber('rope.freq_base', 10000),
    freqScale: r.ropeFreqScale(),
  };
  const layers = Array.from({ length: nLayer }, (_, l) => {
    const t = (name: string, shape: number[], kind = 'weight') => d.required(`blk.${l}.${name}.${kind}`, shape);
    const qWidth = nHead * headDim;
    const kvWidth = nHeadKv * headDim;
    const attn: AttentionWeights = {
      q: t('attn_q', [nEmbd, qWidth]),
      k: t('attn_k', [nEmbd, kvWidth]),
      v: t('attn_v', [nEmbd, kvWidth]),
      output: t('attn_output', [qWidth, nEmbd]),
      ...(v.qkvBias && { qBias: t('attn_q', [qWidth], 'bias'), kBias: t('attn_k', [kvWidth], 'bias'), vBias: t('attn_v', [kvWidth], 'bias') }),
      ...(v.qkNorm && { qNorm: t('attn_q_norm', [headDim]), kNorm: t('attn_k_norm', [headDim]) }),
    };
    const ffn: GatedFfnWeights | MoeWeights = v.moe
      ? {
          router: t('ffn_gate_inp', [nEmbd, nExpert]),
          gate: t('ffn_gate_exps', [nEmbd, nFf, nExpert]),
          up: t('ffn_up_exps', [nEmbd, nFf, nExpert]),
          down: t('ffn_down_exps', [nFf, nEmbd, nExpert]),
        }
      : { gate: t('ffn_gate', [nEmbd, nFf]), up: t('ffn_up', [nEmbd, nFf]), down: t('ffn_down', [nFf, nEmbd]) };
    return { attnNorm: t('attn_norm', [nEmbd]), attn, ffnNorm: t('ffn_norm', [nEmbd]), ffn };
  });

  const buildGraph = (step: StepShape) => {
    const g = new GraphBuilder(step.nTokens);
    let x: GraphNode = g.embed('inp_embd', tokenEmbd);
    layers.forEach((w, il) => {
      g.layer(il);
      let a = selfAttention(g, g.rmsNorm('attn_norm', x, w.attnNorm, eps), w.attn, { layer: il, nHead, nKvHead: nHeadKv, headDim, rope, normEps: eps });
      if (il === nLayer - 1 && wantsLastOnly(step)) [a, x] = lastTokenOnly(g, [a, x]) as [GraphNode, GraphNode];
      x = g.add('ffn_inp', x, a);
      const f = g.rmsNorm('ffn_norm', x, w.ffnNorm, eps);
      // Qwen3-MoE always renormalises the chosen experts' weights (HF norm_topk_prob = true).
      const out = 'router' in w.ffn
        ? moeFfn(g, f, w.ffn, { nUsed: nExpertUsed, normalize: true, act: 'silu' })
        : gatedFfn(g, f, w.ffn, 'silu');
      x = g.add('l_out', x, out);
    });
    g.layer(-1);
    x = g.rmsNorm('result_norm', x, outputNorm, eps);
    return g.finish(g.matmul('result_output', x, output));
  };

  return {
    arch: v.arch,
    contextLength: r.integer('context_length'),
    vocabSize,
    tensors: d.tensors,
    kvLayers: layers.map(() => ({ nKvHead: nHeadKv, headDim, rope: { ...rope, nHead: nHeadKv } })),
    buildGraph,
  };
}
