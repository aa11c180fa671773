// Tool calls in model output, per chat template family. The replies below are written by hand in
// each family's documented format (Hermes/Qwen `<tool_call>` blocks, Llama 3.1 JSON tool calling,
// Mistral `[TOOL_CALLS]`), and every expected call is spelled out literally.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parseToolCalls, plainContentPrefix, toolCallFrame, toolCallOpener, toolCallSyntax } from '../../src/chat/index.js';
import { readGGUFHeader } from '../../src/gguf/index.js';
import { SHARED } from '../helpers/shared.js';

const WEATHER = '{"name": "get_weather", "arguments": {"city": "Paris"}}';
const TIME = '{"name": "get_time", "arguments": {"tz": "UTC"}}';
const weatherCall = { name: 'get_weather', arguments: '{"city":"Paris"}' };
const timeCall = { name: 'get_time', arguments: '{"tz":"UTC"}' };

describe('toolCallSyntax', () => {
  test('the only template among the shared models (Phi-3 vocab) teaches no tool calls', async () => {
    const { metadata } = await readGGUFHeader(join(SHARED, 'models/vocab/ggml-vocab-phi-3.gguf'));
    const template = metadata.getString('tokenizer.chat_template');
    assert.ok(template);
    assert.equal(toolCallSyntax(template), 'generic');
  });

  test('hermes: Qwen 2.5 / Hermes 2 Pro style tool instructions', () => {
    const qwen =
      '{%- if tools %}{{- "<|im_start|>system\\n# Tools\\n<tools>" }}{%- for tool in tools %}{{- tool | tojson }}{%- endfor %}' +
      '{{- "</tools>\\nReturn each call within <tool_call></tool_call> XML tags:\\n<tool_call>\\n{\\"name\\": <function-name>, \\"arguments\\": <args-json-object>}\\n</tool_call>" }}{%- endif %}';
    assert.equal(toolCallSyntax(qwen), 'hermes');
    // A Hermes template that also spells out "parameters" is still Hermes.
    assert.equal(toolCallSyntax('{% for tool in tools %}{"parameters": {{ tool.parameters | tojson }}}{% endfor %}<tool_call>'), 'hermes');
  });

  test('llama3: Llama 3.1 (python_tag), 3.2 (ipython only), "parameters" hint', () => {
    const llama31 =
      '{%- if tools is not none %}{{- "Environment: ipython\\n" }}{%- endif %}' +
      '{{- \'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.\' }}' +
      '{%- if builtin_tools is defined %}{{- "<|python_tag|>" + tool_call.name }}{%- endif %}';
    assert.equal(toolCallSyntax(llama31), 'llama3');
    assert.equal(toolCallSyntax('{%- if tools is not none %}{{- "Environment: ipython\\n" }}{%- endif %}'), 'llama3');
    assert.equal(toolCallSyntax('{%- for t in tools %}{{ t | tojson }}{%- endfor %}{"name": ..., "parameters": ...}'), 'llama3');
  });

  test('mistral: [TOOL_CALLS] in v3 and newer templates', () => {
    assert.equal(toolCallSyntax('{{- "[AVAILABLE_TOOLS] " + tools|tojson + "[/AVAILABLE_TOOLS]" }}{{- "[TOOL_CALLS] [" }}'), 'mistral');
    assert.equal(toolCallSyntax('{{- "[TOOL_CALLS]" + tool_call.function.name + "[ARGS]" + arguments }}'), 'mistral');
  });

  test('generic: no template, ChatML, Llama 3.0, ipython without tools', () => {
    assert.equal(toolCallSyntax(undefined), 'generic');
    assert.equal(toolCallSyntax(''), 'generic');
    assert.equal(toolCallSyntax("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n'}}{% endfor %}"), 'generic');
    assert.equal(toolCallSyntax("{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}"), 'generic');
    assert.equal(toolCallSyntax('{{ "<|start_header_id|>ipython<|end_header_id|>" }}'), 'generic');
  });
});

