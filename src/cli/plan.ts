/**
 * `wasm-chord plan -m MODEL [--ctx N] [--kv f16|f32] [--backend cpu|webgpu] [--json]`: will the
 * model run here? Its memory planned from the header alone (a URL or Hugging Face id sends only
 * the header), part by part, against this device's limits; the exit code is 1 when it does not
 * fit, with the largest context that does.
 */
import { parseArgs } from 'node:util';
import { WasmChordError } from '../errors.js';
import { integerOption } from './integer-option.js';
import { planModel, type MemoryPlan, type PlanBackend } from '../runtime/plan.js';
import type { KVCacheType } from '../backends/backend.js';
import { CommandOutput } from './terminal.js';

const USAGE = `usage: wasm-chord plan -m MODEL [options]
  -m, --model MODEL         a path, an http(s) URL, hf://owner/repo/file.gguf or owner/repo:QUANT
  -c, --ctx N               context size (default: the model's, at most 4096)
      --kv f16|f32          KV cache type (default f16)
  -b, --batch N             most prompt tokens per step (default 512)
  -t, --threads N           CPU worker threads (default: the cores available)
      --backend cpu|webgpu  the backend to plan for (default cpu)
      --cache-dir DIR       the model cache, where a downloaded model is read from
      --json                one JSON object (total_bytes, weights_bytes, kv_bytes, scratch_bytes, limit_bytes, fits, suggestion)
`;

export async function planCommand(argv: string[]): Promise<number> {
  const { values: v } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string', short: 'm' },
      ctx: { type: 'string', short: 'c' },
      kv: { type: 'string' },
      batch: { type: 'string', short: 'b' },
      threads: { type: 'string', short: 't' },
      backend: { type: 'string' },
      'cache-dir': { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (v.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (!v.model) throw new WasmChordError('INVALID_ARGUMENT', `give a model with -m\n${USAGE}`);
  const plan = await planModel(v.model, {
    contextSize: integerOption('--ctx', v.ctx),
    batchSize: integerOption('--batch', v.batch),
    threads: integerOption('--threads', v.threads),
    kvType: v.kv as KVCacheType | undefined,
    backend: v.backend as PlanBackend | undefined,
    cacheDir: v['cache-dir'],
  });
  const out = new CommandOutput({ raw: v.json });
  out.write(v.json ? `${JSON.stringify(toJson(plan))}\n` : toText(plan));
  await out.end();
  return plan.fits ? 0 : 1;
}

function toJson(p: MemoryPlan) {
  return {
    backend: p.backend,
    architecture: p.architecture,
    context_size: p.contextSize,
    kv_type: p.kvType,
    batch_size: p.batchSize,
    total_bytes: p.totalBytes,
    weights_bytes: p.weightsBytes,
    kv_bytes: p.kvBytes,
    scratch_bytes: p.scratchBytes,
    exact: p.exact,
    memories: p.memories ?? null,
    limit_bytes: p.limitBytes ?? null,
    limits: p.limits.map((l) => ({ name: l.name, of: l.of, bytes: l.bytes ?? null, note: l.note })),
    fits: p.fits,
    reason: p.reason ?? null,
    suggestion: p.suggestion ? { context_size: p.suggestion.contextSize, kv_type: p.suggestion.kvType, total_bytes: p.suggestion.totalBytes } : null,
  };
}

const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;

function toText(p: MemoryPlan): string {
  const rows: [string, string][] = [
    ['weights', mib(p.weightsBytes)],
    [`KV cache (${p.contextSize} x ${p.kvType})`, mib(p.kvBytes)],
    [p.exact ? 'scratch' : 'scratch (estimate)', mib(p.scratchBytes)],
    ...(p.memories && p.memories > 1 ? [['Wasm memories', `${p.memories}`] as [string, string]] : []),
    ['total', mib(p.totalBytes)],
    ...p.limits.map((l): [string, string] => [`limit: ${l.name}${l.of === 'buffer' ? (p.backend === 'cpu' ? ' (per memory)' : ' (per buffer)') : ''}`, l.bytes === undefined ? 'not checked' : mib(l.bytes)]),
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  const lines = [`${p.architecture} on the ${p.backend} backend, context ${p.contextSize}, batch ${p.batchSize}`, ...rows.map(([k, val]) => `  ${k.padEnd(width)}  ${val.padStart(12)}`)];
  lines.push(p.fits ? 'fits' : `does not fit: ${p.reason}`);
  if (p.suggestion) lines.push(`suggestion: --ctx ${p.suggestion.contextSize} --kv ${p.suggestion.kvType} (${mib(p.suggestion.totalBytes)})`);
  else if (!p.fits) lines.push('no context fits: the weights alone are too large');
  return `${lines.join('\n')}\n`;
}
