// GBNF grammars: the parser (and its typed errors), the code-point matcher, the token trie's
// masks, and the per-generation constraint, on hand-made vocabularies.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isWasmChordError } from '../../src/errors.js';
import { Sampler } from '../../src/engine/sampler.js';
import { grammarVocabulary, TokenConstraint, type GrammarVocabulary } from '../../src/engine/grammar/constraint.js';
import { GrammarMatcher, grammarAccepts } from '../../src/engine/grammar/matcher.js';
import { parseGrammar } from '../../src/engine/grammar/parser.js';
import { StateSpace } from '../../src/engine/grammar/state-space.js';
import { TokenTrie, TrieWalker } from '../../src/engine/grammar/token-trie.js';

const utf8 = (s: string) => new TextEncoder().encode(s);

function accepts(grammar: string, ...texts: string[]): boolean[] {
  const g = parseGrammar(grammar);
  return texts.map((t) => grammarAccepts(g, t));
}

function refused(grammar: string, pattern: RegExp): void {
  assert.throws(() => parseGrammar(grammar), (e) => isWasmChordError(e, 'GRAMMAR_INVALID') && pattern.test(e.message));
}

describe('GBNF parser', () => {
  test('rules, alternation, grouping, comments and multi-line rules', () => {
    const g = `
      # a comment line
      root ::= greeting ( " " name )+   # trailing comment
      greeting ::= "hi"
        | "hello"
      name ::=
        [A-Z] [a-z]*
    `;
    assert.deepEqual(accepts(g, 'hi Ann', 'hello Bo Cy', 'hello', 'hi ann', 'hey Ann'), [true, true, false, false, false]);
  });

  test('string escapes and code points beyond the BMP', () => {
    const g = String.raw`root ::= "a\n\t\\\"\x41\u00e9\U0001F600" [\x30-\x39] "\[\]"`;
    assert.deepEqual(accepts(g, 'a\n\t\\"Aé😀7[]', 'a\n\t\\"Aé😀x[]'), [true, false]);
  });

  test('character classes: ranges, negation, escapes and any character', () => {
    const g = String.raw`root ::= [a-cx] [^a-z\n] [\]\-] .`;
    assert.deepEqual(accepts(g, 'bQ]€', 'xZ-😀', 'dQ]x', 'aq]x', 'a\n]x', 'aQ-'), [true, true, false, false, false, false]);
  });

  test('repetition: * + ? {m} {m,} {m,n}', () => {
    assert.deepEqual(accepts('root ::= "a"*', '', 'aaaa'), [true, true]);
    assert.deepEqual(accepts('root ::= "a"+', '', 'a', 'aaa'), [false, true, true]);
    assert.deepEqual(accepts('root ::= "a"? "b"', 'b', 'ab', 'aab'), [true, true, false]);
    assert.deepEqual(accepts('root ::= "a"{3}', 'aa', 'aaa', 'aaaa'), [false, true, false]);
    assert.deepEqual(accepts('root ::= "a"{2,}', 'a', 'aa', 'a'.repeat(50)), [false, true, true]);
    assert.deepEqual(accepts('root ::= ("ab"){1,3} "c"', 'c', 'abc', 'ababc', 'abababc', 'ababababc'), [false, true, true, true, false]);
    assert.deepEqual(accepts('root ::= [0-9]{0,2}', '', '7', '42', '421'), [true, true, true, false]);
  });

  test('recursion that consumes first is fine, and nests', () => {
    const g = 'root ::= "(" root ")" | ""';
    assert.deepEqual(accepts(g, '', '()', '((()))', '(()', '())'), [true, true, true, false, false]);
  });

  test('malformed grammars give GRAMMAR_INVALID with the place', () => {
    refused('root ::= "abc', /unterminated string literal at line 1/);
    refused('root ::= [abc', /unterminated character class/);
    refused('root ::= "a" )', /unmatched "\)"/);
    refused('root ::= ( "a"', /expected "\)"/);
    refused('root ::= "\\q"', /unknown escape/);
    refused('root ::= "\\x4"', /2 hex digits/);
    refused('root ::= [z-a]', /reversed/);
    refused('root ::= "a"{3,1}', /maximum below its minimum/);
    refused('root "a"', /expected "::="/);
    refused('root ::= @', /unexpected "@"/);
  });

  test('undefined, missing, duplicated, left-recursive and never-ending rules are refused up front', () => {
    refused('root ::= item\nitem ::= "x" other', /rule "item" refers to undefined rule "other" \(line 2/);
    refused('start ::= "x"', /no "root" rule/);
    refused('root ::= "a"\nroot ::= "b"', /defined twice/);
    refused('root ::= root "a" | "a"', /left recursion: root -> root/);
    refused('root ::= a\na ::= b "x"\nb ::= "c"? a', /left recursion: a -> b -> a/);
    refused('root ::= ( "a"? )*', /left recursion/);
    refused('root ::= "a" root', /"root" can never finish/);
    refused('root ::= "x" | y\ny ::= [^\\x00-\\U0010FFFF]', /"y" can never finish/);
    refused('root ::= "a"{999999999}', /expands to more than/);
  });

  test('hostile sizes: deep nesting and runaway ambiguity are typed errors; long rule chains work', () => {
    refused(`root ::= ${'('.repeat(5000)}"a"${')'.repeat(5000)}`, /nest more than 256 deep/);
    const ambiguous = parseGrammar('root ::= ( "a"? ){0,10000}');
    assert.throws(() => new GrammarMatcher(ambiguous), (e) => isWasmChordError(e, 'GRAMMAR_INVALID') && /too ambiguous/.test(e.message));
    // 20,000 rules, each only naming the next: checked and expanded without recursion.
    const chain = Array.from({ length: 20000 }, (_, i) => `r${i} ::= r${i + 1}`).join('\n');
    assert.deepEqual(accepts(`root ::= r0\n${chain}\nr20000 ::= "x"`, 'x', 'y'), [true, false]);
    refused(`root ::= r0\n${chain}\nr20000 ::= r0 | "x"`, /left recursion/);
  });

  test('a non-string grammar is INVALID_ARGUMENT', () => {
    assert.throws(() => parseGrammar(42 as never), (e) => isWasmChordError(e, 'INVALID_ARGUMENT'));
  });
});

describe('matcher', () => {
  test('advances incrementally, keeps its state on a refused piece, and knows when it can end', () => {
    const m = new GrammarMatcher(parseGrammar('root ::= "ab" "c"?'));
    assert.equal(m.acceptString('a'), true);
    assert.equal(m.isComplete, false);
    assert.equal(m.acceptString('x'), false);
    assert.equal(m.acceptString('b'), true);
    assert.equal(m.isComplete, true);
    assert.equal(m.canContinue, true);
    assert.equal(m.acceptString('c'), true);
    assert.equal(m.isComplete, true);
    assert.equal(m.canContinue, false);
    assert.equal(m.acceptString('c'), false);
  });

  test('UTF-8 split across pieces: partial characters are held, checked as early as possible', () => {
    const g = parseGrammar('root ::= "é" [一-龥] "😀"');
    const bytes = utf8('é中😀');
    const m = new GrammarMatcher(g);
    // Byte by byte: every prefix is accepted, and only the last byte completes the sentence.
    for (let i = 0; i < bytes.length; i++) {
      assert.equal(m.acceptBytes(bytes.subarray(i, i + 1)), true, `byte ${i}`);
      assert.equal(m.isComplete, i === bytes.length - 1);
    }
    // A lead byte that cannot start an acceptable character is refused at once.
    const fresh = new GrammarMatcher(g);
    assert.equal(fresh.acceptBytes(Uint8Array.of(0xe4)), false); // U+4xxx, not é
    assert.equal(fresh.acceptBytes(Uint8Array.of(0xc3)), true); // é starts C3
    assert.equal(fresh.acceptBytes(Uint8Array.of(0xa8)), false); // è, not é
    assert.equal(fresh.acceptBytes(Uint8Array.of(0xa9, 0xe4)), true);
    // Invalid UTF-8 never matches, even under "any character".
    const any = parseGrammar('root ::= .*');
    for (const bad of [[0xff], [0xc0, 0x80], [0xe0, 0x80, 0x80], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0x80]]) {
      assert.equal(new GrammarMatcher(any).acceptBytes(Uint8Array.from(bad)), false, bad.join(','));
    }
  });

  test('ambiguous grammars keep several stacks without duplicates blowing up', () => {
    const g = parseGrammar('root ::= ( "a" | "a" | [a-z] )* "!"');
    const m = new GrammarMatcher(g);
    assert.equal(m.acceptString('a'.repeat(500)), true);
    assert.ok(m.stacks.length <= 4, `${m.stacks.length} stacks`);
    assert.equal(m.acceptString('!'), true);
    assert.equal(m.isComplete, true);
  });
});

