/**
 * The Gemma family (Gemma 1, 2 and 3): token embeddings × √n_embd, RMSNorm whose stored weights
 * already hold HF's (1 + w), Q scaled after NEOX RoPE instead of the scores, GELU-gated FFN, and
 * an output always tied to the embeddings. Gemma 2 adds post-attention/post-FFN norms, soft-capping
 * and a sliding window on every other layer; Gemma 3 adds per-head Q/K norms and a 5:1 pattern of
 * local (windowed, own RoPE base) and global layers. One builder; each version only says how.
 */
import type { GGUFFile } from '../gguf/reader.js';
import { GraphBuilder, type GraphNode, type RopeParams } from '../backends/graph.js';
import type { ModelDefinition, StepShape } from './model.js';
import { HParamReader } from './hparams.js';
import { WeightDeclarations } from './weights.js';
import { gatedFfn, lastTokenOnly, selfAttention, wantsLastOnly } from './blocks.js';

type GemmaArch = 'gemma' | 'gemma2' | 'gemma3';

/** Hyper-parameters every version reads the same way. */
interface GemmaShape {
  readonly r: HParamReader;
  readonly nEmbd: number;
  readonly nLayer: number;
  readonly nHead: number;
  readonly nHeadKv: number;
  /** From key_length: n_head·hd need not equal n_embd. */
  readonly headDim: number;
  readonly nRot: number;
  readonly eps: number;
}

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

function readShape(file: GGUFFile, arch: GemmaArch): GemmaShape {
  const r: HParamReader = new HParamReader(file, arch);
  const nEmbd = r.integer('embedding_length');
  const nLayer = r.integer('block_count');
  const nHead = r.integer('attention.head_count');
  const nHeadKv = r.optionalInteger('attention.head_count_kv', nHead);
  const headDim = r.optionalInteger('attention.key_length', nHead > 0 ? nEmbd / nHead : 0);
  const nRot = r.optionalInteger('rope.dimension_count', headDim);
  r.require(nEmbd > 0 && nLayer > 0, `${nLayer} layers of width ${nEmbd}`);
  r.require(Number.isInteger(headDim) && headDim > 0, `head size ${headDim} is not a positive integer`);
  r.require(r.optionalInteger('attention.value_length', headDim) === headDim, 'value_length differs from key_length');
  r.require(nHead > 0 && nHeadKv > 0 && nHead % nHeadKv === 0, `${nHead} heads cannot share ${nHeadKv} KV heads`);
  r.require(nRot > 0 && nRot % 2 === 0 && nRot <= headDim, `RoPE dimensions ${nRot} for head size ${headDim}`);
  return { r, nEmbd, nLayer, nHead, nHeadKv, headDim, nRot, eps: r.number('attention.layer_norm_rms_epsilon') };
}

/** A soft-cap value; 0 turns it off. */
function softcapOf(r: HParamReader, name: string, fallback: number): number {
  const cap = r.optionalNumber(name, fallback);
  r.require(cap >= 0, `${r.arch}.${name} is negative`);
  return cap;
}

function defineGemmaFamily(file: GGUFFile, arch: GemmaArch, s: GemmaShape, v: GemmaVariant): ModelDefinition {
  const { r, nEmbd, nLayer, nHead, nHeadKv, headDim, nRot, eps } = s;
  const nFf = r.integer('feed_forward_length');
  const d = new WeightDeclarations(file, arch);
  const vocabSize = file.tensor('token_embd.weight')?.shape[1] ?? 0;
  // Always tied: llama.cpp ignores any output.weight for these archs.
  const tokenEmbd = d.required('token_embd.weight', [nEmbd, vocabSize]);
  const outputNorm = d.required('output_norm.weight', [nEmbd]);
  const ropes: Omit<RopeParams, 'nHead'>[] = Array.from({ length: nLayer }, (_, il) => {
    const { freqBase, freqScale } = v.layer(il);
    return { headDim, nRot, mode: 'neox', freqBase, freqScale };
  });
  const layers = Array.from({ length: nLayer }, (_, l) => {
    const b = (name: string, shape: number[]) => d.required(`blk.${l}.${name}.weight`, shape);
    return {
      attnNorm: b('attn_norm', [nEmbd]),
      attn: {
        q: b('attn_q', [nEmbd, nHead * headDim]),
        k: b('attn_k', [nEmbd, nHeadKv * headDim]),
        v: b('attn_v', [nEmbd, nHeadKv * headDim]),
        qNorm: v.qkNorm ? b('attn_q_norm', [headDim]) : undefined,
        kNorm: v.qkNorm ? b('attn_k_norm', [headDim]) : undefined,
        output: b('attn_output', [nHead * headDim, nEmbd]),
      },
      postAttnNorm: v.postNorms ? b('post_attention_norm', [nEmbd]) : undefined,
      ffnNorm: b('ffn_norm', [nEmbd]),
      ffn: { gate: b('ffn_gate', [nEmbd, nFf]), up: b('ffn_up', [nEmbd, nFf]), down: b('ffn_down', [nFf, nEmbd]) },
      postFfnNorm: v.postNorms ? b('post_ffw_norm', [nEmbd]) : undefined,
    };
  });

  const buildGraph = (step: StepShape) => {
    const g = new GraphBuilder(step.nTokens);
    // sqrtf(n_embd) in f32, as llama.cpp scales the embeddings.
    let x: GraphNode = g.scale('inp_scaled', g.embed('inp_embd', tokenEmbd), Math.fround(Math.sqrt(nEmbd)));
    layers.forEach((w, il) => {
      g.layer(il);
      let a = selfAttention(g, g.rmsNorm('attn_norm', x, w.attnNorm, eps), w.attn, {
        layer: il,
        nHead,
        nKvHead: nHeadKv,
        headDim,
        rope: ropes[il],
        normEps: eps,
        qScale: v.qScale,
        window: v.layer(il).window,
        softcap: v.attnSoftcap,
      });
      if (il === nLayer - 1 && wantsLastOnly(step)) [a, x] = lastTokenOnly(g, [a, x]) as [GraphNode, GraphNode];
      if (w.postAttnNorm) a = g.rmsNorm('attn_post_norm', a, w.postAttnNorm, eps);
      x = g.add('sa_out', x, a);
      let f = gatedFfn(g, g.rmsNorm('ffn_norm', x, w.ffnNorm, eps), w.ffn, 'gelu');
      if (w.postFfnNorm) f = g.rmsNorm('ffn_post_norm', f, w.postFfnNorm, eps);
      x = g.add('l_out', x, f);
    });
    g.layer(-1);
    const logits = g.matmul('result_output', g.rmsNorm('result_norm', x, outputNorm, eps), tokenEmbd);
    return g.finish(v.finalSoftcap > 0 ? g.softcap('result_output_capped', logits, v.finalSoftcap) : logits);
  };

  return {
    arch,
    contextLength: r.integer('context_length'),
    vocabSize,
    tensors: d.tensors,
    kvLayers: ropes.map((rope) => ({ nKvHead: nHeadKv, headDim, rope: { ...rope, nHead: nHeadKv } })),
    buildGraph,
  };
}

