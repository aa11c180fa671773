/**
 * The llama family (Llama 1-3, Mistral, SmolLM, TinyLlama, and Mixtral-style models with
 * experts): RMSNorm, grouped-query attention with NORM RoPE (the converter permuted Q/K rows
 * for it), SiLU-gated FFN or a mixture of SiLU-gated experts, tied or separate output.
 */
import type { GGUFFile } from '../gguf/reader.js';
import { GraphBuilder, type GraphNode } from '../backends/graph.js';
import type { ModelDefinition, StepShape } from './model.js';
import { HParamReader } from './hparams.js';
import { WeightDeclarations } from './weights.js';
import { gatedFfn, lastTokenOnly, moeFfn, selfAttention, wantsLastOnly, type AttentionWeights, type GatedFfnWeights, type MoeWeights } from './blocks.js';

export function defineLlama(file: GGUFFile): ModelDefinition {
  const r: HParamReader = new HParamReader(file, 'llama');
  const nEmbd = r.integer('embedding_length');
  const nLayer = r.integer('block_count');
  const nHead = r.integer('attention.head_count');
  const nHeadKv = r.optionalInteger('attention.head_count_kv', nHead);
  const headDim = r.optionalInteger('attention.key_length', nHead > 0 ? nEmbd / nHead : 0);
  const nRot = r.optionalInteger('rope.dimension_count', headDim);
  const nFf = r.integer('feed_forward_length');
  const nExpert = r.optionalInteger('expert_count', 0);
  const nExpertUsed = nExpert > 0 ? r.integer('expert_used_count') : 0;
  const eps = r.number('attention.layer_norm_rms_epsilon');
  r.require(nHead > 0, 'attention.head_count is 0');
  r.require(Number.isInteger(headDim) && headDim > 0, `head size ${headDim} is not a positive integer`);
  r.require(nHeadKv > 0 && nHead % nHeadKv === 0, `${nHead} heads cannot share ${nHeadKv} KV heads`);
  r.require(nRot > 0 && nRot % 2 === 0 && nRot <= headDim, `RoPE dimensions ${nRot} for head size ${headDim}`);
  r.require(nExpert === 0 || (nExpertUsed > 0 && nExpertUsed <= nExpert), `${nExpertUsed} of ${nExpert} experts used`);

  const d = new WeightDeclarations(file, 'llama');
  const vocabSize = file.tensor('token_embd.weight')?.shape[1] ?? 0;
  const tokenEmbd = d.required('token_embd.weight', [nEmbd, vocabSize]);
  const output = d.optional('output.weight', [nEmbd, vocabSize]) ?? tokenEmbd;
  const outputNorm = d.required('output_norm.weight', [nEmbd]);
  const rope = {
    headDim,
    nRot,
    mode: 'norm' as const,
    freqBase: r.optionalNumber('rope.freq_base', 10000),
    freqScale: r.ropeFreqScale(),
    freqFactors: d.optional('rope_freqs.weight', [nRot / 2]),
  };
  const layers = Array.from({ length: nLayer }, (_, l) => {
    const b = (name: string, shape: number[]) => d.required(`blk.${l}.${name}.weight`, shape);
    const attn: AttentionWeights = {
      q: b('attn_q', [nEmbd, nHead * headDim]),
      k: b('attn_k', [nEmbd, nHeadKv * headDim]),
      v: b('attn_v', [nEmbd, nHeadKv * headDim]),
      output: b('attn_output', [nHead * headDim, nEmbd]),
    };
    const ffn: GatedFfnWeights | MoeWeights =
      nExpert > 0
        ? {
            router: b('ffn_gate_inp', [nEmbd, nExpert]),
            gate: b('ffn_gate_exps', [nEmbd, nFf, nExpert]),
            up: b('ffn_up_exps', [nEmbd, nFf, nExpert]),
            down: b('ffn_down_exps', [nFf, nEmbd, nExpert]),
          }
        : { gate: b('ffn_gate', [nEmbd, nFf]), up: b('ffn_up', [nEmbd, nFf]), down: b('ffn_down', [nFf, nEmbd]) };
    return { attnNorm: b('attn_norm', [nEmbd]), attn, ffnNorm: b('ffn_norm', [nEmbd]), ffn };
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
    arch: 'llama',
    contextLength: r.integer('context_length'),
    vocabSize,
    tensors: d.tensors,
    kvLayers: layers.map(() => ({ nKvHead: nHeadKv, headDim, rope: { ...rope, nHead: nHeadKv } })),
    buildGraph,
  };
}

