/**
 * A model's chat prompt: its own template from GGUF metadata rendered with its own special tokens,
 * then tokenized with special-token parsing on.
 *
 * Template choice: `options.template` if given; else `tokenizer.chat_template.tool_use` when tools
 * are passed and the file has one; else `tokenizer.chat_template`; else, for a model that carries
 * no template, ChatML (`<|im_start|>role\ncontent<|im_end|>\n`), the format llama.cpp also falls
 * back to.
 */
import type { GGUFMetadata } from '../gguf/metadata.js';
import type { Tokenizer } from '../tokenizer/index.js';
import { renderChatTemplate, type ChatMessage } from './template.js';

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
  const fromModel = modelChatTemplate(metadata, { toolUse: options.tools !== undefined });
  const template = options.template ?? fromModel ?? CHATML_TEMPLATE;
  const source = options.template !== undefined ? 'custom' : fromModel !== undefined ? 'model' : 'fallback';
  const bosToken = tokenText(tokenizer, tokenizer.bos);
  const eosToken = tokenText(tokenizer, tokenizer.eos);
  const text = renderChatTemplate(template, {
    messages: options.messages,
    addGenerationPrompt: options.addGenerationPrompt ?? true,
    bosToken,
    eosToken,
    tools: options.tools,
    variables: options.variables,
  });
  // A template that writes bos_token itself must not get a second BOS from the tokenizer.
  const templateHasBos = tokenizer.addBos && bosToken !== '' && text.startsWith(bosToken);
  const ids = tokenizer.encode(text, { addSpecial: !templateHasBos, parseSpecial: true });
  return { text, ids, source };
}

const utf8 = new TextDecoder();

function tokenText(tokenizer: Tokenizer, id: number | undefined): string {
  return id === undefined ? '' : utf8.decode(tokenizer.tokenToPiece(id, { special: true }));
}