export function defineGemma(file: GGUFFile): ModelDefinition {
  const s = readShape(file, 'gemma');
  const rope = { window: 0, freqBase: s.r.optionalNumber('rope.freq_base', 10000), freqScale: s.r.ropeFreqScale() };
  return defineGemmaFamily(file, 'gemma', s, {
    postNorms: false,
    qkNorm: false,
    qScale: 1 / Math.sqrt(s.headDim),
    attnSoftcap: 0,
    finalSoftcap: 0,
    layer: () => rope,
  });
}

export function defineGemma2(file: GGUFFile): ModelDefinition {
  const s = readShape(file, 'gemma2');
  const { r } = s;
  // llama.cpp's defaults when the keys are absent: Gemma 2's window 4096 and caps 50 / 30.
  const nSwa = r.optionalInteger('attention.sliding_window', 4096);
  const freqBase = r.optionalNumber('rope.freq_base', 10000);
  const freqScale = r.ropeFreqScale();
  // llama.cpp knows the Q scale only for 26/42 layers (1/√key_length) and 46 (27B: 1/√(n_embd/
  // n_head)) and aborts otherwise; we take 1/√key_length, which is HF's default
  // (query_pre_attn_scalar = head_dim) and what the smaller models use.
  const qScale = s.nLayer === 46 ? 1 / Math.sqrt(s.nEmbd / s.nHead) : 1 / Math.sqrt(s.headDim);
  return defineGemmaFamily(file, 'gemma2', s, {
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
  const s = readShape(file, 'gemma3');
  const { r } = s;
  // Without a window every layer is global (llama.cpp's non-SWA gemma3 graph).
  const nSwa = r.optionalInteger('attention.sliding_window', 0);
  // Layer il is local iff il % pattern < pattern - 1 (pattern 0: all local), as llama.cpp's
  // set_swa_pattern; Gemma 3 is 5 local : 1 global.
  const pattern = r.optionalInteger('attention.sliding_window_pattern', 6);
  const isLocal = (il: number) => nSwa > 0 && (pattern === 0 || il % pattern < pattern - 1);
  // Local layers: their own base (10000 unless the file says) and no scaling; global layers: the
  // model's base and scaling.
  const local = { window: nSwa, freqBase: r.optionalNumber('rope.freq_base_swa', 10000), freqScale: 1 };
  const global = { window: 0, freqBase: r.optionalNumber('rope.freq_base', 10000), freqScale: r.ropeFreqScale() };
  // As for gemma2, the 27B (62 layers) scales Q by 1/√(n_embd/n_head); the others by 1/√key_length.
  const qScale = s.nLayer === 62 ? 1 / Math.sqrt(s.nEmbd / s.nHead) : 1 / Math.sqrt(s.headDim);
  // Real Gemma 3 has no final soft-cap; when a file sets one, the llama.cpp graph the reference
  // describes (README 5.4) applies it only without a sliding window.
  const finalSoftcap = nSwa > 0 ? 0 : softcapOf(r, 'final_logit_softcapping', 0);
  return defineGemmaFamily(file, 'gemma3', s, {
    postNorms: true,
    qkNorm: true,
    qScale,
    attnSoftcap: 0,
    finalSoftcap,
    layer: (il) => (isLocal(il) ? local : global),
  });
}
