// Chat templates as models carry them in GGUF metadata (tokenizer.chat_template, copied from each
// model's tokenizer_config.json), rendered and compared with the prompt format each model family
// documents. Phi-3's template is read from the Phi-3 vocab file in ../shared.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { CHATML_TEMPLATE, buildChatPrompt, renderChatTemplate, type ChatMessage } from '../../src/chat/index.js';
import { isWasmChordError } from '../../src/errors.js';
import { readGGUFHeader, type GGUFMetadata } from '../../src/gguf/index.js';
import { Tokenizer } from '../../src/tokenizer/index.js';
import { SHARED } from '../helpers/shared.js';

async function readMetadata(relPath: string): Promise<GGUFMetadata> {
  return (await readGGUFHeader(join(SHARED, relPath))).metadata;
}

const isChatTemplateError = (e: unknown) => isWasmChordError(e, 'CHAT_TEMPLATE');

const TEMPLATES = {
  // teknium/OpenHermes-2.5-Mistral-7B and other ChatML models
  chatml:
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}",
  // meta-llama/Llama-2-7b-chat-hf
  llama2:
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}",
  // meta-llama/Meta-Llama-3-8B-Instruct
  llama3:
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}",
  // mistralai/Mistral-7B-Instruct-v0.1
  mistral:
    "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}",
  // google/gemma-7b-it
  gemma:
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + '<end_of_turn>\\n' }}{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model\\n'}}{% endif %}",
  // Qwen/Qwen2-7B-Instruct
  qwen2:
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}",
  // Qwen/Qwen2.5-7B-Instruct (tools)
  qwen25: `{%- if tools %}
    {{- '<|im_start|>system\\n' }}
    {%- if messages[0]['role'] == 'system' %}
        {{- messages[0]['content'] }}
    {%- else %}
        {{- 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' }}
    {%- endif %}
    {{- "\\n\\n# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\nYou are provided with function signatures within <tools></tools> XML tags:\\n<tools>" }}
    {%- for tool in tools %}
        {{- "\\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\\n</tools>\\n\\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\\n<tool_call>\\n{\\"name\\": <function-name>, \\"arguments\\": <args-json-object>}\\n</tool_call><|im_end|>\\n" }}
{%- else %}
    {%- if messages[0]['role'] == 'system' %}
        {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}
    {%- else %}
        {{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}
    {%- endif %}
{%- endif %}
{%- for message in messages %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) or (message.role == "assistant" and not message.tool_calls) %}
        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}
    {%- elif message.role == "assistant" %}
        {{- '<|im_start|>' + message.role }}
        {%- if message.content %}
            {{- '\\n' + message.content }}
        {%- endif %}
        {%- for tool_call in message.tool_calls %}
            {%- if tool_call.function is defined %}
                {%- set tool_call = tool_call.function %}
            {%- endif %}
            {{- '\\n<tool_call>\\n{"name": "' }}
            {{- tool_call.name }}
            {{- '", "arguments": ' }}
            {{- tool_call.arguments | tojson }}
            {{- '}\\n</tool_call>' }}
        {%- endfor %}
        {{- '<|im_end|>\\n' }}
    {%- elif message.role == "tool" %}
        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\\n<tool_response>\\n' }}
        {{- message.content }}
        {{- '\\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
            {{- '<|im_end|>\\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\\n' }}
{%- endif %}
`,
};

const CONVERSATION: ChatMessage[] = [
  { role: 'system', content: 'Be brief.' },
  { role: 'user', content: 'Hi' },
  { role: 'assistant', content: 'Hello!' },
  { role: 'user', content: 'Bye' },
];
const WITHOUT_SYSTEM = CONVERSATION.slice(1);

