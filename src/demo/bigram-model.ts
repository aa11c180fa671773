/**
 * Builds the demo model: a word-bigram language model of a small corpus, written as a real
 * one-layer llama GGUF file (SentencePiece vocabulary, Q8_0 weights) by our own writer.
 *
 * How a bigram becomes a transformer: token t embeds as the one-hot vector e_t; the attention and
 * FFN weights are zero, so the residual stream stays e_t; the final RMSNorm scales it to
 * sqrt(E)·e_t; and output row v holds ln P(v | t) / sqrt(E) at column t, so the logits are
 * ln P(next | current). Real architecture, real kernels, trivially explainable output.
 */
import { encodeGGUF, kv, type GGUFKeyValue, type GGUFWriteTensor } from '../gguf/index.js';
import { GGUFMetadata } from '../gguf/metadata.js';
import { quantize } from '../quant/index.js';
import { GGMLType, type GGMLTypeId } from '../quant/types.js';
import { Tokenizer } from '../tokenizer/index.js';
import { spmVocabularyEntries } from '../tokenizer/spm-entries.js';
import { DEMO_CORPUS } from './corpus.js';

const SPACE = '\u2581';
const TOKEN_NORMAL = 1;
const TOKEN_UNKNOWN = 2;
const TOKEN_CONTROL = 3;
const TOKEN_BYTE = 6;
/** Logit of a continuation the corpus never shows after a token (e^-12 of the mass). */
const UNSEEN = -12;
/** Add-alpha smoothing over the corpus' own tokens. */
const ALPHA = 0.02;

/** Word and punctuation units of the text, spaces escaped the SentencePiece way. */
function units(text: string): string[] {
  return (text.match(/\s*[A-Za-z']+|\s*[^\sA-Za-z']/g) ?? []).map((u) => u.replace(/^\s+/, SPACE));
}

/** The vocabulary: specials, the 256 byte tokens, every unit and every prefix of one. */
function buildVocab(stories: string[]): { tokens: string[]; scores: number[]; types: number[] } {
  const tokens = ['<unk>', '<s>', '</s>'];
  const types = [TOKEN_UNKNOWN, TOKEN_CONTROL, TOKEN_CONTROL];
  const scores = [0, 0, 0];
  for (let b = 0; b < 256; b++) {
    tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
    types.push(TOKEN_BYTE);
    scores.push(0);
  }
  // SentencePiece merges two adjacent pieces only into a piece of the vocabulary, so every
  // prefix of a unit must be one; longer pieces score higher, so whole units win.
  const pieces = new Set<string>();
  for (const story of stories) {
    for (const unit of units(` ${story}`)) {
      for (const ch of unit) pieces.add(ch);
      for (let n = 2; n <= unit.length; n++) pieces.add(unit.slice(0, n));
    }
  }
  for (const piece of [...pieces].sort()) {
    tokens.push(piece);
    types.push(TOKEN_NORMAL);
    scores.push(piece.length);
  }
  return { tokens, scores, types };
}

