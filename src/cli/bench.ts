/**
 * `wasm-chord bench -m MODEL [-p 512] [-n 128] [-t THREADS] [-r 5] [--json]`: prompt processing
 * and generation speed, shaped like llama.cpp's llama-bench.
 *
 * - ppP: P seeded random token ids evaluated in one call on an empty context.
 * - tgN: N single-token steps after a TG_PROMPT-token prompt on an empty context. Each step feeds
 *   the greedy token of the previous logits, end-of-generation or not (random-weight models emit
 *   EOS too), so exactly N steps are timed.
 *
 * Each test runs r times after one short warm-up; tokens/s is reported as mean ± sample standard
 * deviation. ttft_ms is the mean time from a test's prompt on an empty context to its logits (for
 * pp: the whole P-token prompt). load_ms is loadModel's wall time; peak_rss_bytes the process's
 * peak resident set (process.resourceUsage().maxRSS) after the test.
 *
 * The measuring loop (runBenchTests) and the output are exported for bench/native-bench.ts, which
 * measures llama.cpp the same way.
 */
import { parseArgs } from 'node:util';
import { availableParallelism } from 'node:os';
import { WasmChordError } from '../errors.js';
import { backendOption } from './backend-option.js';
import { readGGUFHeader } from '../gguf/open-source.js';
import { argmax } from '../engine/sampler.js';
import { typeName } from '../quant/types.js';
import { WasmChord } from '../runtime/wasm-chord.js';
import { loadProgress } from './progress.js';
import { envVar } from '../platform/env.js';

const USAGE = `usage: wasm-chord bench -m MODEL [options]
  -m, --model PATH|URL    GGUF model file or URL
  -p, --n-prompt N        prompt tokens of the pp test (default 512; 0 = no pp test)
  -n, --n-gen N           generated tokens of the tg test (default 128; 0 = no tg test)
  -t, --threads N         CPU threads (default: the cores available)
  -b, --batch-size N      most prompt tokens per step (default: the backend's, 128 on the CPU)
      --backend B         auto (WebGPU on a hardware adapter, else CPU), cpu, webgpu or
                          reference (default: $WASM_CHORD_BACKEND, else auto)
  -r, --repetitions N     runs of each test (default 5)
      --json              print an array of {test, threads, tps_mean, tps_sd, ttft_ms, load_ms, peak_rss_bytes}
`;

/** Prompt tokens before the timed steps of the tg test. */
export const TG_PROMPT = 4;
/** Single-token steps of the warm-up, after its TG_PROMPT-token prompt. */
const WARMUP_STEPS = 2;
const SEED = 42;

export interface BenchSettings {
  /** Prompt tokens of the pp test (0: none). */
  nPrompt: number;
  /** Timed single-token steps of the tg test (0: none). */
  nGen: number;
  threads: number;
  /** Most prompt tokens per step (undefined: the engine's default). */
  batchSize?: number;
  repetitions: number;
  backend: string;
}

/** One line of `--json`. */
export interface BenchRecord {
  test: string;
  threads: number;
  tps_mean: number;
  tps_sd: number;
  ttft_ms: number;
  load_ms: number;
  peak_rss_bytes: number;
}

/** What the measurement needs from an engine. */
export interface BenchTarget {
  /** Empties the context. */
  reset(): Promise<void>;
  /** Evaluates `ids` appended to the context in one call; resolves when their logits are ready. */
  prompt(ids: number[]): Promise<void>;
  /** `n` single-token steps, each evaluating the greedy token of the previous logits. */
  decode(n: number): Promise<void>;
}

/** The context both tests fit in (and the KV cache a run allocates). */
export function benchContextSize(s: BenchSettings): number {
  return Math.max(s.nPrompt, TG_PROMPT + Math.max(s.nGen, WARMUP_STEPS));
}

/** `count` token ids in [0, vocabSize), the same for the same seed (xorshift32). */
export function benchTokenIds(count: number, vocabSize: number, seed = SEED): number[] {
  let x = seed >>> 0 || 1;
  return Array.from({ length: count }, () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % vocabSize;
  });
}

