/**
 * The llama family (llama, and Mistral-style models that use the llama architecture in GGUF):
 * RMSNorm, grouped-query attention with NORM RoPE (the converter permuted Q/K rows for it),
 * SiLU-gated FFN, tied or separate output.
 */
import { WasmChordError } from '../errors.js';
import type { GGUFFile } from '../gguf/reader.js';
import { GraphBuilder, type Graph, type GraphNode, type RopeParams, type WeightHandle } from '../backends/graph.js';
import type { ModelDefinition, StepOptions, WeightMap } from './model.js';
import { HParamReader } from './hparams.js';

export interface LlamaHParams {
  readonly nEmbd: number;
  readonly nLayer: number;
  readonly nHead: number;
  readonly nHeadKv: number;
  readonly headDim: number;
  readonly nFf: number;
  readonly nRot: number;
  readonly ropeBase: number;
  readonly ropeFreqScale: number;
  readonly rmsEps: number;
  readonly contextLength: number;
  readonly vocabSize: number;
}

function readHParams(file: GGUFFile): LlamaHParams {
  const r: HParamReader = new HParamReader(file, 'llama');
  if (r.optionalInteger('expert_count', 0) > 0) {
    throw new WasmChordError('MODEL_UNSUPPORTED', 'mixture-of-experts llama models (Mixtral) are not supported yet');
  }
  const nEmbd = r.integer('embedding_length');
  const nHead = r.integer('attention.head_count');
  const headDim = r.optionalInteger('attention.key_length', nHead > 0 ? nEmbd / nHead : 0);
  const scaling = r.optionalString('rope.scaling.type', 'none');
  let ropeFreqScale = 1;
  if (scaling === 'linear') {
    ropeFreqScale = 1 / r.positive('rope.scaling.factor');
  } else if (scaling !== 'none') {
    throw new WasmChordError('MODEL_UNSUPPORTED', `RoPE scaling "${scaling}" is not supported yet (linear is)`);
  }
  const embd = r.tensor('token_embd.weight');
  const hp: LlamaHParams = {
    nEmbd,
    nLayer: r.integer('block_count'),
    nHead,
    nHeadKv: r.optionalInteger('attention.head_count_kv', nHead),
    headDim,
    nFf: r.integer('feed_forward_length'),
    nRot: r.optionalInteger('rope.dimension_count', headDim),
    ropeBase: r.optionalNumber('rope.freq_base', 10000),
    ropeFreqScale,
    rmsEps: r.number('attention.layer_norm_rms_epsilon'),
    contextLength: r.integer('context_length'),
    vocabSize: embd.shape[1] ?? 0,
  };
  r.require(Number.isInteger(hp.headDim) && hp.headDim > 0, `head size ${hp.headDim} is not a positive integer`);
  r.require(hp.nHeadKv > 0 && hp.nHead % hp.nHeadKv === 0, `${hp.nHead} heads cannot share ${hp.nHeadKv} KV heads`);
  r.require(hp.nRot > 0 && hp.nRot % 2 === 0 && hp.nRot <= hp.headDim, `RoPE dimensions ${hp.nRot} for head size ${hp.headDim}`);
  return hp;
}

/** Tensor names and the shapes the hyper-parameters require of them. */
function expectedTensors(hp: LlamaHParams, file: GGUFFile): Map<string, number[] | undefined> {
  const { nEmbd, nHead, nHeadKv, headDim, nFf, vocabSize } = hp;
  const t = new Map<string, number[] | undefined>([
    ['token_embd.weight', [nEmbd, vocabSize]],
    ['output_norm.weight', [nEmbd]],
  ]);
  if (file.tensor('output.weight')) t.set('output.weight', [nEmbd, vocabSize]);
  if (file.tensor('rope_freqs.weight')) t.set('rope_freqs.weight', [hp.nRot / 2]);
  for (let l = 0; l < hp.nLayer; l++) {
    const b = `blk.${l}`;
    t.set(`${b}.attn_norm.weight`, [nEmbd]);
    t.set(`${b}.attn_q.weight`, [nEmbd, nHead * headDim]);
    t.set(`${b}.attn_k.weight`, [nEmbd, nHeadKv * headDim]);
    t.set(`${b}.attn_v.weight`, [nEmbd, nHeadKv * headDim]);
    t.set(`${b}.attn_output.weight`, [nHead * headDim, nEmbd]);
    t.set(`${b}.ffn_norm.weight`, [nEmbd]);
    t.set(`${b}.ffn_gate.weight`, [nEmbd, nFf]);
    t.set(`${b}.ffn_up.weight`, [nEmbd, nFf]);
    t.set(`${b}.ffn_down.weight`, [nFf, nEmbd]);
  }
  return t;
}

export function defineLlama(file: GGUFFile): ModelDefinition {
  const hp = readHParams(file);
  const tensors = new HParamReader(file, 'llama').checkTensors(expectedTensors(hp, file));
  return {
    arch: 'llama',
    contextLength: hp.contextLength,
    vocabSize: hp.vocabSize,
    tensors,
    kvLayers: Array.from({ length: hp.nLayer }, () => ({ nKvHead: hp.nHeadKv, headDim: hp.headDim })),
    buildGraph: (weights, step) => buildGraph(hp, weights, step),
  };
}

function buildGraph(hp: LlamaHParams, w: WeightMap, step: StepOptions): Graph {
  const g = new GraphBuilder(step.nTokens, step.pos0);
  const rope = (nHead: number): RopeParams => ({
    nHead,
    headDim: hp.headDim,
    nRot: hp.nRot,
    mode: 'norm',
    freqBase: hp.ropeBase,
    freqScale: hp.ropeFreqScale,
    freqFactors: w.optional('rope_freqs.weight'),
  });
  const lastOnly = !step.allLogits && step.nTokens > 1;
  let x: GraphNode = g.embed(w.get('token_embd.weight'));
  for (let l = 0; l < hp.nLayer; l++) {
    const b = (name: string): WeightHandle => w.get(`blk.${l}.${name}.weight`);
    const h = g.rmsNorm(x, b('attn_norm'), hp.rmsEps);
    const q = g.rope(g.matmul(h, b('attn_q')), rope(hp.nHead));
    const k = g.rope(g.matmul(h, b('attn_k')), rope(hp.nHeadKv));
    const v = g.matmul(h, b('attn_v'));
    let a = g.attention(q, k, v, {
      layer: l,
      nHead: hp.nHead,
      nKvHead: hp.nHeadKv,
      headDim: hp.headDim,
      scale: 1 / Math.sqrt(hp.headDim),
      window: 0,
      softcap: 0,
    });
    if (lastOnly && l === hp.nLayer - 1) {
      // Past the last attention only the last token's row matters.
      a = g.rows(a, step.nTokens - 1, 1);
      x = g.rows(x, step.nTokens - 1, 1);
    }
    x = g.add(x, g.matmul(a, b('attn_output')));
    const f = g.rmsNorm(x, b('ffn_norm'), hp.rmsEps);
    x = g.add(x, g.matmul(g.swiglu(g.matmul(f, b('ffn_gate')), g.matmul(f, b('ffn_up'))), b('ffn_down')));
  }
  x = g.rmsNorm(x, w.get('output_norm.weight'), hp.rmsEps);
  return g.finish(g.matmul(x, w.optional('output.weight') ?? w.get('token_embd.weight')));
}
