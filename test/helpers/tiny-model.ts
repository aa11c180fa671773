/**
 * Writes a tiny but complete llama GGUF model (SentencePiece vocabulary with ChatML specials,
 * F32 random weights) with our own writer, so that tests can craft hostile variants of a real
 * model: metadata keys replaced or removed, tensors changed, dropped or added. Nothing binary is
 * committed; every file is built on the spot (a few tens of KB, milliseconds).
 */
import { encodeGGUF, kv, type GGUFKeyValue, type GGUFWriteTensor } from '../../src/gguf/index.js';
import { GGMLType } from '../../src/quant/types.js';
import { spmVocabularyEntries } from '../../src/tokenizer/spm-entries.js';
import { prng } from './prng.js';

const SPACE = '\u2581';

export const TINY = {
  nEmbd: 32,
  nHead: 2,
  headDim: 16,
  nFf: 64,
  /** Tokens: <unk> <s> </s>, ChatML's two specials, 256 byte tokens, then these words. */
  words: ['hello', 'world', 'once', 'upon', 'a', 'time', 'the', 'cat', 'sat', 'user', 'assistant', 'system'],
} as const;

export interface TinyVocab {
  tokens: string[];
  scores: number[];
  types: number[];
}

export function tinyVocab(extraTokens = 0): TinyVocab {
  const tokens = ['<unk>', '<s>', '</s>', '<|im_start|>', '<|im_end|>'];
  const types = [2, 3, 3, 3, 3];
  for (let b = 0; b < 256; b++) {
    tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
    types.push(6);
  }
  const pieces = new Set<string>();
  for (const w of TINY.words) {
    const unit = SPACE + w;
    for (const ch of unit) pieces.add(ch);
    for (let n = 2; n <= unit.length; n++) pieces.add(unit.slice(0, n));
  }
  for (const p of [...pieces].sort()) {
    tokens.push(p);
    types.push(1);
  }
  for (let i = 0; i < extraTokens; i++) {
    tokens.push(`${SPACE}filler${i}`);
    types.push(1);
  }
  return { tokens, types, scores: tokens.map((t, i) => (types[i] === 1 ? t.length : 0)) };
}

export interface TinyModelOptions {
  /** Layers written (the tensors); block_count says the same unless metadata overrides it. */
  layers?: number;
  /** Embedding width (default 32; two heads of half of it). */
  embd?: number;
  /** Filler tokens appended to the vocabulary (a bigger model: more rows of embeddings). */
  extraTokens?: number;
  /** Metadata to set (replacing the default) or, with undefined, to remove. */
  metadata?: Record<string, GGUFKeyValue | undefined>;
  /** A last say over the tensor list (drop, add, reshape). */
  tensors?: (tensors: GGUFWriteTensor[]) => GGUFWriteTensor[];
  /** Changes a tensor's values before it is written (e.g. NaN weights). */
  values?: (name: string, values: Float32Array) => Float32Array;
  seed?: number;
}

/** The GGUF bytes of a tiny llama model. */
export async function buildTinyModel(options: TinyModelOptions = {}): Promise<Uint8Array> {
  const E = options.embd ?? TINY.nEmbd;
  const nHead = TINY.nHead;
  const headDim = E / nHead;
  const FF = TINY.nFf;
  const layers = options.layers ?? 1;
  const vocab = tinyVocab(options.extraTokens);
  const V = vocab.tokens.length;
  const random = prng(options.seed ?? 7);
  const tensors: GGUFWriteTensor[] = [];
  const add = (name: string, shape: number[], fill: 'random' | 'ones' = 'random') => {
    const n = shape.reduce((a, b) => a * b, 1);
    let values: Float32Array = new Float32Array(n);
    for (let i = 0; i < n; i++) values[i] = fill === 'ones' ? 1 : (random() - 0.5) * 0.5;
    if (options.values) values = options.values(name, values);
    tensors.push({ name, type: GGMLType.F32, shape, data: new Uint8Array(values.buffer, values.byteOffset, values.byteLength) });
  };
  add('token_embd.weight', [E, V]);
  for (let l = 0; l < layers; l++) {
    add(`blk.${l}.attn_norm.weight`, [E], 'ones');
    add(`blk.${l}.attn_q.weight`, [E, nHead * headDim]);
    add(`blk.${l}.attn_k.weight`, [E, nHead * headDim]);
    add(`blk.${l}.attn_v.weight`, [E, nHead * headDim]);
    add(`blk.${l}.attn_output.weight`, [nHead * headDim, E]);
    add(`blk.${l}.ffn_norm.weight`, [E], 'ones');
    add(`blk.${l}.ffn_gate.weight`, [E, FF]);
    add(`blk.${l}.ffn_up.weight`, [E, FF]);
    add(`blk.${l}.ffn_down.weight`, [FF, E]);
  }
  add('output_norm.weight', [E], 'ones');
  add('output.weight', [E, V]);

  const metadata = new Map<string, GGUFKeyValue>([
    ['general.architecture', kv.string('llama')],
    ['general.name', kv.string('tiny test model')],
    ['llama.context_length', kv.u32(256)],
    ['llama.embedding_length', kv.u32(E)],
    ['llama.block_count', kv.u32(layers)],
    ['llama.feed_forward_length', kv.u32(FF)],
    ['llama.attention.head_count', kv.u32(nHead)],
    ['llama.attention.head_count_kv', kv.u32(nHead)],
    ['llama.rope.dimension_count', kv.u32(headDim)],
    ['llama.rope.freq_base', kv.f32(10000)],
    ['llama.attention.layer_norm_rms_epsilon', kv.f32(1e-5)],
    ...spmVocabularyEntries(vocab, { addBos: true }),
  ]);
  for (const [key, value] of Object.entries(options.metadata ?? {})) {
    if (value === undefined) metadata.delete(key);
    else metadata.set(key, value);
  }
  return encodeGGUF({ metadata, tensors: options.tensors ? options.tensors(tensors) : tensors });
}
