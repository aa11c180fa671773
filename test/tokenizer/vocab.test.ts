// llama.cpp's tokenizer test vectors (../shared/models/vocab): every .inp string must give exactly
// the .out ids (add_special=false, parse_special=false), decode back to itself wherever the
// tokenizer is lossless, and stream back one id at a time without a broken character.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { readGGUFHeader } from '../../src/gguf/index.js';
import { Tokenizer } from '../../src/tokenizer/index.js';
import { SHARED } from '../helpers/shared.js';

const VOCAB_DIR = join(SHARED, 'models/vocab');
const SEPARATOR = '\n__ggml_vocab_test__\n';

/** The .inp strings: each is followed by the separator, so the text after the last one is not a string. */
function readInp(path: string): string[] {
  const parts = readFileSync(path, 'utf8').split(SEPARATOR);
  parts.pop();
  return parts;
}

function readOut(path: string): number[][] {
  const lines = readFileSync(path, 'utf8').split('\n');
  lines.pop();
  return lines.map((line) => (line.trim() === '' ? [] : line.trim().split(/\s+/).map(Number)));
}

async function loadTokenizer(path: string): Promise<Tokenizer> {
  return Tokenizer.fromGGUF((await readGGUFHeader(path)).metadata);
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

const vocabs = readdirSync(VOCAB_DIR)
  .filter((f) => f.endsWith('.gguf.inp'))
  .map((f) => f.slice('ggml-vocab-'.length, -'.gguf.inp'.length))
  .sort();

test('the vocab folder has test vectors', () => {
  assert.ok(vocabs.length >= 12, `found ${vocabs.join(', ')}`);
});

for (const name of vocabs) {
  const gguf = join(VOCAB_DIR, `ggml-vocab-${name}.gguf`);
  const strings = readInp(`${gguf}.inp`);
  const expected = readOut(`${gguf}.out`);

  if (!existsSync(gguf)) {
    const reason = `ggml-vocab-${name}.gguf is not in ../shared (over the 4 MiB snapshot limit, see SOURCES.md); its ${strings.length} vectors cannot run`;
    test(`${name}: ${strings.length} vectors`, { skip: reason }, () => {});
    continue;
  }

  describe(`${name} vocabulary`, () => {
    let tok: Tokenizer;
    before(async () => {
      tok = await loadTokenizer(gguf);
    });

    test(`${name}: ${strings.length} vectors give the .out ids`, (t) => {
      assert.equal(expected.length, strings.length, '.inp and .out hold the same number of cases');
      const failures: string[] = [];
      strings.forEach((s, i) => {
        const ids = tok.encode(s, { addSpecial: false, parseSpecial: false });
        if (JSON.stringify(ids) !== JSON.stringify(expected[i])) {
          failures.push(`#${i} ${JSON.stringify(s)}: got [${ids.join(' ')}], want [${expected[i]!.join(' ')}]`);
        }
      });
      t.diagnostic(`${name}: ${strings.length - failures.length}/${strings.length} vectors pass`);
      assert.deepEqual(failures, []);
    });

    // WordPiece is lossy by design (it lower-cases, drops accents and normalises whitespace), so
    // its text does not come back; its tokens must: the decoded text encodes to the same ids.
    const lossy = name.startsWith('bert');
    test(lossy ? `${name}: encode(decode(ids)) == ids` : `${name}: decode(encode(s)) == s`, () => {
      for (const s of strings) {
        const ids = tok.encode(s, { addSpecial: false });
        if (lossy) {
          assert.deepEqual(tok.encode(tok.decode(ids), { addSpecial: false, parseSpecial: true }), ids, `ids of ${JSON.stringify(s)} through their text`);
          continue;
        }
        assert.equal(tok.decode(ids, { cleanSpaces: false }), s, `raw round trip of ${JSON.stringify(s)}`);
        // With the model's own clean-up (llama.cpp's clean_spaces), " ?" loses its space; the
        // only such place in these strings is "😁 ?".
        const cleaned = tok.cleanSpaces ? s.replace('😁 ?', '😁?') : s;
        assert.equal(tok.decode(ids), cleaned, `default round trip of ${JSON.stringify(s)}`);
      }
    });

    test(`${name}: streaming one id at a time gives the decoded text, in whole characters`, () => {
      for (const s of strings) {
        const ids = tok.encode(s, { addSpecial: false });
        for (const options of [{}, { skipSpecial: true }, { cleanSpaces: false }]) {
          const stream = tok.createStreamDecoder(options);
          const chunks = ids.map((id) => stream.push(id));
          chunks.push(stream.flush());
          for (const chunk of chunks) {
            assert.ok(!LONE_SURROGATE.test(chunk), `chunk ${JSON.stringify(chunk)} splits a character`);
            assert.ok(!chunk.includes('\uFFFD'), `chunk ${JSON.stringify(chunk)} holds a broken character`);
          }
          assert.equal(chunks.join(''), tok.decode(ids, options), `stream of ${JSON.stringify(s)}`);
          if (!lossy && options.cleanSpaces === false) assert.equal(chunks.join(''), s);
        }
      }
    });
  });
}