/** Mean and sample standard deviation (0 for one value). */
export function meanSd(xs: readonly number[]): { mean: number; sd: number } {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const sd = xs.length > 1 ? Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (xs.length - 1)) : 0;
  return { mean, sd };
}

const peakRss = () => process.resourceUsage().maxRSS * 1024;

/** Runs the pp and tg tests on `target` (a model loaded in `loadMs`). */
export async function runBenchTests(target: BenchTarget, s: BenchSettings, vocabSize: number, loadMs: number): Promise<BenchRecord[]> {
  const ids = benchTokenIds(Math.max(s.nPrompt, TG_PROMPT), vocabSize);
  const tgPrompt = ids.slice(0, TG_PROMPT);
  // Warm-up (as llama-bench): a short prompt and two steps, so that the first run is not the one
  // that compiles code and allocates buffers.
  await target.reset();
  await target.prompt(tgPrompt);
  await target.decode(WARMUP_STEPS);

  const records: BenchRecord[] = [];
  const record = (test: string, tps: number[], ttft: number[]) => {
    const { mean, sd } = meanSd(tps);
    records.push({ test, threads: s.threads, tps_mean: mean, tps_sd: sd, ttft_ms: meanSd(ttft).mean, load_ms: loadMs, peak_rss_bytes: peakRss() });
  };
  if (s.nPrompt > 0) {
    const tps: number[] = [];
    const ttft: number[] = [];
    for (let r = 0; r < s.repetitions; r++) {
      await target.reset();
      const t0 = performance.now();
      await target.prompt(ids.slice(0, s.nPrompt));
      const ms = performance.now() - t0;
      tps.push((s.nPrompt * 1000) / ms);
      ttft.push(ms);
    }
    record(`pp${s.nPrompt}`, tps, ttft);
  }
  if (s.nGen > 0) {
    const tps: number[] = [];
    const ttft: number[] = [];
    for (let r = 0; r < s.repetitions; r++) {
      await target.reset();
      const t0 = performance.now();
      await target.prompt(tgPrompt);
      const t1 = performance.now();
      await target.decode(s.nGen);
      tps.push((s.nGen * 1000) / (performance.now() - t1));
      ttft.push(t1 - t0);
    }
    record(`tg${s.nGen}`, tps, ttft);
  }
  return records;
}

/** What llama-bench shows of a model: "llama 1.1B Q4_0", bytes of tensors, parameters. */
export interface ModelSummary {
  label: string;
  bytes: number;
  params: number;
  vocabSize: number;
}