describe('chat templates render the documented prompt formats', () => {
  test('ChatML', () => {
    assert.equal(
      renderChatTemplate(TEMPLATES.chatml, { messages: CONVERSATION }),
      '<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n' +
        '<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n',
    );
    assert.equal(CHATML_TEMPLATE, TEMPLATES.chatml, 'the fallback is this template');
  });

  test('Llama-2: <<SYS>> inside the first [INST], each exchange closed by </s>', () => {
    assert.equal(
      renderChatTemplate(TEMPLATES.llama2, { messages: CONVERSATION, bosToken: '<s>', eosToken: '</s>' }),
      '<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello! </s><s>[INST] Bye [/INST]',
    );
  });

  test('Llama-3: header-delimited turns ending in <|eot_id|>', () => {
    assert.equal(
      renderChatTemplate(TEMPLATES.llama3, { messages: CONVERSATION, bosToken: '<|begin_of_text|>' }),
      '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>' +
        '<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>' +
        '<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>' +
        '<|start_header_id|>user<|end_header_id|>\n\nBye<|eot_id|>' +
        '<|start_header_id|>assistant<|end_header_id|>\n\n',
    );
  });

  test('Mistral: [INST] ... [/INST] with the answer closed by </s>', () => {
    // The model card writes "[/INST] answer</s> [INST]"; the template puts no spaces there, and the
    // answer's own leading space comes from the tokenizer.
    assert.equal(
      renderChatTemplate(TEMPLATES.mistral, { messages: WITHOUT_SYSTEM, bosToken: '<s>', eosToken: '</s>' }),
      '<s>[INST] Hi [/INST]Hello!</s>[INST] Bye [/INST]',
    );
  });

  test('Gemma: <start_of_turn>user / model turns', () => {
    assert.equal(
      renderChatTemplate(TEMPLATES.gemma, { messages: WITHOUT_SYSTEM, bosToken: '<bos>' }),
      '<bos><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\nHello!<end_of_turn>\n' +
        '<start_of_turn>user\nBye<end_of_turn>\n<start_of_turn>model\n',
    );
  });

  test('Qwen2: ChatML with a default system message', () => {
    assert.equal(
      renderChatTemplate(TEMPLATES.qwen2, { messages: [{ role: 'user', content: 'Hi' }] }),
      '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n',
    );
  });

  test('add_generation_prompt false ends after the last message', () => {
    assert.equal(
      renderChatTemplate(TEMPLATES.qwen2, { messages: [{ role: 'user', content: 'Hi' }], addGenerationPrompt: false }),
      '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n',
    );
  });
});

describe('tools', () => {
  const tools = [
    {
      type: 'function',
      function: {
        name: 'get_weather',
        description: 'Current weather',
        parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
      },
    },
  ];

  test('Qwen2.5 lists the tools in its system turn and replays tool calls and results', () => {
    const messages: ChatMessage[] = [
      { role: 'user', content: 'Weather in Paris?' },
      { role: 'assistant', content: '', tool_calls: [{ type: 'function', function: { name: 'get_weather', arguments: { city: 'Paris' } } }] },
      { role: 'tool', content: '{"temp": 18}' },
    ];
    assert.equal(
      renderChatTemplate(TEMPLATES.qwen25, { messages, tools }),
      '<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.\n\n# Tools\n\n' +
        'You may call one or more functions to assist with the user query.\n\n' +
        'You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n' +
        '{"type": "function", "function": {"name": "get_weather", "description": "Current weather", "parameters": ' +
        '{"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}\n</tools>\n\n' +
        'For each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n' +
        '<tool_call>\n{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call><|im_end|>\n' +
        '<|im_start|>user\nWeather in Paris?<|im_end|>\n' +
        '<|im_start|>assistant\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call><|im_end|>\n' +
        '<|im_start|>user\n<tool_response>\n{"temp": 18}\n</tool_response><|im_end|>\n' +
        '<|im_start|>assistant\n',
    );
  });

  test('without tools the same template gives plain ChatML', () => {
    assert.equal(
      renderChatTemplate(TEMPLATES.qwen25, { messages: [{ role: 'user', content: 'Hi' }] }),
      '<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n' +
        '<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n',
    );
  });
});