/** A vocabulary of the given pieces; ids in order, plus an end-of-generation id after them. */
function vocabulary(pieces: (string | Uint8Array | undefined)[]): GrammarVocabulary {
  const bytes = pieces.map((p) => (typeof p === 'string' ? utf8(p) : p));
  return { pieces: bytes, trie: TokenTrie.build(bytes), endOfGeneration: [pieces.length] };
}

function allowedIds(mask: Uint32Array, n: number): number[] {
  const out: number[] = [];
  for (let id = 0; id < n; id++) if (mask[id >>> 5]! & (1 << (id & 31))) out.push(id);
  return out;
}

describe('token masks', () => {
  // ids:            0    1     2      3     4       5     6          7           8     9
  const PIECES = ['a', 'ab', 'abc', 'b', 'ba', '', undefined, 'é', '"', ' a'];
  const vocab = vocabulary([...PIECES, Uint8Array.of(0xc3), Uint8Array.of(0xa9, 0x62)]); // 10: é's 1st byte, 11: its 2nd + "b"

  test('the trie walk allows exactly the tokens whose bytes the grammar accepts', () => {
    const g = parseGrammar('root ::= "a" ( "b" | "é" "b" )');
    const walker = new TrieWalker(vocab.trie);
    const mask = new Uint32Array(1);
    const space = new StateSpace(g);
    const m = new GrammarMatcher(g);
    walker.fill(space, space.canonical(m.stacks), m.utf8State, mask);
    // "a", "ab", "é..."-less: a token spanning several characters, and a partial prefix ("a" then é's first byte is not one token).
    assert.deepEqual(allowedIds(mask, 12), [0, 1]);
    m.acceptString('a');
    mask.fill(0);
    walker.fill(space, space.canonical(m.stacks), m.utf8State, mask);
    // "b", "é" and é's first byte (a token ending inside a character); never the empty or missing pieces.
    assert.deepEqual(allowedIds(mask, 12), [3, 7, 10]);
    m.acceptBytes(Uint8Array.of(0xc3));
    mask.fill(0);
    walker.fill(space, space.canonical(m.stacks), m.utf8State, mask);
    // Only the token finishing é (and then "b") continues the partial character.
    assert.deepEqual(allowedIds(mask, 12), [11]);
  });

  test('the constraint adds end-of-generation only when complete, and ends when nothing can follow', () => {
    const g = parseGrammar('root ::= "a" "b"?');
    const eog = PIECES.length + 2;
    const v = { ...vocab, endOfGeneration: [eog] };
    const c = new TokenConstraint(g, v, eog + 1, true);
    assert.deepEqual(allowedIds(c.mask()!, eog + 1), [0, 1]);
    c.accept(0);
    assert.equal(c.isComplete, true);
    assert.deepEqual(allowedIds(c.mask()!, eog + 1), [3, eog]);
    assert.equal(c.finished, false);
    c.accept(3);
    assert.equal(c.finished, true);
    assert.equal(c.mask(), undefined);
    // With end-of-generation refused (ignoreEos), a complete sentence still may not end early.
    const noEnd = new TokenConstraint(g, v, eog + 1, false);
    noEnd.accept(0);
    assert.deepEqual(allowedIds(noEnd.mask()!, eog + 1), [3]);
  });

  test('a token the grammar refuses, and a vocabulary that cannot continue, are typed errors', () => {
    const c = new TokenConstraint(parseGrammar('root ::= "a" "z"'), vocab, 13, true);
    assert.throws(() => c.accept(3), (e) => isWasmChordError(e, 'INVALID_ARGUMENT'));
    c.accept(0);
    assert.throws(() => c.mask(), (e) => isWasmChordError(e, 'GRAMMAR_INVALID') && /continue the text "a"/.test(e.message));
  });

  test('masks agree with accepting each token alone, over a random vocabulary and several states', () => {
    let seed = 7;
    const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
    const alphabet = ['a', 'b', '{', '}', '"', ':', ' ', '1', 'é', '中', '\\'];
    const pieces: Uint8Array[] = [];
    for (let i = 0; i < 600; i++) {
      let s = '';
      const len = 1 + Math.floor(rand() * 4);
      for (let k = 0; k < len; k++) s += alphabet[Math.floor(rand() * alphabet.length)];
      let b = utf8(s);
      // Byte-level vocabularies have tokens cut inside a character, and bytes that are not UTF-8.
      if (rand() < 0.2 && b.length > 1) b = b.subarray(0, b.length - 1);
      else if (rand() < 0.1) b = Uint8Array.from([...b, 0x80 + Math.floor(rand() * 0x7f)]);
      pieces.push(b);
    }
    const v = { pieces, trie: TokenTrie.build(pieces), endOfGeneration: [] };
    const grammars: [string, string[]][] = [
      // Bounded: no state repeats.
      ['root ::= "{" ( str ":" " "? [0-9]+ )? "}"\nstr ::= "\\"" [^"]{0,3} "\\""', ['', '{', '{"', '{"a', '{"ab\xe9', '{"a":', '{"a": 1']],
      // Self-looping states (free text, an escape-aware string): whole subtrees are allowed at once.
      ['root ::= "{" [^"]* "\\"" ( [^"\\\\] | "\\\\" . )* "\\"" .*', ['', '{', '{ab', '{a"', '{a"b\\', '{a"中é', '{a""', '{a"" x']],
    ];
    const walker = new TrieWalker(v.trie);
    const mask = new Uint32Array((pieces.length + 31) >>> 5);
    for (const [text, prefixes] of grammars) {
      const g = parseGrammar(text);
      const space = new StateSpace(g);
      for (const prefix of prefixes) {
        const m = new GrammarMatcher(g);
        assert.ok(m.acceptString(prefix), prefix);
        mask.fill(0);
        walker.fill(space, space.canonical(m.stacks), m.utf8State, mask);
        const allowed = new Set(allowedIds(mask, pieces.length));
        pieces.forEach((p, id) => {
          const alone = new GrammarMatcher(g);
          alone.acceptString(prefix);
          assert.equal(allowed.has(id), alone.acceptBytes(p), `${text}: prefix ${JSON.stringify(prefix)}, token ${id} ${JSON.stringify([...p])}`);
        });
      }
    }
  });

  test('special tokens never match text, even where the vocabulary types them as normal', () => {
    const texts = ['<s>', '</s>', 'a', '<pad>', '<ctl>', '<unk>', 'b', ''];
    const types = ['normal', 'normal', 'normal', 'normal', 'control', 'unknown', 'unused', 'normal'];
    const tokenizer = {
      vocabSize: texts.length,
      endOfGenerationIds: [1],
      bos: 0,
      eos: 1,
      pad: 3,
      tokenType: (id: number) => types[id]!,
      tokenToPiece: (id: number) => utf8(texts[id]!),
    };
    const v = grammarVocabulary(tokenizer);
    assert.equal(grammarVocabulary(tokenizer), v, 'built once per tokenizer');
    assert.deepEqual(v.pieces.map((p) => p !== undefined), [false, false, true, false, false, false, false, false]);
    const c = new TokenConstraint(parseGrammar('root ::= [<>/a-z]*'), v, texts.length, true);
    assert.deepEqual(allowedIds(c.mask()!, texts.length), [1, 2]); // "a", and EOS as the text is complete
  });

  test('the sampler bans every token outside the mask, before bias and the rest of the chain', () => {
    const logits = Float32Array.of(5, 1, 4, 3, 2, ...new Array<number>(40).fill(0));
    const mask = new Uint32Array(2);
    for (const id of [2, 4, 33]) mask[id >>> 5]! |= 1 << (id & 31);
    assert.equal(new Sampler({ temperature: 0 }).sample(logits, [], mask), 2);
    assert.equal(new Sampler({ temperature: 0, logitBias: { 0: 10, 4: 3 } }).sample(logits, [], mask), 4);
    const s = new Sampler({ temperature: 1, topK: 0, topP: 1, minP: 0, seed: 3 });
    const seen = new Set<number>();
    for (let i = 0; i < 500; i++) seen.add(s.sample(logits, [], mask));
    assert.deepEqual([...seen].sort((a, b) => a - b), [2, 4, 33]);
  });
});