describe('parseToolCalls: hermes', () => {
  test('one call, whole reply', () => {
    assert.deepEqual(parseToolCalls(`<tool_call>\n${WEATHER}\n</tool_call>`, 'hermes'), { content: '', toolCalls: [weatherCall] });
  });

  test('text before, several calls', () => {
    const reply = `Let me check both.\n<tool_call>\n${WEATHER}\n</tool_call>\n<tool_call>\n${TIME}\n</tool_call>\n`;
    assert.deepEqual(parseToolCalls(reply, 'hermes'), { content: 'Let me check both.', toolCalls: [weatherCall, timeCall] });
  });

  test('missing closing tag at the end of the reply (generation stopped on it)', () => {
    assert.deepEqual(parseToolCalls(`<tool_call>\n${WEATHER}\n`, 'hermes'), { content: '', toolCalls: [weatherCall] });
  });

  test('invalid JSON stays content; a valid call beside it is still taken', () => {
    const bad = '<tool_call>\n{"name": "get_weather", "arguments": {"city": Paris}}\n</tool_call>';
    assert.deepEqual(parseToolCalls(bad, 'hermes'), { content: bad, toolCalls: [] });
    assert.deepEqual(parseToolCalls(`${bad}\n<tool_call>\n${TIME}\n</tool_call>`, 'hermes'), { content: bad, toolCalls: [timeCall] });
    const unbalanced = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}\n</tool_call>';
    assert.deepEqual(parseToolCalls(unbalanced, 'hermes'), { content: unbalanced, toolCalls: [] });
  });

  test('strings holding braces, brackets and escaped quotes', () => {
    const reply = '<tool_call>\n{"name": "echo", "arguments": {"text": "a } b ]\\" {c"}}\n</tool_call>';
    assert.deepEqual(parseToolCalls(reply, 'hermes'), { content: '', toolCalls: [{ name: 'echo', arguments: '{"text":"a } b ]\\" {c"}' }] });
  });

  test('arguments given as a JSON string, or left out', () => {
    const asString = '<tool_call>\n{"name": "get_weather", "arguments": "{\\"city\\": \\"Paris\\"}"}\n</tool_call>';
    assert.deepEqual(parseToolCalls(asString, 'hermes'), { content: '', toolCalls: [weatherCall] });
    assert.deepEqual(parseToolCalls('<tool_call>\n{"name": "now"}\n</tool_call>', 'hermes'), { content: '', toolCalls: [{ name: 'now', arguments: '{}' }] });
    const notObject = '<tool_call>\n{"name": "get_weather", "arguments": "Paris"}\n</tool_call>';
    assert.deepEqual(parseToolCalls(notObject, 'hermes'), { content: notObject, toolCalls: [] });
  });

  test('names not in toolNames are content', () => {
    const reply = `<tool_call>\n${WEATHER}\n</tool_call>\n<tool_call>\n${TIME}\n</tool_call>`;
    assert.deepEqual(parseToolCalls(reply, 'hermes', ['get_time']), {
      content: `<tool_call>\n${WEATHER}\n</tool_call>`,
      toolCalls: [timeCall],
    });
  });

  test('text after the closing tag is kept', () => {
    assert.deepEqual(parseToolCalls(`<tool_call>\n${WEATHER}\n</tool_call>\nDone.`, 'hermes'), { content: 'Done.', toolCalls: [weatherCall] });
  });

  test('plain text is content', () => {
    assert.deepEqual(parseToolCalls('  It is sunny in Paris.\n', 'hermes'), { content: 'It is sunny in Paris.', toolCalls: [] });
  });
});

