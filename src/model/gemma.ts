/**
 * The Gemma family (Gemma 1, 2 and 3): token embeddings × √n_embd, RMSNorm whose stored weights
 * already hold HF's (1 + w), Q scaled after NEOX RoPE instead of the scores, GELU-gated FFN, and
 * an output always tied to the embeddings. Gemma 2 adds post-attention/post-FFN norms, soft-capping
 * and a sliding window on every other layer; Gemma 3 adds per-head Q/K norms and a 5:1 pattern of
 * local (windowed, own RoPE base) and global layers. One builder; each version only says how.
 */
import type { GGUFFile } from '../gguf/reader.js';
import type { RopeParams } from '../backends/graph.js';
import type { ModelDefinition } from './model.js';
import { HParamReader, type AttentionShape } from './hparams.js';
import { WeightDeclarations } from './weights.js';
import { decoderModel, gatedFfn, type DecoderLayer } from './blocks.js';

type GemmaArch = 'gemma' | 'gemma2' | 'gemma3';

/** What differs between the versions. */
interface GemmaVariant {
  /** post_attention_norm and post_ffw_norm (Gemma 2 and 3). */
  readonly postNorms: boolean;
  /** Per-head attn_q_norm / attn_k_norm (Gemma 3). */
  readonly qkNorm: boolean;
  /** Multiplies Q after RoPE. */
  readonly qScale: number;
  /** Soft-cap of attention scores, 0 = none. */
  readonly attnSoftcap: number;
  /** Soft-cap of the logits, 0 = none. */
  readonly finalSoftcap: number;
  /** Sliding window (0 = none) and RoPE frequencies of layer il. */
  layer(il: number): { window: number; freqBase: number; freqScale: number };
}

/** A soft-cap value; 0 turns it off. */
function softcapOf(r: HParamReader, name: string, fallback: number): number {
  const cap = r.optionalNumber(name, fallback);
  r.require(cap >= 0, `${r.arch}.${name} is negative`);
  return cap;
}

function defineGemmaFamily(file: GGUFFile, arch: GemmaArch, r: HParamReader, s: AttentionShape, v: GemmaVariant): ModelDefinition {
  const { nEmbd, nLayer, nHead, nHeadKv, headDim, nRot } = s;
  const eps = r.epsilon('attention.layer_norm_rms_epsilon');
  const nFf = r.integer('feed_forward_length');
  const d = new WeightDeclarations(file, arch);
  // Always tied: llama.cpp ignores any output.weight for these archs.
  const { vocabSize, tokenEmbd, output } = d.embeddings(nEmbd, 'tied');
  const layers = Array.from({ length: nLayer }, (_, l): DecoderLayer => {
    const b = (name: string, shape: number[]) => d.required(`blk.${l}.${name}.weight`, shape);
    const { window, freqBase, freqScale } = v.layer(l);
    const rope: Omit<RopeParams, 'nHead'> = { headDim, nRot, mode: 'neox', freqBase, freqScale };
    const ffn = { gate: b('ffn_gate', [nEmbd, nFf]), up: b('ffn_up', [nEmbd, nFf]), down: b('ffn_down', [nFf, nEmbd]) };
    return {
      attnNorm: { weight: b('attn_norm', [nEmbd]) },
      attn: {
        q: b('attn_q', [nEmbd, nHead * headDim]),
        k: b('attn_k', [nEmbd, nHeadKv * headDim]),
        v: b('attn_v', [nEmbd, nHeadKv * headDim]),
        qNorm: v.qkNorm ? b('attn_q_norm', [headDim]) : undefined,
        kNorm: v.qkNorm ? b('attn_k_norm', [headDim]) : undefined,
        output: b('attn_output', [nHead * headDim, nEmbd]),
      },
      attnConfig: { layer: l, nHead, nKvHead: nHeadKv, headDim, rope, normEps: eps, qScale: v.qScale, window, softcap: v.attnSoftcap },
      postAttnNorm: v.postNorms ? { weight: b('post_attention_norm', [nEmbd]) } : undefined,
      ffnNorm: { weight: b('ffn_norm', [nEmbd]) },
      ffn: (g, x) => gatedFfn(g, x, ffn, 'gelu'),
      postFfnNorm: v.postNorms ? { weight: b('post_ffw_norm', [nEmbd]) } : undefined,
    };
  });
  return decoderModel(
    { arch, contextLength: r.integer('context_length'), vocabSize },
    d,
    {
      normKind: 'rms',
      eps,
      // sqrtf(n_embd) in f32, as llama.cpp scales the embeddings.
      tokenEmbd,
      input: (g, x) => g.scale('inp_scaled', x, Math.fround(Math.sqrt(nEmbd))),
      layers,
      outputNorm: { weight: d.required('output_norm.weight', [nEmbd]) },
      output,
      finalSoftcap: v.finalSoftcap,
    },
  );
}

