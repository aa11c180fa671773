/**
 * The grammar of a reply that must be a tool call (`tool_choice: "required"` or a named
 * function): the model's own call syntax around a JSON object whose name is one of the tools
 * and whose arguments validate against that tool's parameter schema. The call object is itself
 * described as a JSON Schema, so the schema converter does all the JSON.
 */
import { toolCallFrame, type ToolCallSyntax } from '../chat/tool-calls.js';
import { jsonSchemaToGrammar } from '../engine/grammar/json-schema.js';
import type { ChatCompletionTool } from './openai-types.js';

/** A GBNF literal of `text` (JSON.stringify escapes as GBNF reads them), nothing for ''. */
const literal = (text: string) => (text === '' ? '' : JSON.stringify(text));

export function forcedToolCallGrammar(tools: readonly ChatCompletionTool[], syntax: ToolCallSyntax, parallel: boolean): string {
  const frame = toolCallFrame(syntax);
  const calls = tools.map((t) => ({
    type: 'object',
    properties: { name: { const: t.function.name }, [frame.argumentsKey]: t.function.parameters ?? { type: 'object' } },
    required: ['name', frame.argumentsKey],
    additionalProperties: false,
  }));
  const call = jsonSchemaToGrammar(calls.length === 1 ? calls[0] : { anyOf: calls }, { rootName: 'call' });
  const before = literal(frame.before);
  const after = literal(frame.after);
  // Hermes writes one tagged block per call; Mistral a JSON list in one block; the others one call.
  const root =
    parallel && syntax === 'hermes'
      ? `root ::= ${before} call ${after} ( "\\n" ${before} call ${after} )*`
      : parallel && syntax === 'mistral'
        ? `root ::= ${before} call ( ", " call )* ${after}`
        : `root ::= ${before} call ${after}`;
  return `${root}\n${call}`;
}
