#!/usr/bin/env node
/**
 * The wasm-chord command. Each subcommand lives in its own module and is loaded on demand.
 * Errors print as one line on stderr with a non-zero exit code; set WASM_CHORD_DEBUG=1 for
 * the stack trace.
 */
import { readFileSync } from 'node:fs';
import { WasmChordError } from '../errors.js';
import { terminalSafe } from './terminal.js';
import { envVar } from '../platform/env.js';

type Command = (argv: string[]) => Promise<number>;

const COMMANDS: Record<string, { summary: string; load: () => Promise<Command> }> = {
  inspect: {
    summary: 'inspect <file|url> [--json]      print a GGUF file\'s metadata and tensor table',
    load: async () => (await import('./inspect.js')).inspectCommand,
  },
  tokenize: {
    summary: 'tokenize -m <model> [--special] [--json] <text> | --inp <file>   print token ids and pieces',
    load: async () => (await import('./tokenize.js')).tokenizeCommand,
  },
  demo: {
    summary: 'demo [-p PROMPT] [-n N] [--seed S] [--temp T]   a story from the demo model that ships with wasm-chord',
    load: async () => (await import('./demo.js')).demoCommand,
  },
  run: {
    summary: 'run [-m <model>] (-p <prompt> | -f <file> | -cnv) [-n N] [--temp T] [--chat] [--json] ...   generate text or chat (--help for all options)',
    load: async () => (await import('./run.js')).runCommand,
  },
  bench: {
    summary: 'bench -m <model> [-p 512] [-n 128] [-t THREADS] [-r 5] [--json]   prompt and generation speed (llama-bench)',
    load: async () => (await import('./bench.js')).benchCommand,
  },
  pull: {
    summary: 'pull <url|hf://owner/repo/file.gguf|owner/repo:QUANT> [--cache-dir DIR]   download a model into the cache (resumable)',
    load: async () => (await import('./pull.js')).pullCommand,
  },
  cache: {
    summary: 'cache ls [--json] | cache rm <source>|--all   list or delete cached models',
    load: async () => (await import('./cache.js')).cacheCommand,
  },
  split: {
    summary: 'split [--split-max-tensors N | --split-max-size N(M|G)] <in.gguf> <out-prefix>   cut a model into a split set (gguf-split)',
    load: async () => (await import('./split.js')).splitCommand,
  },
  plan: {
    summary: 'plan -m <model> [--ctx N] [--kv f16|f32] [--backend cpu|webgpu] [--json]   will it run here? memory planned from the header alone',
    load: async () => (await import('./plan.js')).planCommand,
  },
  serve: {
    summary: 'serve -m <model> [--host 127.0.0.1] [--port 8080] [--api-key KEY] [--parallel N]   OpenAI-compatible server (/v1/chat/completions, /v1/completions, /v1/models)',
    load: async () => (await import('./serve.js')).serveCommand,
  },
  compare: { summary: 'compare -m <model> -p <prompt> [--backends cpu,reference] [--json]   name the first node where two backends diverge', load: async () => (await import('./compare.js')).compareCommand },
};

function usage(): string {
  const lines = Object.values(COMMANDS).map((c) => `  wasm-chord ${c.summary}`);
  return `usage:\n${lines.join('\n')}\n  wasm-chord --version\n`;
}

/** The package's version: dist/cli/main.js and src/cli/main.ts both sit two levels below package.json. */
function version(): string {
  return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name === undefined ? 2 : 0;
  }
  if (name === '--version') {
    process.stdout.write(`${version()}\n`);
    return 0;
  }
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined; // not "constructor"
  if (!command) {
    process.stderr.write(`wasm-chord: unknown command "${name}"\n${usage()}`);
    return 2;
  }
  return (await command.load())(rest);
}

/** One line for the user, and the exit code: 2 for a usage mistake, 1 for anything else. */
function describe(err: unknown): { line: string; code: number } {
  if (err instanceof WasmChordError) {
    return { line: `wasm-chord: error [${err.code}]: ${err.message}`, code: err.code === 'INVALID_ARGUMENT' ? 2 : 1 };
  }
  if (String((err as NodeJS.ErrnoException)?.code).startsWith('ERR_PARSE_ARGS')) {
    return { line: `wasm-chord: ${(err as Error).message}`, code: 2 };
  }
  // Deno without a permission the command needs (its message names the flag that grants it).
  if (['NotCapable', 'PermissionDenied'].includes((err as Error)?.name)) {
    return { line: `wasm-chord: ${(err as Error).message}`, code: 2 };
  }
  return { line: `wasm-chord: internal error: ${err instanceof Error ? err.message : String(err)}`, code: 1 };
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const { line, code } = describe(err);
    // Messages may quote the model file (names, keys): no raw control characters on a terminal.
    process.stderr.write(`${process.stderr.isTTY ? terminalSafe(line) : line}\n`);
    if (envVar('WASM_CHORD_DEBUG')) console.error(err);
    process.exitCode = code;
  },
);
