/**
 * The options of `wasm-chord run`, parsed and checked in full before anything is loaded: a
 * mistyped option is reported as such, not hidden behind a model that failed to load first.
 */
import { readFile } from 'node:fs/promises';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { WasmChordError } from '../errors.js';
import { checkNumber, type NumberRule } from '../validate.js';
import { MAX_THREADS } from '../backends/cpu/backend.js';
import type { KVCacheType } from '../backends/backend.js';
import type { BackendPreference } from '../runtime/backend-registry.js';
import type { InferOptions } from '../runtime/model.js';
import { backendOption } from './backend-option.js';
import { DEMO_MODEL_PATH } from './demo-model.js';

export const USAGE = `usage: wasm-chord run [-m MODEL] (-p PROMPT | -f FILE) [options]
       wasm-chord run -m MODEL -cnv [-sys PROMPT] [options]
  -m, --model MODEL         a GGUF file, an http(s) URL, hf://owner/repo/file.gguf or owner/repo:QUANT
                            (downloads go into the model cache, resumably, once; see wasm-chord pull);
                            default: the demo model that ships with wasm-chord (a small story model)
      --cache-dir DIR       the model cache (default: $WASM_CHORD_CACHE_DIR, else the user cache directory)
      --no-cache            read a URL model with range requests instead of caching it
  -p, --prompt TEXT         the prompt (with --chat: the user message; with -cnv: the first one)
  -f, --file FILE           read the prompt from FILE (one trailing newline dropped, as llama.cpp)
  -cnv, --conversation      interactive chat: user messages from stdin, one a line ("> " on a
                            terminal), replies through the model's chat template; ends on EOF
                            or /exit. Ctrl-C stops a reply, or at the prompt ends the chat
  -sys, --system-prompt TEXT  with --chat or -cnv: a system message
      --chat                apply the model's chat template to the prompt
  -n, --n-predict N         tokens to generate (per reply with -cnv; default 128)
      --temp T              temperature, 0 = greedy (default 0.8)
      --top-k K             (default 40; 0 = off)
      --top-p P             (default 0.95; 1 = off)
      --min-p M             (default 0.05; 0 = off)
      --repeat-penalty R    (default 1 = off)
      --repeat-last-n N     tokens the penalty looks back over (default 64)
      --seed S              PRNG seed (default: random)
      --stop TEXT           stop before this text (repeatable)
      --ignore-eos          keep generating past end-of-generation tokens
      --grammar GBNF        constrain the output to a GBNF grammar (llama.cpp's format)
      --grammar-file FILE   the same, read from FILE
  -j, --json-schema JSON    constrain the output to JSON valid against this JSON Schema
  -c, --ctx-size N          context size (default: the model's, at most 4096)
      --kv-type f16|f32     KV cache type (default f16)
  -t, --threads N           CPU worker threads (default: the cores available)
      --backend B           auto (WebGPU on a hardware adapter, else CPU), cpu, webgpu or
                            reference (default: $WASM_CHORD_BACKEND, else auto)
      --json                print {prompt_tokens, tokens, text, stop_reason, timings} instead of
                            streaming (not with -cnv)
  -h, --help                this text
`;

export interface RunArgs {
  model: string;
  /** The prompt; with `conversation`, the first user message (optional there). */
  prompt: string | undefined;
  /** Apply the chat template (--chat, or implied by -cnv). */
  chat: boolean;
  conversation: boolean;
  system: string | undefined;
  json: boolean;
  threads: number | undefined;
  backend: { backend: BackendPreference; gpuEnabled: boolean };
  contextSize: number | undefined;
  kvType: KVCacheType | undefined;
  /** false with --no-cache; else the runtime's default (the store, where the host has one). */
  cache: false | undefined;
  cacheDir: string | undefined;
  /** Generation options, less the signal. */
  infer: InferOptions;
}

