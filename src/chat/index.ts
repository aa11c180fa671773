/**
 * Chat templates: `renderChatTemplate` renders any Jinja chat template; `buildChatPrompt` renders
 * a model's own template (ChatML when the model has none) and tokenizes the result.
 * A template that does not parse, or that fails while rendering (including its own
 * `raise_exception`, e.g. "Conversation roles must alternate"), or that exceeds the rendering
 * limits (time, steps, text, items: a template is as untrusted as its model file), is a
 * CHAT_TEMPLATE error.
 */
export { DEFAULT_TEMPLATE_LIMITS, renderChatTemplate, type ChatMessage, type ChatTemplateOptions, type TemplateLimits } from './template.js';
export { CHATML_TEMPLATE, buildChatPrompt, modelChatTemplate, type ChatPrompt, type ChatPromptOptions } from './model-chat.js';
export { parseToolCalls, plainContentPrefix, toolCallFrame, toolCallOpener, toolCallSyntax, type ParsedReply, type ParsedToolCall, type ToolCallSyntax } from './tool-calls.js';
