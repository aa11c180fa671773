/**
 * Apple OpenELM (openelm): layer-wise scaling, so head counts and FFN widths are per-layer
 * arrays; a fused Q|K|V projection per layer; per-head RMSNorm of Q and K before NEOX RoPE; a
 * SiLU-gated FFN; the output always tied to the token embeddings (llama.cpp c392e50).
 */
import type { GGUFFile } from '../gguf/reader.js';
import { GraphBuilder, type GraphNode } from '../backends/graph.js';
import type { ModelDefinition, StepShape } from './model.js';
import { HParamReader } from './hparams.js';
import { WeightDeclarations } from './weights.js';
import { gatedFfn, lastTokenOnly, selfAttention, wantsLastOnly } from './blocks.js';

export function defineOpenElm(file: GGUFFile): ModelDefinition {
  const r: HParamReader = new HParamReader(file, 'openelm');
  const nEmbd = r.integer('embedding_length');
  const nLayer = r.integer('block_count');
  const nHeads = r.perLayer('attention.head_count', nLayer);
  const nKvHeads = r.perLayer('attention.head_count_kv', nLayer);
  const nFfs = r.perLayer('feed_forward_length', nLayer);
  // The head size is shared by all layers (the converter writes key_length = head_dim).
  const headDim = r.integer('attention.key_length');
  const nRot = r.optionalInteger('rope.dimension_count', headDim);
  const eps = r.number('attention.layer_norm_rms_epsilon');
  r.require(headDim > 0, 'head size 0');
  r.require(r.optionalInteger('attention.value_length', headDim) === headDim, 'value_length differs from key_length');
  r.require(nRot > 0 && nRot % 2 === 0 && nRot <= headDim, `RoPE dimensions ${nRot} for head size ${headDim}`);
  nHeads.forEach((nHead, l) => {
    const nKv = nKvHeads[l]!;
    r.require(nKv > 0 && nHead % nKv === 0, `layer ${l}: ${nHead} heads cannot share ${nKv} KV heads`);
    r.require(nFfs[l]! > 0, `layer ${l}: FFN width 0`);
  });

  const d = new WeightDeclarations(file, 'openelm');
  const vocabSize = file.tensor('token_embd.weight')?.shape[1] ?? 0;
  const tokenEmbd = d.required('token_embd.weight', [nEmbd, vocabSize]);
  const outputNorm = d.required('output_norm.weight', [nEmbd]);
  const rope = {
    headDim,
    nRot,
    mode: 'neox' as const,
    freqBase: r.optionalNumber('rope.freq_base', 10000),
    freqScale: r.ropeFreqScale(),
  };
  const layers = nHeads.map((nHead, l) => {
    const nKvHead = nKvHeads[l]!;
    const nFf = nFfs[l]!;
    const b = (name: string, shape: number[]) => d.required(`blk.${l}.${name}.weight`, shape);
    return {
      nHead,
      nKvHead,
      attnNorm: b('attn_norm', [nEmbd]),
      attn: {
        qkv: b('attn_qkv', [nEmbd, (nHead + 2 * nKvHead) * headDim]),
        qNorm: b('attn_q_norm', [headDim]),
        kNorm: b('attn_k_norm', [headDim]),
        output: b('attn_output', [nHead * headDim, nEmbd]),
      },
      ffnNorm: b('ffn_norm', [nEmbd]),
      ffn: { gate: b('ffn_gate', [nEmbd, nFf]), up: b('ffn_up', [nEmbd, nFf]), down: b('ffn_down', [nFf, nEmbd]) },
    };
  });

  const buildGraph = (step: StepShape) => {
    const g = new GraphBuilder(step.nTokens);
    let x: GraphNode = g.embed('inp_embd', tokenEmbd);
    layers.forEach((w, il) => {
      g.layer(il);
      const config = { layer: il, nHead: w.nHead, nKvHead: w.nKvHead, headDim, rope, normEps: eps };
      let a = selfAttention(g, g.rmsNorm('attn_norm', x, w.attnNorm, eps), w.attn, config);
      if (il === nLayer - 1 && wantsLastOnly(step)) [a, x] = lastTokenOnly(g, [a, x]) as [GraphNode, GraphNode];
      x = g.add('ffn_inp', x, a);
      x = g.add('l_out', x, gatedFfn(g, g.rmsNorm('ffn_norm', x, w.ffnNorm, eps), w.ffn, 'silu'));
    });
    g.layer(-1);
    x = g.rmsNorm('result_norm', x, outputNorm, eps);
    return g.finish(g.matmul('result_output', x, tokenEmbd));
  };

  return {
    arch: 'openelm',
    contextLength: r.integer('context_length'),
    vocabSize,
    tensors: d.tensors,
    kvLayers: layers.map((w) => ({ nKvHead: w.nKvHead, headDim, rope: { ...rope, nHead: w.nKvHead } })),
    buildGraph,
  };
}
