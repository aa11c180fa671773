/**
 * `wasm-chord demo`: builds the demo model (a word-bigram model of a few short stories, see
 * src/demo) and generates from it, streaming, like `wasm-chord run`.
 */
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { buildDemoModel } from '../demo/bigram-model.js';
import { runCommand } from './run.js';

export async function demoCommand(argv: string[]): Promise<number> {
  const { values: v } = parseArgs({
    args: argv,
    options: {
      out: { type: 'string' },
      prompt: { type: 'string', short: 'p', default: 'Once upon a time' },
      'n-predict': { type: 'string', short: 'n', default: '80' },
      seed: { type: 'string', default: '42' },
      temp: { type: 'string', default: '0.7' },
    },
  });
  const path = v.out ?? join(tmpdir(), 'wasm-chord-demo.gguf');
  const bytes = await buildDemoModel();
  await writeFile(path, bytes);
  process.stderr.write(`demo model: ${path} (${(bytes.length / 1024).toFixed(0)} KiB, a word-bigram model written as a 1-layer llama GGUF)\n`);
  return runCommand(['-m', path, '-p', v.prompt, '-n', v['n-predict'], '--seed', v.seed, '--temp', v.temp]);
}
