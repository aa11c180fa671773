/**
 * OpenAI request bodies -> wasm-chord prompts and generation options, checked: a field we do not
 * honour, or a value out of range, is an INVALID_ARGUMENT naming it (OpenAI's API refuses unknown
 * arguments too), before anything runs.
 */
import { WasmChordError } from '../errors.js';
import type { ChatMessage } from '../chat/index.js';
import { CHATML_TEMPLATE, modelChatTemplate } from '../chat/model-chat.js';
import { toolCallSyntax, type ToolCallSyntax } from '../chat/tool-calls.js';
import type { GGUFMetadata } from '../gguf/metadata.js';
import { MAX_LOGPROBS } from '../engine/generate.js';
import { jsonObjectGrammar } from '../engine/grammar/json-schema.js';
import type { InferOptions, Prompt } from '../runtime/session.js';
import { checkNumber, describe } from '../validate.js';
import { forcedToolCallGrammar } from './tool-grammar.js';
import type { ChatCompletionCreateParams, ChatCompletionMessageParam, ChatCompletionTool, CompletionCreateParams, SamplingParams } from './openai-types.js';

/** Bounds a server puts on requests (the API in-process has none but the model's context). */
export interface RequestLimits {
  /** Most tokens one request may generate (default 4096 on the server). */
  readonly maxTokens?: number;
}

/** Tool use in a chat request: how the model writes calls, and which names it may call. */
export interface ToolUse {
  readonly syntax: ToolCallSyntax;
  readonly names: readonly string[];
}

export interface MappedRequest {
  readonly prompt: Prompt;
  readonly options: InferOptions;
  /** Top alternatives per token to report, or undefined for no logprobs. */
  readonly logprobs?: number;
  /** Set when tool calls are to be parsed out of the reply. */
  readonly tools?: ToolUse;
  readonly stream: boolean;
  readonly includeUsage: boolean;
}

const SAMPLING_KEYS = [
  'model', 'max_tokens', 'max_completion_tokens', 'temperature', 'top_p', 'top_k', 'min_p', 'frequency_penalty', 'presence_penalty',
  'logit_bias', 'stop', 'seed', 'n', 'stream', 'stream_options', 'user',
];
const CHAT_KEYS = [...SAMPLING_KEYS, 'messages', 'response_format', 'tools', 'tool_choice', 'parallel_tool_calls', 'logprobs', 'top_logprobs'];
const COMPLETION_KEYS = [...SAMPLING_KEYS, 'prompt', 'logprobs', 'echo'];

const invalid = (message: string) => new WasmChordError('INVALID_ARGUMENT', message);

function checkFields(body: unknown, known: readonly string[]): asserts body is Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw invalid(`the request body must be a JSON object (got ${describe(body)})`);
  for (const key of Object.keys(body)) {
    if (!known.includes(key)) throw invalid(`Unrecognized request argument supplied: ${key}`);
  }
}

/** A number field that may be absent or null. */
function optional(name: string, value: unknown, rule: Parameters<typeof checkNumber>[2]): number | undefined {
  return value === undefined || value === null ? undefined : checkNumber(name, value, rule);
}

