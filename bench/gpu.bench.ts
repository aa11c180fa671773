/**
 * wasm-chord's WebGPU backend against native llama.cpp's Vulkan backend on one GPU, on synthetic
 * models of real shapes (bench/synthetic-model.ts, generated where it runs), the two sides
 * alternating, each measurement a child process (`wasm-chord bench --backend webgpu --json`, and
 * bench/native-bench.ts --backend webgpu):
 *
 *   node --import tsx bench/gpu.bench.ts [--shape tinyllama] [--types q4_0,q8_0,q4_K_M] [-p 512] [-n 128] [-r 3]
 *
 * On the GPU machine (no Node there): see docs/benchmarks.md for the carried bundle. OURS and
 * NATIVE override the two commands (a built CLI, a bundled native-bench). Each round also times
 * our greedy generation (`wasm-chord run --temp 0`: token ids chosen and fed back on the GPU, in
 * chains), beside the bench's tg, which reads every step's logits back as llama-bench does.
 * Prints a markdown table of tokens/s (mean ± sd over the rounds, the first round of each side
 * left out when there are more: llama.cpp compiles its shaders then) and the ratio ours/native;
 * the raw records go to stdout as JSON lines too.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { BenchRecord } from '../src/cli/bench.js';
import { SHAPES, syntheticModel } from './synthetic-model.js';

const { values: v } = parseArgs({
  options: {
    shape: { type: 'string', default: 'tinyllama' },
    types: { type: 'string', default: 'q4_0,q8_0,q4_K_M' },
    'n-prompt': { type: 'string', short: 'p', default: '512' },
    'n-gen': { type: 'string', short: 'n', default: '128' },
    rounds: { type: 'string', short: 'r', default: '3' },
  },
});
const shape = SHAPES[v.shape];
if (!shape) throw new Error(`--shape must be one of ${Object.keys(SHAPES).join(', ')}`);

const tsx = (file: string) => ['--import', 'tsx', fileURLToPath(new URL(file, import.meta.url))];
const OURS = process.env.OURS?.split(' ') ?? tsx('../src/cli/main.ts');
const NATIVE = process.env.NATIVE?.split(' ') ?? tsx('./native-bench.ts');

/** One child process's last line of JSON output, or the reason it printed none (a crash is a result too). */
function measure<T>(command: string[], args: string[]): Promise<T | string> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...command, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('close', (code, signal) => {
      const line = out.trim().split('\n').pop() ?? '';
      if (code === 0 && /^[[{]/.test(line)) resolve(JSON.parse(line) as T);
      else resolve(`exit ${code ?? signal}: ${err.trim().split('\n').slice(-3).join(' | ')}`);
    });
  });
}

/** Our greedy generation of n tokens as a bench record (decode tokens/s). */
async function measureGreedy(path: string, n: string): Promise<BenchRecord[] | string> {
  const r = await measure<{ tokens: number[]; timings: { decode_tps: number } }>(OURS, ['run', '-m', path, '--backend', 'webgpu', '-p', 'Once upon a time', '-n', n, '--temp', '0', '--ignore-eos', '--json']);
  if (typeof r === 'string') return r;
  return [{ test: `tg${n} greedy`, tps_mean: r.timings.decode_tps } as BenchRecord];
}

const rows: string[] = ['| model | test | wasm-chord WebGPU t/s | llama.cpp Vulkan t/s | ratio |', '|---|---|---|---|---|'];
for (const type of v.types.split(',')) {
  const path = await syntheticModel(shape, type);
  const args = ['bench', '-m', path, '--backend', 'webgpu', '-p', v['n-prompt'], '-n', v['n-gen'], '-r', '1', '--json'];
  const runs: Record<'ours' | 'native' | 'greedy', BenchRecord[][]> = { ours: [], native: [], greedy: [] };
  const failures: string[] = [];
  for (let round = 0; round < Number(v.rounds); round++) {
    const order = round % 2 === 0 ? (['ours', 'greedy', 'native'] as const) : (['native', 'ours', 'greedy'] as const);
    for (const side of order) {
      const r = side === 'greedy' ? await measureGreedy(path, v['n-gen']) : await measure<BenchRecord[]>(side === 'ours' ? OURS : NATIVE, side === 'ours' ? args : args.slice(1));
      process.stdout.write(`${JSON.stringify({ type, side, round, result: r })}\n`);
      if (typeof r === 'string') failures.push(`${side}: ${r}`);
      else runs[side].push(r);
    }
  }
  const tg = `tg${v['n-gen']}`;
  for (const [test, ours] of [[`pp${v['n-prompt']}`, 'ours'], [tg, 'ours'], [`${tg} greedy`, 'greedy']] as const) {
    const stat = (side: 'ours' | 'native' | 'greedy') => {
      const rounds = runs[side].length > 1 ? runs[side].slice(1) : runs[side];
      const xs = rounds.flatMap((rs) => rs.filter((r) => r.test === (side === 'native' ? test.replace(' greedy', '') : test)).map((r) => r.tps_mean));
      if (xs.length === 0) return undefined;
      const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
      const sd = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, xs.length - 1));
      return { mean, sd };
    };
    const [o, n] = [stat(ours), stat('native')];
    const show = (s?: { mean: number; sd: number }) => (s ? `${s.mean.toFixed(1)} ± ${s.sd.toFixed(1)}` : 'failed');
    rows.push(`| ${shape.name} ${type} | ${test} | ${show(o)} | ${show(n)} | ${o && n ? (o.mean / n.mean).toFixed(2) : '-'} |`);
  }
  for (const f of failures) rows.push(`| ${shape.name} ${type} | failure | ${f.replace(/\|/g, '/')} | | |`);
}
process.stdout.write(`${rows.join('\n')}\n`);
