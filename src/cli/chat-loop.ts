/**
 * `wasm-chord run -cnv`: an interactive chat, as llama-cli's conversation mode. User messages
 * come from stdin, one a line (after a "> " prompt on a terminal); each reply streams through
 * the model's chat template. The whole conversation is the prompt of every turn, so the session
 * re-uses the KV cache of what it already holds and evaluates only the new turn.
 */
import { createInterface } from 'node:readline';
import { isWasmChordError, WasmChordError } from '../errors.js';
import type { ChatMessage } from '../chat/index.js';
import type { GenerationResult, InferOptions, Model, Prompt } from '../runtime/model.js';
import type { CommandOutput } from './terminal.js';

/**
 * Streams a completion to `write`. An abort (Ctrl-C, a closed stdout) ends it early: what was
 * written stays, and there is no result.
 */
export async function streamReply(
  model: Model,
  prompt: Prompt,
  options: InferOptions,
  write: (text: string) => void,
): Promise<{ text: string; result?: GenerationResult }> {
  const stream = model.generateStream(prompt, options);
  let text = '';
  try {
    for (;;) {
      const step = await stream.next();
      if (step.done) return { text, result: step.value };
      text += step.value.text;
      write(step.value.text);
    }
  } catch (err) {
    if (err instanceof WasmChordError && err.code === 'ABORTED') return { text };
    throw err;
  }
}

export interface ChatLoopOptions {
  model: Model;
  system: string | undefined;
  /** A first user message given on the command line (-p or -f). */
  firstMessage: string | undefined;
  /** Generation options of every reply, less the signal. */
  infer: InferOptions;
  out: CommandOutput;
  /** Ends the chat (stdout closed). */
  signal: AbortSignal;
}

/** The reply to the conversation so far, streamed to `out`. */
async function answer(model: Model, history: readonly ChatMessage[], options: InferOptions, out: CommandOutput): Promise<string> {
  try {
    return (await streamReply(model, history, options, (t) => out.write(t))).text;
  } catch (err) {
    if (!isWasmChordError(err, 'CONTEXT_FULL')) throw err;
    const size = model.info.contextSize;
    throw new WasmChordError('CONTEXT_FULL', `the conversation has outgrown the context (${size} tokens): start a new one, with a larger -c if the model allows`, {
      cause: err,
    });
  }
}

/** Runs the chat until EOF, /exit or Ctrl-C at the prompt. */
export async function chatLoop({ model, system, firstMessage, infer, out, signal }: ChatLoopOptions): Promise<void> {
  const interactive = process.stdin.isTTY === true && out.isTerminal;
  const rl = createInterface({ input: process.stdin, output: interactive ? process.stdout : undefined, terminal: interactive, prompt: '> ' });
  // Made at once: lines that a pipe delivers before the first read are not lost.
  const lines = rl[Symbol.asyncIterator]();
  const history: ChatMessage[] = system !== undefined ? [{ role: 'system', content: system }] : [];
  let reply: AbortController | undefined;
  // Ctrl-C reaches readline as a key on a terminal, and the process as a signal otherwise.
  const onInterrupt = () => (reply ? reply.abort() : rl.close());
  rl.on('SIGINT', onInterrupt);
  process.on('SIGINT', onInterrupt);
  try {
    let pending = firstMessage;
    while (!signal.aborted) {
      let content: string;
      if (pending !== undefined) {
        content = pending;
        pending = undefined;
        if (interactive) out.write(`> ${content}\n`);
      } else {
        if (interactive) rl.prompt();
        const next = await lines.next();
        if (next.done) break;
        content = next.value;
        if (content.trim() === '/exit') break;
        if (content.trim() === '') continue;
      }
      history.push({ role: 'user', content });
      reply = new AbortController();
      const text = await answer(model, history, { ...infer, signal: AbortSignal.any([signal, reply.signal]) }, out);
      reply = undefined;
      // An interrupted reply stays in the history as far as it went, as it is in the KV cache.
      history.push({ role: 'assistant', content: text });
      out.write('\n');
    }
  } finally {
    process.off('SIGINT', onInterrupt);
    rl.close();
  }
}
