/**
 * `wasm-chord demo`: builds the demo model (a word-bigram model of a few short stories, see
 * src/demo) and generates from it, streaming, like `wasm-chord run`.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
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
  const bytes = await buildDemoModel();
  // Without --out, a private temporary folder (mode 0700, a fresh random name): no fixed path
  // under /tmp that another user could pre-create as a symlink; removed afterwards.
  const dir = v.out === undefined ? await mkdtemp(join(tmpdir(), 'wasm-chord-demo-')) : undefined;
  const path = v.out ?? join(dir!, 'demo.gguf');
  try {
    await writeFile(path, bytes, { flag: dir ? 'wx' : 'w', mode: 0o600 });
    const where = dir ? 'a temporary file' : path;
    process.stderr.write(`demo model: ${where} (${(bytes.length / 1024).toFixed(0)} KiB, a word-bigram model written as a 1-layer llama GGUF)\n`);
    return await runCommand(['-m', path, '-p', v.prompt, '-n', v['n-predict'], '--seed', v.seed, '--temp', v.temp]);
  } finally {
    if (dir) await rm(dir, { recursive: true, force: true });
  }
}
