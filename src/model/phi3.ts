/**
 * Phi-3 (phi3): RMSNorm, one fused Q|K|V projection, NEOX RoPE with Q scaled by 1/sqrt(hd) after
 * it (as llama.cpp does, instead of scaling the scores), a fused [gate | up] projection with the
 * gate first, a separate output matrix, and a sliding window on every layer when the file sets
 * `phi3.attention.sliding_window` > 0 (llama.cpp c392e50).
 */
import { WasmChordError } from '../errors.js';
import type { GGUFFile } from '../gguf/reader.js';
import type { ModelDefinition } from './model.js';
import { HParamReader } from './hparams.js';
import { WeightDeclarations } from './weights.js';
import { decoderModel, fusedGatedFfn, type DecoderLayer } from './blocks.js';

export function definePhi3(file: GGUFFile): ModelDefinition {
  const r: HParamReader = new HParamReader(file, 'phi3');
  const { nEmbd, nLayer, nHead, nHeadKv, headDim, nRot } = r.attentionShape();
  const nFf = r.integer('feed_forward_length');
  const eps = r.epsilon('attention.layer_norm_rms_epsilon');
  const window = r.optionalInteger('attention.sliding_window', 0);

  const d = new WeightDeclarations(file, 'phi3');
  // Phi-3 128k / Phi-3.5 use LongRoPE (per-frequency factors chosen by context size, plus an
  // attention factor), which the RoPE op does not model.
  if (d.has('rope_factors_long.weight') || d.has('rope_factors_short.weight')) {
    throw new WasmChordError('MODEL_UNSUPPORTED', 'phi3 model: LongRoPE (rope_factors_long/short) is not supported yet');
  }
  const { vocabSize, tokenEmbd, output } = d.embeddings(nEmbd, 'required');
  const rope = r.rope('neox', headDim, nRot);
  const layers = Array.from({ length: nLayer }, (_, l): DecoderLayer => {
    const b = (name: string, shape: number[]) => d.required(`blk.${l}.${name}.weight`, shape);
    const ffn = { up: b('ffn_up', [nEmbd, 2 * nFf]), down: b('ffn_down', [nFf, nEmbd]) };
    return {
      attnNorm: { weight: b('attn_norm', [nEmbd]) },
      attn: { qkv: b('attn_qkv', [nEmbd, (nHead + 2 * nHeadKv) * headDim]), output: b('attn_output', [nHead * headDim, nEmbd]) },
      attnConfig: { layer: l, nHead, nKvHead: nHeadKv, headDim, rope, normEps: eps, qScale: 1 / Math.sqrt(headDim), window },
      ffnNorm: { weight: b('ffn_norm', [nEmbd]) },
      ffn: (g, x) => fusedGatedFfn(g, x, ffn, nFf, 'silu'),
    };
  });
  return decoderModel(
    { arch: 'phi3', contextLength: r.integer('context_length'), vocabSize },
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