/** The GGUF bytes of the demo model. */
export async function buildDemoModel(corpus = DEMO_CORPUS): Promise<Uint8Array> {
  const stories = corpus
    .split(/\n\s*\n/)
    .map((s) => s.replace(/\s+/g, ' ').trim())
    .filter(Boolean);
  const vocab = buildVocab(stories);
  const V = vocab.tokens.length;
  const E = Math.ceil(V / 32) * 32;

  const tokenizerKVs = spmVocabularyEntries(vocab, { addBos: true, addEos: false });
  // Count bigrams over the corpus as our own tokenizer splits it, each story from BOS to EOS.
  const tokenizer = Tokenizer.fromGGUF(new GGUFMetadata(tokenizerKVs));
  const counts = new Map<number, Map<number, number>>();
  const seen = new Set<number>();
  for (const story of stories) {
    const ids = [...tokenizer.encode(story), 2];
    for (let i = 0; i + 1 < ids.length; i++) {
      const row = counts.get(ids[i]!) ?? new Map<number, number>();
      row.set(ids[i + 1]!, (row.get(ids[i + 1]!) ?? 0) + 1);
      counts.set(ids[i]!, row);
      seen.add(ids[i + 1]!);
    }
  }
  const unigram = new Map<number, number>();
  for (const row of counts.values()) for (const [id, c] of row) unigram.set(id, (unigram.get(id) ?? 0) + c);

  // output[v][t] = ln P(v | t) / sqrt(E); tokens never seen as a predecessor use the unigram.
  const scale = 1 / Math.sqrt(E);
  const output = new Float32Array(V * E).fill(UNSEEN * scale);
  for (let t = 0; t < V; t++) {
    const row = counts.get(t) ?? unigram;
    let total = 0;
    for (const c of row.values()) total += c;
    total += ALPHA * seen.size;
    for (const v of seen) output[v * E + t] = Math.log(((row.get(v) ?? 0) + ALPHA) / total) * scale;
  }
  const embedding = new Float32Array(V * E);
  for (let t = 0; t < V; t++) embedding[t * E + t] = 1;

  const HEAD = 32;
  const FF = 32;
  const zeros = (n: number) => new Float32Array(n);
  const ones = (n: number) => new Float32Array(n).fill(1);
  const tensor = (name: string, shape: number[], values: Float32Array, type: GGMLTypeId = GGMLType.Q8_0): GGUFWriteTensor => ({
    name,
    type,
    shape,
    data: type === GGMLType.F32 ? new Uint8Array(values.buffer) : quantize(type, values),
  });
  const metadata: [string, GGUFKeyValue][] = [
    ['general.architecture', kv.string('llama')],
    ['general.name', kv.string('wasm-chord demo (word bigram)')],
    ['general.description', kv.string('A word-bigram model of a few short stories, built by wasm-chord as a one-layer llama. Not a trained transformer.')],
    ['general.file_type', kv.u32(7)],
    ['llama.context_length', kv.u32(2048)],
    ['llama.embedding_length', kv.u32(E)],
    ['llama.block_count', kv.u32(1)],
    ['llama.feed_forward_length', kv.u32(FF)],
    ['llama.attention.head_count', kv.u32(1)],
    ['llama.attention.head_count_kv', kv.u32(1)],
    ['llama.attention.key_length', kv.u32(HEAD)],
    ['llama.attention.value_length', kv.u32(HEAD)],
    ['llama.rope.dimension_count', kv.u32(HEAD)],
    ['llama.rope.freq_base', kv.f32(10000)],
    ['llama.attention.layer_norm_rms_epsilon', kv.f32(1e-6)],
    ['llama.vocab_size', kv.u32(V)],
    ...tokenizerKVs,
  ];
  return encodeGGUF({
    metadata,
    tensors: [
      tensor('token_embd.weight', [E, V], embedding),
      tensor('blk.0.attn_norm.weight', [E], ones(E), GGMLType.F32),
      tensor('blk.0.attn_q.weight', [E, HEAD], zeros(E * HEAD)),
      tensor('blk.0.attn_k.weight', [E, HEAD], zeros(E * HEAD)),
      tensor('blk.0.attn_v.weight', [E, HEAD], zeros(E * HEAD)),
      tensor('blk.0.attn_output.weight', [HEAD, E], zeros(HEAD * E)),
      tensor('blk.0.ffn_norm.weight', [E], ones(E), GGMLType.F32),
      tensor('blk.0.ffn_gate.weight', [E, FF], zeros(E * FF)),
      tensor('blk.0.ffn_up.weight', [E, FF], zeros(E * FF)),
      tensor('blk.0.ffn_down.weight', [FF, E], zeros(FF * E)),
      tensor('output_norm.weight', [E], ones(E), GGMLType.F32),
      tensor('output.weight', [E, V], output),
    ],
  });
}
