/**
 * The llama family (Llama 1-3, Mistral, SmolLM, TinyLlama, and Mixtral-style models with
 * experts): RMSNorm, grouped-query attention with NORM RoPE (the converter permuted Q/K rows
 * for it), SiLU-gated FFN or a mixture of SiLU-gated experts, tied or separate output.
 * Architectures that differ from it by a few switches (Qwen: NEOX RoPE, biases, Q/K norms) are
 * variants of the same definition.
 */
import type { GGUFFile } from '../gguf/reader.js';
import type { RopeMode } from '../backends/graph.js';
import type { ModelDefinition } from './model.js';
import { HParamReader } from './hparams.js';
import { WeightDeclarations } from './weights.js';
import { decoderModel, gatedFfn, moeFfn, type DecoderLayer, type GatedFfnWeights, type MoeWeights } from './blocks.js';

export interface LlamaVariant {
  readonly arch: string;
  readonly ropeMode: RopeMode;
  /** Biases on the Q, K and V projections. */
  readonly qkvBias: boolean;
  /** Per-head RMSNorm of Q and K before RoPE. */
  readonly qkNorm: boolean;
  /** Whether the FFN must be a mixture of experts (otherwise it is one when expert_count > 0). */
  readonly moe: boolean;
}

export const defineLlama = (file: GGUFFile) => defineLlamaFamily(file, { arch: 'llama', ropeMode: 'norm', qkvBias: false, qkNorm: false, moe: false });

export function defineLlamaFamily(file: GGUFFile, v: LlamaVariant): ModelDefinition {
  const r: HParamReader = new HParamReader(file, v.arch);
  const { nEmbd, nLayer, nHead, nHeadKv, headDim, nRot } = r.attentionShape();
  const eps = r.epsilon('attention.layer_norm_rms_epsilon');
  const nExpert = v.moe ? r.integer('expert_count') : r.optionalInteger('expert_count', 0);
  const nExpertUsed = nExpert > 0 ? r.integer('expert_used_count') : 0;
  r.require(nExpert > 0 ? nExpertUsed > 0 && nExpertUsed <= nExpert : !v.moe, `${nExpertUsed} of ${nExpert} experts used`);
  // Experts' width: expert_feed_forward_length (Qwen-MoE), else feed_forward_length (Mixtral).
  const nFf = nExpert > 0 ? r.optionalInteger('expert_feed_forward_length', 0) || r.integer('feed_forward_length') : r.integer('feed_forward_length');
  r.require(nFf > 0, 'FFN width 0');

  const d = new WeightDeclarations(file, v.arch);
  const { vocabSize, tokenEmbd, output } = d.embeddings(nEmbd, 'optional');
  const rope = { ...r.rope(v.ropeMode, headDim, nRot), freqFactors: d.optional('rope_freqs.weight', [nRot / 2]) };
  const qWidth = nHead * headDim;
  const kvWidth = nHeadKv * headDim;
  const layers = Array.from({ length: nLayer }, (_, l): DecoderLayer => {
    const t = (name: string, shape: number[], kind = 'weight') => d.required(`blk.${l}.${name}.${kind}`, shape);
    const ffn: GatedFfnWeights | MoeWeights =
      nExpert > 0
        ? { router: t('ffn_gate_inp', [nEmbd, nExpert]), gate: t('ffn_gate_exps', [nEmbd, nFf, nExpert]), up: t('ffn_up_exps', [nEmbd, nFf, nExpert]), down: t('ffn_down_exps', [nFf, nEmbd, nExpert]) }
        : { gate: t('ffn_gate', [nEmbd, nFf]), up: t('ffn_up', [nEmbd, nFf]), down: t('ffn_down', [nFf, nEmbd]) };
    return {
      attnNorm: { weight: t('attn_norm', [nEmbd]) },
      attn: {
        q: t('attn_q', [nEmbd, qWidth]),
        k: t('attn_k', [nEmbd, kvWidth]),
        v: t('attn_v', [nEmbd, kvWidth]),
        output: t('attn_output', [qWidth, nEmbd]),
        ...(v.qkvBias && { qBias: t('attn_q', [qWidth], 'bias'), kBias: t('attn_k', [kvWidth], 'bias'), vBias: t('attn_v', [kvWidth], 'bias') }),
        ...(v.qkNorm && { qNorm: t('attn_q_norm', [headDim]), kNorm: t('attn_k_norm', [headDim]) }),
      },
      attnConfig: { layer: l, nHead, nKvHead: nHeadKv, headDim, rope, normEps: eps },
      ffnNorm: { weight: t('ffn_norm', [nEmbd]) },
      // Mixtral and Qwen-MoE renormalise the chosen experts' weights.
      ffn: (g, x) => ('router' in ffn ? moeFfn(g, x, ffn, { nUsed: nExpertUsed, normalize: true, act: 'silu' }) : gatedFfn(g, x, ffn, 'silu')),
    };
  });
  return decoderModel(
    { arch: v.arch, contextLength: r.integer('context_length'), vocabSize },
    d,
    {
      normKind: 'rms',
      eps,
      tokenEmbd,
      layers,
      outputNorm: { weight: d.required('output_norm.weight', [nEmbd]) },
      output,
    },
  );
}