describe('parseToolCalls: llama3', () => {
  test('one call with "parameters", bare or after <|python_tag|>', () => {
    const call = '{"name": "get_weather", "parameters": {"city": "Paris"}}';
    assert.deepEqual(parseToolCalls(call, 'llama3'), { content: '', toolCalls: [weatherCall] });
    assert.deepEqual(parseToolCalls(`<|python_tag|>${call}`, 'llama3'), { content: '', toolCalls: [weatherCall] });
    assert.deepEqual(parseToolCalls(`\n ${call} \n`, 'llama3'), { content: '', toolCalls: [weatherCall] });
  });

  test('"arguments" is accepted too; extra keys such as "type" are ignored', () => {
    assert.deepEqual(parseToolCalls(`{"type": "function", ${TIME.slice(1)}`, 'llama3'), { content: '', toolCalls: [timeCall] });
  });

  test('several calls separated by ;', () => {
    const reply = '<|python_tag|>{"name": "get_weather", "parameters": {"city": "Paris"}}; {"name": "get_time", "parameters": {"tz": "UTC"}}';
    assert.deepEqual(parseToolCalls(reply, 'llama3'), { content: '', toolCalls: [weatherCall, timeCall] });
  });

  test('text before <|python_tag|> is content; text before bare JSON makes it no call', () => {
    const call = '{"name": "get_weather", "parameters": {"city": "Paris"}}';
    assert.deepEqual(parseToolCalls(`Checking.<|python_tag|>${call}`, 'llama3'), { content: 'Checking.', toolCalls: [weatherCall] });
    assert.deepEqual(parseToolCalls(`Here is JSON: ${call}`, 'llama3'), { content: `Here is JSON: ${call}`, toolCalls: [] });
  });

  test('invalid JSON, trailing text, built-in python calls and unknown names stay content', () => {
    const invalid = '{"name": "get_weather", "parameters": {"city": "Paris"}';
    assert.deepEqual(parseToolCalls(invalid, 'llama3'), { content: invalid, toolCalls: [] });
    const trailing = '{"name": "get_weather", "parameters": {"city": "Paris"}} and more';
    assert.deepEqual(parseToolCalls(trailing, 'llama3'), { content: trailing, toolCalls: [] });
    const builtin = '<|python_tag|>brave_search.call(query="Paris weather")';
    assert.deepEqual(parseToolCalls(builtin, 'llama3'), { content: builtin, toolCalls: [] });
    const call = '{"name": "get_weather", "parameters": {"city": "Paris"}}';
    assert.deepEqual(parseToolCalls(call, 'llama3', ['get_time']), { content: call, toolCalls: [] });
  });

  test('strings holding } and \\" ; parameters as a string', () => {
    const reply = '{"name": "echo", "parameters": "{\\"text\\": \\"}{ \\\\\\" ;\\"}"}';
    assert.deepEqual(parseToolCalls(reply, 'llama3'), { content: '', toolCalls: [{ name: 'echo', arguments: '{"text":"}{ \\" ;"}' }] });
  });
});