function samplingOptions(p: SamplingParams, limits: RequestLimits): InferOptions {
  if (p.model !== undefined && typeof p.model !== 'string') throw invalid(`model must be a string (got ${describe(p.model)})`);
  const n = optional('n', p.n, { min: 1, integer: true });
  if (n !== undefined && n !== 1) throw invalid('n must be 1: one choice per request');
  const limit = limits.maxTokens ?? Number.MAX_SAFE_INTEGER;
  const maxTokens = optional('max_completion_tokens', p.max_completion_tokens, { min: 1, max: limit, integer: true }) ?? optional('max_tokens', p.max_tokens, { min: 1, max: limit, integer: true });
  const stop = p.stop === undefined || p.stop === null ? undefined : typeof p.stop === 'string' ? [p.stop] : p.stop;
  if (stop !== undefined && (!Array.isArray(stop) || stop.length > 4 || stop.some((s) => typeof s !== 'string' || s === ''))) {
    throw invalid('stop must be a non-empty string or an array of up to 4 of them');
  }
  let logitBias: Record<number, number> | undefined;
  if (p.logit_bias !== undefined && p.logit_bias !== null) {
    if (typeof p.logit_bias !== 'object' || Array.isArray(p.logit_bias)) throw invalid('logit_bias must be an object of token ids to biases');
    logitBias = {};
    for (const [id, bias] of Object.entries(p.logit_bias)) {
      if (!/^\d+$/.test(id)) throw invalid(`logit_bias key ${JSON.stringify(id)} is not a token id`);
      logitBias[Number(id)] = checkNumber(`logit_bias[${id}]`, bias, { min: -100, max: 100 });
    }
  }
  const options: InferOptions = {
    // Without max_tokens: the server's limit, or the library's default in-process.
    maxTokens: maxTokens ?? limits.maxTokens,
    temperature: optional('temperature', p.temperature, { min: 0, max: 2 }),
    topP: optional('top_p', p.top_p, { min: 0, max: 1 }),
    topK: optional('top_k', p.top_k, { min: 0, integer: true }),
    minP: optional('min_p', p.min_p, { min: 0, max: 1 }),
    frequencyPenalty: optional('frequency_penalty', p.frequency_penalty, { min: -2, max: 2 }),
    presencePenalty: optional('presence_penalty', p.presence_penalty, { min: -2, max: 2 }),
    seed: optional('seed', p.seed, { integer: true }),
    stop,
    logitBias,
  };
  // Absent fields keep the library's defaults: drop the undefined ones (the engine checks keys).
  return Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as InferOptions;
}

function streamFlags(p: SamplingParams): { stream: boolean; includeUsage: boolean } {
  if (p.stream !== undefined && p.stream !== null && typeof p.stream !== 'boolean') throw invalid('stream must be a boolean');
  return { stream: p.stream === true, includeUsage: p.stream === true && p.stream_options?.include_usage === true };
}

/** A chat request against a model with this metadata. */
export function chatRequest(body: unknown, metadata: GGUFMetadata, limits: RequestLimits = {}): MappedRequest {
  checkFields(body, CHAT_KEYS);
  const p = body as unknown as ChatCompletionCreateParams;
  if (!Array.isArray(p.messages) || p.messages.length === 0) throw invalid('messages must be a non-empty array');
  const options = samplingOptions(p, limits);
  const messages = p.messages.map(chatMessage);
  const logprobs = p.logprobs === true ? (optional('top_logprobs', p.top_logprobs, { min: 0, max: MAX_LOGPROBS, integer: true }) ?? 0) : undefined;
  if (p.logprobs !== true && p.top_logprobs !== undefined && p.top_logprobs !== null) throw invalid('top_logprobs needs logprobs: true');

  const format = p.response_format;
  if (format !== undefined) {
    if (format.type === 'json_object') options.grammar = jsonObjectGrammar();
    else if (format.type === 'json_schema') {
      const schema = format.json_schema?.schema;
      if (typeof schema !== 'object' || schema === null) throw invalid('response_format.json_schema.schema must be a JSON Schema object');
      options.jsonSchema = schema;
    } else if (format.type !== 'text') throw invalid(`response_format.type must be "text", "json_object" or "json_schema" (got ${describe((format as { type: unknown }).type)})`);
  }

  const tools = toolUse(p, metadata, options);
  return { prompt: messages, options, logprobs, tools, ...streamFlags(p) };
}

/**
 * Tools go to the chat template; unless `tool_choice` is "none", calls are parsed from the reply
 * in the template's syntax, and "required" or a named function constrains the reply to a call.
 */
