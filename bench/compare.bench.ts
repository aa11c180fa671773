/**
 * wasm-chord against native llama.cpp (node-llama-cpp, CPU only) on synthetic models of real
 * shapes (bench/synthetic-model.ts), the two run alternately in one run:
 *
 *   npm install --prefix bench/peer     # once: the native peer
 *   npm run build                       # wasm-chord as users run it (dist/), after every change
 *   node --import tsx bench/compare.bench.ts [--shape tinyllama] [--types q4_0,q8_0,q4_K_M,f16]
 *        [--threads 1,2] [-p 512] [-n 128] [-r 3]
 *
 * Every measurement is one child process: the built `wasm-chord bench -r 1 --json --backend cpu`
 * (not through tsx, whose compiler would count in its memory and load time) for wasm-chord and
 * bench/native-bench.ts (the same tests, token ids and context through node-llama-cpp) for
 * llama.cpp, so that each side's load time and peak resident memory are its own. For each model
 * and thread count, r rounds alternate the two sides (which goes first alternates too), and time
 * reading the file once (through the page cache, as the loads do). Prints two markdown tables:
 * speed (mean ± sd over the rounds, ours/native), and load time and peak memory against the
 * file's read time and size plus the KV cache.
 */
import { lastErrorLine, runNodeChild } from './child-process.js';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { benchContextSize, meanSd, type BenchRecord, type BenchSettings } from '../src/cli/bench.js';
import { kvCacheBytes, SHAPES, syntheticModel, syntheticModelPath } from './synthetic-model.js';

const CLI = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const SRC = fileURLToPath(new URL('../src', import.meta.url));
const DIST = fileURLToPath(new URL('../dist', import.meta.url));

/** The newest modification time of the files under `dir` whose names end with `suffix`. */
function newestMtime(dir: string, suffix: string): number {
  const files = readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile() && e.name.endsWith(suffix));
  return Math.max(0, ...files.map((e) => statSync(`${e.parentPath}/${e.name}`).mtimeMs));
}
/**
 * Whether dist/ holds a build of the sources: its newest .js no older than the newest .ts (tsc
 * rewrites only what changed), and the same generated kernels and worker script (asc leaves an
 * unchanged output file untouched, so their times say nothing).
 */
function distIsCurrent(): boolean {
  if (!existsSync(CLI) || newestMtime(DIST, '.js') < newestMtime(SRC, '.ts')) return false;
  return readdirSync(`${SRC}/backends/cpu/wasm`).every((f) => {
    const built = `${DIST}/backends/cpu/wasm/${f}`;
    return existsSync(built) && readFileSync(built).equals(readFileSync(`${SRC}/backends/cpu/wasm/${f}`));
  });
}
if (!distIsCurrent()) throw new Error('dist/ is missing or older than src/: run `npm run build` first');
const NATIVE = fileURLToPath(new URL('./native-bench.ts', import.meta.url));

const { values: v } = parseArgs({
  options: {
    shape: { type: 'string', default: 'tinyllama' },
    types: { type: 'string', default: 'q4_0,q8_0,q4_K_M' },
    threads: { type: 'string', default: '1' },
    'n-prompt': { type: 'string', short: 'p', default: '512' },
    'n-gen': { type: 'string', short: 'n', default: '128' },
    rounds: { type: 'string', short: 'r', default: '3' },
  },
});
const shape = SHAPES[v.shape];
if (!shape) throw new Error(`--shape must be one of ${Object.keys(SHAPES).join(', ')}`);
const types = v.types.split(',');
const threadCounts = v.threads.split(',').map(Number);
const rounds = Number(v.rounds);
const base: BenchSettings = { nPrompt: Number(v['n-prompt']), nGen: Number(v['n-gen']), threads: 1, repetitions: 1, backend: 'cpu' };

type Side = 'ours' | 'native';
/** One child's records, or why it failed (its last line on stderr). */
type Outcome = BenchRecord[] | { error: string };

function measure(side: Side, path: string, threads: number): Promise<Outcome> {
  const script = side === 'ours' ? [CLI, 'bench'] : ['--import', 'tsx', NATIVE];
  const args = [...script, '-m', path, '-p', `${base.nPrompt}`, '-n', `${base.nGen}`, '-t', `${threads}`, '-r', '1', '--json', '--backend', 'cpu'];
  return runNodeChild(args).then((run) =>
    run.code === 0 ? (JSON.parse(run.stdout) as BenchRecord[]) : { error: lastErrorLine(run).replace(/^wasm-chord: /, '') },
  );
}

/**
 * Milliseconds to read the whole file into fresh memory, as a loader must: 256 MiB buffers, each
 * newly allocated (fs.readFile stops at 2 GiB).
 */
async function readMs(path: string): Promise<number> {
  const file = await open(path, 'r');
  const t0 = performance.now();
  try {
    for (let n = 1; n > 0; ) ({ bytesRead: n } = await file.read(Buffer.allocUnsafe(256 << 20), 0, 256 << 20, null));
  } finally {
    await file.close();
  }
  return performance.now() - t0;
}

interface Row {
  type: string;
  threads: number;
  fileBytes: number;
  kvBytes: number;
  readMs: number[];
  runs: Record<Side, BenchRecord[][]>;
  errors: Record<Side, string | undefined>;
}

