/**
 * Step 3 of training the demo model (README.md beside this file): writes the trained weights as
 * a llama GGUF file with wasm-chord's own writer, matrices quantized to Q8_0 by its own
 * quantizer, the vocabulary prepare.ts learned as the tokenizer.
 *
 *   node --import tsx tools/train-demo-model/export.ts --from DIR [--vocab FILE] [--out FILE]
 *
 * DIR is train.py's output folder (weights.json, weights.N.bin).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { encodeGGUF, kv, type GGUFKeyValue, type GGUFWriteTensor } from '../../src/gguf/index.js';
import { quantize } from '../../src/quant/index.js';
import { GGMLType } from '../../src/quant/types.js';
import { spmVocabularyEntries, type SpmVocabulary } from '../../src/tokenizer/spm-entries.js';

interface Manifest {
  config: { dim: number; layers: number; heads: number; kv_heads: number; ffn: number; ctx: number; rope_base: number; eps: number; vocab: number };
  training: { parameters: number; tokens_seen: number };
  tensors: { name: string; shape: number[]; file: string; offset: number }[];
}

const { values: v } = parseArgs({
  options: {
    from: { type: 'string' },
    vocab: { type: 'string', default: 'tools/train-demo-model/.work/vocab.json' },
    out: { type: 'string', default: 'assets/demo.gguf' },
  },
});
if (!v.from) throw new Error('--from DIR (train.py --out) is required');
const manifest = JSON.parse(readFileSync(join(v.from, 'weights.json'), 'utf8')) as Manifest;
const vocab = JSON.parse(readFileSync(v.vocab, 'utf8')) as SpmVocabulary;
const c = manifest.config;
if (vocab.tokens.length !== c.vocab) throw new Error(`the vocabulary has ${vocab.tokens.length} tokens, the weights ${c.vocab}`);

const files = new Map<string, Buffer>();
const tensors: GGUFWriteTensor[] = manifest.tensors.map(({ name, shape, file, offset }) => {
  if (!files.has(file)) files.set(file, readFileSync(join(v.from!, file)));
  const weights = files.get(file)!;
  const count = shape.reduce((a, b) => a * b, 1);
  const values = new Float32Array(weights.buffer.slice(weights.byteOffset + offset, weights.byteOffset + offset + count * 4));
  // Matrices in Q8_0; the norm vectors stay f32, as llama.cpp's quantizer leaves them.
  return shape.length === 2
    ? { name, type: GGMLType.Q8_0, shape, data: quantize(GGMLType.Q8_0, values) }
    : { name, type: GGMLType.F32, shape, data: new Uint8Array(values.buffer) };
});
const millions = (manifest.training.parameters / 1e6).toFixed(1);
const metadata: [string, GGUFKeyValue][] = [
  ['general.architecture', kv.string('llama')],
  ['general.name', kv.string(`wasm-chord stories ${millions}M`)],
  ['general.description', kv.string(
    `A ${millions}M-parameter llama trained by wasm-chord on children's stories that its own generator writes ` +
    '(tools/train-demo-model): the demo model that ships with the package.',
  )],
  ['general.license', kv.string('MIT')],
  ['general.file_type', kv.u32(7)], // LLAMA_FTYPE_MOSTLY_Q8_0
  ['llama.context_length', kv.u32(c.ctx)],
  ['llama.embedding_length', kv.u32(c.dim)],
  ['llama.block_count', kv.u32(c.layers)],
  ['llama.feed_forward_length', kv.u32(c.ffn)],
  ['llama.attention.head_count', kv.u32(c.heads)],
  ['llama.attention.head_count_kv', kv.u32(c.kv_heads)],
  ['llama.rope.dimension_count', kv.u32(c.dim / c.heads)],
  ['llama.rope.freq_base', kv.f32(c.rope_base)],
  ['llama.attention.layer_norm_rms_epsilon', kv.f32(c.eps)],
  ['llama.vocab_size', kv.u32(c.vocab)],
  ...spmVocabularyEntries(vocab, { addBos: true, addEos: false }),
];
const bytes = await encodeGGUF({ metadata, tensors });
writeFileSync(v.out, bytes);
console.error(`${v.out}: ${bytes.length} bytes, ${tensors.length} tensors, ${millions}M parameters`);
