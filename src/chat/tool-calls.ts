/**
 * Tool calls in model output. A model given `tools` answers in the call syntax its chat template
 * teaches; this module recognises that syntax from the template and splits a reply into text and
 * calls. Model output is untrusted and often slightly wrong, so nothing here throws: whatever does
 * not parse as a call (or names a tool that was not offered) stays in the text.
 *
 * Syntaxes:
 * - hermes (Hermes 2 Pro, Qwen 2/2.5/3): `<tool_call>\n{"name": ..., "arguments": {...}}\n</tool_call>`,
 *   once or more, after optional text.
 * - llama3 (Llama 3.1–3.3 JSON tool calling): the whole reply is `{"name": ..., "parameters": {...}}`,
 *   or several joined by `;`, optionally after `<|python_tag|>` (text may precede the tag).
 * - mistral: `[TOOL_CALLS]` then a JSON array of calls (v3, Nemo), or `[TOOL_CALLS]name[ARGS]{...}`
 *   (newer tokenizers, optionally with `[CALL_ID]id` before `[ARGS]`).
 * - generic (no recognisable syntax): the whole reply, optionally in a ```json fence, is
 *   `{"tool_calls": [call, ...]}` or one bare call.
 * Every syntax accepts either `arguments` or `parameters` as the arguments key: models mix them up.
 */

export type ToolCallSyntax = 'hermes' | 'llama3' | 'mistral' | 'generic';

export interface ParsedToolCall {
  readonly name: string;
  /** The arguments as JSON text (OpenAI's `function.arguments`), normalised with JSON.stringify. */
  readonly arguments: string;
}

export interface ParsedReply {
  /** Text outside the tool calls, trimmed; '' when the reply is only calls. */
  readonly content: string;
  readonly toolCalls: readonly ParsedToolCall[];
}

const HERMES_OPEN = '<tool_call>';
const HERMES_CLOSE = '</tool_call>';
const MISTRAL_OPEN = '[TOOL_CALLS]';
const PYTHON_TAG = '<|python_tag|>';

/** The syntax a chat template teaches its model (from the template's text), 'generic' when none is recognisable. */
export function toolCallSyntax(template: string | undefined): ToolCallSyntax {
  if (!template) return 'generic';
  // Hermes and Mistral markers are unambiguous; check them before Llama 3's looser hints, since
  // e.g. a Hermes template may also spell out a tool's "parameters".
  if (template.includes(HERMES_OPEN)) return 'hermes';
  if (template.includes(MISTRAL_OPEN)) return 'mistral';
  const llama3Hint = template.includes(PYTHON_TAG) || template.includes('ipython') || template.includes('"parameters"');
  if (llama3Hint && template.includes('tools')) return 'llama3';
  return 'generic';
}

/** The text that opens a tool call in this syntax (e.g. '<tool_call>' for hermes), undefined for generic. */
export function toolCallOpener(syntax: ToolCallSyntax): string | undefined {
  switch (syntax) {
    case 'hermes': return HERMES_OPEN;
    case 'mistral': return MISTRAL_OPEN;
    // Llama 3 calls may also be bare JSON with no opener (see plainContentPrefix).
    case 'llama3': return PYTHON_TAG;
    case 'generic': return undefined;
  }
}

/** The literal text around one call's JSON object in this syntax: what precedes `{"name": ...` and what follows it, for building a grammar that forces a call. */
export function toolCallFrame(syntax: ToolCallSyntax): { readonly before: string; readonly after: string; readonly argumentsKey: 'arguments' | 'parameters' } {
  switch (syntax) {
    case 'hermes': return { before: `${HERMES_OPEN}\n`, after: `\n${HERMES_CLOSE}`, argumentsKey: 'arguments' };
    case 'mistral': return { before: `${MISTRAL_OPEN}[`, after: ']', argumentsKey: 'arguments' };
    case 'llama3': return { before: '', after: '', argumentsKey: 'parameters' };
    case 'generic': return { before: '', after: '', argumentsKey: 'arguments' };
  }
}

