/**
 * `wasm-chord serve -m MODEL [--host 127.0.0.1] [--port 8080] [--api-key KEY] [--parallel N]`:
 * the OpenAI-compatible server (src/server/http-server.ts) over one model, until SIGINT/SIGTERM.
 */
import { parseArgs } from 'node:util';
import { WasmChordError } from '../errors.js';
import { integerOption } from './integer-option.js';
import { WasmChord } from '../runtime/wasm-chord.js';
import { serve } from '../server/http-server.js';
import { envVar } from '../platform/env.js';
import { backendOption } from './backend-option.js';
import { modelName, loadProgress } from './progress.js';

const USAGE = `usage: wasm-chord serve -m MODEL [options]
  -m, --model MODEL      a path, an http(s) URL, hf://owner/repo/file.gguf or owner/repo:QUANT
      --host HOST        the address to listen on (default 127.0.0.1: this machine only)
      --port N           default 8080 (0: any free port; the URL is printed)
      --api-key KEY      require "Authorization: Bearer KEY" (default: $WASM_CHORD_API_KEY, else none)
      --parallel N       requests generating at once, each in its own session (default 1); more wait
  -c, --ctx N            context size of each session (default: the model's, at most 4096)
  -n, --max-tokens N     most tokens one request may generate (default 4096)
      --max-body N       largest request body in bytes (default 1048576)
  -t, --threads N        CPU worker threads (default: the cores available)
      --backend B        auto | cpu | webgpu | reference (default auto)
      --cache-dir DIR    the model cache
Routes: POST /v1/chat/completions, POST /v1/completions, GET /v1/models, GET /health.
`;

export async function serveCommand(argv: string[]): Promise<number> {
  const { values: v } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string', short: 'm' },
      host: { type: 'string' },
      port: { type: 'string' },
      'api-key': { type: 'string' },
      parallel: { type: 'string' },
      ctx: { type: 'string', short: 'c' },
      'max-tokens': { type: 'string', short: 'n' },
      'max-body': { type: 'string' },
      threads: { type: 'string', short: 't' },
      backend: { type: 'string' },
      'cache-dir': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (v.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (!v.model) throw new WasmChordError('INVALID_ARGUMENT', `give a model with -m\n${USAGE}`);
  const runtime = await WasmChord.init({ threads: integerOption('--threads', v.threads), ...backendOption(v.backend) });
  try {
    const progress = loadProgress(v.model, { announce: true });
    const t0 = performance.now();
    const model = await runtime.loadModel(v.model, { contextSize: integerOption('--ctx', v.ctx), cacheDir: v['cache-dir'], onProgress: progress.onProgress });
    progress.done(performance.now() - t0);
    const server = await serve(model, {
      host: v.host,
      port: integerOption('--port', v.port),
      apiKey: v['api-key'] ?? envVar('WASM_CHORD_API_KEY'),
      parallel: integerOption('--parallel', v.parallel),
      maxTokens: integerOption('--max-tokens', v['max-tokens']),
      maxBodyBytes: integerOption('--max-body', v['max-body']),
      id: modelName(v.model),
    });
    process.stderr.write(`serving ${server.api.id} at ${server.url}/v1 (${model.info.backend})\n`);
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    await server.close();
  } finally {
    await runtime.dispose();
  }
  return 0;
}
