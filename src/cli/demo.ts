/**
 * `wasm-chord demo`: a story from the demo model that ships with the package (demo-model.ts),
 * streamed like `wasm-chord run`.
 */
import { parseArgs } from 'node:util';
import { DEMO_MODEL_PATH } from './demo-model.js';
import { runCommand } from './run.js';

export async function demoCommand(argv: string[]): Promise<number> {
  const { values: v } = parseArgs({
    args: argv,
    options: {
      prompt: { type: 'string', short: 'p', default: 'Once upon a time' },
      'n-predict': { type: 'string', short: 'n', default: '256' },
      seed: { type: 'string', default: '42' },
      temp: { type: 'string', default: '0.7' },
    },
  });
  return runCommand(['-m', DEMO_MODEL_PATH, '-p', v.prompt, '-n', v['n-predict'], '--seed', v.seed, '--temp', v.temp]);
}
