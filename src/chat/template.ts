/**
 * Renders a Jinja chat template (as found in `tokenizer.chat_template`) with @huggingface/jinja,
 * giving it the variables Hugging Face's `apply_chat_template` gives: `messages`,
 * `add_generation_prompt`, `bos_token`, `eos_token` and, when passed, `tools`.
 * Blocks are trimmed as in transformers (trim_blocks, lstrip_blocks).
 */
import { Template } from '@huggingface/jinja';
import { WasmChordError } from '../errors.js';

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
}

export function renderChatTemplate(template: string, options: ChatTemplateOptions): string {
  checkMessages(options.messages);
  let compiled: Template;
  try {
    compiled = new Template(template);
  } catch (err) {
    throw new WasmChordError('CHAT_TEMPLATE', `the chat template does not parse: ${messageOf(err)}`, { cause: err });
  }
  const variables: Record<string, unknown> = {
    ...options.variables,
    messages: options.messages,
    add_generation_prompt: options.addGenerationPrompt ?? true,
    bos_token: options.bosToken ?? '',
    eos_token: options.eosToken ?? '',
  };
  if (options.tools !== undefined) variables.tools = options.tools;
  try {
    return compiled.render(variables);
  } catch (err) {
    throw new WasmChordError('CHAT_TEMPLATE', `the chat template failed to render: ${messageOf(err)}`, { cause: err });
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

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
