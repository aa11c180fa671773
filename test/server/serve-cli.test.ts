// `wasm-chord serve` as a user starts it: it loads the model, prints the URL it listens on, answers
// the official client, refuses a wrong key, and exits cleanly on SIGTERM.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import OpenAI from 'openai';
import { runCli } from '../helpers/cli.js';
import { SHARED } from '../helpers/shared.js';

test('wasm-chord serve: prints its URL, answers the openai client, stops on SIGTERM', async () => {
  let session: Promise<void> | undefined;
  const result = await runCli(['serve', '-m', join(SHARED, 'models/stories260K.gguf'), '--port', '0', '--api-key', 'secret', '-c', '128'], {
    onStderr: (stderr, child) => {
      const url = /serving \S+ at (http:\/\/\S+)\/v1/.exec(stderr)?.[1];
      if (!url || session) return;
      session = (async () => {
        try {
          const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'secret', maxRetries: 0 });
          assert.deepEqual((await client.models.list()).data.map((m) => m.id), ['stories260K.gguf']);
          const reply = await client.chat.completions.create({ model: 'stories260K.gguf', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 5, temperature: 0 });
          assert.ok(reply.usage!.completion_tokens > 0);
          const wrong = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'guess', maxRetries: 0 });
          await assert.rejects(wrong.models.list(), (e: unknown) => e instanceof OpenAI.AuthenticationError);
          assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
        } finally {
          child.kill('SIGTERM');
        }
      })();
    },
  });
  assert.ok(session, `the server never said where it listens: ${result.stderr}`);
  await session;
  assert.equal(result.code, 0, result.stderr);
});
