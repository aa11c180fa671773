// Grammar masking cost per sampled token: node --import tsx bench/grammar.bench.ts
//
// For each vocabulary (../shared/models/vocab) the benchmark builds the grammar vocabulary (the
// byte trie of every token piece, once per tokenizer), then replays a fixed JSON document token by
// token under two grammars (a JSON Schema, and "any JSON object"): at each step it computes the
// allowed-token mask for the state reached, then accepts the document's next token. Reported:
// - walk: one full trie walk per step with a fresh state space (nothing memoized from earlier
//   steps, no mask cache), median and 90th percentile;
// - cached: what generation pays per step, the mask cache of TokenConstraint included;
// - allowed: the median count of allowed tokens per step.
// Timings are the median over RUNS replays of each step.
import { readGGUFHeader } from '../src/gguf/index.js';
import { Tokenizer } from '../src/tokenizer/index.js';
import { grammarVocabulary, TokenConstraint } from '../src/engine/grammar/constraint.js';
import { jsonObjectGrammar, jsonSchemaToGrammar } from '../src/engine/grammar/json-schema.js';
import { GrammarMatcher } from '../src/engine/grammar/matcher.js';
import { parseGrammar } from '../src/engine/grammar/parser.js';
import { StateSpace } from '../src/engine/grammar/state-space.js';
import { TrieWalker } from '../src/engine/grammar/token-trie.js';
import { SHARED } from '../test/helpers/shared.js';

const VOCABS = ['llama-spm', 'llama-bpe', 'qwen2'];
const RUNS = 5;
const SCHEMA = {
  type: 'object',
  properties: {
    name: { type: 'string', maxLength: 40 },
    age: { type: 'integer' },
    email: { type: 'string' },
    born: { type: 'string', format: 'date' },
    tags: { type: 'array', items: { type: 'string' }, maxItems: 8 },
    address: { type: 'object', properties: { city: { type: 'string' }, zip: { type: 'string' } }, required: ['city'] },
  },
  required: ['name', 'age'],
};
const DOCUMENT = JSON.stringify({
  name: 'Ada Lovelace, Countess',
  age: 36,
  email: 'ada@example.org',
  born: '1815-12-10',
  tags: ['mathematics', 'analytical engine', 'poetry'],
  address: { city: 'London', zip: 'W1' },
}, null, 1);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}

const fmt = (ms: number) => ms.toFixed(3);

console.log(`document: ${DOCUMENT.length} characters, median of ${RUNS} replays per step, Node ${process.versions.node}`);
console.log('| vocab | tokens | trie nodes | build ms | grammar | steps | walk median ms | walk p90 ms | cached mean ms | allowed (median) |');
console.log('|---|---|---|---|---|---|---|---|---|---|');
for (const name of VOCABS) {
  const { metadata } = await readGGUFHeader(`${SHARED}models/vocab/ggml-vocab-${name}.gguf`);
  const tokenizer = Tokenizer.fromGGUF(metadata);
  const t0 = performance.now();
  const vocab = grammarVocabulary(tokenizer);
  const buildMs = performance.now() - t0;
  const tokens = tokenizer.encode(DOCUMENT, { addSpecial: false });
  for (const [label, text] of [['schema', jsonSchemaToGrammar(SCHEMA)], ['json_object', jsonObjectGrammar()]] as const) {
    const grammar = parseGrammar(text);
    const walker = new TrieWalker(vocab.trie);
    const mask = new Uint32Array((tokenizer.vocabSize + 31) >>> 5);
    const perStep: number[][] = tokens.map(() => []);
    const allowed: number[] = [];
    for (let run = 0; run < RUNS; run++) {
      const matcher = new GrammarMatcher(grammar);
      tokens.forEach((id, step) => {
        mask.fill(0);
        // A fresh state space each step: no transition learnt at an earlier step is reused.
        const t = performance.now();
        const space = new StateSpace(grammar);
        const n = walker.fill(space, space.canonical(matcher.stacks), matcher.utf8State, mask);
        perStep[step]!.push(performance.now() - t);
        if (run === 0) allowed.push(n);
        if (!matcher.acceptBytes(tokenizer.tokenToPiece(id, { special: false }))) throw new Error(`${name}: the document leaves the grammar at token ${step}`);
      });
    }
    const cached: number[] = [];
    for (let run = 0; run < RUNS; run++) {
      const constraint = new TokenConstraint(grammar, vocab, tokenizer.vocabSize, true);
      const t = performance.now();
      for (const id of tokens) {
        constraint.mask();
        constraint.accept(id);
      }
      cached.push((performance.now() - t) / tokens.length);
    }
    const walk = perStep.map(median);
    console.log(`| ${name} | ${tokenizer.vocabSize.toLocaleString('en-US')} | ${vocab.trie.size.toLocaleString('en-US')} | ${buildMs.toFixed(0)} | ${label} | ${tokens.length} | ${fmt(median(walk))} | ${fmt(quantile(walk, 0.9))} | ${fmt(median(cached))} | ${median(allowed).toLocaleString('en-US')} |`);
  }
}
