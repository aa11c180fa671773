/**
 * Writes llama-architecture GGUF models with random weights and realistic shapes, for speed
 * benchmarks: the text they produce is noise, but their cost per token is that of a real model
 * of the same shape. Generated on demand into bench/.cache (never committed).
 *
 * Speed does not depend on the weight values, so each distinct tensor shape is drawn and
 * quantized once and its bytes are reused by every layer: a model of any depth costs the time
 * of quantizing one layer plus the embeddings.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { kv, writeGGUF, type GGUFKeyValue, type GGUFWriteTensor } from '../src/gguf/index.js';
import { quantize } from '../src/quant/index.js';
import { GGMLType, typeByName, type GGMLTypeId } from '../src/quant/types.js';

export interface SyntheticShape {
  name: string;
  nEmbd: number;
  nLayer: number;
  nHead: number;
  nHeadKv: number;
  nFf: number;
  vocab: number;
}

/** About 350M parameters: the shape class of the small models people run in browsers. */
export const SHAPE_350M: SyntheticShape = { name: '350m', nEmbd: 1024, nLayer: 24, nHead: 16, nHeadKv: 4, nFf: 2816, vocab: 32000 };

export const CACHE_DIR = fileURLToPath(new URL('./.cache/', import.meta.url));

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

/** An SPM vocabulary: specials, 256 byte tokens, then filler pieces up to `size`. */
function vocabulary(size: number): [string, GGUFKeyValue][] {
  const tokens = ['<unk>', '<s>', '</s>'];
  const types = [2, 3, 3];
  for (let b = 0; b < 256; b++) {
    tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
    types.push(6);
  }
  for (let i = tokens.length; i < size; i++) {
    tokens.push(`\u2581t${i}`);
    types.push(1);
  }
  return [
    ['tokenizer.ggml.model', kv.string('llama')],
    ['tokenizer.ggml.tokens', kv.stringArray(tokens)],
    ['tokenizer.ggml.scores', kv.f32Array(tokens.map((_, i) => -i))],
    ['tokenizer.ggml.token_type', kv.i32Array(types)],
    ['tokenizer.ggml.bos_token_id', kv.u32(1)],
    ['tokenizer.ggml.eos_token_id', kv.u32(2)],
    ['tokenizer.ggml.unknown_token_id', kv.u32(0)],
  ];
}

/** Writes (once) the model of `shape` with matrices of `typeName`; returns its path. */
export async function syntheticModel(shape: SyntheticShape, typeName: string): Promise<string> {
  const type = typeByName(typeName).id as GGMLTypeId;
  mkdirSync(CACHE_DIR, { recursive: true });
  const path = join(CACHE_DIR, `llama-${shape.name}-${typeName}.gguf`);
  if (existsSync(path)) return path;

  const { nEmbd, nHead, nHeadKv, nFf, vocab } = shape;
  const hd = nEmbd / nHead;
  const bytes = new Map<string, Uint8Array>();
  const matrix = (cols: number, rows: number, seed: number): Uint8Array => {
    const key = `${cols}x${rows}:${seed}`;
    let b = bytes.get(key);
    if (!b) {
      const values = noise(cols * rows, seed);
      b = type === GGMLType.F32 ? new Uint8Array(values.buffer) : quantize(type, values);
      bytes.set(key, b);
    }
    return b;
  };
  const norm = new Uint8Array(new Float32Array(nEmbd).fill(1).buffer);
  const t = (name: string, shapeNe: number[], data: Uint8Array, tensorType: GGMLTypeId = type): GGUFWriteTensor => ({
    name,
    type: tensorType,
    shape: shapeNe,
    data,
  });
  const tensors: GGUFWriteTensor[] = [t('token_embd.weight', [nEmbd, vocab], matrix(nEmbd, vocab, 1))];
  for (let l = 0; l < shape.nLayer; l++) {
    const b = `blk.${l}`;
    tensors.push(
      t(`${b}.attn_norm.weight`, [nEmbd], norm, GGMLType.F32),
      t(`${b}.attn_q.weight`, [nEmbd, nEmbd], matrix(nEmbd, nEmbd, 2)),
      t(`${b}.attn_k.weight`, [nEmbd, nHeadKv * hd], matrix(nEmbd, nHeadKv * hd, 3)),
      t(`${b}.attn_v.weight`, [nEmbd, nHeadKv * hd], matrix(nEmbd, nHeadKv * hd, 4)),
      t(`${b}.attn_output.weight`, [nEmbd, nEmbd], matrix(nEmbd, nEmbd, 5)),
      t(`${b}.ffn_norm.weight`, [nEmbd], norm, GGMLType.F32),
      t(`${b}.ffn_gate.weight`, [nEmbd, nFf], matrix(nEmbd, nFf, 6)),
      t(`${b}.ffn_up.weight`, [nEmbd, nFf], matrix(nEmbd, nFf, 7)),
      t(`${b}.ffn_down.weight`, [nFf, nEmbd], matrix(nFf, nEmbd, 8)),
    );
  }
  tensors.push(t('output_norm.weight', [nEmbd], norm, GGMLType.F32), t('output.weight', [nEmbd, vocab], matrix(nEmbd, vocab, 9)));

  const metadata: [string, GGUFKeyValue][] = [
    ['general.architecture', kv.string('llama')],
    ['general.name', kv.string(`synthetic llama ${shape.name} ${typeName} (random weights)`)],
    ['llama.context_length', kv.u32(4096)],
    ['llama.embedding_length', kv.u32(nEmbd)],
    ['llama.block_count', kv.u32(shape.nLayer)],
    ['llama.feed_forward_length', kv.u32(nFf)],
    ['llama.attention.head_count', kv.u32(nHead)],
    ['llama.attention.head_count_kv', kv.u32(nHeadKv)],
    ['llama.rope.dimension_count', kv.u32(hd)],
    ['llama.rope.freq_base', kv.f32(10000)],
    ['llama.attention.layer_norm_rms_epsilon', kv.f32(1e-5)],
    ...vocabulary(vocab),
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
  const { rename } = await import('node:fs/promises');
  await rename(tmp, path);
  return path;
}
