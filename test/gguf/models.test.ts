// Every GGUF file in ../shared/models parses, and its hyper-parameters are those that
// ../shared/models/SOURCES.md (and reference/archs/index*.json for the archs) state.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, test } from 'node:test';
import { openByteSource, readGGUF, readGGUFHeader, type GGUFFile } from '../../src/gguf/index.js';
import { isWasmChordError } from '../../src/errors.js';
import { typeName } from '../../src/quant/types.js';
import { SHARED } from '../helpers/shared.js';

const MODELS = join(SHARED, 'models');

function listGGUF(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? listGGUF(join(dir, e.name)) : e.name.endsWith('.gguf') ? [join(dir, e.name)] : [],
  );
}

function open(rel: string): Promise<GGUFFile> {
  return readGGUFHeader(join(MODELS, rel));
}

function typeCounts(file: GGUFFile): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const t of file.tensors) counts[typeName(t.type)] = (counts[typeName(t.type)] ?? 0) + 1;
  return counts;
}

function paramCount(file: GGUFFile): number {
  return file.tensors.reduce((n, t) => n + t.elementCount, 0);
}

/** Hyper-parameters as SOURCES.md states them for the real models. */
interface LlamaFacts {
  params: number;
  types: Record<string, number>;
  fileType?: number;
  embd: number;
  layers: number;
  heads: number;
  headsKv: number;
  ffn: number;
  ropeDim: number;
  ctx: number;
  rmsEps?: number;
  ropeBase?: number;
  vocab: number;
  bos: number;
  eos: number;
  tiedOutput: boolean;
}

const STORIES260K: Omit<LlamaFacts, 'types' | 'fileType'> = {
  params: 292_800, embd: 64, layers: 5, heads: 8, headsKv: 4, ffn: 172, ropeDim: 8, ctx: 2048,
  rmsEps: 1e-5, vocab: 512, bos: 1, eos: 2, tiedOutput: false,
};
const TINYSTORIES656K: Omit<LlamaFacts, 'types' | 'fileType'> = {
  params: 656_000, embd: 128, layers: 2, heads: 8, headsKv: 4, ffn: 384, ropeDim: 16, ctx: 512,
  rmsEps: 1e-6, ropeBase: 10000, vocab: 2048, bos: 1, eos: 2, tiedOutput: true,
};

const LLAMA_MODELS: Record<string, LlamaFacts> = {
  'stories260K.gguf': { ...STORIES260K, types: { F32: 48 } },
  'derived/stories260K-F16.gguf': { ...STORIES260K, types: { F16: 37, F32: 11 }, fileType: 1 },
  'derived/stories260K-Q8_0.gguf': { ...STORIES260K, types: { Q8_0: 32, F32: 16 }, fileType: 7 },
  'derived/stories260K-Q4_0.gguf': { ...STORIES260K, types: { Q4_0: 32, F32: 16 }, fileType: 2 },
  'TinyStories-656K-Q8_0.gguf': { ...TINYSTORIES656K, types: { Q8_0: 15, F32: 5 }, fileType: 7 },
  'derived/TinyStories-656K-Q4_0.gguf': { ...TINYSTORIES656K, types: { Q4_0: 15, F32: 5 }, fileType: 2 },
  'derived/TinyStories-656K-Q4_1.gguf': { ...TINYSTORIES656K, types: { Q4_1: 15, F32: 5 }, fileType: 3 },
  'derived/TinyStories-656K-Q5_0.gguf': { ...TINYSTORIES656K, types: { Q5_0: 15, F32: 5 }, fileType: 8 },
  'derived/TinyStories-656K-Q5_1.gguf': { ...TINYSTORIES656K, types: { Q5_1: 15, F32: 5 }, fileType: 9 },
  'llama-2-tiny-random.gguf': {
    params: 513_048, types: { F16: 9, F32: 3 }, fileType: 1, embd: 8, layers: 1, heads: 2, headsKv: 2, ffn: 32,
    ropeDim: 4, ctx: 4096, vocab: 32000, bos: 1, eos: 2, tiedOutput: false,
  },
};

