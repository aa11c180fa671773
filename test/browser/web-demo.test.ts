/**
 * The web demo in headless Chromium, end to end: the page loads a model from a loopback server
 * and generates in the engine's worker, on the CPU backend with threads and on WebGPU
 * (SwiftShader); its tokens are those of the Node engine; the page keeps painting; a reload
 * loads from the model store with no network request; a quota error is reported cleanly.
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext, Page, Request } from 'playwright-core';
import { WasmChord, openaiApi, type ChatCompletion } from '../../src/index.js';
import { DEMO_MODEL_PATH } from '../../src/cli/demo-model.js';
import { SHARED } from '../helpers/shared.js';
import { buildTinyModel } from '../helpers/tiny-model.js';
import { browserUnavailable, generateInPage, launchChromium, loadInPage, opfsFiles, opfsText, startDemoServer, waitForState } from './chromium.js';

const skip = browserUnavailable();
const MODEL = 'stories260K.gguf';
const PROMPT = 'Once upon a time';
const ARTIFACTS = join(import.meta.dirname, '../../test-artifacts');

/** Greedy tokens of the Node engine for the same prompt: what every page run must produce. */
async function nodeTokens(maxTokens: number): Promise<number[]> {
  const runtime = await WasmChord.init({ backend: 'cpu' });
  try {
    const model = await runtime.loadModel(join(SHARED, 'models', MODEL));
    return (await model.generate(PROMPT, { temperature: 0, maxTokens })).tokens;
  } finally {
    await runtime.dispose();
  }
}

