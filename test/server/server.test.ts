// `wasm-chord serve` through the official `openai` npm client on loopback: plain and streamed
// chat completions and completions with the tokens the in-process engine gives, JSON-schema
// output that validates (ajv), tool calls parsed into `tool_calls` (a Hermes-style template and
// the generic syntax), logprobs from the model's distribution, OpenAI-shaped errors, parallel
// requests that give the tokens they give alone, and a disconnected client that frees its session.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { Ajv } from 'ajv';
import { WasmChord, jsonObjectGrammar, type Model } from '../../src/index.js';
import { encodeGGUF, kv, type GGUFMetadata } from '../../src/gguf/index.js';
import { serve, type WasmChordServer } from '../../src/server/http-server.js';
import { modelSpec } from '../helpers/split-set.js';
import { SHARED } from '../helpers/shared.js';

const KEY = 'test-key';
const STORIES = join(SHARED, 'models/stories260K.gguf');

/** A template in the Hermes/Qwen style: tools listed in the system turn, calls as <tool_call> JSON blocks. */
const HERMES_TEMPLATE =
  "{% if tools %}<|im_start|>system\nYou may call these tools:\n{% for t in tools %}{{ t | tojson }}\n{% endfor %}" +
  'Reply with <tool_call>{"name": ..., "arguments": ...}</tool_call>.<|im_end|>\n{% endif %}' +
  "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

const WEATHER_PARAMETERS = { type: 'object', properties: { city: { type: 'string', maxLength: 20 }, days: { type: 'integer' } }, required: ['city', 'days'], additionalProperties: false };
const WEATHER_TOOL: OpenAI.ChatCompletionFunctionTool = {
  type: 'function',
  function: { name: 'get_weather', description: 'The weather in a city', parameters: WEATHER_PARAMETERS },
};

let runtime: WasmChord;
let model: Model;
let server: WasmChordServer;
let client: OpenAI;
let dir: string;

before(async () => {
  runtime = await WasmChord.init({ backend: 'cpu', threads: 2 });
  model = await runtime.loadModel(STORIES, { contextSize: 256 });
  server = await serve(model, { port: 0, apiKey: KEY, parallel: 2, maxTokens: 200 });
  client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: KEY, maxRetries: 0 });
  dir = mkdtempSync(join(tmpdir(), 'serve-'));
});

after(async () => {
  await server.close();
  await runtime.dispose();
  rmSync(dir, { recursive: true, force: true });
});

const messages = [{ role: 'user' as const, content: 'Once upon a time' }];