function toolUse(p: ChatCompletionCreateParams, metadata: GGUFMetadata, options: InferOptions): ToolUse | undefined {
  const choice = p.tool_choice ?? 'auto';
  if (typeof choice !== 'object' && !['none', 'auto', 'required'].includes(choice)) {
    throw invalid(`tool_choice must be "none", "auto", "required" or a function (got ${describe(choice)})`);
  }
  if (p.tools === undefined || (Array.isArray(p.tools) && p.tools.length === 0)) {
    if (choice === 'required' || typeof choice === 'object') throw invalid('tool_choice needs tools');
    return undefined;
  }
  const tools = checkTools(p.tools);
  options.tools = tools;
  if (choice === 'none') return undefined;
  const syntax = toolCallSyntax(modelChatTemplate(metadata, { toolUse: true }) ?? CHATML_TEMPLATE);
  const forced = choice === 'required' ? tools : typeof choice === 'object' ? tools.filter((t) => t.function.name === choice.function?.name) : undefined;
  if (forced?.length === 0) throw invalid(`tool_choice names a function that is not in tools: ${describe((choice as { function?: { name?: unknown } }).function?.name)}`);
  if (forced) {
    if (options.jsonSchema !== undefined || options.grammar !== undefined) throw invalid('response_format cannot constrain a reply that tool_choice forces to be a tool call');
    options.grammar = forcedToolCallGrammar(forced, syntax, p.parallel_tool_calls !== false);
  }
  return { syntax, names: tools.map((t) => t.function.name) };
}

/** A completions request: the prompt is raw text. */
export function completionRequest(body: unknown, limits: RequestLimits = {}): MappedRequest {
  checkFields(body, COMPLETION_KEYS);
  const p = body as unknown as CompletionCreateParams;
  const options = samplingOptions(p, limits);
  if (p.echo) throw invalid('echo is not supported');
  const logprobs = optional('logprobs', p.logprobs, { min: 0, max: 5, integer: true });
  if (typeof p.prompt !== 'string') throw invalid(`prompt must be a string (got ${describe(p.prompt)})`);
  return { prompt: p.prompt, options, logprobs, ...streamFlags(p) };
}

/** Templates read OpenAI's messages, with the arguments of earlier tool calls as objects (as HF templates expect). */
function chatMessage(m: ChatCompletionMessageParam, i: number): ChatMessage {
  if (typeof m !== 'object' || m === null || typeof m.role !== 'string') throw invalid(`messages[${i}] must be an object with a role`);
  if (!['system', 'developer', 'user', 'assistant', 'tool'].includes(m.role)) throw invalid(`messages[${i}].role ${describe(m.role)} is not one of system, developer, user, assistant, tool`);
  let content = m.content ?? '';
  if (Array.isArray(content)) {
    content = content
      .map((part, j) => {
        if (part?.type !== 'text' || typeof part.text !== 'string') throw invalid(`messages[${i}].content[${j}]: only text parts are supported`);
        return part.text;
      })
      .join('');
  } else if (typeof content !== 'string') throw invalid(`messages[${i}].content must be a string or an array of text parts`);
  const message: ChatMessage = { role: m.role === 'developer' ? 'system' : m.role, content };
  if (m.name !== undefined) message.name = m.name;
  if (m.tool_call_id !== undefined) message.tool_call_id = m.tool_call_id;
  if (m.tool_calls !== undefined) {
    message.tool_calls = m.tool_calls.map((call) => ({ ...call, function: { name: call.function.name, arguments: parseArguments(call.function.arguments) } }));
  }
  return message;
}

function parseArguments(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function checkTools(tools: unknown): readonly ChatCompletionTool[] {
  if (!Array.isArray(tools)) throw invalid('tools must be an array');
  tools.forEach((t: ChatCompletionTool, i) => {
    if (t?.type !== 'function' || typeof t.function?.name !== 'string' || !/^[a-zA-Z0-9_-]{1,64}$/.test(t.function.name)) {
      throw invalid(`tools[${i}] must be { type: "function", function: { name (letters, digits, _ and -), parameters? } }`);
    }
  });
  return tools as readonly ChatCompletionTool[];
}
