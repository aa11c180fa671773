/**
 * Large models on the CPU backend (issue 11): synthetic Llama models of real shapes
 * (bench/synthetic-model.ts) load and generate in Node, and we compare the peak resident memory
 * with the file plus the KV cache, and with what `WasmChord.plan` predicted:
 *
 *   node --import tsx bench/large-model.bench.ts [--shape llama2-7b] [--types q4_0,q8_0]
 *        [--ctx 2048] [-n 16] [-t THREADS] [--fill] [--json]
 *
 * Wasm pages count in the resident set only once written, so a short prompt leaves most of the
 * KV cache (and of the batch scratch) untouched; `--fill` makes the prompt fill the context
 * but for the n generated tokens, so that the peak holds everything the plan counts.
 *
 * Each model runs in a fresh child process (this script with --child), so that its maxRSS is
 * its own: the child plans the model from its header, loads it, generates n tokens greedily
 * (end-of-generation ignored: random weights emit it early) and prints one JSON record. A load
 * that fails (OUT_OF_MEMORY while one Wasm memory is limited to 4 GiB) is a failed row with its
 * error code, not a crash.
 */
import { lastErrorLine, runNodeChild } from './child-process.js';
import { existsSync, statSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { WasmChord } from '../src/index.js';
import { kvCacheBytes, SHAPES, syntheticModel, syntheticModelPath } from './synthetic-model.js';

const { values: v } = parseArgs({
  options: {
    shape: { type: 'string', default: 'llama2-7b' },
    types: { type: 'string', default: 'q4_0,q8_0' },
    ctx: { type: 'string', default: '2048' },
    'n-gen': { type: 'string', short: 'n', default: '16' },
    threads: { type: 'string', short: 't' },
    json: { type: 'boolean', default: false },
    fill: { type: 'boolean', default: false },
    child: { type: 'string' }, // internal: measure the model at this path
  },
});
const contextSize = Number(v.ctx);
const nGen = Number(v['n-gen']);
const threads = v.threads === undefined ? undefined : Number(v.threads);

/** What a child measures; `error` set when planning, loading or generating failed. */
interface Measurement {
  plannedBytes?: number;
  plannedFits?: boolean;
  loadMs?: number;
  tokens?: number;
  tgTps?: number;
  backend?: string;
  peakRssBytes: number;
  error?: { code: string; message: string };
}

async function child(path: string): Promise<Measurement> {
  const peak = () => process.resourceUsage().maxRSS * 1024;
  const m: Measurement = { peakRssBytes: 0 };
  try {
    // Planned before the load, from the header alone, as a caller asking "will it run?" would.
    const plan = await WasmChord.plan(path, { contextSize, threads });
    m.plannedBytes = plan.totalBytes;
    m.plannedFits = plan.fits;
    const runtime = await WasmChord.init({ backend: 'cpu', threads });
    try {
      const t0 = performance.now();
      const model = await runtime.loadModel(path, { contextSize });
      m.loadMs = performance.now() - t0;
      m.backend = model.info.backend;
      let prompt = 'Once upon a time';
      if (v.fill) while (model.tokenize(prompt).length < contextSize - nGen - 1) prompt += ' there was a little cat named Lily';
      const result = await model.generate(prompt, { maxTokens: nGen, temperature: 0, ignoreEos: true });
      m.tokens = result.tokens.length;
      m.tgTps = result.timings.decodeTokensPerSecond;
    } finally {
      await runtime.dispose();
    }
  } catch (err) {
    const e = err as { code?: string; name?: string; message?: string };
    m.error = { code: e.code ?? e.name ?? 'Error', message: e.message ?? String(err) };
  }
  m.peakRssBytes = peak();
  return m;
}

if (v.child) {
  process.stdout.write(`${JSON.stringify(await child(v.child))}\n`);
  process.exit(0); // the worker pool of a failed load must not keep the child alive
}

/** Runs one child; a child that dies (killed for memory, say) becomes an error record. */
function measure(path: string): Promise<Measurement> {
  const args = ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', path, '--ctx', `${contextSize}`, '-n', `${nGen}`];
  if (v.fill) args.push('--fill');
  if (threads !== undefined) args.push('-t', `${threads}`);
  return runNodeChild(args).then((run) => {
    const last = run.stdout.trim().split('\n').pop() ?? '';
    if (run.code === 0 && last.startsWith('{')) return JSON.parse(last) as Measurement;
    return { peakRssBytes: NaN, error: { code: run.signal ?? `exit ${run.code}`, message: lastErrorLine(run) } };
  });
}

const shape = SHAPES[v.shape];
if (!shape) throw new Error(`--shape must be one of ${Object.keys(SHAPES).join(', ')}`);
const kvBytes = kvCacheBytes(shape, contextSize);

interface Row extends Measurement {
  model: string;
  fileBytes: number;
  kvBytes: number;
}
const rows: Row[] = [];
for (const type of v.types.split(',')) {
  if (!existsSync(syntheticModelPath(shape, type))) process.stderr.write(`generating the ${shape.name} ${type} model ...\n`);
  const path = await syntheticModel(shape, type);
  const row: Row = { model: `${shape.name} ${type}`, fileBytes: statSync(path).size, kvBytes, ...(await measure(path)) };
  rows.push(row);
  process.stderr.write(`${row.model}: ${row.error ? `${row.error.code}: ${row.error.message}` : `${row.tokens} tokens, ${row.tgTps?.toFixed(2)} t/s`}\n`);
}

if (v.json) {
  process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
} else {
  const mib = (bytes: number | undefined) => (bytes !== undefined && Number.isFinite(bytes) ? (bytes / 2 ** 20).toFixed(0) : 'n/a');
  const fixed = (x: number | undefined, digits: number) => (x !== undefined && Number.isFinite(x) ? x.toFixed(digits) : 'n/a');
  const out = [
    `context ${contextSize} (f16 KV${v.fill ? ', filled by the prompt' : ''}), ${nGen} tokens greedy, threads ${threads ?? 'default'}; ${new Date().toISOString().slice(0, 10)}, ` +
      `${cpus().length} × ${cpus()[0]?.model.trim() ?? '?'}, Node ${process.version}`,
    '',
    '| model | file MiB | KV MiB | planned MiB | peak RSS MiB | peak / (file + KV) | planned / peak | load s | tg t/s | backend |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---|',
  ];
  for (const r of rows) {
    const planned = `${mib(r.plannedBytes)}${r.plannedFits === false ? ' (does not fit)' : ''}`;
    // A failed child's peak is that of a model never loaded: no ratio to compare.
    const peak = r.error ? NaN : r.peakRssBytes;
    out.push(
      `| ${r.model} | ${mib(r.fileBytes)} | ${mib(r.kvBytes)} | ${planned} | ${mib(r.peakRssBytes)} | ` +
        `${fixed(peak / (r.fileBytes + r.kvBytes), 2)} | ${fixed((r.plannedBytes ?? NaN) / peak, 2)} | ` +
        `${fixed((r.loadMs ?? NaN) / 1000, 1)} | ${fixed(r.tgTps, 2)} | ${r.error ? `failed: ${r.error.code}` : r.backend} |`,
    );
  }
  for (const r of rows) if (r.error) out.push(`- ${r.model}: ${r.error.code}: ${r.error.message}`);
  process.stdout.write(`${out.join('\n')}\n`);
}
