/**
 * `wasm-chord run -m MODEL -p PROMPT [...]`: generates text, streaming it to stdout, with
 * prompt/decode speed on stderr; or, with --json, one JSON object on stdout. With -cnv, an
 * interactive chat (chat-loop.ts). Options are checked before the model is loaded
 * (run-options.ts); loading shows a progress line on a terminal (progress.ts).
 */
import { WasmChordError } from '../errors.js';
import { CommandOutput } from './terminal.js';
import { WasmChord } from '../runtime/wasm-chord.js';
import type { Model, Prompt } from '../runtime/model.js';
import { parseRunArgs, USAGE, type RunArgs } from './run-options.js';
import { loadProgress } from './progress.js';
import { chatLoop, streamReply } from './chat-loop.js';

export async function runCommand(argv: string[]): Promise<number> {
  const args = await parseRunArgs(argv);
  if (args === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }

  const abort = new AbortController();
  const onSigint = () => abort.abort();
  process.once('SIGINT', onSigint);
  // A closed stdout (`| head`) stops the generation at its next step, quietly.
  const out = new CommandOutput({ raw: args.json, onClosed: () => abort.abort() });
  const runtime = await WasmChord.init({ threads: args.threads, ...args.backend });
  try {
    const model = await load(runtime, args, abort.signal);
    try {
      if (args.conversation) {
        // The chat handles Ctrl-C itself: it stops a reply, not the command.
        process.off('SIGINT', onSigint);
        await chatLoop({ model, system: args.system, firstMessage: args.prompt, infer: args.infer, out, signal: abort.signal });
      } else {
        await complete(model, args, out, abort.signal);
      }
      await out.end();
    } finally {
      await model.dispose();
    }
  } finally {
    process.off('SIGINT', onSigint);
    await runtime.dispose();
  }
  return 0;
}

async function load(runtime: WasmChord, args: RunArgs, signal: AbortSignal): Promise<Model> {
  const progress = loadProgress(args.model);
  try {
    return await runtime.loadModel(args.model, {
      contextSize: args.contextSize,
      kvType: args.kvType,
      cache: args.cache,
      cacheDir: args.cacheDir,
      signal,
      onProgress: progress.onProgress,
      onDownloadProgress: progress.onDownloadProgress,
    });
  } finally {
    progress.clear();
  }
}

/** One prompt, one completion. */
async function complete(model: Model, args: RunArgs, out: CommandOutput, signal: AbortSignal): Promise<void> {
  const text = args.prompt!;
  const prompt: Prompt = args.chat
    ? [...(args.system !== undefined ? [{ role: 'system', content: args.system }] : []), { role: 'user', content: text }]
    : text;
  // Like llama.cpp's CLI, a raw prompt is echoed so that the continuation reads on from it.
  if (!args.json && !args.chat) out.write(text);
  const { result } = await streamReply(model, prompt, { ...args.infer, signal }, (t) => {
    if (!args.json) out.write(t);
  });
  if (out.closed) return;
  if (args.json) {
    if (!result) throw new WasmChordError('ABORTED', 'generation was interrupted');
    const json = {
      prompt_tokens: result.promptTokens,
      tokens: result.tokens,
      text: result.text,
      stop_reason: result.stopReason,
      timings: { prefill_tps: result.timings.prefillTokensPerSecond, decode_tps: result.timings.decodeTokensPerSecond },
    };
    out.write(`${JSON.stringify(json)}\n`);
    return;
  }
  out.write('\n');
  if (result) {
    const t = result.timings;
    process.stderr.write(
      `prefill: ${result.promptTokens.length} tokens, ${t.prefillTokensPerSecond.toFixed(1)} tokens/s; ` +
        `decode: ${result.tokens.length} tokens, ${t.decodeTokensPerSecond.toFixed(1)} tokens/s [${model.info.backend}]\n`,
    );
  }
}