describe('real models match SOURCES.md', () => {
  for (const [rel, want] of Object.entries(LLAMA_MODELS)) {
    test(rel, async () => {
      const f = await open(rel);
      const md = f.metadata;
      assert.equal(f.version, 3);
      assert.equal(md.getString('general.architecture'), 'llama');
      assert.equal(paramCount(f), want.params);
      assert.deepEqual(typeCounts(f), want.types);
      assert.equal(md.getInteger('general.file_type'), want.fileType);
      assert.equal(md.getInteger('llama.embedding_length'), want.embd);
      assert.equal(md.getInteger('llama.block_count'), want.layers);
      assert.equal(md.getInteger('llama.attention.head_count'), want.heads);
      assert.equal(md.getInteger('llama.attention.head_count_kv'), want.headsKv);
      assert.equal(md.getInteger('llama.feed_forward_length'), want.ffn);
      assert.equal(md.getInteger('llama.rope.dimension_count'), want.ropeDim);
      assert.equal(md.getInteger('llama.context_length'), want.ctx);
      if (want.rmsEps !== undefined) {
        assert.equal(md.getNumber('llama.attention.layer_norm_rms_epsilon'), Math.fround(want.rmsEps));
      }
      if (want.ropeBase !== undefined) assert.equal(md.getNumber('llama.rope.freq_base'), want.ropeBase);
      assert.equal(md.getStringArray('tokenizer.ggml.tokens')?.length, want.vocab);
      assert.equal(md.getString('tokenizer.ggml.model'), 'llama');
      assert.equal(md.getInteger('tokenizer.ggml.bos_token_id'), want.bos);
      assert.equal(md.getInteger('tokenizer.ggml.eos_token_id'), want.eos);
      assert.equal(f.tensor('output.weight') === undefined, want.tiedOutput);
      const embd = f.tensor('token_embd.weight')!;
      assert.deepEqual(embd.shape, [want.embd, want.vocab]);
      assert.deepEqual(f.tensor('blk.0.ffn_down.weight')!.shape, [want.ffn, want.embd]);
    });
  }
});

/** Vocab-only files: arch, tokenizer model, pre-tokenizer, token count, BOS/EOS (SOURCES.md). */
const VOCABS: Record<string, [arch: string, model: string, pre: string, tokens: number, bos: number | undefined, eos: number | undefined, merges?: number]> = {
  'llama-spm': ['llama', 'llama', 'default', 32000, 1, 2],
  'phi-3': ['phi3', 'llama', 'default', 32064, 1, 32000],
  'gpt-2': ['gpt2', 'gpt2', 'gpt-2', 50257, 50256, 50256, 50000],
  'deepseek-llm': ['llama', 'gpt2', 'deepseek-llm', 102400, 100000, 100001, 99757],
  'deepseek-coder': ['llama', 'gpt2', 'deepseek-coder', 32256, 32013, 32014, 31757],
  falcon: ['falcon', 'gpt2', 'falcon', 65024, 11, 11, 64784],
  starcoder: ['starcoder2', 'gpt2', 'starcoder', 49152, 0, 0, 48872],
  refact: ['refact', 'gpt2', 'refact', 49216, 0, 0, 48891],
  mpt: ['mpt', 'gpt2', 'mpt', 50432, 0, 0, 50009],
  'bert-bge': ['bert', 'bert', 'bert-bge', 30522, undefined, undefined],
};

describe('vocab files match SOURCES.md', () => {
  for (const [name, [arch, model, pre, tokens, bos, eos, merges]] of Object.entries(VOCABS)) {
    test(name, async () => {
      const f = await open(`vocab/ggml-vocab-${name}.gguf`);
      const md = f.metadata;
      assert.equal(f.tensors.length, 0);
      assert.equal(md.getString('general.architecture'), arch);
      assert.equal(md.getString('tokenizer.ggml.model'), model);
      assert.equal(md.getString('tokenizer.ggml.pre'), pre);
      assert.equal(md.getStringArray('tokenizer.ggml.tokens')?.length, tokens);
      if (bos !== undefined) assert.equal(md.getInteger('tokenizer.ggml.bos_token_id'), bos);
      if (eos !== undefined) assert.equal(md.getInteger('tokenizer.ggml.eos_token_id'), eos);
      if (merges !== undefined) assert.equal(md.getStringArray('tokenizer.ggml.merges')?.length, merges);
    });
  }
});

