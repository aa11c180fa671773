// The demo model's training corpus generator (tools/train-demo-model/corpus.ts): deterministic for
// a seed, a small closed alphabet, well-formed sentences and quotes, varied plots and openings,
// lengths within bounds, and pronouns that agree with every character.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/engine/rng.js';
import {
  MAX_WORDS, MIN_WORDS, OBJECTS, PLACES, SCHEMAS, SPECIES, article, generateCorpus, generateStory, tellStory,
  type Story,
} from '../../tools/train-demo-model/corpus.js';

const N = 2000;
const stories: Story[] = (() => {
  const rng = new Rng(20240601);
  return Array.from({ length: N }, () => tellStory(rng));
})();

/** Sentences, keeping a closing quote with the sentence it ends. */
const sentences = (text: string) => text.split(/(?<=[.!?]"?) (?=["A-Z])/);

test('the same seed gives the same stories, another seed other stories', () => {
  const a = [...generateCorpus(1, 40)];
  const b = [...generateCorpus(1, 40)];
  const c = [...generateCorpus(2, 40)];
  assert.equal(a.length, 40);
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
  assert.equal(a.filter((s, i) => s === c[i]).length, 0);
  assert.equal(generateStory(new Rng(7)), generateStory(new Rng(7)));
});

test('every story is one well-formed paragraph in the closed alphabet', () => {
  for (const { text } of stories) {
    assert.match(text, /^[A-Za-z .,!?"']+$/, text);
    assert.ok(!text.includes('  '), `double space: ${text}`);
    assert.match(text, /^[A-Z]/, text);
    assert.match(text, /[.!?]"?$/, text);
    assert.equal((text.match(/"/g) ?? []).length % 2, 0, `unbalanced quotes: ${text}`);
    // Quotes open after a space (or at the start) and close before a space, comma-free tag or end.
    assert.ok(!/[A-Za-z]"[A-Za-z]/.test(text), `quote glued to words: ${text}`);
    // A sentence ends before a capital letter or an opening quote, never before a lowercase word.
    assert.ok(!/[.!?] [a-z]/.test(text), `lowercase after a full stop: ${text}`);
    assert.ok(!/ [.,!?]|[,.][,.!?]|[,.!?][A-Za-z]/.test(text), `bad punctuation: ${text}`);
    // Articles agree with the next word (no word here starts with a "you" sound or a silent h).
    assert.ok(!/\ba [aeiou]/i.test(text), `"a" before a vowel: ${text}`);
    assert.ok(!/\ban [^aeiou]/i.test(text), `"an" before a consonant: ${text}`);
    assert.ok(!/\b(the|a|and|to|was|he|she|they) \1\b/i.test(text), `doubled word: ${text}`);
  }
});

test('a/an follows the sound of the next word', () => {
  assert.equal(article('apple'), 'an');
  assert.equal(article('old teddy bear'), 'an');
  assert.equal(article('red ball'), 'a');
  assert.equal(article('umbrella'), 'an');
  assert.equal(article('unicorn'), 'a');
  assert.equal(article('one'), 'a');
  assert.equal(article('hour'), 'an');
});

test('lengths stay within bounds', () => {
  const lengths = stories.map((s) => s.text.split(' ').length);
  for (const n of lengths) assert.ok(n >= MIN_WORDS && n <= MAX_WORDS, `length ${n}`);
  const mean = lengths.reduce((a, b) => a + b, 0) / lengths.length;
  assert.ok(mean > 120 && mean < 200, `mean length ${mean}`);
});

test('the stories are varied: openings, plots, sentences, schemas', () => {
  const first = new Set(stories.map((s) => sentences(s.text)[0]));
  assert.ok(first.size > N * 0.75, `${first.size} distinct first sentences`);

  // Plots with the names taken out: the set of sentences of each story.
  const names = new Set(stories.flatMap((s) => s.cast.map((c) => c.name)));
  const skeleton = (text: string) => text.replace(/\b[A-Z][a-z]+\b/g, (w) => (names.has(w) ? 'X' : w));
  const plots = new Set(stories.map((s) => [...new Set(sentences(skeleton(s.text)))].sort().join('|')));
  assert.ok(plots.size > N * 0.9, `${plots.size} distinct plots`);
  const firstSkeletons = new Set(stories.map((s) => skeleton(sentences(s.text)[0]!)));
  assert.ok(firstSkeletons.size > N * 0.4, `${firstSkeletons.size} distinct opening shapes`);

  // No sentence is in more than a tenth of the stories.
  const count = new Map<string, number>();
  for (const s of stories) for (const x of new Set(sentences(s.text))) count.set(x, (count.get(x) ?? 0) + 1);
  const [topSentence, top] = [...count].sort((a, b) => b[1] - a[1])[0]!;
  assert.ok(top / N < 0.1, `"${topSentence}" is in ${top} of ${N} stories`);

  // Most, not all, begin with "Once upon a time".
  const once = stories.filter((s) => s.text.startsWith('Once upon a time')).length / N;
  assert.ok(once > 0.6 && once < 0.8, `Once upon a time: ${once}`);

  // Every schema is used; the vocabulary is small but not tiny.
  const used = new Set(stories.map((s) => s.schema));
  assert.equal(used.size, SCHEMAS.length);
  assert.ok(SCHEMAS.length >= 12);
  const words = new Set(stories.flatMap((s) => s.text.toLowerCase().match(/[a-z']+/g) ?? []));
  assert.ok(words.size > 900 && words.size < 2500, `${words.size} distinct words`);
});

test('the slots are rich enough: places, objects, animals, names', () => {
  assert.ok(PLACES.length >= 30, `${PLACES.length} places`);
  assert.ok(OBJECTS.length >= 75, `${OBJECTS.length} objects`);
  assert.ok(SPECIES.length >= 12, `${SPECIES.length} species`);
  const heroes = new Set(stories.map((s) => s.cast[0]!.name));
  assert.ok(heroes.size >= 60, `${heroes.size} hero names`);
  const animals = stories.filter((s) => s.cast[0]!.kind !== 'girl' && s.cast[0]!.kind !== 'boy').length;
  assert.ok(animals > N * 0.1 && animals < N * 0.35, `${animals} animal heroes`);
});

test('pronouns agree with the characters', () => {
  // When every character in a story is female, nothing in it is "he"; when every one is male,
  // nothing is "she". (Things and unnamed animals are "it".)
  let female = 0;
  let male = 0;
  for (const s of stories) {
    if (s.cast.every((c) => c.female)) {
      female++;
      assert.ok(!/\b(he|him|his|himself)\b/i.test(s.text), `he in an all-female story: ${s.text}`);
    }
    if (s.cast.every((c) => !c.female)) {
      male++;
      assert.ok(!/\b(she|her|hers|herself)\b/i.test(s.text), `she in an all-male story: ${s.text}`);
    }
  }
  assert.ok(female > 200 && male > 200, `${female} all-female and ${male} all-male stories`);
  // Where the hero does something to something of theirs ("Lily hugged her ball", "Tom shook
  // his head"), the possessive is the hero's.
  let checked = 0;
  for (const s of stories) {
    const hero = s.cast[0]!;
    const re = new RegExp(`\\b${hero.name} (?:loved|held|hugged|took|shook|crossed|pressed|carried|kicked|closed|filled|ran to|went to) (his|her) `, 'g');
    for (const m of s.text.matchAll(re)) {
      checked++;
      assert.equal(m[1], hero.female ? 'her' : 'his', `${m[0]} in: ${s.text}`);
    }
  }
  assert.ok(checked > 500, `${checked} possessives checked`);
});
