/**
 * An OpenAI-shaped API over a loaded model, in every host (it needs only the `Model` interface,
 * so it serves a model in a browser worker as well as in Node):
 *
 *   const openai = openaiApi(model);
 *   const reply = await openai.chat.completions.create({ messages: [{ role: 'user', content: 'Hi' }] });
 *   for await (const chunk of await openai.chat.completions.create({ messages, stream: true })) ...
 *
 * Requests map to prompts and options in request-options.ts; replies are built here from the
 * generation's steps: text, tool calls parsed in the model's own syntax, finish reasons,
 * usage, and logprobs from the model's distribution. The local server (http-server.ts) is a
 * thin HTTP layer over the same object.
 */
import { parseToolCalls, plainContentPrefix, type ParsedToolCall } from '../chat/tool-calls.js';
import type { GenerationStep, StepLogprobs } from '../engine/generate.js';
import type { Model, ModelContext } from '../runtime/api.js';
import type { GenerationResult } from '../runtime/session.js';
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionMessageToolCall,
  Completion,
  CompletionUsage,
  FinishReason,
  TokenLogprob,
  TopLogprob,
} from './openai-types.js';
import { chatRequest, completionRequest, type MappedRequest, type RequestLimits } from './request-options.js';

/** A context to generate in, held until released. */
export interface ContextLease {
  readonly context: ModelContext;
  release(): void;
}

/** Where requests generate: the model's own context (one at a time), or a pool of sessions. */
export interface ContextProvider {
  acquire(promptTokens: readonly number[], signal?: AbortSignal): Promise<ContextLease>;
}

export interface OpenAIApiOptions {
  /** The model id in replies (default: the model's name, else its architecture). */
  readonly id?: string;
  readonly limits?: RequestLimits;
  readonly contexts?: ContextProvider;
}

export interface RequestOptions {
  /** Aborts the generation (a client that went away). */
  readonly signal?: AbortSignal;
}

export interface OpenAIApi {
  readonly id: string;
  readonly chat: {
    readonly completions: {
      create(body: unknown, options?: RequestOptions): Promise<ChatCompletion | AsyncIterable<ChatCompletionChunk>>;
    };
  };
  readonly completions: {
    create(body: unknown, options?: RequestOptions): Promise<Completion | AsyncIterable<Completion>>;
  };
  readonly models: { list(): { object: 'list'; data: { id: string; object: 'model'; created: number; owned_by: string }[] } };
}

const FINGERPRINT = 'wasm-chord';

