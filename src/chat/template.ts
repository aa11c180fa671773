/**
 * Renders a Jinja chat template (as found in `tokenizer.chat_template`) with @huggingface/jinja,
 * giving it the variables Hugging Face's `apply_chat_template` gives: `messages`,
 * `add_generation_prompt`, `bos_token`, `eos_token` and, when passed, `tools`.
 * Blocks are trimmed as in transformers (trim_blocks, lstrip_blocks).
 *
 * A template comes from the model file and is treated as hostile: rendering is bounded in time,
 * steps, text and items (`TemplateLimits`, see bounded-render.ts), and every failure is a
 * CHAT_TEMPLATE error.
 */
import { WasmChordError } from '../errors.js';
import { DEFAULT_TEMPLATE_LIMITS, parseBounded, renderBounded, TemplateLimitError, type TemplateLimits } from './bounded-render.js';

export { DEFAULT_TEMPLATE_LIMITS, type TemplateLimits } from './bounded-render.js';

export interface ChatMessage {
  role: string;
  /** Usually a string; templates of multimodal models also take a list of parts. */
  content?: unknown;
  /** Other fields a template may read, e.g. `tool_calls` or `name`. */
  [field: string]: unknown;
}

export interface ChatTemplateOptions {
  messages: readonly ChatMessage[];
  /** End with the opening of an assistant turn. Default true. */
  addGenerationPrompt?: boolean;
  bosToken?: string;
  eosToken?: string;
  /** Tool (function) definitions, for templates that describe them to the model. */
  tools?: readonly unknown[];
  /** More variables, e.g. `enable_thinking` or `date_string`. */
  variables?: Readonly<Record<string, unknown>>;
  /** Bounds on rendering (defaults: DEFAULT_TEMPLATE_LIMITS, text and items grown to the input). */
  limits?: Partial<TemplateLimits>;
  /**
   * Applied to every string of the caller's data (messages, tools, variables) before rendering;
   * buildChatPrompt uses it to keep special-token text in messages from becoming control tokens.
   */
  transformText?: (text: string) => string;
}

const OPTION_KEYS = ['messages', 'addGenerationPrompt', 'bosToken', 'eosToken', 'tools', 'variables', 'limits', 'transformText'];
const LIMIT_KEYS = Object.keys(DEFAULT_TEMPLATE_LIMITS);

export function renderChatTemplate(template: string, options: ChatTemplateOptions): string {
  if (typeof template !== 'string') throw new WasmChordError('INVALID_ARGUMENT', 'the chat template must be a string');
  checkRecord('renderChatTemplate options', options, OPTION_KEYS);
  checkMessages(options.messages);
  if (options.tools !== undefined && !Array.isArray(options.tools)) throw new WasmChordError('INVALID_ARGUMENT', 'tools must be an array');
  if (options.variables !== undefined) checkRecord('variables', options.variables);
  for (const key of ['bosToken', 'eosToken'] as const) {
    if (options[key] !== undefined && typeof options[key] !== 'string') throw new WasmChordError('INVALID_ARGUMENT', `${key} must be a string`);
  }
  if (options.transformText !== undefined && typeof options.transformText !== 'function') {
    throw new WasmChordError('INVALID_ARGUMENT', 'transformText must be a function');
  }
  const input = new InputCopy(options.transformText ?? ((s) => s));
  const variables: Record<string, unknown> = {
    ...(input.copy(options.variables ?? {}, 'variables') as Record<string, unknown>),
    messages: input.copy(options.messages, 'messages'),
    add_generation_prompt: options.addGenerationPrompt ?? true,
    bos_token: options.bosToken ?? '',
    eos_token: options.eosToken ?? '',
  };
  if (options.tools !== undefined) variables.tools = input.copy(options.tools, 'tools');
  const limits = resolveLimits(options.limits, input);

  let program;
  try {
    program = parseBounded(template, limits);
  } catch (err) {
    throw templateError('does not parse', err);
  }
  try {
    return renderBounded(program, variables, limits);
  } catch (err) {
    throw templateError('failed to render', err);
  }
}