/** The summary of a GGUF file, from its header. */
export async function summarizeModel(location: string): Promise<ModelSummary> {
  const file = await readGGUFHeader(location);
  let bytes = 0;
  let params = 0;
  const byType = new Map<string, number>();
  for (const t of file.tensors) {
    bytes += t.byteLength;
    params += t.elementCount;
    // Matrices name the type; 1-D norms and biases (F32) would not.
    if (t.shape.length >= 2) byType.set(typeName(t.type), (byType.get(typeName(t.type)) ?? 0) + t.byteLength);
  }
  const types = [...byType].sort((a, b) => b[1] - a[1]).map(([name]) => name);
  const size = params >= 1e9 ? `${(params / 1e9).toFixed(1)}B` : params >= 1e6 ? `${Math.round(params / 1e6)}M` : `${Math.round(params / 1e3)}K`;
  const arch = file.metadata.getString('general.architecture') ?? '?';
  const vocabSize = file.tensor('token_embd.weight')?.shape[1] ?? 0;
  return { label: `${arch} ${size} ${types.join('/') || '?'}`, bytes, params, vocabSize };
}

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(2)} MiB`;

/** llama-bench's table, then load time, time to first token and peak memory. */
export function formatBench(model: ModelSummary, backend: string, records: readonly BenchRecord[]): string {
  const params = model.params >= 1e9 ? `${(model.params / 1e9).toFixed(2)} B` : `${(model.params / 1e6).toFixed(2)} M`;
  const rows = [
    ['model', 'size', 'params', 'backend', 'threads', 'test', 't/s'],
    ...records.map((r) => [model.label, mib(model.bytes), params, backend, String(r.threads), r.test, `${r.tps_mean.toFixed(2)} ± ${r.tps_sd.toFixed(2)}`]),
  ];
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => row[c]!.length)));
  const line = (row: string[]) => `| ${row.map((cell, c) => (c >= 4 ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!))).join(' | ')} |`;
  const rule = `| ${widths.map((w, c) => (c >= 4 ? `${'-'.repeat(w - 1)}:` : '-'.repeat(w))).join(' | ')} |`;
  const table = [line(rows[0]!), rule, ...rows.slice(1).map(line)].join('\n');
  const last = records[records.length - 1];
  const ttft = records.map((r) => `${r.test} ${r.ttft_ms.toFixed(1)} ms`).join(', ');
  const tail = last ? `\nload ${last.load_ms.toFixed(0)} ms; time to first token: ${ttft}; peak RSS ${mib(last.peak_rss_bytes)}\n` : '\n';
  return `${table}\n${tail}`;
}

function intOption(name: string, value: string | undefined, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n) || n < min) {
    throw new WasmChordError('INVALID_ARGUMENT', `--${name} needs an integer of at least ${min} (got "${value}")`);
  }
  return n;
}

/** The options wasm-chord bench and bench/native-bench.ts share. */
export function parseBenchArgs(argv: string[]): { model: string; settings: BenchSettings; json: boolean } | 'help' {
  const { values: v } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string', short: 'm' },
      'n-prompt': { type: 'string', short: 'p' },
      'n-gen': { type: 'string', short: 'n' },
      threads: { type: 'string', short: 't' },
      'batch-size': { type: 'string', short: 'b' },
      repetitions: { type: 'string', short: 'r' },
      backend: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (v.help) return 'help';
  if (!v.model) throw new WasmChordError('INVALID_ARGUMENT', `-m is required\n${USAGE}`);
  const settings: BenchSettings = {
    nPrompt: intOption('n-prompt', v['n-prompt'], 512, 0),
    nGen: intOption('n-gen', v['n-gen'], 128, 0),
    threads: intOption('threads', v.threads, availableParallelism(), 1),
    ...(v['batch-size'] === undefined ? {} : { batchSize: intOption('batch-size', v['batch-size'], 0, 1) }),
    repetitions: intOption('repetitions', v.repetitions, 5, 1),
    backend: v.backend ?? envVar('WASM_CHORD_BACKEND') ?? 'auto',
  };
  if (settings.nPrompt === 0 && settings.nGen === 0) throw new WasmChordError('INVALID_ARGUMENT', '-p and -n are both 0: nothing to measure');
  return { model: v.model, settings, json: v.json };
}

export async function benchCommand(argv: string[]): Promise<number> {
  const args = parseBenchArgs(argv);
  if (args === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  const { model: location, settings, json } = args;
  const summary = await summarizeModel(location);
  const runtime = await WasmChord.init({ threads: settings.threads, ...backendOption(settings.backend) });
  try {
    const progress = loadProgress(location, { announce: true });
    const t0 = performance.now();
    const model = await runtime.loadModel(location, { contextSize: benchContextSize(settings), batchSize: settings.batchSize, onProgress: progress.onProgress });
    const loadMs = performance.now() - t0;
    progress.done(loadMs);
    // One array for every step's logits, as llama.cpp keeps one buffer.
    const logits = new Float32Array(model.info.vocabSize);
    const target: BenchTarget = {
      reset: () => model.resetContext(),
      prompt: async (ids) => {
        await model.evaluate(ids, { output: logits });
      },
      decode: async (n) => {
        for (let i = 0; i < n; i++) await model.evaluate([argmax(logits)], { output: logits });
      },
    };
    const records = await runBenchTests(target, settings, model.info.vocabSize, loadMs);
    const backend = model.info.backend.split(' ')[0]!;
    process.stdout.write(json ? `${JSON.stringify(records)}\n` : formatBench(summary, backend, records));
  } finally {
    await runtime.dispose();
  }
  return 0;
}