export function openaiApi(model: Model, options: OpenAIApiOptions = {}): OpenAIApi {
  const id = options.id ?? model.info.name ?? model.info.architecture;
  const limits = options.limits ?? {};
  const contexts = options.contexts ?? ownContext(model);
  const created = Math.floor(Date.now() / 1000);
  const decoder = new TextDecoder();
  const tokenLogprob = (t: { token: number; logprob: number }): TopLogprob => {
    const bytes = model.tokenizer.tokenToPiece(t.token, { special: true });
    return { token: decoder.decode(bytes), logprob: t.logprob, bytes: [...bytes] };
  };
  const chatLogprobs = (l: StepLogprobs): TokenLogprob => ({ ...tokenLogprob(l), top_logprobs: l.top.map(tokenLogprob) });

  /** Runs a mapped request in a leased context: its steps, then the result. */
  async function* run(req: MappedRequest, signal: AbortSignal | undefined): AsyncGenerator<GenerationStep, GenerationResult> {
    const lease = await contexts.acquire(model.promptTokens(req.prompt, req.options), signal);
    try {
      // Tool-call syntaxes may open with a special token (Mistral's [TOOL_CALLS]): keep them in the text.
      const options = { ...req.options, signal, ...(req.logprobs !== undefined && { logprobs: req.logprobs }), ...(req.tools && { special: true }) };
      return yield* lease.context.generateStream(req.prompt, options);
    } finally {
      lease.release();
    }
  }

  async function chat(body: unknown, { signal }: RequestOptions = {}): Promise<ChatCompletion | AsyncIterable<ChatCompletionChunk>> {
    const req = chatRequest(body, model.metadata, limits);
    const completionId = `chatcmpl-${randomId()}`;
    const now = Math.floor(Date.now() / 1000);
    const parse = (text: string) => (req.tools ? parseToolCalls(text, req.tools.syntax, req.tools.names) : { content: text, toolCalls: [] });
    if (!req.stream) {
      const steps = run(req, signal);
      const logprobs: TokenLogprob[] = [];
      let next = await steps.next();
      for (; !next.done; next = await steps.next()) if (next.value.logprobs) logprobs.push(chatLogprobs(next.value.logprobs));
      const result = next.value;
      const { content, toolCalls } = parse(result.text);
      const calls = toolCalls.map(toolCall);
      return {
        id: completionId,
        object: 'chat.completion',
        created: now,
        model: id,
        system_fingerprint: FINGERPRINT,
        choices: [
          {
            index: 0,
            message: { role: 'assistant', content: calls.length > 0 && content === '' ? null : content, refusal: null, ...(calls.length > 0 && { tool_calls: calls }) },
            finish_reason: calls.length > 0 ? 'tool_calls' : finishReason(result),
            logprobs: req.logprobs === undefined ? null : { content: logprobs, refusal: null },
          },
        ],
        usage: usage(result),
      };
    }
    const chunk = (delta: ChatCompletionChunk['choices'][0]['delta'], finish: FinishReason | null = null, logprobs?: TokenLogprob[]): ChatCompletionChunk => ({
      id: completionId,
      object: 'chat.completion.chunk',
      created: now,
      model: id,
      system_fingerprint: FINGERPRINT,
      choices: [{ index: 0, delta, finish_reason: finish, logprobs: logprobs ? { content: logprobs, refusal: null } : null }],
    });
    // The request is checked and the context leased before the stream is handed out, so that
    // errors reach the caller as errors, not as a broken stream.
    const steps = run(req, signal);
    const first = await steps.next();
    return (async function* () {
      yield chunk({ role: 'assistant', content: '' });
      let text = '';
      let sent = 0;
      let next = first;
      try {
        for (; !next.done; next = await steps.next()) {
          const step = next.value;
          text += step.text;
          // With tools, text that could open a call is held back until the reply ends.
          const ready = req.tools ? plainContentPrefix(text, req.tools.syntax) : text.length;
          const logprobs = step.logprobs ? [chatLogprobs(step.logprobs)] : undefined;
          if (ready > sent || logprobs) {
            yield chunk({ content: text.slice(sent, ready) }, null, logprobs);
            sent = Math.max(sent, ready);
          }
        }
      } finally {
        if (!next.done) await steps.return(undefined as never);
      }
      const result = next.value;
      const { content, toolCalls } = parse(text);
      // Without calls, the rest of the text. With calls, the rest of their (trimmed) content: what
      // was streamed is its start, less any leading whitespace the trim dropped.
      const rest = toolCalls.length === 0 ? text.slice(sent) : content.slice(Math.min(content.length, text.slice(0, sent).trim().length));
      if (rest) yield chunk({ content: rest });
      if (toolCalls.length > 0) yield chunk({ tool_calls: toolCalls.map((c, index) => ({ index, ...toolCall(c) })) });
      yield chunk({}, toolCalls.length > 0 ? 'tool_calls' : finishReason(result));
      if (req.includeUsage) yield { ...chunk({}), choices: [], usage: usage(result) };
    })();
  }

  async function complete(body: unknown, { signal }: RequestOptions = {}): Promise<Completion | AsyncIterable<Completion>> {
    const req = completionRequest(body, limits);
    const completionId = `cmpl-${randomId()}`;
    const now = Math.floor(Date.now() / 1000);
    const base = { id: completionId, object: 'text_completion' as const, created: now, model: id, system_fingerprint: FINGERPRINT };
    const steps = run(req, signal);
    if (!req.stream) {
      const tokens: string[] = [];
      const tokenLogprobs: number[] = [];
      const top: Record<string, number>[] = [];
      const offsets: number[] = [];
      let text = '';
      let next = await steps.next();
      for (; !next.done; next = await steps.next()) {
        const l = next.value.logprobs;
        if (l) {
          tokens.push(tokenLogprob(l).token);
          tokenLogprobs.push(l.logprob);
          top.push(Object.fromEntries(l.top.map((t) => [tokenLogprob(t).token, t.logprob])));
          offsets.push(text.length);
        }
        text += next.value.text;
      }
      const result = next.value;
      const logprobs = req.logprobs === undefined ? null : { tokens, token_logprobs: tokenLogprobs, top_logprobs: top, text_offset: offsets };
      return { ...base, choices: [{ index: 0, text: result.text, finish_reason: finishReason(result), logprobs }], usage: usage(result) };
    }
    const first = await steps.next();
    return (async function* () {
      let next = first;
      try {
        for (; !next.done; next = await steps.next()) {
          if (next.value.text) yield { ...base, choices: [{ index: 0, text: next.value.text, finish_reason: null, logprobs: null }] };
        }
      } finally {
        if (!next.done) await steps.return(undefined as never);
      }
      yield { ...base, choices: [{ index: 0, text: '', finish_reason: finishReason(next.value), logprobs: null }], ...(req.includeUsage && { usage: usage(next.value) }) };
    })();
  }

  return {
    id,
    chat: { completions: { create: chat } },
    completions: { create: complete },
    models: { list: () => ({ object: 'list', data: [{ id, object: 'model', created, owned_by: 'wasm-chord' }] }) },
  };
}

/** The model's own context: one request at a time (its calls queue on the context's lock). */
function ownContext(model: Model): ContextProvider {
  return { acquire: async () => ({ context: model, release: () => {} }) };
}

function finishReason(result: GenerationResult): FinishReason {
  return result.stopReason === 'length' || result.stopReason === 'context' ? 'length' : 'stop';
}

function usage(result: GenerationResult): CompletionUsage {
  const prompt = result.promptTokens.length;
  return {
    prompt_tokens: prompt,
    completion_tokens: result.tokens.length,
    total_tokens: prompt + result.tokens.length,
    prompt_tokens_details: { cached_tokens: result.cachedTokens },
  };
}

function toolCall(c: ParsedToolCall): ChatCompletionMessageToolCall {
  return { id: `call_${randomId()}`, type: 'function', function: { name: c.name, arguments: c.arguments } };
}

function randomId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return [...bytes].map((b) => b.toString(36).padStart(2, '0')).join('').slice(0, 24);
}
