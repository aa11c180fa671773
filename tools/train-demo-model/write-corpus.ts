/**
 * Writes the demo model's training corpus: generated children's stories, one per line, until the
 * file holds at least the asked-for size.
 *
 *   node --import tsx tools/train-demo-model/write-corpus.ts --seed 1 --mb 40 --out corpus.txt
 *
 * Prints the number of stories, bytes, distinct words and distinct sentences to stderr.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { generateCorpus } from './corpus.js';

const { values } = parseArgs({
  options: {
    seed: { type: 'string', default: '1' },
    mb: { type: 'string', default: '40' },
    out: { type: 'string' },
  },
});

const seed = Number(values.seed);
const mb = Number(values.mb);
if (!values.out || !Number.isInteger(seed) || !(mb > 0)) {
  process.stderr.write('usage: write-corpus.ts --seed N --mb SIZE --out PATH\n');
  process.exit(2);
}

const target = Math.ceil(mb * 1024 * 1024);
const fd = openSync(values.out, 'w');
const words = new Set<string>();
const sentences = new Set<string>();
let stories = 0;
let bytes = 0;
let batch: string[] = [];

const flush = () => {
  if (batch.length === 0) return;
  writeSync(fd, batch.join(''));
  batch = [];
};

for (const story of generateCorpus(seed, Number.MAX_SAFE_INTEGER)) {
  const line = `${story}\n`;
  batch.push(line);
  bytes += Buffer.byteLength(line);
  stories++;
  for (const w of story.toLowerCase().match(/[a-z']+/g) ?? []) words.add(w);
  for (const s of story.split(/(?<=[.!?]"?) (?=["A-Z])/)) sentences.add(s);
  if (batch.length >= 1000) flush();
  if (bytes >= target) break;
}
flush();
closeSync(fd);

process.stderr.write(
  `${values.out}: ${stories} stories, ${bytes} bytes, ${words.size} distinct words, ${sentences.size} distinct sentences\n`,
);
