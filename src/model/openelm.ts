/**
 * Apple OpenELM (openelm): layer-wise scaling, so head counts and FFN widths are per-layer
 * arrays; a fused Q|K|V projection per layer; per-head RMSNorm of Q and K before NEOX RoPE; a
 * SiLU-gated FFN; the output always tied to the token embeddings (llama.cpp c392e50).
 */
import type { GGUFFile } from '../gguf/reader.js';
import type { ModelDefinition } from './model.js';
import { HParamReader } from './hparams.js';
import { WeightDeclarations } from './weights.js';
import { decoderModel, gatedFfn, type DecoderLayer } from './blocks.js';

export function defineOpenElm(file: GGUFFile): ModelDefinition {
  const r: HParamReader = new HParamReader(file, 'openelm');
  const nEmbd = r.integer('embedding_length');
  const nLayer = r.blockCount();
  const nHeads = r.perLayer('attention.head_count', nLayer);
  const nKvHeads = r.perLayer('attention.head_count_kv', nLayer);
  const nFfs = r.perLayer('feed_forward_length', nLayer);
  // The head size is shared by all layers (the converter writes key_length = head_dim).
  const headDim = r.integer('attention.key_length');
  const nRot = r.optionalInteger('rope.dimension_count', headDim);
  const eps = r.epsilon('attention.layer_norm_rms_epsilon');
  r.require(headDim > 0, 'head size 0');
  r.require(r.optionalInteger('attention.value_length', headDim) === headDim, 'value_length differs from key_length');
  r.require(nRot > 0 && nRot % 2 === 0 && nRot <= headDim, `RoPE dimensions ${nRot} for head size ${headDim}`);
  nHeads.forEach((nHead, l) => {
    const nKv = nKvHeads[l]!;
    r.require(nHead > 0 && nKv > 0 && nHead % nKv === 0, `layer ${l}: ${nHead} heads cannot share ${nKv} KV heads`);
    r.require(nFfs[l]! > 0, `layer ${l}: FFN width 0`);
  });

  const d = new WeightDeclarations(file, 'openelm');
  const { vocabSize, tokenEmbd, output } = d.embeddings(nEmbd, 'tied');
  const rope = r.rope('neox', headDim, nRot);
  const layers = nHeads.map((nHead, l): DecoderLayer => {
    const nKvHead = nKvHeads[l]!;
    const nFf = nFfs[l]!;
    const b = (name: string, shape: number[]) => d.required(`blk.${l}.${name}.weight`, shape);
    const ffn = { gate: b('ffn_gate', [nEmbd, nFf]), up: b('ffn_up', [nEmbd, nFf]), down: b('ffn_down', [nFf, nEmbd]) };
    return {
      attnNorm: { weight: b('attn_norm', [nEmbd]) },
      attn: {
        qkv: b('attn_qkv', [nEmbd, (nHead + 2 * nKvHead) * headDim]),
        qNorm: b('attn_q_norm', [headDim]),
        kNorm: b('attn_k_norm', [headDim]),
        output: b('attn_output', [nHead * headDim, nEmbd]),
      },
      attnConfig: { layer: l, nHead, nKvHead, headDim, rope, normEps: eps },
      ffnNorm: { weight: b('ffn_norm', [nEmbd]) },
      ffn: (g, x) => gatedFfn(g, x, ffn, 'silu'),
    };
  });
  return decoderModel(
    { arch: 'openelm', contextLength: r.integer('context_length'), vocabSize },
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
