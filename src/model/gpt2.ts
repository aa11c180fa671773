/**
 * The GPT-2 family: LayerNorm with bias, attention with biases, a plain GELU MLP with biases.
 * - gpt2: learned position embeddings added to the token embeddings (no RoPE), one fused Q|K|V
 *   projection, a separate output matrix.
 * - starcoder2: grouped-query attention with separate Q/K/V and NEOX RoPE, output tied when
 *   `output.weight` is absent.
 */
import type { GGUFFile } from '../gguf/reader.js';
import type { ModelDefinition } from './model.js';
import { HParamReader } from './hparams.js';
import { WeightDeclarations } from './weights.js';
import { decoderModel, geluMlp, type DecoderLayer } from './blocks.js';

/** A layer's weight and bias of the given sizes (llama.cpp requires every bias). */
function biased(d: WeightDeclarations, l: number) {
  const w = (name: string, shape: number[]) => d.required(`blk.${l}.${name}.weight`, shape);
  const b = (name: string, n: number) => d.required(`blk.${l}.${name}.bias`, [n]);
  return { w, b, norm: (name: string, n: number) => ({ weight: w(name, [n]), bias: b(name, n) }) };
}

/** The norms and the GELU MLP, which both architectures share. */
function mlpParts(d: WeightDeclarations, l: number, nEmbd: number, nFf: number): Pick<DecoderLayer, 'attnNorm' | 'ffnNorm' | 'ffn'> {
  const { w, b, norm } = biased(d, l);
  const mlp = { up: w('ffn_up', [nEmbd, nFf]), upBias: b('ffn_up', nFf), down: w('ffn_down', [nFf, nEmbd]), downBias: b('ffn_down', nEmbd) };
  return { attnNorm: norm('attn_norm', nEmbd), ffnNorm: norm('ffn_norm', nEmbd), ffn: (g, x) => geluMlp(g, x, mlp) };
}

export function defineGpt2(file: GGUFFile): ModelDefinition {
  const r: HParamReader = new HParamReader(file, 'gpt2');
  const { nEmbd, nLayer, nHead, nHeadKv, headDim } = r.attentionShape();
  const nFf = r.integer('feed_forward_length');
  const nCtx = r.integer('context_length');
  r.require(nCtx > 0, 'context_length is 0');
  const d = new WeightDeclarations(file, 'gpt2');
  const { vocabSize, tokenEmbd, output } = d.embeddings(nEmbd, 'required');
  // One learned row per trained position (as llama.cpp requires): the context cannot go further.
  const positionEmbd = d.required('position_embd.weight', [nEmbd, nCtx]);
  const qkvWidth = (nHead + 2 * nHeadKv) * headDim;
  const eps = r.epsilon('attention.layer_norm_epsilon');
  const layers = Array.from({ length: nLayer }, (_, l): DecoderLayer => {
    const { w, b } = biased(d, l);
    return {
      ...mlpParts(d, l, nEmbd, nFf),
      attn: { qkv: w('attn_qkv', [nEmbd, qkvWidth]), qkvBias: b('attn_qkv', qkvWidth), output: w('attn_output', [nHead * headDim, nEmbd]), outputBias: b('attn_output', nEmbd) },
      attnConfig: { layer: l, nHead, nKvHead: nHeadKv, headDim, normEps: eps },
    };
  });
  return decoderModel(
    {
      arch: 'gpt2',
      contextLength: nCtx,
      maxPositions: nCtx,
      vocabSize,
      // No RoPE: cached keys carry no position, and a context shift cannot re-position them.
    },
    d,
    {
      normKind: 'layer',
      eps,
      tokenEmbd,
      input: (g, x) => g.add('inpL', x, g.positionEmbed('pos_embd', positionEmbd)),
      layers,
      outputNorm: { weight: d.required('output_norm.weight', [nEmbd]), bias: d.required('output_norm.bias', [nEmbd]) },
      output,
    },
  );
}

export function defineStarcoder2(file: GGUFFile): ModelDefinition {
  const r: HParamReader = new HParamReader(file, 'starcoder2');
  const { nEmbd, nLayer, nHead, nHeadKv, headDim, nRot } = r.attentionShape();
  const nFf = r.integer('feed_forward_length');
  const eps = r.epsilon('attention.layer_norm_epsilon');
  const d = new WeightDeclarations(file, 'starcoder2');
  const { vocabSize, tokenEmbd, output } = d.embeddings(nEmbd, 'optional');
  const rope = r.rope('neox', headDim, nRot);
  const qWidth = nHead * headDim;
  const kvWidth = nHeadKv * headDim;
  const layers = Array.from({ length: nLayer }, (_, l): DecoderLayer => {
    const { w, b } = biased(d, l);
    return {
      ...mlpParts(d, l, nEmbd, nFf),
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
      attnConfig: { layer: l, nHead, nKvHead: nHeadKv, headDim, rope, normEps: eps },
    };
  });
  return decoderModel(
    { arch: 'starcoder2', contextLength: r.integer('context_length'), vocabSize },
    d,
    {
      normKind: 'layer',
      eps,
      tokenEmbd,
      layers,
      outputNorm: { weight: d.required('output_norm.weight', [nEmbd]), bias: d.required('output_norm.bias', [nEmbd]) },
      output,
    },
  );
}