/** Splits a complete reply into text and tool calls. Malformed calls stay in `content` (never throw on model output). `toolNames`: calls to other names are not calls (left as content). */
export function parseToolCalls(text: string, syntax: ToolCallSyntax, toolNames?: readonly string[]): ParsedReply {
  const toCall = (value: unknown) => callFrom(value, toolNames);
  switch (syntax) {
    case 'hermes': return parseHermes(text, toCall);
    case 'mistral': return parseMistral(text, toCall);
    case 'llama3': return parseLlama3(text, toCall);
    case 'generic': return parseGeneric(text, toCall);
  }
}

/**
 * For streaming: the length of the prefix of `text` that is surely plain content (no tool call can
 * start inside it), so a server can stream it before the reply ends. Trailing whitespace is held
 * back too: if a call follows, the final content is trimmed and must not have been streamed.
 */
export function plainContentPrefix(text: string, syntax: ToolCallSyntax): number {
  const lead = text.trimStart();
  let end: number;
  if (syntax === 'generic') {
    // A generic call is the whole reply, so only a reply that starts like JSON or a fence is held.
    end = lead === '' || lead.startsWith('{') || lead.startsWith('`') ? 0 : text.length;
  } else if (syntax === 'llama3' && (lead === '' || lead.startsWith('{'))) {
    end = 0; // a bare-JSON call
  } else {
    end = beforeOpener(text, toolCallOpener(syntax)!);
  }
  while (end > 0 && /\s/.test(text[end - 1]!)) end--;
  return end;
}

/** Where `opener` starts in `text`, or where a suffix of `text` that may grow into it starts. */
function beforeOpener(text: string, opener: string): number {
  const at = text.indexOf(opener);
  if (at >= 0) return at;
  for (let k = Math.min(opener.length - 1, text.length); k > 0; k--) {
    if (text.endsWith(opener.slice(0, k))) return text.length - k;
  }
  return text.length;
}

type ToCall = (value: unknown) => ParsedToolCall | undefined;

/** A call found at [start, end) of the reply. */
interface Span { start: number; end: number; calls: ParsedToolCall[] }

/** The reply with the spans cut out. */
function withoutSpans(text: string, spans: readonly Span[]): ParsedReply {
  let content = '';
  let from = 0;
  for (const s of spans) {
    content += text.slice(from, s.start);
    from = s.end;
  }
  content += text.slice(from);
  return { content: content.trim(), toolCalls: spans.flatMap((s) => s.calls) };
}

function parseHermes(text: string, toCall: ToCall): ParsedReply {
  const spans: Span[] = [];
  for (let at = text.indexOf(HERMES_OPEN); at >= 0; at = text.indexOf(HERMES_OPEN, at + 1)) {
    const json = jsonAt(text, skipSpace(text, at + HERMES_OPEN.length));
    const call = json && toCall(json.value);
    if (!json || !call) continue;
    const after = skipSpace(text, json.end);
    // The closing tag may be missing when generation stopped on it.
    let end: number;
    if (text.startsWith(HERMES_CLOSE, after)) end = after + HERMES_CLOSE.length;
    else if (after === text.length) end = after;
    else continue;
    spans.push({ start: at, end, calls: [call] });
    at = end - 1;
  }
  return withoutSpans(text, spans);
}

