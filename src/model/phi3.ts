/**
 * Phi-3 (phi3): RMSNorm, one fused Q|K|V projection, NEOX RoPE with Q scaled by 1/sqrt(hd) after
 * it (as llama.cpp does, instead of scaling the scores), a fused [gate | up] projection with the
 * gate first, a separate output matrix, and a sliding window on every layer when the file sets
 * `phi3.attention.sliding_window` > 0 (llama.cpp c392e50).
 */
import { WasmChordError } from '../errors.js';
import type { GGUFFile } from '../gguf/reader.js';
import { GraphBuilder, type GraphNode } from '../backends/graph.js';
import type { ModelDefinition, StepShape } from './model.js';
import { HParamReader } from './hparams.js';
import { WeightDeclarations } from './weights.js';
import { fusedGatedFfn, lastTokenOnly, selfAttention, wantsLastOnly } from './blocks.js';

export function definePhi3(file: GGUFFile): ModelDefinition {
  const r: HParamReader = new HParamReader(file, 'phi3');
  const nEmbd = r.integer('embedding_length');
  const nLayer = r.integer('block_count');
  const nHead = r.integer('attention.head_count');
  const nHeadKv = r.optionalInteger('attention.head_count_kv', nHead);
  const headDim = nHead > 0 ? nEmbd / nHead : 0;
  const nRot = r.optionalInteger('rope.dimension_count', headDim);
  const nFf = r.integer('feed_forward_length');
  const eps = r.number('attention.layer_norm_rms_epsilon');
  const window = r.optionalInteger('attention.sliding_window', 0);
  r.require(Number.isInteger(headDim) && headDim > 0, `head size ${headDim} is not a positive integer`);
  r.require(nHeadKv > 0 && nHead % nHeadKv === 0, `${nHead} heads cannot share ${nHeadKv} KV heads`);
  r.require(nRot > 0 && nRot % 2 === 0 && nRot <= headDim, `RoPE dimensions ${nRot} for head size ${headDim}`);

  const d = new WeightDeclarations(file, 'phi3');
  // Phi-3 128k / Phi-3.5 use LongRoPE (per-frequency factors chosen by context size, plus an
  // attention factor), which the RoPE op does not model.
  if (d.has('rope_factors_long.weight') || d.has('rope_factors_short.weight')) {
    throw new WasmChordError('MODEL_UNSUPPORTED', 'phi3 model: LongRoPE (rope_factors_long/short) is not supported yet');
  }
  const vocabSize = file.tensor('token_embd.weight')?.shape[1] ?? 0;
  const tokenEmbd = d.required('token_embd.weight', [nEmbd, vocabSize]);
  const output = d.required('output.weight', [nEmbd, vocabSize]);
  const outputNorm = d.required('output_norm.weight', [nEmbd]);
  const rope = {
    headDim,
    nRot,
    mode: 'neox' as const,
    freqBase: r.optionalNumber('rope.freq_base', 10000),
    freqScale: r.ropeFreqScale(),
  };
  const qkvWidth = (nHead + 2 * nHeadKv) * headDim;
  const layers = Array.from({ length: nLayer }, (_, l) => {
    const b = (name: string, shape: number[]) => d.required(`blk.${l}.${name}.weight`, shape);
    return {
      attnNorm: b('attn_norm', [nEmbd]),
      attn: { qkv: b('attn_qkv', [nEmbd, qkvWidth]), output: b('attn_output', [nHead * headDim, nEmbd]) },
      ffnNorm: b('ffn_norm', [nEmbd]),
      ffn: { up: b('ffn_up', [nEmbd, 2 * nFf]), down: b('ffn_down', [nFf, nEmbd]) },
    };
  });
  const attnConfig = { nHead, nKvHead: nHeadKv, headDim, rope, normEps: eps, qScale: 1 / Math.sqrt(headDim), window };

  const buildGraph = (step: StepShape) => {
    const g = new GraphBuilder(step.nTokens);
    let x: GraphNode = g.embed('inp_embd', tokenEmbd);
    layers.forEach((w, il) => {
      g.layer(il);
      let a = selfAttention(g, g.rmsNorm('attn_norm', x, w.attnNorm, eps), w.attn, { ...attnConfig, layer: il });
      if (il === nLayer - 1 && wantsLastOnly(step)) [a, x] = lastTokenOnly(g, [a, x]) as [GraphNode, GraphNode];
      x = g.add('ffn_inp', x, a);
      x = g.add('l_out', x, fusedGatedFfn(g, g.rmsNorm('ffn_norm', x, w.ffnNorm, eps), w.ffn, nFf, 'silu'));
    });
    g.layer(-1);
    x = g.rmsNorm('result_norm', x, outputNorm, eps);
    return g.finish(g.matmul('result_output', x, output));
  };

  return {
    arch: 'phi3',
    contextLength: r.integer('context_length'),
    vocabSize,
    tensors: d.tensors,
    kvLayers: layers.map(() => ({ nKvHead: nHeadKv, headDim, rope: { ...rope, nHead: nHeadKv } })),
    buildGraph,
  };
}
