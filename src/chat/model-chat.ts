/**
 * A model's chat prompt: its own template from GGUF metadata rendered with its own special tokens,
 * then tokenized with special-token parsing on.
 *
 * Template choice: `options.template` if given; else `tokenizer.chat_template.tool_use` when tools
 * are passed and the file has one; else `tokenizer.chat_template`; else, for a model that carries
 * no template, ChatML (`<|im_start|>role\ncontent<|im_end|>\n`), the format llama.cpp also falls
 * back to.
 */
import { WasmChordError } from '../errors.js';
import type { GGUFMetadata } from '../gguf/metadata.js';
import type { Tokenizer } from '../tokenizer/index.js';
import { unescapeSpecialText } from '../tokenizer/special-tokens.js';
import { renderChatTemplate, type ChatMessage, type ChatTemplateOptions } from './template.js';

/** The ChatML template as ChatML models (e.g. OpenHermes-2.5) carry it. */
export const CHATML_TEMPLATE =
  "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}" +
  "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

export interface ChatPromptOptions {
  messages: readonly ChatMessage[];
  /** End with the opening of an assistant turn. Default true. */
  addGenerationPrompt?: boolean;
  tools?: readonly unknown[];
  /** Use this template instead of the model's. */
  template?: string;
  variables?: Readonly<Record<string, unknown>>;
  /**
   * Let special-token text inside the messages (and tools, variables) become special tokens.
   * Default false: `"</s>"` in a user message is the text "</s>", never the end-of-sequence
   * token; only the template's own text (and bos_token/eos_token) yields special tokens.
   */
  parseSpecial?: boolean;
  limits?: ChatTemplateOptions['limits'];
}

export interface ChatPrompt {
  text: string;
  ids: number[];
  /** Where the template came from. */
  source: 'custom' | 'model' | 'fallback';
}

/** The template a model carries, if any (the tool-use variant when asked and present). */
export function modelChatTemplate(metadata: GGUFMetadata, options: { toolUse?: boolean } = {}): string | undefined {
  const toolUse = options.toolUse ? metadata.getString('tokenizer.chat_template.tool_use') : undefined;
  return toolUse ?? metadata.getString('tokenizer.chat_template');
}

export function buildChatPrompt(metadata: GGUFMetadata, tokenizer: Tokenizer, options: ChatPromptOptions): ChatPrompt {
  if (options.template !== undefined && typeof options.template !== 'string') {
    throw new WasmChordError('INVALID_ARGUMENT', `chatTemplate must be a string (got ${typeof options.template})`);
  }
  const fromModel = modelChatTemplate(metadata, { toolUse: options.tools !== undefined });
  const template = options.template ?? fromModel ?? CHATML_TEMPLATE;
  const source = options.template !== undefined ? 'custom' : fromModel !== undefined ? 'model' : 'fallback';
  const bosToken = tokenText(tokenizer, tokenizer.bos);
  const eosToken = tokenText(tokenizer, tokenizer.eos);
  const escaped = renderChatTemplate(template, {
    messages: options.messages,
    addGenerationPrompt: options.addGenerationPrompt ?? true,
    bosToken,
    eosToken,
    tools: options.tools,
    variables: options.variables,
    limits: options.limits,
    transformText: options.parseSpecial ? undefined : (t) => tokenizer.escapeSpecialText(t),
  });
  // A template that writes bos_token itself must not get a second BOS from the tokenizer.
  const templateHasBos = tokenizer.addBos && bosToken !== '' && escaped.startsWith(bosToken);
  const ids = tokenizer.encode(escaped, { addSpecial: !templateHasBos, parseSpecial: true, escaped: true });
  return { text: unescapeSpecialText(escaped), ids, source };
}

const utf8 = new TextDecoder();

function tokenText(tokenizer: Tokenizer, id: number | undefined): string {
  return id === undefined ? '' : utf8.decode(tokenizer.tokenToPiece(id, { special: true }));
}
