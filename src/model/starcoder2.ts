/**
 * StarCoder2: LayerNorm with bias, grouped-query attention with biases on Q/K/V/O and NEOX RoPE,
 * a plain GELU MLP with biases, and a separate output (tied when output.weight is absent).
 */
import type { GGUFFile } from '../gguf/reader.js';
import { GraphBuilder, type GraphNode } from '../backends/graph.js';
import type { ModelDefinition, StepShape } from './model.js';
import { HParamReader } from './hparams.js';
import { WeightDeclarations } from './weights.js';
import { geluMlp, lastTokenOnly, selfAttention, wantsLastOnly } from './blocks.js';

export function defineStarcoder2(file: GGUFFile): ModelDefinition {
  const r: HParamReader = new HParamReader(file, 'starcoder2');
  const nEmbd = r.integer('embedding_length');
  const nLayer = r.integer('block_count');
  const nHead = r.integer('attention.head_count');
  const nHeadKv = r.optionalInteger('attention.head_count_kv', nHead);
  const headDim = r.optionalInteger('attention.key_length', nHead > 0 ? nEmbd / nHead : 0);
  const nRot = r.optionalInteger('rope.dimension_count', headDim);
  const nFf = r.integer('feed_forward_length');
  const eps = r.number('attention.layer_norm_epsilon');
  r.require(Number.isInteger(headDim) && headDim > 0, `head size ${headDim} is not a positive integer`);
  r.require(nHead > 0 && nHeadKv > 0 && nHead % nHeadKv === 0, `${nHead} heads cannot share ${nHeadKv} KV heads`);
  r.require(nRot > 0 && nRot % 2 === 0 && nRot <= headDim, `RoPE dimensions ${nRot} for head size ${headDim}`);

  const d = new WeightDeclarations(file, 'starcoder2');
  const vocabSize = file.tensor('token_embd.weight')?.shape[1] ?? 0;
  const tokenEmbd = d.required('token_embd.weight', [nEmbd, vocabSize]);
  const output = d.optional('output.weight', [nEmbd, vocabSize]) ?? tokenEmbd;
  const outputNorm = { weight: d.required('output_norm.weight', [nEmbd]), bias: d.required('output_norm.bias', [nEmbd]) };
  const rope = { headDim, nRot, mode: 'neox' as const, freqBase: r.optionalNumber('rope.freq_base', 10000), freqScale: r.ropeFreqScale() };
  const qWidth = nHead * headDim;
  const kvWidth = nHeadKv * headDim;
  const layers = Array.from({ length: nLayer }, (_, l) => {
    // Every tensor of a layer has a weight and a bias (llama.cpp requires them all).
    const w = (name: string, shape: number[]) => d.required(`blk.${l}.${name}.weight`, shape);
    const b = (name: string, n: number) => d.required(`blk.${l}.${name}.bias`, [n]);
    return {
      attnNorm: { weight: w('attn_norm', [nEmbd]), bias: b('attn_norm', nEmbd) },
      attn: {
        q: w('attn_q', [nEmbd, qWidth]),
        k: w('attn_k', [nEmbd, kvWidth]),
        v: w('attn_v', [nEmbd, kvWidth]),
        qBias: b('attn_q', qWidth),
        kBias: b('attn_k', kvWidth),
        vBias: b('attn_v', kvWidth),
        output: w('attn_output', [qWidth, nEmbd]),
        outputBias: b('attn_output', nEmbd),
      },
      ffnNorm: { weight: w('ffn_norm', [nEmbd]), bias: b('ffn_norm', nEmbd) },
      ffn: { up: w('ffn_up', [nEmbd, nFf]), upBias: b('ffn_up', nFf), down: w('ffn_down', [nFf, nEmbd]), downBias: b('ffn_down', nEmbd) },
    };
  });

  const buildGraph = (step: StepShape) => {
    const g = new GraphBuilder(step.nTokens);
    let x: GraphNode = g.embed('inp_embd', tokenEmbd);
    layers.forEach((w, il) => {
      g.layer(il);
      const h = g.layerNorm('attn_norm', x, w.attnNorm.weight, w.attnNorm.bias, eps);
      let a = selfAttention(g, h, w.attn, { layer: il, nHead, nKvHead: nHeadKv, headDim, rope, normEps: eps });
      if (il === nLayer - 1 && wantsLastOnly(step)) [a, x] = lastTokenOnly(g, [a, x]) as [GraphNode, GraphNode];
      x = g.add('ffn_inp', x, a);
      const f = geluMlp(g, g.layerNorm('ffn_norm', x, w.ffnNorm.weight, w.ffnNorm.bias, eps), w.ffn);
      x = g.add('l_out', x, f);
    });
    g.layer(-1);
    x = g.layerNorm('result_norm', x, outputNorm.weight, outputNorm.bias, eps);
    return g.finish(g.matmul('result_output', x, output));
  };

  return {
    arch: 'starcoder2',
    contextLength: r.integer('context_length'),
    vocabSize,
    tensors: d.tensors,
    kvLayers: layers.map(() => ({ nKvHead: nHeadKv, headDim, rope: { ...rope, nHead: nHeadKv } })),
    buildGraph,
  };
}