test('quant-vectors.gguf: 47 tensors of 23 types plus the source, all [256, 128]', async () => {
  const f = await open('derived/quant-vectors.gguf');
  assert.equal(f.metadata.getString('general.architecture'), 'quant-test-vectors');
  assert.equal(f.tensors.length, 47);
  for (const t of f.tensors) assert.deepEqual(t.shape, [256, 128], t.name);
  const types = new Set(f.tensors.filter((t) => t.name.endsWith('.q')).map((t) => typeName(t.type).toLowerCase()));
  assert.equal(types.size, 23);
});

describe('derived/pad256 models: stories260K padded to 256-wide rows', () => {
  const expected: Record<string, string[]> = {
    q2_K: ['Q2_K'], q3_K: ['Q3_K'], q4_K: ['Q4_K'], q5_K: ['Q5_K'], q6_K: ['Q6_K'],
    iq4_nl: ['IQ4_NL'], iq4_xs: ['IQ4_XS'], 'Q4_K_M-mix': ['Q4_K', 'Q6_K'],
  };
  for (const [suffix, quantTypes] of Object.entries(expected)) {
    test(suffix, async () => {
      const f = await open(`derived/pad256/stories260K-pad256-${suffix}.gguf`);
      const md = f.metadata;
      assert.equal(md.getInteger('llama.embedding_length'), 256);
      assert.equal(md.getInteger('llama.feed_forward_length'), 256);
      assert.equal(md.getInteger('llama.attention.head_count'), 32);
      assert.equal(md.getInteger('llama.attention.head_count_kv'), 16);
      assert.equal(md.getInteger('llama.rope.dimension_count'), 8);
      const counts = typeCounts(f);
      assert.equal(counts.F32, 11, 'the norms stay F32');
      assert.deepEqual(Object.keys(counts).filter((t) => t !== 'F32').sort(), [...quantTypes].sort());
    });
  }
});

interface ArchIndexEntry {
  model_file: string;
  model_bytes: number;
  /** Given for the F32 files only; quantized files are checked by their tensor table. */
  n_params?: number;
  metadata?: Record<string, unknown>;
  tensors: Record<string, string>;
}

function archEntries(): ArchIndexEntry[] {
  const read = (f: string) => JSON.parse(readFileSync(join(SHARED, 'reference/archs', f), 'utf8')).models as ArchIndexEntry[];
  return [...read('index.json'), ...read('index-hf.json')];
}

describe('archs models match reference/archs/index*.json (metadata, tensor types and shapes)', () => {
  for (const entry of archEntries()) {
    test(entry.model_file, async () => {
      const path = join(SHARED, entry.model_file);
      assert.equal(statSync(path).size, entry.model_bytes);
      const f = await readGGUFHeader(path);
      for (const [key, value] of Object.entries(entry.metadata ?? {})) {
        const kv = f.metadata.get(key);
        assert.ok(kv, `missing ${key}`);
        if (typeof value === 'number') {
          assert.equal(f.metadata.getNumber(key), typeof kv.value === 'number' && !Number.isInteger(value) ? Math.fround(value) : value, key);
        } else if (Array.isArray(value)) {
          assert.deepEqual(Array.from(f.metadata.getNumberArray(key)!), value, key);
        } else {
          assert.equal(kv.value, value, key);
        }
      }
      const tensors = Object.fromEntries(f.tensors.map((t) => [t.name, `${typeName(t.type)} [${t.shape.join(', ')}]`]));
      assert.deepEqual(tensors, entry.tensors);
      if (entry.n_params !== undefined) assert.equal(paramCount(f), entry.n_params);
    });
  }
});

test('every .gguf file under shared/models parses, except the v1 file, refused by version', async () => {
  const files = listGGUF(MODELS);
  assert.ok(files.length >= 50, `found ${files.length} files`);
  for (const path of files) {
    const rel = relative(MODELS, path);
    const source = await openByteSource(path);
    try {
      if (rel.startsWith('legacy/')) {
        await assert.rejects(readGGUF(source), (err) => {
          assert.ok(isWasmChordError(err, 'GGUF_UNSUPPORTED_VERSION'));
          assert.match(err.message, /version 1\b/);
          return true;
        });
      } else {
        const f = await readGGUF(source);
        assert.ok(f.version === 2 || f.version === 3, rel);
      }
    } finally {
      await source.close();
    }
  }
});
