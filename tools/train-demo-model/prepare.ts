/**
 * Step 1 of training the demo model (README.md beside this file): writes the corpus, learns the
 * vocabulary on it, and tokenizes it with wasm-chord's own tokenizer, so the model trains on
 * exactly the token ids the engine will feed it.
 *
 *   node --import tsx tools/train-demo-model/prepare.ts [--seed 1] [--mb 40] [--vocab 2048] [--out DIR]
 *
 * DIR (default tools/train-demo-model/.work, git-ignored) receives:
 *   vocab.json    the vocabulary (tokens, scores, types)
 *   train.bin     uint16 token ids, each story as <s> story </s>
 *   val.bin       the same for held-out stories (another seed)
 *   prompts.json  the prompts whose logits training records as the export test's reference
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { GGUFMetadata } from '../../src/gguf/metadata.js';
import { spmVocabularyEntries } from '../../src/tokenizer/spm-entries.js';
import { Tokenizer } from '../../src/tokenizer/index.js';
import { generateCorpus } from './corpus.js';
import { trainVocabulary } from './vocabulary.js';

/** The prompts whose reference logits the export test checks (short, so the file stays small). */
const REFERENCE_PROMPTS = [
  'Once upon a time',
  'Once upon a time, there was a little girl named Lily. She loved to',
  'One day, Tom and his dog went to the park. They saw a big',
];

const { values: v } = parseArgs({
  options: {
    seed: { type: 'string', default: '1' },
    mb: { type: 'string', default: '40' },
    vocab: { type: 'string', default: '2048' },
    out: { type: 'string', default: 'tools/train-demo-model/.work' },
  },
});
const seed = Number(v.seed);
const targetBytes = Number(v.mb) * 1e6;
mkdirSync(v.out, { recursive: true });

const started = performance.now();
const stories: string[] = [];
let bytes = 0;
for (const story of generateCorpus(seed, Number.MAX_SAFE_INTEGER)) {
  stories.push(story);
  bytes += story.length + 1;
  if (bytes >= targetBytes) break;
}
const held = [...generateCorpus(seed + 1000, 500)];
console.error(`corpus: ${stories.length} stories, ${(bytes / 1e6).toFixed(1)} MB (${((performance.now() - started) / 1000).toFixed(1)} s)`);

const vocab = trainVocabulary(stories, Number(v.vocab));
writeFileSync(join(v.out, 'vocab.json'), JSON.stringify(vocab));
const tokenizer = Tokenizer.fromGGUF(new GGUFMetadata(spmVocabularyEntries(vocab, { addBos: true, addEos: false })));
console.error(`vocabulary: ${vocab.tokens.length} tokens (${((performance.now() - started) / 1000).toFixed(1)} s)`);

function tokenize(texts: string[], file: string): number {
  const ids: number[] = [];
  for (const text of texts) {
    for (const id of tokenizer.encode(text)) ids.push(id);
    ids.push(tokenizer.eos!);
  }
  writeFileSync(join(v.out, file), new Uint16Array(ids));
  return ids.length;
}
const trainTokens = tokenize(stories, 'train.bin');
const valTokens = tokenize(held, 'val.bin');
const byteFallbacks = tokenizer.encode(stories.slice(0, 2000).join(' ')).filter((id) => vocab.types[id] === 6).length;
console.error(`tokens: ${trainTokens} train, ${valTokens} validation, ${(bytes / trainTokens).toFixed(2)} bytes a token, ${byteFallbacks} byte fallbacks in 2000 stories (${((performance.now() - started) / 1000).toFixed(1)} s)`);

writeFileSync(join(v.out, 'prompts.json'), JSON.stringify(REFERENCE_PROMPTS.map((text) => ({ text, ids: tokenizer.encode(text) }))));