function templateError(what: string, err: unknown): WasmChordError {
  if (err instanceof TemplateLimitError) {
    return new WasmChordError('CHAT_TEMPLATE', `the chat template exceeds wasm-chord's limits: ${err.message}`, { cause: err });
  }
  return new WasmChordError('CHAT_TEMPLATE', `the chat template ${what}: ${messageOf(err)}`, { cause: err });
}

/** The defaults, with text and items at least twice what the caller's own data needs. */
function resolveLimits(given: Partial<TemplateLimits> | undefined, input: InputCopy): TemplateLimits {
  if (given !== undefined) checkRecord('limits', given, LIMIT_KEYS);
  const limits: Record<string, number> = { ...DEFAULT_TEMPLATE_LIMITS };
  limits.maxTextLength = Math.max(limits.maxTextLength!, 2 * input.text + (1 << 20));
  limits.maxItems = Math.max(limits.maxItems!, input.maxItems + 1);
  limits.maxDepth = Math.max(limits.maxDepth!, input.maxDepth + 8);
  for (const [key, value] of Object.entries(given ?? {})) {
    if (value === undefined) continue;
    if (typeof value !== 'number' || !(value > 0)) throw new WasmChordError('INVALID_ARGUMENT', `limits.${key} must be a positive number (got ${String(value)})`);
    limits[key] = value;
  }
  return limits as unknown as TemplateLimits;
}

/** Deepest caller data accepted (deeper, or a cycle, is refused). */
const MAX_INPUT_DEPTH = 64;

/**
 * A copy of the caller's data, strings transformed, measured on the way (its text, largest
 * array and depth), so that the library never walks a cycle or something absurdly deep.
 */
class InputCopy {
  text = 0;
  maxItems = 0;
  maxDepth = 0;

  constructor(private readonly transform: (text: string) => string) {}

  copy(value: unknown, path: string, depth = 0): unknown {
    if (depth > MAX_INPUT_DEPTH) throw new WasmChordError('INVALID_ARGUMENT', `${path} nests deeper than ${MAX_INPUT_DEPTH} levels (or contains itself)`);
    this.maxDepth = Math.max(this.maxDepth, depth);
    if (typeof value === 'string') {
      this.text += value.length;
      return this.transform(value);
    }
    if (typeof value !== 'object' || value === null) return value;
    if (Array.isArray(value)) {
      this.maxItems = Math.max(this.maxItems, value.length);
      return value.map((item, i) => this.copy(item, `${path}[${i}]`, depth + 1));
    }
    const out: Record<string, unknown> = {};
    const entries = Object.entries(value);
    this.maxItems = Math.max(this.maxItems, entries.length);
    for (const [key, item] of entries) {
      this.text += key.length;
      Object.defineProperty(out, key, { value: this.copy(item, `${path}.${key}`, depth + 1), enumerable: true, writable: true, configurable: true });
    }
    return out;
  }
}

function checkRecord(what: string, value: unknown, known?: readonly string[]): void {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new WasmChordError('INVALID_ARGUMENT', `${what} must be an object`);
  }
  if (known) {
    for (const key of Object.keys(value)) {
      if (!known.includes(key)) throw new WasmChordError('INVALID_ARGUMENT', `unknown ${what} key "${key}" (known: ${known.join(', ')})`);
    }
  }
}

function checkMessages(messages: unknown): void {
  if (!Array.isArray(messages)) {
    throw new WasmChordError('INVALID_ARGUMENT', 'messages must be an array of { role, content } objects');
  }
  messages.forEach((m: unknown, i) => {
    if (typeof m !== 'object' || m === null || typeof (m as ChatMessage).role !== 'string') {
      throw new WasmChordError('INVALID_ARGUMENT', `messages[${i}] must be an object with a string role`);
    }
  });
}

/** An error's message, cut short: a template's own raise_exception may say anything. */
function messageOf(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.length > 300 ? `${text.slice(0, 300)}…` : text;
}
