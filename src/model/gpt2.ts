/**
 * GPT-2: learned position embeddings added to the token embeddings (no RoPE), LayerNorm with bias,
 * fused QKV with bias, a plain GELU MLP with biases, and a separate output matrix.
 */
import type { GGUFFile } from '../gguf/reader.js';
import { GraphBuilder, type GraphNode } from '../backends/graph.js';
import type { ModelDefinition, StepShape } from './model.js';
import { HParamReader } from './hparams.js';
import { WeightDeclarations } from './weights.js';
import { geluMlp, lastTokenOnly, selfAttention, wantsLastOnly } from './blocks.js';

export function defineGpt2(file: GGUFFile): ModelDefinition {
  const r: HParamReader = new HParamReader(file, 'gpt2');
  const nEmbd = r.integer('embedding_length');
  const nLayer = r.integer('block_count');
  const nHead = r.integer('attention.head_count');
  const nHeadKv = r.optionalInteger('attention.head_count_kv', nHead);
  const nFf = r.integer('feed_forward_length');
  const nCtx = r.integer('context_length');
  const eps = r.number('attention.layer_norm_epsilon');
  const headDim = nHead > 0 ? nEmbd / nHead : 0;
  r.require(Number.isInteger(headDim) && headDim > 0, `${nHead} heads do not divide ${nEmbd}`);
  r.require(nHeadKv > 0 && nHead % nHeadKv === 0, `${nHead} heads cannot share ${nHeadKv} KV heads`);
  r.require(nCtx > 0, 'context_length is 0');

  const d = new WeightDeclarations(file, 'gpt2');
  const vocabSize = file.tensor('token_embd.weight')?.shape[1] ?? 0;
  const tokenEmbd = d.required('token_embd.weight', [nEmbd, vocabSize]);
  // One learned row per trained position (as llama.cpp requires): the context cannot go further.
  const positionEmbd = d.required('position_embd.weight', [nEmbd, nCtx]);
  const output = d.required('output.weight', [nEmbd, vocabSize]);
  const outputNorm = { weight: d.required('output_norm.weight', [nEmbd]), bias: d.required('output_norm.bias', [nEmbd]) };
  const qkvWidth = (nHead + 2 * nHeadKv) * headDim;
  const layers = Array.from({ length: nLayer }, (_, l) => {
    const w = (name: string, shape: number[]) => d.required(`blk.${l}.${name}.weight`, shape);
    const b = (name: string, n: number) => d.required(`blk.${l}.${name}.bias`, [n]);
    return {
      attnNorm: { weight: w('attn_norm', [nEmbd]), bias: b('attn_norm', nEmbd) },
      attn: {
        qkv: w('attn_qkv', [nEmbd, qkvWidth]),
        qkvBias: b('attn_qkv', qkvWidth),
        output: w('attn_output', [nEmbd, nEmbd]),
        outputBias: b('attn_output', nEmbd),
      },
      ffnNorm: { weight: w('ffn_norm', [nEmbd]), bias: b('ffn_norm', nEmbd) },
      ffn: { up: w('ffn_up', [nEmbd, nFf]), upBias: b('ffn_up', nFf), down: w('ffn_down', [nFf, nEmbd]), downBias: b('ffn_down', nEmbd) },
    };
  });

  const buildGraph = (step: StepShape) => {
    const g = new GraphBuilder(step.nTokens);
    let x: GraphNode = g.add('inpL', g.embed('inp_embd', tokenEmbd), g.positionEmbed('pos_embd', positionEmbd));
    layers.forEach((w, il) => {
      g.layer(il);
      const h = g.layerNorm('attn_norm', x, w.attnNorm.weight, w.attnNorm.bias, eps);
      let a = selfAttention(g, h, w.attn, { layer: il, nHead, nKvHead: nHeadKv, headDim, normEps: eps });
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
    arch: 'gpt2',
    contextLength: nCtx,
    maxPositions: nCtx,
    vocabSize,
    tensors: d.tensors,
    // No RoPE: cached keys carry no position, and a context shift cannot re-position them.
    kvLayers: layers.map(() => ({ nKvHead: nHeadKv, headDim })),
    buildGraph,
  };
}
