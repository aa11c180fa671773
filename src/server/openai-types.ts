/**
 * The shapes of OpenAI's chat completions and completions API that wasm-chord speaks: requests
 * as the official clients send them (snake_case), responses and stream chunks as they parse
 * them. Only fields we honour or return are listed; unknown request fields are refused.
 */

export interface ChatCompletionTool {
  type: 'function';
  function: { name: string; description?: string; parameters?: object; strict?: boolean };
}

export type ChatCompletionToolChoice = 'none' | 'auto' | 'required' | { type: 'function'; function: { name: string } };

export interface ChatCompletionMessageToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

export interface ChatCompletionMessageParam {
  role: 'system' | 'developer' | 'user' | 'assistant' | 'tool';
  content?: string | null | readonly { type: 'text'; text: string }[];
  name?: string;
  tool_calls?: readonly ChatCompletionMessageToolCall[];
  tool_call_id?: string;
}

export type ResponseFormat =
  | { type: 'text' }
  | { type: 'json_object' }
  | { type: 'json_schema'; json_schema: { name: string; description?: string; schema?: object; strict?: boolean | null } };

/** What chat completions and completions requests share. */
export interface SamplingParams {
  model?: string;
  max_tokens?: number | null;
  max_completion_tokens?: number | null;
  temperature?: number | null;
  top_p?: number | null;
  /** Our extensions (llama.cpp's server has them too). */
  top_k?: number | null;
  min_p?: number | null;
  frequency_penalty?: number | null;
  presence_penalty?: number | null;
  logit_bias?: Record<string, number> | null;
  stop?: string | readonly string[] | null;
  seed?: number | null;
  n?: number | null;
  stream?: boolean | null;
  stream_options?: { include_usage?: boolean } | null;
  user?: string;
}

export interface ChatCompletionCreateParams extends SamplingParams {
  messages: readonly ChatCompletionMessageParam[];
  response_format?: ResponseFormat;
  tools?: readonly ChatCompletionTool[];
  tool_choice?: ChatCompletionToolChoice;
  parallel_tool_calls?: boolean;
  logprobs?: boolean | null;
  top_logprobs?: number | null;
}

export interface CompletionCreateParams extends SamplingParams {
  prompt: string;
  /** Completions' logprobs: how many top alternatives per token (0-5), null for none. */
  logprobs?: number | null;
  echo?: boolean;
}

export type FinishReason = 'stop' | 'length' | 'tool_calls';

export interface TopLogprob {
  token: string;
  logprob: number;
  bytes: number[] | null;
}

export interface TokenLogprob extends TopLogprob {
  top_logprobs: TopLogprob[];
}

export interface CompletionUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  /** Prompt tokens found already evaluated in the context (a conversation's earlier turns). */
  prompt_tokens_details: { cached_tokens: number };
}

export interface ChatCompletionMessage {
  role: 'assistant';
  content: string | null;
  refusal: null;
  tool_calls?: ChatCompletionMessageToolCall[];
}

export interface ChatCompletion {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  system_fingerprint: string;
  choices: {
    index: number;
    message: ChatCompletionMessage;
    finish_reason: FinishReason;
    logprobs: { content: TokenLogprob[] | null; refusal: null } | null;
  }[];
  usage: CompletionUsage;
}

export interface ChatCompletionChunk {
  id: string;
  object: 'chat.completion.chunk';
  created: number;
  model: string;
  system_fingerprint: string;
  choices: {
    index: number;
    delta: { role?: 'assistant'; content?: string | null; tool_calls?: (ChatCompletionMessageToolCall & { index: number })[] };
    finish_reason: FinishReason | null;
    logprobs: { content: TokenLogprob[] | null; refusal: null } | null;
  }[];
  usage?: CompletionUsage | null;
}

export interface Completion {
  id: string;
  object: 'text_completion';
  created: number;
  model: string;
  system_fingerprint: string;
  choices: {
    index: number;
    text: string;
    /** null on the chunks of a stream before the last. */
    finish_reason: FinishReason | null;
    logprobs: { tokens: string[]; token_logprobs: number[]; top_logprobs: Record<string, number>[] | null; text_offset: number[] } | null;
  }[];
  usage?: CompletionUsage;
}

/** OpenAI's error body. */
export interface ErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}
