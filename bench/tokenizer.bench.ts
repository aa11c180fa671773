// Tokenizer throughput on 100 KB of English: node --import tsx bench/tokenizer.bench.ts
//
// The text is the English prose of ../shared (DESIGN.md, models/SOURCES.md, reference/README.md)
// repeated and cut to 102,400 UTF-8 bytes, so every run measures the same input. For each
// vocabulary it reports the median of RUNS runs:
// - encode, cold: the first encode on a freshly built tokenizer (lazy tables, empty word cache);
// - encode, warm: encoding the same text again (BPE's word cache now full);
// - decode and stream decode of the resulting ids;
// - llama.cpp (node-llama-cpp, vocabulary-only load) encoding the same text, when installed
//   (`npm install --prefix bench/peer`), with the ratio of our cold encode to it and a check that both
//   produce the same ids. Encoding adds no BOS on either side.
import { readFileSync } from 'node:fs';
import { readGGUFHeader, type GGUFMetadata } from '../src/gguf/index.js';
import { Tokenizer } from '../src/tokenizer/index.js';
import { SHARED } from '../test/helpers/shared.js';
import { nativeLlama } from './peer.js';
const VOCABS = ['gpt-2', 'llama-spm'];
const TEXT_BYTES = 100 * 1024;
const RUNS = 7;

/** The prose repeated, cut to at most `bytes` UTF-8 bytes at a character boundary. */
function englishText(bytes: number): string {
  const prose = ['DESIGN.md', 'models/SOURCES.md', 'reference/README.md']
    .map((f) => readFileSync(`${SHARED}${f}`, 'utf8'))
    .join('\n');
  const all = new TextEncoder().encode(prose.repeat(Math.ceil(bytes / prose.length) + 1));
  let end = bytes;
  while ((all[end]! & 0xc0) === 0x80) end--; // the byte after the cut continues a character
  return new TextDecoder().decode(all.subarray(0, end));
}

async function readMetadata(name: string): Promise<GGUFMetadata> {
  return (await readGGUFHeader(`${SHARED}models/vocab/ggml-vocab-${name}.gguf`)).metadata;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

function time(f: () => void): number {
  const t0 = performance.now();
  f();
  return performance.now() - t0;
}

const text = englishText(TEXT_BYTES);
const rate = (tokens: number, ms: number) => `${Math.round((tokens / ms) * 1000).toLocaleString('en-US')}`;

const llama = await nativeLlama();
console.log(`input: ${new TextEncoder().encode(text).length} bytes of English, median of ${RUNS} runs, Node ${process.versions.node}`);
console.log('| vocab | tokens | build ms | encode cold ms | encode cold tok/s | encode warm ms | encode warm tok/s | decode tok/s | stream decode tok/s | llama.cpp encode tok/s | cold / llama.cpp |');
console.log('|---|---|---|---|---|---|---|---|---|---|---|');
for (const name of VOCABS) {
  const metadata = await readMetadata(name);
  const build: number[] = [];
  const cold: number[] = [];
  const warm: number[] = [];
  const decode: number[] = [];
  const streamDecode: number[] = [];
  let ids: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    let tok!: Tokenizer;
    build.push(time(() => (tok = Tokenizer.fromGGUF(metadata))));
    cold.push(time(() => (ids = tok.encode(text, { addSpecial: false }))));
    warm.push(time(() => tok.encode(text, { addSpecial: false })));
    decode.push(time(() => tok.decode(ids)));
    streamDecode.push(
      time(() => {
        const stream = tok.createStreamDecoder();
        for (const id of ids) stream.push(id);
        stream.flush();
      }),
    );
  }
  const n = ids.length;
  let peerColumns = '| – | – |';
  if (llama) {
    const peer = await llama.loadModel({ modelPath: `${SHARED}models/vocab/ggml-vocab-${name}.gguf`, vocabOnly: true });
    const peerMs: number[] = [];
    let peerIds: number[] = [];
    for (let run = 0; run < RUNS; run++) peerMs.push(time(() => (peerIds = peer.tokenize(text))));
    await peer.dispose();
    if (peerIds.length !== n || peerIds.some((id, i) => id !== ids[i])) throw new Error(`${name}: llama.cpp's tokens differ from ours`);
    peerColumns = `| ${rate(n, median(peerMs))} | ${(median(peerMs) / median(cold)).toFixed(2)} |`;
  }
  console.log(
    `| ${name} | ${n} | ${median(build).toFixed(0)} | ${median(cold).toFixed(1)} | ${rate(n, median(cold))} | ` +
      `${median(warm).toFixed(1)} | ${rate(n, median(warm))} | ${rate(n, median(decode))} | ${rate(n, median(streamDecode))} ${peerColumns}`,
  );
}