describe('parseToolCalls: mistral', () => {
  test('[TOOL_CALLS] with an array of one or several calls (ids ignored)', () => {
    assert.deepEqual(parseToolCalls(`[TOOL_CALLS] [${WEATHER}]`, 'mistral'), { content: '', toolCalls: [weatherCall] });
    const two = '[TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "Paris"}, "id": "abcDEF123"}, {"name": "get_time", "arguments": {"tz": "UTC"}, "id": "xyzXYZ789"}]';
    assert.deepEqual(parseToolCalls(two, 'mistral'), { content: '', toolCalls: [weatherCall, timeCall] });
  });

  test('newer [TOOL_CALLS]name[ARGS]{...} form, with or without [CALL_ID], repeated', () => {
    assert.deepEqual(parseToolCalls('[TOOL_CALLS]get_weather[ARGS]{"city": "Paris"}', 'mistral'), { content: '', toolCalls: [weatherCall] });
    const two = '[TOOL_CALLS]get_weather[CALL_ID]abcDEF123[ARGS]{"city": "Paris"}[TOOL_CALLS]get_time[ARGS]{"tz": "UTC"}';
    assert.deepEqual(parseToolCalls(two, 'mistral'), { content: '', toolCalls: [weatherCall, timeCall] });
  });

  test('text before the calls', () => {
    assert.deepEqual(parseToolCalls(`I will look it up. [TOOL_CALLS] [${WEATHER}]`, 'mistral'), { content: 'I will look it up.', toolCalls: [weatherCall] });
  });

  test('invalid JSON, a bad element or an unknown name leaves the block as content', () => {
    const invalid = '[TOOL_CALLS] [{"name": "get_weather", "arguments": {"city": "Paris"}]';
    assert.deepEqual(parseToolCalls(invalid, 'mistral'), { content: invalid, toolCalls: [] });
    const badElement = `[TOOL_CALLS] [${WEATHER}, {"arguments": {}}]`;
    assert.deepEqual(parseToolCalls(badElement, 'mistral'), { content: badElement, toolCalls: [] });
    const unknown = `[TOOL_CALLS] [${WEATHER}, ${TIME}]`;
    assert.deepEqual(parseToolCalls(unknown, 'mistral', ['get_weather']), { content: unknown, toolCalls: [] });
    const badArgs = '[TOOL_CALLS]get_weather[ARGS]{"city": }';
    assert.deepEqual(parseToolCalls(badArgs, 'mistral'), { content: badArgs, toolCalls: [] });
  });

  test('strings holding ] } and \\" ; arguments as a string', () => {
    const reply = '[TOOL_CALLS] [{"name": "echo", "arguments": "{\\"text\\": \\"]}\\\\\\"\\"}"}]';
    assert.deepEqual(parseToolCalls(reply, 'mistral'), { content: '', toolCalls: [{ name: 'echo', arguments: '{"text":"]}\\""}' }] });
  });
});

describe('parseToolCalls: generic', () => {
  test('{"tool_calls": [...]} with one or several calls', () => {
    assert.deepEqual(parseToolCalls(`{"tool_calls": [${WEATHER}]}`, 'generic'), { content: '', toolCalls: [weatherCall] });
    assert.deepEqual(parseToolCalls(`{"tool_calls": [${WEATHER}, ${TIME}]}`, 'generic'), { content: '', toolCalls: [weatherCall, timeCall] });
  });

  test('a bare call, with whitespace around or in a ```json fence', () => {
    assert.deepEqual(parseToolCalls(`\n  ${WEATHER}\n`, 'generic'), { content: '', toolCalls: [weatherCall] });
    assert.deepEqual(parseToolCalls(`\`\`\`json\n${WEATHER}\n\`\`\``, 'generic'), { content: '', toolCalls: [weatherCall] });
  });

  test('text around the JSON, invalid JSON, unknown names and plain JSON stay content', () => {
    assert.deepEqual(parseToolCalls(`Sure: ${WEATHER}`, 'generic'), { content: `Sure: ${WEATHER}`, toolCalls: [] });
    const invalid = '{"tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]';
    assert.deepEqual(parseToolCalls(invalid, 'generic'), { content: invalid, toolCalls: [] });
    assert.deepEqual(parseToolCalls(WEATHER, 'generic', ['get_time']), { content: WEATHER, toolCalls: [] });
    assert.deepEqual(parseToolCalls('{"city": "Paris"}', 'generic'), { content: '{"city": "Paris"}', toolCalls: [] });
    assert.deepEqual(parseToolCalls('{"tool_calls": []}', 'generic'), { content: '{"tool_calls": []}', toolCalls: [] });
  });

  test('strings holding } and \\" ; arguments as a string', () => {
    const reply = '{"tool_calls": [{"name": "echo", "arguments": "{\\"text\\": \\"}\\\\\\"\\"}"}]}';
    assert.deepEqual(parseToolCalls(reply, 'generic'), { content: '', toolCalls: [{ name: 'echo', arguments: '{"text":"}\\""}' }] });
  });
});