const loadBefore = loadavg()[0]!;
const started = new Date();
const rows: Row[] = [];
for (const type of types) {
  if (!existsSync(syntheticModelPath(shape, type))) process.stderr.write(`generating the ${shape.name} ${type} model ...\n`);
  const path = await syntheticModel(shape, type);
  for (const threads of threadCounts) {
    const row: Row = {
      type,
      threads,
      fileBytes: statSync(path).size,
      kvBytes: kvCacheBytes(shape, benchContextSize(base)),
      readMs: [],
      runs: { ours: [], native: [] },
      errors: { ours: undefined, native: undefined },
    };
    rows.push(row);
    for (let r = 0; r < rounds; r++) {
      row.readMs.push(await readMs(path));
      for (const side of (r % 2 === 0 ? ['ours', 'native'] : ['native', 'ours']) as Side[]) {
        if (row.errors[side]) continue;
        const outcome = await measure(side, path, threads);
        if ('error' in outcome) row.errors[side] = outcome.error;
        else row.runs[side].push(outcome);
        const summary = 'error' in outcome ? outcome.error : outcome.map((rec) => `${rec.test} ${rec.tps_mean.toFixed(2)} t/s`).join(', ');
        process.stderr.write(`${type} ${threads}t round ${r + 1} ${side}: ${summary}\n`);
      }
    }
  }
}

// --- the tables ---------------------------------------------------------------------------

const tests = [...(base.nPrompt > 0 ? [`pp${base.nPrompt}`] : []), ...(base.nGen > 0 ? [`tg${base.nGen}`] : [])];
const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(0);
const records = (row: Row, side: Side, test: string) => row.runs[side].map((run) => run.find((rec) => rec.test === test)!);
const tps = (row: Row, side: Side, test: string) => meanSd(records(row, side, test).map((rec) => rec.tps_mean));
const cell = (row: Row, side: Side, fn: (s: { mean: number; sd: number }) => string, test: string) =>
  row.runs[side].length ? fn(tps(row, side, test)) : 'n/a';
const perRun = (row: Row, side: Side, key: 'load_ms' | 'peak_rss_bytes') => row.runs[side].map((run) => run[run.length - 1]![key]);
const max = (xs: number[]) => (xs.length ? Math.max(...xs) : NaN);
const mean = (xs: number[]) => (xs.length ? meanSd(xs).mean : NaN);
const fixed = (x: number, digits: number) => (Number.isFinite(x) ? x.toFixed(digits) : 'n/a');

const cpu = cpus()[0]?.model.trim() ?? '?';
const out: string[] = [
  `synthetic llama ${shape.name} (${shape.nLayer} layers, n_embd ${shape.nEmbd}, ${shape.nHead}/${shape.nHeadKv} heads, n_ff ${shape.nFf}, vocab ${shape.vocab}${shape.tied ? ', tied' : ''}); ` +
    `context ${benchContextSize(base)}, f16 KV; ${rounds} round(s), alternating; ${started.toISOString().slice(0, 10)}, ${cpus().length} × ${cpu}, Node ${process.version}, ` +
    `load average ${loadBefore.toFixed(1)} before, ${loadavg()[0]!.toFixed(1)} after`,
  '',
  '| model | threads | test | wasm-chord t/s | llama.cpp t/s | ours / native |',
  '|---|---:|---|---:|---:|---:|',
];
for (const row of rows) {
  for (const test of tests) {
    const sd = (s: { mean: number; sd: number }) => `${s.mean.toFixed(2)} ± ${s.sd.toFixed(2)}`;
    const ratio = row.runs.ours.length && row.runs.native.length ? (tps(row, 'ours', test).mean / tps(row, 'native', test).mean).toFixed(2) : 'n/a';
    out.push(`| ${row.type} | ${row.threads} | ${test} | ${cell(row, 'ours', sd, test)} | ${cell(row, 'native', sd, test)} | ${ratio} |`);
  }
}
out.push(
  '',
  '| model | threads | file MiB | read file ms | wasm-chord load ms | load / read | llama.cpp load ms | file + KV MiB | wasm-chord peak RSS MiB | RSS / (file + KV) | llama.cpp peak RSS MiB |',
  '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
);
for (const row of rows) {
  const read = mean(row.readMs);
  const load = mean(perRun(row, 'ours', 'load_ms'));
  const rss = max(perRun(row, 'ours', 'peak_rss_bytes'));
  const budget = row.fileBytes + row.kvBytes;
  out.push(
    `| ${row.type} | ${row.threads} | ${mib(row.fileBytes)} | ${fixed(read, 0)} | ${fixed(load, 0)} | ${fixed(load / read, 2)} | ` +
      `${fixed(mean(perRun(row, 'native', 'load_ms')), 0)} | ${mib(budget)} | ${fixed(rss / 2 ** 20, 0)} | ${fixed(rss / budget, 2)} | ` +
      `${fixed(max(perRun(row, 'native', 'peak_rss_bytes')) / 2 ** 20, 0)} |`,
  );
}
for (const row of rows) {
  for (const side of ['ours', 'native'] as Side[]) {
    if (row.errors[side]) out.push(`- ${row.type}, ${row.threads} thread(s), ${side === 'ours' ? 'wasm-chord' : 'llama.cpp'}: ${row.errors[side]}`);
  }
}
process.stdout.write(`${out.join('\n')}\n`);
