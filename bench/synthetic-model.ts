/**
 * Writes llama-architecture GGUF models with random weights and realistic shapes, for speed
 * benchmarks: the text they produce is noise, but their cost per token is that of a real model
 * of the same shape. Generated on demand into bench/.cache (never committed).
 *
 * Speed does not depend on the weight values, so each distinct tensor shape is drawn and
 * quantized once and its bytes are reused by every layer: a model of any depth costs the time
 * of quantizing one layer plus the embeddings.
 *
 * Types: any ggml type the quantizers write ('q4_0', 'q8_0', 'f16', ...), one type for every
 * matrix, or 'q4_K_M': llama.cpp's Q4_K_M mix (see mixType).
 */
import { existsSync, mkdirSync } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { kv, writeGGUF, type GGUFKeyValue, type GGUFWriteTensor } from '../src/gguf/index.js';
import { quantize } from '../src/quant/index.js';
import { GGMLType, typeByName, type GGMLTypeId } from '../src/quant/types.js';
import { fillerSpmVocabularyEntries } from '../src/tokenizer/spm-entries.js';

export interface SyntheticShape {
  name: string;
  nEmbd: number;
  nLayer: number;
  nHead: number;
  nHeadKv: number;
  nFf: number;
  vocab: number;
  /** No output.weight: the output reuses token_embd (Llama 3.2 1B/3B). */
  tied?: boolean;
  ropeBase?: number;
}

/** About 350M parameters: the shape class of the small models people run in browsers. */
export const SHAPE_350M: SyntheticShape = { name: '350m', nEmbd: 1024, nLayer: 24, nHead: 16, nHeadKv: 4, nFf: 2816, vocab: 32000 };
/** TinyLlama-1.1B. */
export const SHAPE_TINYLLAMA: SyntheticShape = { name: 'tinyllama-1.1b', nEmbd: 2048, nLayer: 22, nHead: 32, nHeadKv: 4, nFf: 5632, vocab: 32000 };
/** Llama-3.2-1B (tied embeddings, 128k vocabulary). */
export const SHAPE_LLAMA32_1B: SyntheticShape = {
  name: 'llama3.2-1b',
  nEmbd: 2048,
  nLayer: 16,
  nHead: 32,
  nHeadKv: 8,
  nFf: 8192,
  vocab: 128256,
  tied: true,
  ropeBase: 500000,
};
/** Llama-2-7B (big: generated only when asked for). */
export const SHAPE_LLAMA2_7B: SyntheticShape = { name: 'llama2-7b', nEmbd: 4096, nLayer: 32, nHead: 32, nHeadKv: 32, nFf: 11008, vocab: 32000 };

/** The shapes by the names the benchmarks take on their command lines. */
export const SHAPES: Record<string, SyntheticShape> = {
  '350m': SHAPE_350M,
  tinyllama: SHAPE_TINYLLAMA,
  'llama3.2-1b': SHAPE_LLAMA32_1B,
  'llama2-7b': SHAPE_LLAMA2_7B,
};

export const CACHE_DIR = fileURLToPath(new URL('./.cache/', import.meta.url));

/** KV cache bytes of `shape` for `contextSize` tokens with f16 K and V. */
export function kvCacheBytes(shape: SyntheticShape, contextSize: number): number {
  return 2 * shape.nLayer * shape.nHeadKv * (shape.nEmbd / shape.nHead) * contextSize * 2;
}

/** llama.cpp's layer choice for the extra bits of Q4_K_M (use_more_bits in llama-quant.cpp). */
function useMoreBits(i: number, n: number): boolean {
  const eighth = Math.floor(n / 8);
  return i < eighth || i >= Math.floor((7 * n) / 8) || (i - eighth) % 3 === 2;
}

/**
 * The type llama.cpp's quantizer gives tensor `role` of layer `layer` in a Q4_K_M file: Q6_K for
 * the output matrix (token_embd when tied) and for attn_v and ffn_down of the layers useMoreBits
 * picks, Q4_K for every other matrix (token_embd of an untied model included).
 */
function mixType(role: string, layer: number, shape: SyntheticShape): GGMLTypeId {
  const more = (role === 'attn_v' || role === 'ffn_down') && useMoreBits(layer, shape.nLayer);
  const output = role === 'output' || (role === 'token_embd' && shape.tied);
  return more || output ? GGMLType.Q6_K : GGMLType.Q4_K;
}

/** general.file_type (llama_ftype) of the types written here, for tools that display it. */
const FILE_TYPE: Record<string, number> = { f32: 0, f16: 1, q4_0: 2, q8_0: 7, q4_K_M: 15 };

function noise(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = ((s >>> 0) / 2 ** 32 - 0.5) * 0.1;
  }
  return out;
}