describe('toolCallOpener and toolCallFrame', () => {
  test('openers', () => {
    assert.equal(toolCallOpener('hermes'), '<tool_call>');
    assert.equal(toolCallOpener('mistral'), '[TOOL_CALLS]');
    assert.equal(toolCallOpener('llama3'), '<|python_tag|>');
    assert.equal(toolCallOpener('generic'), undefined);
  });

  test('frames', () => {
    assert.deepEqual(toolCallFrame('hermes'), { before: '<tool_call>\n', after: '\n</tool_call>', argumentsKey: 'arguments' });
    assert.deepEqual(toolCallFrame('mistral'), { before: '[TOOL_CALLS][', after: ']', argumentsKey: 'arguments' });
    assert.deepEqual(toolCallFrame('llama3'), { before: '', after: '', argumentsKey: 'parameters' });
    assert.deepEqual(toolCallFrame('generic'), { before: '', after: '', argumentsKey: 'arguments' });
  });

  test('a call written in its frame parses back', () => {
    for (const syntax of ['hermes', 'mistral', 'llama3', 'generic'] as const) {
      const { before, after, argumentsKey } = toolCallFrame(syntax);
      const reply = `${before}{"name": "get_weather", "${argumentsKey}": {"city": "Paris"}}${after}`;
      assert.deepEqual(parseToolCalls(reply, syntax), { content: '', toolCalls: [weatherCall] }, syntax);
    }
  });
});

describe('plainContentPrefix', () => {
  test('hermes holds back a partial or whole opener and the whitespace before it', () => {
    assert.equal(plainContentPrefix('Hello <tool_', 'hermes'), 'Hello'.length);
    assert.equal(plainContentPrefix('Hello <', 'hermes'), 'Hello'.length);
    assert.equal(plainContentPrefix('Hello <tool_call>\n{"na', 'hermes'), 'Hello'.length);
    assert.equal(plainContentPrefix('Hello <b>', 'hermes'), 'Hello <b>'.length);
    assert.equal(plainContentPrefix('Hello world\n', 'hermes'), 'Hello world'.length);
    assert.equal(plainContentPrefix('<tool_call>', 'hermes'), 0);
    assert.equal(plainContentPrefix('', 'hermes'), 0);
  });

  test('mistral holds back [TOOL_CALLS] and its prefixes', () => {
    assert.equal(plainContentPrefix('Sure. [TOOL', 'mistral'), 'Sure.'.length);
    assert.equal(plainContentPrefix('Sure. [TOOL_CALLS] [{"name"', 'mistral'), 'Sure.'.length);
    assert.equal(plainContentPrefix('See [1]', 'mistral'), 'See [1]'.length);
  });

  test('llama3 holds back a reply that starts as JSON, and <|python_tag|>', () => {
    assert.equal(plainContentPrefix('{"name": "get_', 'llama3'), 0);
    assert.equal(plainContentPrefix('  {', 'llama3'), 0);
    assert.equal(plainContentPrefix('\n', 'llama3'), 0);
    assert.equal(plainContentPrefix('The answer is {x}', 'llama3'), 'The answer is {x}'.length);
    assert.equal(plainContentPrefix('Checking.<|python', 'llama3'), 'Checking.'.length);
    assert.equal(plainContentPrefix('Checking.<|python_tag|>{"name"', 'llama3'), 'Checking.'.length);
  });

  test('generic holds back a reply that starts as JSON or a fence, nothing else', () => {
    assert.equal(plainContentPrefix('{"tool_calls": [', 'generic'), 0);
    assert.equal(plainContentPrefix('``', 'generic'), 0);
    assert.equal(plainContentPrefix(' ', 'generic'), 0);
    assert.equal(plainContentPrefix('It is {sunny} ', 'generic'), 'It is {sunny}'.length);
  });
});
