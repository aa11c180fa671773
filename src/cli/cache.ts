/**
 * `wasm-chord cache ls [--json]` and `wasm-chord cache rm SOURCE|--all`: the models in the model
 * cache (what `pull` and loading a URL or Hugging Face id put there).
 */
import { parseArgs } from 'node:util';
import { WasmChordError } from '../errors.js';
import { ModelCache } from '../runtime/model-cache.js';
import { formatBytes } from '../format.js';
import { CommandOutput } from './terminal.js';

const USAGE = `usage: wasm-chord cache ls [--json] [--cache-dir DIR]
       wasm-chord cache rm SOURCE|PATH|--all [--cache-dir DIR]
  ls            the cached models: size, source, path (--json: [{ "source", "path", "bytes" }])
  rm            deletes one model (by its source as listed, its URL or hf id, or its path), or --all
  --cache-dir   the model cache (default: $WASM_CHORD_CACHE_DIR, else the user cache directory)
`;

export async function cacheCommand(argv: string[]): Promise<number> {
  const { values: v, positionals } = parseArgs({
    args: argv,
    options: {
      json: { type: 'boolean', default: false },
      all: { type: 'boolean', default: false },
      'cache-dir': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    allowPositionals: true,
  });
  if (v.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const [action, ...rest] = positionals;
  if (action === 'ls' && rest.length === 0 && !v.all) return list(await ModelCache.open({ cacheDir: v['cache-dir'] }), v.json);
  if (action === 'rm' && !v.json && (v.all ? rest.length === 0 : rest.length === 1)) {
    return remove(await ModelCache.open({ cacheDir: v['cache-dir'] }), v.all ? undefined : rest[0]!);
  }
  throw new WasmChordError('INVALID_ARGUMENT', USAGE.trimEnd());
}

async function list(cache: ModelCache, json: boolean): Promise<number> {
  const entries = await cache.list();
  const out = new CommandOutput({ raw: json });
  if (json) {
    out.write(`${JSON.stringify(entries.map(({ source, path, bytes }) => ({ source, path, bytes })))}\n`);
  } else if (entries.length === 0) {
    out.write(`no models in ${cache.location}\n`);
  } else {
    const sizes = entries.map((e) => formatBytes(e.bytes));
    const width = Math.max(...sizes.map((s) => s.length));
    for (const [i, e] of entries.entries()) out.write(`${sizes[i]!.padStart(width)}  ${e.source}\n${' '.repeat(width)}  ${e.path}\n`);
  }
  await out.end();
  return 0;
}

async function remove(cache: ModelCache, model: string | undefined): Promise<number> {
  const targets = model === undefined ? await cache.list() : [await cache.find(model)];
  if (targets[0] === undefined && model !== undefined) {
    throw new WasmChordError('INVALID_ARGUMENT', `${model} is not in the model cache (${cache.location}); see wasm-chord cache ls`);
  }
  const out = new CommandOutput();
  for (const entry of targets) {
    if (entry && (await cache.delete(entry.source))) out.write(`removed ${entry.source}\n`);
  }
  await out.end();
  return 0;
}
