/**
 * The package as a web developer installs it, built by their bundler and run in Chromium: an app
 * that imports 'wasm-chord' by name (test/browser/fixtures/bundler-app), built with esbuild and
 * with Vite, and served by Vite's dev server. Each must find the engine's worker and the .wasm
 * kernels, and generate the Node engine's tokens.
 */
import assert from 'node:assert/strict';
import { cp, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { WasmChord } from '../../src/index.js';
import { SHARED } from '../helpers/shared.js';
import { browserUnavailable, launchChromium, startDemoServer, waitForState } from './chromium.js';

const skip = browserUnavailable();
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const MODEL = 'stories260K.gguf';

describe('bundlers', { skip }, () => {
  let browser: Browser;
  let app: string;
  let expected: number[];

  before(async () => {
    // The app, with the package "installed": its package.json and dist/, as npm would unpack them.
    app = await mkdtemp(join(tmpdir(), 'wasm-chord-app-'));
    await cp(join(ROOT, 'test/browser/fixtures/bundler-app'), app, { recursive: true });
    const installed = join(app, 'node_modules/wasm-chord');
    await mkdir(installed, { recursive: true });
    await cp(join(ROOT, 'package.json'), join(installed, 'package.json'));
    await cp(join(ROOT, 'dist'), join(installed, 'dist'), { recursive: true });
    browser = await launchChromium();
    const runtime = await WasmChord.init({ backend: 'cpu' });
    const model = await runtime.loadModel(join(SHARED, 'models', MODEL));
    expected = (await model.generate('Once upon a time', { temperature: 0, maxTokens: 24 })).tokens;
    await runtime.dispose();
  });
  after(async () => {
    await browser?.close();
    if (app) await rm(app, { recursive: true, force: true });
  });

  /** Opens the built app from `base` (the models from `models`); the page's result. */
  async function runApp(base: string, models: string): Promise<{ tokens: number[]; backend: string; engine: string }> {
    const page = await browser.newPage();
    try {
      await page.goto(`${base}?model=${encodeURIComponent(`${models}/models/${MODEL}`)}&backend=cpu`);
      const state = await waitForState(page, ['done', 'error'], 120_000);
      const text = (await page.textContent('#out')) ?? '';
      assert.equal(state, 'done', text);
      return JSON.parse(text) as { tokens: number[]; backend: string; engine: string };
    } finally {
      await page.close();
    }
  }

  /**
   * Bundles the app with esbuild into `out`, and copies what the README asks of esbuild users
   * beside it: the engine's worker and (unless `kernels` is false) the wasm/ folder.
   */
  async function esbuildApp(out: string, kernels: boolean): Promise<void> {
    const { build } = await import('esbuild');
    await build({ entryPoints: [join(app, 'main.js')], bundle: true, format: 'esm', platform: 'browser', outdir: out, logLevel: 'silent' });
    await cp(join(app, 'node_modules/wasm-chord/dist/web/engine-worker.js'), join(out, 'engine-worker.js'));
    if (kernels) await cp(join(app, 'node_modules/wasm-chord/dist/web/wasm'), join(out, 'wasm'), { recursive: true });
    await cp(join(app, 'index.html'), join(out, 'index.html'));
  }

  it('esbuild: one bundle, with the package\'s web files copied beside it', async () => {
    const out = join(app, 'esbuild-out');
    await esbuildApp(out, true);
    const server = await startDemoServer({ '/app/': out });
    try {
      const result = await runApp(`${server.url}/app/index.html`, server.url);
      assert.deepEqual(result.tokens, expected);
      assert.equal(result.engine, 'worker');
      assert.match(result.backend, /worker threads/);
    } finally {
      await server.close();
    }
  });

  it('kernels that are not served: SOURCE_IO naming the URL and the HTTP status', async () => {
    const out = join(app, 'esbuild-no-wasm');
    await esbuildApp(out, false);
    const server = await startDemoServer({ '/app/': out });
    const page = await browser.newPage();
    try {
      await page.goto(`${server.url}/app/index.html?model=${encodeURIComponent(`${server.url}/models/${MODEL}`)}&backend=cpu`);
      assert.equal(await waitForState(page, ['done', 'error']), 'error');
      const text = (await page.textContent('#out')) ?? '';
      assert.match(text, /^SOURCE_IO /);
      assert.ok(text.includes(`${server.url}/app/wasm/kernels-`) && text.includes('HTTP 404'), text);
    } finally {
      await page.close();
      await server.close();
    }
  });

  it('Vite build: the worker and the kernels are emitted by Vite itself', async () => {
    const vite = await import('vite');
    const out = join(app, 'vite-out');
    await vite.build({ root: app, base: './', logLevel: 'silent', build: { outDir: out, target: 'es2022' }, worker: { format: 'es' } });
    const server = await startDemoServer({ '/app/': out });
    try {
      assert.deepEqual((await runApp(`${server.url}/app/index.html`, server.url)).tokens, expected);
    } finally {
      await server.close();
    }
  });

  it('Vite dev server, with no configuration for wasm-chord', async () => {
    const vite = await import('vite');
    const models = await startDemoServer();
    const dev = await vite.createServer({
      root: app,
      logLevel: 'silent',
      server: {
        port: 0,
        host: '127.0.0.1',
        headers: { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' },
        proxy: { '/models': models.url },
      },
    });
    await dev.listen();
    try {
      const address = dev.httpServer!.address() as { port: number };
      const base = `http://127.0.0.1:${address.port}`;
      assert.deepEqual((await runApp(`${base}/index.html`, base)).tokens, expected);
    } finally {
      await dev.close();
      await models.close();
    }
  });
});
