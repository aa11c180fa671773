/**
 * What a model's text side needs: its tokenizer and its chat template (from the GGUF metadata).
 * Shared by the in-process model and the worker's page-side proxy, which tokenizes without a
 * round trip to the worker.
 */
import { WasmChordError } from '../errors.js';
import { buildChatPrompt } from '../chat/index.js';
import type { GGUFMetadata } from '../gguf/metadata.js';
import type { DecodeOptions, Tokenizer } from '../tokenizer/index.js';
import { checkBoolean, checkKnownKeys, checkString } from '../validate.js';
import { INFER_OPTION_KEYS, type InferOptions, type Prompt } from './session.js';

export class ModelText {
  constructor(
    readonly metadata: GGUFMetadata,
    readonly tokenizer: Tokenizer,
  ) {}

  tokenize(text: string, options: { addSpecial?: boolean; parseSpecial?: boolean } = {}): number[] {
    checkKnownKeys('tokenize', options, ['addSpecial', 'parseSpecial']);
    checkBoolean('addSpecial', options.addSpecial);
    checkBoolean('parseSpecial', options.parseSpecial);
    return this.tokenizer.encode(text, options);
  }

  detokenize(tokens: readonly number[], options: DecodeOptions = {}): string {
    checkKnownKeys('detokenize', options, ['skipSpecial', 'stripLeadingSpace', 'cleanSpaces']);
    for (const key of ['skipSpecial', 'stripLeadingSpace', 'cleanSpaces'] as const) checkBoolean(key, options[key]);
    return this.tokenizer.decode(tokens, options);
  }

  /**
   * The token ids a prompt becomes (chat messages through the model's chat template). Special-
   * token text in a string prompt, or in the messages, stays text unless `parseSpecial` is true;
   * the chat template's own special tokens are always parsed.
   */
  promptTokens(prompt: Prompt, options: InferOptions = {}): number[] {
    checkKnownKeys('prompt', options, [...INFER_OPTION_KEYS]);
    checkBoolean('parseSpecial', options.parseSpecial);
    checkBoolean('addSpecial', options.addSpecial);
    checkString('chatTemplate', options.chatTemplate);
    if (options.tools !== undefined && !Array.isArray(options.tools)) {
      throw new WasmChordError('INVALID_ARGUMENT', 'option tools must be an array');
    }
    if (typeof prompt === 'string') {
      return this.tokenize(prompt, { addSpecial: options.addSpecial ?? true, parseSpecial: options.parseSpecial ?? false });
    }
    if (!Array.isArray(prompt)) {
      throw new WasmChordError('INVALID_ARGUMENT', 'the prompt must be a string or an array of chat messages');
    }
    return buildChatPrompt(this.metadata, this.tokenizer, {
      messages: prompt,
      template: options.chatTemplate,
      tools: options.tools,
      parseSpecial: options.parseSpecial ?? false,
    }).ids;
  }
}