describe('chat completions', () => {
  test('a reply is the in-process engine\'s, with usage and finish_reason', async () => {
    const reply = await client.chat.completions.create({ model: 'stories', messages, max_tokens: 24, temperature: 0 });
    const local = await model.generate(messages, { maxTokens: 24, temperature: 0 });
    assert.equal(reply.object, 'chat.completion');
    assert.equal(reply.choices[0]!.message.role, 'assistant');
    assert.equal(reply.choices[0]!.message.content, local.text);
    assert.equal(reply.choices[0]!.finish_reason, local.stopReason === 'length' ? 'length' : 'stop');
    const { prompt_tokens_details: _, ...counts } = reply.usage!;
    assert.deepEqual(counts, { prompt_tokens: local.promptTokens.length, completion_tokens: local.tokens.length, total_tokens: local.promptTokens.length + local.tokens.length });
  });

  test('a stream gives the same text in chunks, then the finish reason and usage', async () => {
    const whole = await client.chat.completions.create({ messages, max_tokens: 30, temperature: 0.8, seed: 7, model: 'm' });
    const stream = await client.chat.completions.create({ messages, max_tokens: 30, temperature: 0.8, seed: 7, model: 'm', stream: true, stream_options: { include_usage: true } });
    let text = '';
    let finish: string | null = null;
    let usage: OpenAI.CompletionUsage | null | undefined;
    let chunks = 0;
    for await (const chunk of stream) {
      chunks++;
      if (chunk.usage) usage = chunk.usage;
      const choice = chunk.choices[0];
      if (!choice) continue;
      text += choice.delta.content ?? '';
      finish = choice.finish_reason ?? finish;
    }
    assert.ok(chunks > 3, `${chunks} chunks`);
    assert.equal(text, whole.choices[0]!.message.content);
    assert.equal(finish, whole.choices[0]!.finish_reason);
    assert.deepEqual(usage, whole.usage);
  });

  test('json_schema output parses and validates against its schema, for every seed', async () => {
    const schema = {
      type: 'object',
      properties: { name: { type: 'string', maxLength: 16 }, age: { type: 'integer' }, tags: { type: 'array', items: { enum: ['a', 'b'] }, maxItems: 3 } },
      required: ['name', 'age', 'tags'],
      additionalProperties: false,
    };
    const validate = new Ajv().compile(schema);
    for (let seed = 1; seed <= 6; seed++) {
      const reply = await client.chat.completions.create({
        model: 'm',
        messages,
        temperature: 1,
        seed,
        max_tokens: 200,
        response_format: { type: 'json_schema', json_schema: { name: 'person', schema } },
      });
      const content = reply.choices[0]!.message.content!;
      assert.equal(reply.choices[0]!.finish_reason, 'stop', content);
      assert.ok(validate(JSON.parse(content)), `seed ${seed}: ${content} ${JSON.stringify(validate.errors)}`);
    }
  });

  test('json_object constrains the reply with the any-object grammar (stories260K writes prose in its strings: cut by max_tokens)', async () => {
    const reply = await client.chat.completions.create({ model: 'm', messages, temperature: 1, seed: 2, max_tokens: 40, response_format: { type: 'json_object' } });
    const local = await model.generate(messages, { grammar: jsonObjectGrammar(), temperature: 1, seed: 2, maxTokens: 40 });
    assert.equal(reply.choices[0]!.message.content, local.text);
    assert.match(local.text, /^\s*\{\s*"/);
  });

  test('logprobs: the sampled token\'s log-probability under the model, and the top alternatives', async () => {
    const reply = await client.chat.completions.create({ model: 'm', messages, max_tokens: 4, temperature: 0, logprobs: true, top_logprobs: 3 });
    const content = reply.choices[0]!.logprobs!.content!;
    assert.equal(content.length, reply.usage!.completion_tokens);
    // The first token's distribution, computed here from the prompt's logits.
    const session = await model.createSession();
    const logits = await session.evaluate(model.promptTokens(messages));
    await session.dispose();
    let max = -Infinity;
    for (const x of logits) max = Math.max(max, x);
    let sum = 0;
    for (const x of logits) sum += Math.exp(x - max);
    const logSoftmax = (id: number) => logits[id]! - max - Math.log(sum);
    const first = content[0]!;
    const id = (await model.generate(messages, { maxTokens: 1, temperature: 0 })).tokens[0]!;
    assert.equal(first.token, model.detokenize([id]));
    assert.ok(Math.abs(first.logprob - logSoftmax(id)) < 1e-4, `${first.logprob} vs ${logSoftmax(id)}`);
    for (const step of content) {
      assert.equal(step.top_logprobs.length, 3);
      assert.deepEqual(step.top_logprobs[0]!.token, step.token, 'greedy: the sampled token is the most likely');
      for (let i = 1; i < 3; i++) assert.ok(step.top_logprobs[i]!.logprob <= step.top_logprobs[i - 1]!.logprob);
      assert.deepEqual(Buffer.from(step.bytes!).toString('utf8'), step.token);
    }
  });
});

describe('tool calls', () => {
  test('tool_choice "required" in the generic syntax: a call whose arguments validate', async () => {
    const validate = new Ajv().compile(WEATHER_PARAMETERS);
    for (let seed = 1; seed <= 4; seed++) {
      const reply = await client.chat.completions.create({ model: 'm', messages, tools: [WEATHER_TOOL], tool_choice: 'required', temperature: 1, seed, max_tokens: 150 });
      const choice = reply.choices[0]!;
      assert.equal(choice.finish_reason, 'tool_calls', JSON.stringify(choice.message));
      const call = choice.message.tool_calls![0]!;
      assert.equal(call.type, 'function');
      assert.equal(call.function.name, 'get_weather');
      assert.ok(validate(JSON.parse(call.function.arguments)), call.function.arguments);
    }
  });

  test('a model with a Hermes-style template: forced calls arrive as tool_calls, streamed too', async () => {
    const spec = await modelSpec('stories260K.gguf');
    const path = join(dir, 'hermes.gguf');
    writeFileSync(path, await encodeGGUF({ ...spec, metadata: [...(spec.metadata as GGUFMetadata).entries(), ['tokenizer.chat_template', kv.string(HERMES_TEMPLATE)]] }));
    const hermes = await runtime.loadModel(path, { contextSize: 512 });
    const hermesServer = await serve(hermes, { port: 0 });
    try {
      const c = new OpenAI({ baseURL: `${hermesServer.url}/v1`, apiKey: 'none', maxRetries: 0 });
      const body: OpenAI.ChatCompletionCreateParamsNonStreaming = {
        model: 'm',
        messages,
        tools: [WEATHER_TOOL],
        tool_choice: { type: 'function', function: { name: 'get_weather' } },
        temperature: 1,
        seed: 5,
        max_tokens: 200,
      };
      const reply = await c.chat.completions.create(body);
      const calls = reply.choices[0]!.message.tool_calls! as OpenAI.ChatCompletionMessageFunctionToolCall[];
      assert.equal(reply.choices[0]!.finish_reason, 'tool_calls');
      assert.equal(calls[0]!.function.name, 'get_weather');
      const stream = await c.chat.completions.create({ ...body, stream: true });
      const streamed: OpenAI.ChatCompletionChunk.Choice.Delta.ToolCall[] = [];
      let finish: string | null = null;
      for await (const chunk of stream) {
        streamed.push(...(chunk.choices[0]?.delta.tool_calls ?? []));
        finish = chunk.choices[0]?.finish_reason ?? finish;
      }
      assert.equal(finish, 'tool_calls');
      assert.deepEqual(
        streamed.map((t) => [t.function?.name, t.function?.arguments]),
        calls.map((t) => [t.function.name, t.function.arguments]),
      );
    } finally {
      await hermesServer.close();
      await hermes.dispose();
    }
  });
});

describe('completions', () => {
  test('text and logprobs, as in-process', async () => {
    const reply = await client.completions.create({ model: 'm', prompt: 'Once upon a time', max_tokens: 12, temperature: 0, logprobs: 2 });
    const local = await model.generate('Once upon a time', { maxTokens: 12, temperature: 0 });
    assert.equal(reply.choices[0]!.text, local.text);
    const lp = reply.choices[0]!.logprobs!;
    assert.equal(lp.tokens!.length, local.tokens.length);
    assert.equal(lp.top_logprobs![0]!.constructor, Object);
    assert.equal(Object.keys(lp.top_logprobs![0]!).length, 2);
    assert.deepEqual(lp.text_offset![0], 0);
  });

  test('a stream gives the same text', async () => {
    const stream = await client.completions.create({ model: 'm', prompt: 'Once upon a time', max_tokens: 12, temperature: 0, stream: true });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.text ?? '';
    assert.equal(text, (await model.generate('Once upon a time', { maxTokens: 12, temperature: 0 })).text);
  });
});

describe('the server', () => {
  test('/health, and /v1/models lists the model', async () => {
    assert.deepEqual(await (await fetch(`${server.url}/health`)).json(), { status: 'ok' });
    const models = await client.models.list();
    assert.deepEqual(models.data.map((m) => m.id), [server.api.id]);
  });

  test('errors in OpenAI\'s shape: bad key, unknown argument, n > 1, too long a prompt, a body too large, an unknown route', async () => {
    const expectError = async (call: Promise<unknown>, status: number, code: string) => {
      await assert.rejects(call, (e: unknown) => {
        assert.ok(e instanceof OpenAI.APIError, String(e));
        assert.equal(e.status, status);
        assert.equal(e.code, code);
        return true;
      });
    };
    const bad = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'wrong', maxRetries: 0 });
    await expectError(bad.chat.completions.create({ model: 'm', messages }), 401, 'invalid_api_key');
    await expectError(client.chat.completions.create({ model: 'm', messages, frobnicate: 1 } as never), 400, 'invalid_argument');
    await expectError(client.chat.completions.create({ model: 'm', messages, n: 2 }), 400, 'invalid_argument');
    await expectError(client.chat.completions.create({ model: 'm', messages, max_tokens: 100000 }), 400, 'invalid_argument');
    await expectError(client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'word '.repeat(400) }] }), 400, 'context_length_exceeded');
    await expectError(client.chat.completions.create({ model: 'm', messages, response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { not: {} } } } }), 400, 'schema_unsupported');
    const big = await fetch(`${server.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ messages: [{ role: 'user', content: 'x'.repeat(2 << 20) }] }),
    });
    assert.equal(big.status, 413);
    assert.equal(((await big.json()) as { error: { code: string } }).error.code, 'request_too_large');
    const missing = await fetch(`${server.url}/v1/embeddings`, { method: 'POST', headers: { authorization: `Bearer ${KEY}` } });
    assert.equal(missing.status, 404);
    assert.equal(((await missing.json()) as { error: { type: string } }).error.type, 'invalid_request_error');
  });

  test('requests in parallel, and queued past --parallel, give the tokens they give alone', async () => {
    const body = (seed: number) => ({ model: 'm', messages: [{ role: 'user' as const, content: `Story ${seed}:` }], max_tokens: 20, temperature: 0.9, seed });
    const together = await Promise.all([1, 2, 3, 4].map((seed) => client.chat.completions.create(body(seed))));
    for (const [i, seed] of [1, 2, 3, 4].entries()) {
      const alone = await client.chat.completions.create(body(seed));
      assert.equal(together[i]!.choices[0]!.message.content, alone.choices[0]!.message.content, `seed ${seed}`);
    }
  });

  test('a conversation\'s next turn finds its history in a session (cached_tokens), past another client\'s request', async () => {
    const turn1 = [{ role: 'user' as const, content: 'Tell me a story about a cat.' }];
    const first = await client.chat.completions.create({ model: 'm', messages: turn1, max_tokens: 16, temperature: 0 });
    await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'Something else' }], max_tokens: 8, temperature: 0 });
    const turn2 = [...turn1, { role: 'assistant' as const, content: first.choices[0]!.message.content! }, { role: 'user' as const, content: 'And then?' }];
    const second = await client.chat.completions.create({ model: 'm', messages: turn2, max_tokens: 8, temperature: 0 });
    const cached = second.usage!.prompt_tokens_details!.cached_tokens!;
    assert.ok(cached >= first.usage!.prompt_tokens, `${cached} cached of ${second.usage!.prompt_tokens}; turn 1 had ${first.usage!.prompt_tokens}`);
    // The same tokens as a fresh context gives.
    assert.equal(second.choices[0]!.message.content, (await model.generate(turn2, { maxTokens: 8, temperature: 0 })).text);
  });

  test('a client that disconnects mid-stream aborts its generation and frees its session', async () => {
    const abort = new AbortController();
    // A string of at least 150 characters: the reply cannot end before the client leaves.
    const long = { type: 'json_schema' as const, json_schema: { name: 's', schema: { type: 'string', minLength: 150, maxLength: 150 } } };
    const stream = await client.chat.completions.create({ model: 'm', messages, max_tokens: 200, temperature: 1, seed: 1, stream: true, response_format: long }, { signal: abort.signal });
    let chunks = 0;
    try {
      for await (const _ of stream) {
        if (++chunks < 3) continue;
        abort.abort();
        break;
      }
    } catch (e) {
      assert.ok(e instanceof OpenAI.APIUserAbortError || (e as Error).name === 'AbortError', String(e));
    }
    assert.equal(chunks, 3);
    for (let i = 0; i < 100 && server.load.busy > 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(server.load, { busy: 0, queued: 0 });
    // The freed session serves the next request.
    const next = await client.chat.completions.create({ model: 'm', messages, max_tokens: 4, temperature: 0 });
    assert.equal(next.choices[0]!.message.content, (await model.generate(messages, { maxTokens: 4, temperature: 0 })).text);
  });

});