/** `name[ARGS]` or `name[CALL_ID]id[ARGS]`, right after `[TOOL_CALLS]`. */
const MISTRAL_NAMED = /([A-Za-z0-9_.-]+)(?:\[CALL_ID\][^[]*)?\[ARGS\]/y;

function parseMistral(text: string, toCall: ToCall): ParsedReply {
  const spans: Span[] = [];
  for (let at = text.indexOf(MISTRAL_OPEN); at >= 0; at = text.indexOf(MISTRAL_OPEN, at + 1)) {
    const pos = skipSpace(text, at + MISTRAL_OPEN.length);
    let json: JsonAt | undefined;
    let calls: ParsedToolCall[] | undefined;
    MISTRAL_NAMED.lastIndex = pos;
    const named = MISTRAL_NAMED.exec(text);
    if (named) {
      json = jsonAt(text, skipSpace(text, MISTRAL_NAMED.lastIndex));
      const call = json && toCall({ name: named[1], arguments: json.value });
      calls = call && [call];
    } else {
      json = jsonAt(text, pos);
      // Mostly an array of calls; a single object is tolerated.
      calls = json && allCalls(Array.isArray(json.value) ? json.value : [json.value], toCall);
    }
    if (!json || !calls?.length) continue;
    spans.push({ start: at, end: json.end, calls });
    at = json.end - 1;
  }
  return withoutSpans(text, spans);
}

function parseLlama3(text: string, toCall: ToCall): ParsedReply {
  const tag = text.indexOf(PYTHON_TAG);
  let pos = tag >= 0 ? tag + PYTHON_TAG.length : 0;
  const calls: ParsedToolCall[] = [];
  // All or nothing: the reply (after the tag) must be calls separated by `;`.
  for (;;) {
    const json = jsonAt(text, skipSpace(text, pos));
    const call = json && toCall(json.value);
    if (!json || !call) return { content: text.trim(), toolCalls: [] };
    calls.push(call);
    pos = skipSpace(text, json.end);
    if (text[pos] === ';') pos = skipSpace(text, pos + 1);
    if (pos === text.length) break;
  }
  return { content: tag >= 0 ? text.slice(0, tag).trim() : '', toolCalls: calls };
}

const FENCE = /^```(?:json)?\s*([\s\S]*?)\s*```$/;

function parseGeneric(text: string, toCall: ToCall): ParsedReply {
  const trimmed = text.trim();
  const body = FENCE.exec(trimmed)?.[1] ?? trimmed;
  const json = jsonAt(body, 0);
  let calls: ParsedToolCall[] | undefined;
  if (json && json.end === body.length) {
    const value = json.value;
    calls = allCalls(isObject(value) && Array.isArray(value['tool_calls']) ? value['tool_calls'] : [value], toCall);
  }
  return calls?.length ? { content: '', toolCalls: calls } : { content: trimmed, toolCalls: [] };
}

/** Every element as a call, or undefined if any is not one (a half-valid list stays text). */
function allCalls(values: readonly unknown[], toCall: ToCall): ParsedToolCall[] | undefined {
  const calls = values.map(toCall);
  return calls.every((c) => c !== undefined) ? (calls as ParsedToolCall[]) : undefined;
}

function callFrom(value: unknown, toolNames: readonly string[] | undefined): ParsedToolCall | undefined {
  if (!isObject(value)) return undefined;
  const name = value['name'];
  if (typeof name !== 'string' || name === '' || (toolNames && !toolNames.includes(name))) return undefined;
  let args = value['arguments'] ?? value['parameters'] ?? {};
  if (typeof args === 'string') {
    // OpenAI-style arguments: JSON text of an object.
    try {
      args = JSON.parse(args);
    } catch {
      return undefined;
    }
  }
  return isObject(args) ? { name, arguments: JSON.stringify(args) } : undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function skipSpace(text: string, pos: number): number {
  while (pos < text.length && /\s/.test(text[pos]!)) pos++;
  return pos;
}

interface JsonAt { value: unknown; end: number }

/**
 * The JSON object or array starting at `start`, and where it ends; undefined if there is none or it
 * does not parse. Brackets are matched outside strings (honouring escapes) to find the end, then
 * JSON.parse checks the whole value.
 */
function jsonAt(text: string, start: number): JsonAt | undefined {
  const first = text[start];
  if (first !== '{' && first !== '[') return undefined;
  const closers: string[] = [];
  let inString = false;
  for (let i = start; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') {
      inString = true;
    } else if (c === '{' || c === '[') {
      closers.push(c === '{' ? '}' : ']');
    } else if (c === '}' || c === ']') {
      if (closers.pop() !== c) return undefined;
      if (closers.length === 0) {
        try {
          return { value: JSON.parse(text.slice(start, i + 1)), end: i + 1 };
        } catch {
          return undefined;
        }
      }
    }
  }
  return undefined;
}