describe('templates that cannot render', () => {
  test("a template's raise_exception is a CHAT_TEMPLATE error carrying its message", () => {
    assert.throws(
      () => renderChatTemplate(TEMPLATES.gemma, { messages: CONVERSATION }),
      (e: unknown) => isChatTemplateError(e) && /System role not supported/.test((e as Error).message),
    );
    assert.throws(
      () => renderChatTemplate(TEMPLATES.llama2, { messages: [{ role: 'assistant', content: 'x' }] }),
      (e: unknown) => isChatTemplateError(e) && /roles must alternate/.test((e as Error).message),
    );
  });

  test('a template that does not parse is a CHAT_TEMPLATE error', () => {
    assert.throws(() => renderChatTemplate('{% for m in messages %}{{ m.content }}', { messages: [] }), isChatTemplateError);
  });

  test('messages that are not { role } objects are an INVALID_ARGUMENT error', () => {
    assert.throws(
      () => renderChatTemplate(TEMPLATES.chatml, { messages: [{ content: 'x' } as unknown as ChatMessage] }),
      (e: unknown) => isWasmChordError(e, 'INVALID_ARGUMENT'),
    );
  });
});

describe('a model’s own template, with its own special tokens', () => {
  let phi3: GGUFMetadata;
  before(async () => {
    phi3 = await readMetadata('models/vocab/ggml-vocab-phi-3.gguf');
  });

  test('Phi-3 (template from the GGUF): <|user|> / <|assistant|> turns ending in <|end|>, one BOS', () => {
    const tok = Tokenizer.fromGGUF(phi3);
    const prompt = buildChatPrompt(phi3, tok, { messages: WITHOUT_SYSTEM });
    assert.equal(prompt.source, 'model');
    assert.equal(
      prompt.text,
      '<s><|user|>\nHi<|end|>\n<|assistant|>\nHello!<|end|>\n<|user|>\nBye<|end|>\n<|assistant|>\n',
    );
    assert.equal(prompt.ids.filter((id) => id === tok.bos).length, 1, 'the template writes BOS; no second one');
    assert.equal(prompt.ids[0], 1);
    assert.equal(prompt.ids[1], 32010, '<|user|> is parsed as its token');
    // llama.cpp's Phi-3 rule: its special tokens swallow the whitespace after them, so the
    // newlines after <|user|>, <|end|> and <|assistant|> give no tokens.
    assert.equal(prompt.ids.at(-1), 32001, 'ends with <|assistant|>');
    assert.equal(tok.decode(prompt.ids), '<s><|user|> Hi<|end|><|assistant|> Hello!<|end|><|user|> Bye<|end|><|assistant|>');
  });

  test('a model with no template falls back to ChatML; its text is tokenized as plain text', async () => {
    const metadata = await readMetadata('models/stories260K.gguf');
    assert.equal(metadata.getString('tokenizer.chat_template'), undefined);
    const tok = Tokenizer.fromGGUF(metadata);
    const prompt = buildChatPrompt(metadata, tok, { messages: [{ role: 'user', content: 'Hi' }] });
    assert.equal(prompt.source, 'fallback');
    assert.equal(prompt.text, '<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n');
    assert.equal(prompt.ids[0], tok.bos, 'the tokenizer adds BOS');
    assert.equal(tok.decode(prompt.ids.slice(1)), prompt.text);
  });

  test('a custom template overrides the model’s', () => {
    const tok = Tokenizer.fromGGUF(phi3);
    const prompt = buildChatPrompt(phi3, tok, { messages: [{ role: 'user', content: 'Hi' }], template: TEMPLATES.chatml });
    assert.equal(prompt.source, 'custom');
    assert.ok(prompt.text.startsWith('<|im_start|>user\nHi'));
  });
});
