/**
 * `wasm-chord pull MODEL`: downloads a model (URL, hf://owner/repo/file.gguf, owner/repo:QUANT)
 * into the model cache and prints its path. Progress goes to stderr: a bar rewritten in place on
 * a terminal, a plain line every few seconds elsewhere. Ctrl-C or a cut connection leaves a
 * partial download that the same command resumes.
 */
import { parseArgs } from 'node:util';
import { isWasmChordError, WasmChordError } from '../errors.js';
import { ModelCache, type DownloadProgress } from '../runtime/model-cache.js';
import { formatBytes } from '../format.js';
import { modelName } from './progress.js';
import { CommandOutput } from './terminal.js';

const USAGE = `usage: wasm-chord pull MODEL [options]
  MODEL                     an http(s) URL, hf://owner/repo[@revision]/file.gguf, or owner/repo:QUANT
                            (the repo's .gguf file tagged QUANT, e.g. Q4_K_M)
      --cache-dir DIR       the model cache (default: $WASM_CHORD_CACHE_DIR, else the user cache directory)
      --sha256 HEX          the expected sha256 (Hugging Face files are checked without it)
  -H, --header 'N: V'       an extra request header (repeatable), e.g. 'Authorization: Bearer hf_...'
`;

export async function pullCommand(argv: string[]): Promise<number> {
  const { values: v, positionals } = parseArgs({
    args: argv,
    options: {
      'cache-dir': { type: 'string' },
      sha256: { type: 'string' },
      header: { type: 'string', short: 'H', multiple: true },
      help: { type: 'boolean', short: 'h', default: false },
    },
    allowPositionals: true,
  });
  if (v.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (positionals.length !== 1) throw new WasmChordError('INVALID_ARGUMENT', `give one MODEL to pull\n${USAGE}`);
  const model = positionals[0]!;
  const out = new CommandOutput();
  const cache = await ModelCache.open({ cacheDir: v['cache-dir'] });
  const cached = await cache.find(model);
  if (cached) {
    process.stderr.write(`${model} is already in the cache (${formatBytes(cached.bytes)})\n`);
    out.write(`${cached.path}\n`);
    await out.end();
    return 0;
  }
  const abort = new AbortController();
  const onSigint = () => abort.abort();
  process.once('SIGINT', onSigint);
  const bar = progressBar(modelName(model));
  try {
    const entry = await cache.pull(model, { headers: headers(v.header), sha256: v.sha256, signal: abort.signal, onProgress: bar.update });
    bar.done(entry.bytes);
    out.write(`${entry.path}\n`);
    await out.end();
    return 0;
  } catch (err) {
    bar.clear();
    if (isWasmChordError(err, 'ABORTED')) {
      process.stderr.write('interrupted: run the same command again to resume the download\n');
      return 130;
    }
    throw err;
  } finally {
    process.off('SIGINT', onSigint);
  }
}

function headers(list: string[] | undefined): Record<string, string> | undefined {
  if (!list) return undefined;
  const out: Record<string, string> = {};
  for (const h of list) {
    const colon = h.indexOf(':');
    if (colon <= 0) throw new WasmChordError('INVALID_ARGUMENT', `--header needs "Name: value" (got "${h}")`);
    out[h.slice(0, colon).trim()] = h.slice(colon + 1).trim();
  }
  return out;
}

const BAR_WIDTH = 30;
const REDRAW_MS = 100;
const LINE_MS = 5000;

/** The progress display on stderr: a bar on a terminal, a line every few seconds elsewhere. */
function progressBar(name: string) {
  const stream = process.stderr;
  const tty = stream.isTTY === true;
  const started = performance.now();
  let shownAt = -Infinity;
  let drawn = false;
  const text = ({ loadedBytes, totalBytes, bytesPerSecond, etaSeconds }: DownloadProgress) => {
    const rate = `${formatBytes(Math.round(bytesPerSecond))}/s`;
    if (totalBytes <= 0) return `${name}: ${formatBytes(loadedBytes)}, ${rate}`;
    const share = Math.min(1, loadedBytes / totalBytes);
    const filled = Math.round(share * BAR_WIDTH);
    const bar = tty ? `[${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}] ` : '';
    const eta = Number.isFinite(etaSeconds) ? `, ${duration(etaSeconds)} left` : '';
    return `${tty ? '' : 'downloading '}${name}: ${bar}${Math.floor(share * 100)}% (${formatBytes(loadedBytes)} of ${formatBytes(totalBytes)}), ${rate}${eta}`;
  };
  return {
    update: (p: DownloadProgress) => {
      const now = performance.now();
      if (now - shownAt < (tty ? REDRAW_MS : LINE_MS)) return;
      shownAt = now;
      drawn = tty;
      stream.write(tty ? `\r${text(p)}\x1b[K` : `${text(p)}\n`);
    },
    clear: () => {
      if (drawn) stream.write('\r\x1b[K');
      drawn = false;
    },
    done(bytes: number) {
      if (drawn) stream.write('\r\x1b[K');
      stream.write(`downloaded ${name}: ${formatBytes(bytes)} in ${duration((performance.now() - started) / 1000)}\n`);
    },
  };
}

function duration(seconds: number): string {
  const s = Math.ceil(seconds);
  return s < 60 ? `${s} s` : s < 3600 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}