describe('web demo in Chromium', { skip }, () => {
  let browser: Browser;
  let server: { url: string; close(): Promise<void> };
  let expected: number[];

  before(async () => {
    [server, browser, expected] = await Promise.all([startDemoServer(), launchChromium(), nodeTokens(24)]);
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });

  /** A fresh browser profile (empty store) with the demo open; `requests` collects every request of the context. */
  async function openDemo(): Promise<{ context: BrowserContext; page: Page; requests: Request[] }> {
    const context = await browser.newContext();
    const requests: Request[] = [];
    context.on('request', (r) => requests.push(r));
    const page = await context.newPage();
    await page.goto(`${server.url}/examples/web-demo/`);
    return { context, page, requests };
  }

  it('generates on the CPU backend with worker threads, the tokens of the Node engine', async () => {
    const { context, page } = await openDemo();
    try {
      assert.equal(await page.evaluate(() => crossOriginIsolated), true);
      assert.equal(await loadInPage(page, `${server.url}/models/${MODEL}`, 'cpu'), 'ready', (await page.textContent('#error')) ?? '');
      assert.match((await page.textContent('#status')) ?? '', /cpu \(wasm-simd128[^)]*, \d+ worker threads\)/);
      const { tokens } = await generateInPage(page, PROMPT, { maxTokens: 24 });
      assert.deepEqual(tokens, expected);
      mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: join(ARTIFACTS, 'web-demo.png'), fullPage: true });
    } finally {
      await context.close();
    }
  });

  it('the OpenAI-shaped API runs over the page\'s worker model: the JSON-schema completion Node gives', async () => {
    const request = {
      messages: [{ role: 'user', content: PROMPT }],
      temperature: 0.9,
      seed: 4,
      max_tokens: 60,
      response_format: { type: 'json_schema', json_schema: { name: 'p', schema: { type: 'object', properties: { age: { type: 'integer' } }, required: ['age'] } } },
    };
    const runtime = await WasmChord.init({ backend: 'cpu' });
    let expectedContent: string | null;
    try {
      const reply = (await openaiApi(await runtime.loadModel(join(SHARED, 'models', MODEL))).chat.completions.create(request)) as ChatCompletion;
      expectedContent = reply.choices[0]!.message.content;
    } finally {
      await runtime.dispose();
    }
    const { context, page } = await openDemo();
    try {
      assert.equal(await loadInPage(page, `${server.url}/models/${MODEL}`, 'cpu'), 'ready', (await page.textContent('#error')) ?? '');
      // Passed as text: tsx would add helpers to a function that the page does not have.
      const content = await page.evaluate(`(async () => {
        const { openaiApi } = await import('/dist/web/wasm-chord.js');
        const reply = await openaiApi(globalThis.wasmChordDemo.model).chat.completions.create(${JSON.stringify(request)});
        return reply.choices[0].message.content;
      })()`);
      assert.equal(content, expectedContent);
      assert.equal(typeof (JSON.parse(String(content)) as { age: unknown }).age, 'number');
    } finally {
      await context.close();
    }
  });

  it('the Demo model button loads the model that ships with the package: the Node engine\'s story', async () => {
    const runtime = await WasmChord.init({ backend: 'cpu' });
    let story: number[];
    try {
      story = (await (await runtime.loadModel(DEMO_MODEL_PATH)).generate(PROMPT, { temperature: 0, maxTokens: 24 })).tokens;
    } finally {
      await runtime.dispose();
    }
    const { context, page, requests } = await openDemo();
    try {
      await page.selectOption('#backend', 'cpu');
      await page.click('#load-demo');
      assert.equal(await waitForState(page, ['ready', 'error']), 'ready', (await page.textContent('#error')) ?? '');
      assert.deepEqual((await generateInPage(page, PROMPT, { maxTokens: 24 })).tokens, story);
      // Served by the demo's own server from the package: no other origin is asked.
      assert.deepEqual(requests.filter((r) => !r.url().startsWith(server.url)).map((r) => r.url()), []);
    } finally {
      await context.close();
    }
  });

  it('without cross-origin isolation: one thread, said so, and the same tokens', async () => {
    const plain = await startDemoServer({}, false);
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      await page.goto(`${plain.url}/examples/web-demo/`);
      assert.equal(await page.evaluate(() => crossOriginIsolated), false);
      assert.equal(await loadInPage(page, `${plain.url}/models/${MODEL}`, 'cpu'), 'ready', (await page.textContent('#error')) ?? '');
      assert.match((await page.textContent('#status')) ?? '', /cpu \(.*SharedArrayBuffer is unavailable/);
      assert.deepEqual((await generateInPage(page, PROMPT, { maxTokens: 24 })).tokens, expected);
    } finally {
      await context.close();
      await plain.close();
    }
  });

  it('generates on WebGPU (SwiftShader), the tokens of the Node engine', async () => {
    const { context, page } = await openDemo();
    try {
      assert.equal(await loadInPage(page, `${server.url}/models/${MODEL}`, 'webgpu'), 'ready', (await page.textContent('#error')) ?? '');
      assert.match((await page.textContent('#status')) ?? '', /webgpu \(webgpu: .*swiftshader.* via navigator\.gpu/i);
      // stories260K is an F32 model: f32 kernels on both backends, so the greedy path agrees exactly.
      assert.deepEqual((await generateInPage(page, PROMPT, { maxTokens: 24 })).tokens, expected);
    } finally {
      await context.close();
    }
  });

  it('keeps painting while the worker generates', async () => {
    const { context, page } = await openDemo();
    try {
      assert.equal(await loadInPage(page, `${server.url}/models/${MODEL}`, 'cpu'), 'ready');
      // A long generation through the page's model, with a frame counter running beside it.
      // Passed as text: tsx would add helpers to a function that the page does not have.
      const { frames, longestGapMs, ms } = (await page.evaluate(`(async () => {
        const times = [];
        let counting = true;
        const tick = (t) => {
          times.push(t);
          if (counting) requestAnimationFrame(tick);
        };
        requestAnimationFrame(tick);
        const start = performance.now();
        await wasmChordDemo.model.generate('Once', { maxTokens: 1500, ignoreEos: true, temperature: 0.8 });
        const ms = performance.now() - start;
        counting = false;
        const gaps = times.slice(1).map((t, i) => t - times[i]);
        return { frames: times.length, longestGapMs: Math.max(...gaps), ms };
      })()`)) as { frames: number; longestGapMs: number; ms: number };
      assert.ok(ms > 300, `the generation took ${ms.toFixed(0)} ms: too short to show anything`);
      // Headless Chromium paints at ~60 Hz; a blocked page would show one long gap instead.
      assert.ok(longestGapMs < 250, `longest gap between frames ${longestGapMs.toFixed(0)} ms over ${frames} frames in ${ms.toFixed(0)} ms`);
      assert.ok(frames >= ms / 100, `${frames} frames in ${ms.toFixed(0)} ms`);
    } finally {
      await context.close();
    }
  });

  it('a reload loads the model from the store: no network request, same tokens', async () => {
    const { context, page, requests } = await openDemo();
    try {
      const url = `${server.url}/models/${MODEL}`;
      assert.equal(await loadInPage(page, url, 'cpu'), 'ready');
      assert.ok(requests.some((r) => r.url() === url), 'the first load downloads');
      await page.waitForFunction((u) => document.getElementById('cached')?.textContent?.includes(u), url);
      await page.reload();
      requests.length = 0;
      assert.equal(await loadInPage(page, url, 'cpu'), 'ready');
      const { tokens } = await generateInPage(page, PROMPT, { maxTokens: 24 });
      assert.deepEqual(tokens, expected);
      const network = requests.filter((r) => !r.url().startsWith(`${server.url}/dist/`) && !r.url().startsWith(`${server.url}/examples/`));
      assert.deepEqual(network.map((r) => r.url()), [], 'loading a cached model and generating made network requests');
    } finally {
      await context.close();
    }
  });

  it('a quota too small for the model is a typed error, and nothing is left in the store', async () => {
    const { context, page } = await openDemo();
    try {
      // The origin's real quota, made small through the DevTools protocol (workers see it too).
      // Chromium's navigator.storage.estimate() does not reflect the override, so this is the
      // write that fails, not the check before the download (test/store covers that one).
      const cdp = await context.newCDPSession(page);
      await cdp.send('Storage.overrideQuotaForOrigin', { origin: server.url, quotaSize: 64 * 1024 });
      const url = `${server.url}/models/${MODEL}`;
      assert.equal(await loadInPage(page, url, 'cpu'), 'error');
      assert.match((await page.textContent('#error')) ?? '', /^\[QUOTA_EXCEEDED\] .*no room left/);
      assert.ok(!(await page.textContent('#cached'))?.includes(url));
      // Every file in the origin's private file system: no piece or state of the download is left.
      const files = await opfsFiles(page);
      assert.deepEqual(files, []);
    } finally {
      await context.close();
    }
  });

  it('a download interrupted by a reload resumes, and the entry it commits is exact', async () => {
    // ~34 MB: three 16 MiB pieces, so that one can be complete while the others are not.
    const bytes = await buildTinyModel({ embd: 256, extraTokens: 16384 });
    const dir = await mkdtemp(join(tmpdir(), 'wasm-chord-big-'));
    await writeFile(join(dir, 'big.gguf'), bytes);
    const big = await startDemoServer({ '/big/': dir });
    const runtime = await WasmChord.init({ backend: 'cpu' });
    const want = (await (await runtime.loadModel(bytes)).generate(PROMPT, { temperature: 0, maxTokens: 8 })).tokens;
    await runtime.dispose();
    const context = await browser.newContext();
    try {
      const url = `${big.url}/big/big.gguf`;
      const ranges: string[] = [];
      context.on('request', (r) => r.url() === url && ranges.push(r.headers()['range'] ?? ''));
      // Every piece but the first (16 MiB pieces) is held back, so the first one is stored alone
      // before the reload; reads of the header (the memory plan, the probe) pass.
      await context.route(url, async (route) => {
        const start = Number(/^bytes=(\d+)-/.exec(route.request().headers()['range'] ?? '')?.[1] ?? 0);
        if (start >= 16 << 20) await new Promise((r) => setTimeout(r, 30_000));
        await route.continue().catch(() => {}); // the page may be gone by then
      });
      const page = await context.newPage();
      await page.goto(`${big.url}/examples/web-demo/`);
      await page.fill('#model-source', url);
      await page.selectOption('#backend', 'cpu');
      await page.click('#load');
      // Until the download's state records its first piece as stored (browser-store.ts).
      const firstPieceStored = async () => {
        const state = (await opfsFiles(page)).find((f) => f.endsWith('.state'));
        return state !== undefined && (JSON.parse(await opfsText(page, state)) as { done: number[] }).done.includes(0);
      };
      for (let tries = 0; !(await firstPieceStored()); tries++) {
        assert.ok(tries < 300, 'the first piece was never stored');
        await new Promise((r) => setTimeout(r, 200));
      }
      await page.reload(); // a closed tab: the download stops with one piece stored
      await context.unroute(url);
      ranges.length = 0;
      assert.equal(await loadInPage(page, url, 'cpu'), 'ready', (await page.textContent('#error')) ?? '');
      assert.ok(ranges.includes(`bytes=${16 << 20}-${(32 << 20) - 1}`), `the second load downloads the rest: ${ranges.join(', ')}`);
      assert.ok(!ranges.includes(`bytes=0-${(16 << 20) - 1}`), `the resumed download asked again for the first piece: ${ranges.join(', ')}`);
      assert.deepEqual((await generateInPage(page, PROMPT, { maxTokens: 8 })).tokens, want);
    } finally {
      await context.close();
      await big.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