/** The path `syntheticModel` writes the model of `shape` in `typeName` to. */
export function syntheticModelPath(shape: SyntheticShape, typeName: string): string {
  return join(CACHE_DIR, `llama-${shape.name}-${typeName}.gguf`);
}

/** Writes (once) the model of `shape` with matrices of `typeName`; returns its path. */
export async function syntheticModel(shape: SyntheticShape, typeName: string): Promise<string> {
  const path = syntheticModelPath(shape, typeName);
  if (existsSync(path)) return path;
  const mix = typeName === 'q4_K_M';
  const single = mix ? GGMLType.Q4_K : (typeByName(typeName).id as GGMLTypeId);
  const typeOf = (role: string, layer = 0): GGMLTypeId => (mix ? mixType(role, layer, shape) : single);
  mkdirSync(CACHE_DIR, { recursive: true });

  const { nEmbd, nHead, nHeadKv, nFf, vocab } = shape;
  const hd = nEmbd / nHead;
  const bytes = new Map<string, Uint8Array>();
  const matrix = (cols: number, rows: number, seed: number, type: GGMLTypeId): Uint8Array => {
    const key = `${type}:${cols}x${rows}:${seed}`;
    let b = bytes.get(key);
    if (!b) {
      const values = noise(cols * rows, seed);
      b = type === GGMLType.F32 ? new Uint8Array(values.buffer) : quantize(type, values);
      bytes.set(key, b);
    }
    return b;
  };
  const norm = new Uint8Array(new Float32Array(nEmbd).fill(1).buffer);
  const normTensor = (name: string): GGUFWriteTensor => ({ name, type: GGMLType.F32, shape: [nEmbd], data: norm });
  // A matrix of `cols` × `rows` in the type of `role`; the seed keeps roles of equal shape apart.
  const weight = (name: string, role: string, layer: number, cols: number, rows: number, seed: number): GGUFWriteTensor => {
    const type = typeOf(role, layer);
    return { name, type, shape: [cols, rows], data: matrix(cols, rows, seed, type) };
  };

  const tensors: GGUFWriteTensor[] = [weight('token_embd.weight', 'token_embd', 0, nEmbd, vocab, 1)];
  for (let l = 0; l < shape.nLayer; l++) {
    const b = `blk.${l}`;
    tensors.push(
      normTensor(`${b}.attn_norm.weight`),
      weight(`${b}.attn_q.weight`, 'attn_q', l, nEmbd, nEmbd, 2),
      weight(`${b}.attn_k.weight`, 'attn_k', l, nEmbd, nHeadKv * hd, 3),
      weight(`${b}.attn_v.weight`, 'attn_v', l, nEmbd, nHeadKv * hd, 4),
      weight(`${b}.attn_output.weight`, 'attn_output', l, nEmbd, nEmbd, 5),
      normTensor(`${b}.ffn_norm.weight`),
      weight(`${b}.ffn_gate.weight`, 'ffn_gate', l, nEmbd, nFf, 6),
      weight(`${b}.ffn_up.weight`, 'ffn_up', l, nEmbd, nFf, 7),
      weight(`${b}.ffn_down.weight`, 'ffn_down', l, nFf, nEmbd, 8),
    );
  }
  tensors.push(normTensor('output_norm.weight'));
  if (!shape.tied) tensors.push(weight('output.weight', 'output', 0, nEmbd, vocab, 9));

  const metadata: [string, GGUFKeyValue][] = [
    ['general.architecture', kv.string('llama')],
    ['general.name', kv.string(`synthetic llama ${shape.name} ${typeName} (random weights)`)],
    ...(FILE_TYPE[typeName] !== undefined ? ([['general.file_type', kv.u32(FILE_TYPE[typeName]!)]] as [string, GGUFKeyValue][]) : []),
    ['llama.context_length', kv.u32(4096)],
    ['llama.embedding_length', kv.u32(nEmbd)],
    ['llama.block_count', kv.u32(shape.nLayer)],
    ['llama.feed_forward_length', kv.u32(nFf)],
    ['llama.attention.head_count', kv.u32(nHead)],
    ['llama.attention.head_count_kv', kv.u32(nHeadKv)],
    ['llama.rope.dimension_count', kv.u32(hd)],
    ['llama.rope.freq_base', kv.f32(shape.ropeBase ?? 10000)],
    ['llama.attention.layer_norm_rms_epsilon', kv.f32(1e-5)],
    ...fillerSpmVocabularyEntries(vocab),
  ];
  const tmp = `${path}.partial`;
  const file = await open(tmp, 'w');
  try {
    await writeGGUF({ metadata, tensors }, async (chunk) => {
      await file.write(chunk);
    });
  } finally {
    await file.close();
  }
  await rename(tmp, path);
  return path;
}