export function defineGemma(file: GGUFFile): ModelDefinition {
  const r = new HParamReader(file, 'gemma');
  const s = r.attentionShape();
  const rope = { window: 0, freqBase: r.optionalPositive('rope.freq_base', 10000), freqScale: r.ropeFreqScale() };
  return defineGemmaFamily(file, 'gemma', r, s, {
    postNorms: false,
    qkNorm: false,
    qScale: 1 / Math.sqrt(s.headDim),
    attnSoftcap: 0,
    finalSoftcap: 0,
    layer: () => rope,
  });
}

export function defineGemma2(file: GGUFFile): ModelDefinition {
  const r = new HParamReader(file, 'gemma2');
  const s = r.attentionShape();
  // llama.cpp's defaults when the keys are absent: Gemma 2's window 4096 and caps 50 / 30.
  const nSwa = r.optionalInteger('attention.sliding_window', 4096);
  const freqBase = r.optionalPositive('rope.freq_base', 10000);
  const freqScale = r.ropeFreqScale();
  // llama.cpp knows the Q scale only for 26/42 layers (1/√key_length) and 46 (27B: 1/√(n_embd/
  // n_head)) and aborts otherwise; we take 1/√key_length, which is HF's default
  // (query_pre_attn_scalar = head_dim) and what the smaller models use.
  const qScale = s.nLayer === 46 ? 1 / Math.sqrt(s.nEmbd / s.nHead) : 1 / Math.sqrt(s.headDim);
  return defineGemmaFamily(file, 'gemma2', r, s, {
    postNorms: true,
    qkNorm: false,
    qScale,
    attnSoftcap: softcapOf(r, 'attn_logit_softcapping', 50),
    finalSoftcap: softcapOf(r, 'final_logit_softcapping', 30),
    // The window applies to even layers only.
    layer: (il) => ({ window: il % 2 === 0 ? nSwa : 0, freqBase, freqScale }),
  });
}

export function defineGemma3(file: GGUFFile): ModelDefinition {
  const r = new HParamReader(file, 'gemma3');
  const s = r.attentionShape();
  // Without a window every layer is global (llama.cpp's non-SWA gemma3 graph).
  const nSwa = r.optionalInteger('attention.sliding_window', 0);
  // Layer il is local iff il % pattern < pattern - 1 (pattern 0: all local), as llama.cpp's
  // set_swa_pattern; Gemma 3 is 5 local : 1 global.
  const pattern = r.optionalInteger('attention.sliding_window_pattern', 6);
  const isLocal = (il: number) => nSwa > 0 && (pattern === 0 || il % pattern < pattern - 1);
  // Local layers: their own base (10000 unless the file says) and no scaling; global layers: the
  // model's base and scaling.
  const local = { window: nSwa, freqBase: r.optionalPositive('rope.freq_base_swa', 10000), freqScale: 1 };
  const global = { window: 0, freqBase: r.optionalPositive('rope.freq_base', 10000), freqScale: r.ropeFreqScale() };
  // As for gemma2, the 27B (62 layers) scales Q by 1/√(n_embd/n_head); the others by 1/√key_length.
  const qScale = s.nLayer === 62 ? 1 / Math.sqrt(s.nEmbd / s.nHead) : 1 / Math.sqrt(s.headDim);
  // Real Gemma 3 has no final soft-cap; when a file sets one, the llama.cpp graph the reference
  // describes (README 5.4) applies it only without a sliding window.
  const finalSoftcap = nSwa > 0 ? 0 : softcapOf(r, 'final_logit_softcapping', 0);
  return defineGemmaFamily(file, 'gemma3', r, s, {
    postNorms: true,
    qkNorm: true,
    qScale,
    attnSoftcap: 0,
    finalSoftcap,
    layer: (il) => (isLocal(il) ? local : global),
  });
}