/** The flags of run (every one is in USAGE; the tests check). */
export const RUN_OPTIONS = {
  model: { type: 'string', short: 'm' },
  'cache-dir': { type: 'string' },
  'no-cache': { type: 'boolean', default: false },
  prompt: { type: 'string', short: 'p' },
  file: { type: 'string', short: 'f' },
  conversation: { type: 'boolean', default: false },
  'system-prompt': { type: 'string' },
  chat: { type: 'boolean', default: false },
  'n-predict': { type: 'string', short: 'n' },
  temp: { type: 'string' },
  'top-k': { type: 'string' },
  'top-p': { type: 'string' },
  'min-p': { type: 'string' },
  'repeat-penalty': { type: 'string' },
  'repeat-last-n': { type: 'string' },
  seed: { type: 'string' },
  stop: { type: 'string', multiple: true },
  'ignore-eos': { type: 'boolean', default: false },
  grammar: { type: 'string' },
  'grammar-file': { type: 'string' },
  'json-schema': { type: 'string', short: 'j' },
  'ctx-size': { type: 'string', short: 'c' },
  'kv-type': { type: 'string' },
  threads: { type: 'string', short: 't' },
  backend: { type: 'string' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const satisfies ParseArgsConfig['options'];

/** Numeric flags that are generation options, and the values each accepts. */
const INFER_NUMBERS = {
  'n-predict': { key: 'maxTokens', rule: { min: 0, integer: true } },
  temp: { key: 'temperature', rule: { min: 0, max: 1e6 } },
  'top-k': { key: 'topK', rule: { min: 0, integer: true } },
  'top-p': { key: 'topP', rule: { above: 0, max: 1 } },
  'min-p': { key: 'minP', rule: { min: 0, max: 1 } },
  'repeat-penalty': { key: 'repeatPenalty', rule: { above: 0 } },
  'repeat-last-n': { key: 'penaltyLastN', rule: { min: 0, integer: true } },
  seed: { key: 'seed', rule: { min: 0, max: 2 ** 32 - 1, integer: true } },
} as const satisfies Record<string, { key: keyof InferOptions; rule: NumberRule }>;

/** llama-cli's multi-letter short flags, which parseArgs would read as letter groups (-c -n -v). */
const LONG_SHORTS: Record<string, string> = { '-cnv': '--conversation', '-sys': '--system-prompt' };

function numberOption(flag: string, value: string | undefined, rule: NumberRule): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || Number.isNaN(n)) throw new WasmChordError('INVALID_ARGUMENT', `--${flag} needs a number (got "${value}")`);
  return checkNumber(`--${flag}`, n, rule);
}

function usageError(message: string): WasmChordError {
  return new WasmChordError('INVALID_ARGUMENT', `${message} (wasm-chord run --help lists the options)`);
}

/** The text of a prompt or grammar file. */
async function readTextFile(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw new WasmChordError('SOURCE_IO', `cannot read the ${what} file ${path}: ${(err as Error).message}`, { cause: err });
  }
}

function parseSchema(text: string): object {
  try {
    return JSON.parse(text) as object;
  } catch (err) {
    throw usageError(`--json-schema is not JSON: ${(err as Error).message}`);
  }
}

/** The checked options, or 'help'. Reads the -f file; touches nothing else. */
export async function parseRunArgs(argv: readonly string[]): Promise<RunArgs | 'help'> {
  const { values: v } = parseArgs({
    args: argv.map((a) => LONG_SHORTS[a] ?? a),
    options: RUN_OPTIONS,
  });
  if (v.help) return 'help';

  const conversation = v.conversation;
  const chat = v.chat || conversation;
  if (v.prompt !== undefined && v.file !== undefined) throw usageError('-p and -f both give the prompt: use one of them');
  if (!conversation && v.prompt === undefined && v.file === undefined) throw usageError('-p PROMPT or -f FILE is required (or -cnv for a conversation)');
  if (v['no-cache'] && v['cache-dir'] !== undefined) throw usageError('--no-cache and --cache-dir contradict each other: use one of them');
  if (conversation && v.json) throw usageError('--json and -cnv do not go together: a conversation streams its replies');
  if (v['system-prompt'] !== undefined && !chat) throw usageError('-sys needs --chat or -cnv: a system message goes through the chat template');
  const kvType = v['kv-type'];
  if (kvType !== undefined && kvType !== 'f16' && kvType !== 'f32') throw usageError(`--kv-type must be f16 or f32 (got "${kvType}")`);

  const infer: InferOptions = { maxTokens: 128, ignoreEos: v['ignore-eos'] };
  for (const [flag, { key, rule }] of Object.entries(INFER_NUMBERS)) {
    const n = numberOption(flag, v[flag as keyof typeof INFER_NUMBERS], rule);
    if (n !== undefined) infer[key] = n;
  }
  if (v.stop) infer.stop = v.stop;
  if ([v.grammar, v['grammar-file'], v['json-schema']].filter((x) => x !== undefined).length > 1) {
    throw usageError('--grammar, --grammar-file and --json-schema each give the constraint: use one of them');
  }
  if (v['json-schema'] !== undefined) infer.jsonSchema = parseSchema(v['json-schema']);
  const threads = numberOption('threads', v.threads, { min: 1, max: MAX_THREADS, integer: true });
  const backend = backendOption(v.backend);
  const contextSize = numberOption('ctx-size', v['ctx-size'], { min: 1, integer: true });

  // Last: every option is known good before the files are read.
  if (v['grammar-file'] !== undefined) infer.grammar = await readTextFile(v['grammar-file'], 'grammar');
  else if (v.grammar !== undefined) infer.grammar = v.grammar;
  const prompt = v.file !== undefined ? (await readTextFile(v.file, 'prompt')).replace(/\n$/, '') : v.prompt;
  return {
    model: v.model ?? DEMO_MODEL_PATH,
    prompt,
    chat,
    conversation,
    system: v['system-prompt'],
    json: v.json,
    threads,
    backend,
    contextSize,
    kvType,
    cache: v['no-cache'] ? false : undefined,
    cacheDir: v['cache-dir'],
    infer,
  };
}
