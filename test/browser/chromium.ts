/**
 * Headless Chromium for the end-to-end tests: Debian's `chromium` (installed by .ci/run) driven
 * by playwright-core, with the web demo's server on loopback. Where Chromium is missing the tests
 * skip, saying how to install it, unless WASM_CHORD_REQUIRE_BROWSER=1 (CI), where they fail.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { SHARED } from '../helpers/shared.js';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Why the browser tests cannot run here, or undefined. */
export function browserUnavailable(): string | undefined {
  if (existsSync(CHROMIUM)) return undefined;
  const why = `no Chromium at ${CHROMIUM} (sudo apt-get install -y chromium, or set CHROMIUM_PATH)`;
  if (process.env.WASM_CHORD_REQUIRE_BROWSER === '1') throw new Error(`WASM_CHORD_REQUIRE_BROWSER=1 but ${why}`);
  return why;
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--enable-unsafe-webgpu',
      // WebGPU on a machine without a GPU: SwiftShader's Vulkan.
      '--use-webgpu-adapter=swiftshader',
      '--enable-features=Vulkan',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-quic',
    ],
  });
}

interface DemoServer {
  readonly url: string;
  close(): Promise<void>;
}

/**
 * The web demo's own server (examples/web-demo/server.mjs), with the shared models under
 * /models/ and any more folders in `mounts` (URL prefix -> folder); `isolated: false` serves
 * the page without COOP/COEP.
 */
export async function startDemoServer(mounts: Record<string, string> = {}, isolated = true): Promise<DemoServer> {
  // A plain .mjs file of the example (no types): imported by URL.
  const { startWebDemo } = (await import(new URL('../../examples/web-demo/server.mjs', import.meta.url).href)) as {
    startWebDemo(options: object): Promise<DemoServer>;
  };
  return startWebDemo({ port: 0, mounts: { '/models/': join(SHARED, 'models'), ...mounts }, isolated });
}

/** Loads a model through the page's form; resolves to the page's state ('ready' or 'error'). */
export async function loadInPage(page: Page, source: string, backend = 'auto'): Promise<string> {
  await page.fill('#model-source', source);
  await page.selectOption('#backend', backend);
  await page.click('#load');
  return waitForState(page, ['ready', 'error']);
}

export async function waitForState(page: Page, states: string[], timeout = 60_000): Promise<string> {
  const handle = await page.waitForFunction((s) => s.includes(document.body.dataset.state ?? '') && document.body.dataset.state, states, { timeout });
  return (await handle.jsonValue()) as string;
}

/** Sends a prompt through the page's form; the reply's token ids and stop reason. */
export async function generateInPage(page: Page, prompt: string, options: { maxTokens: number; raw?: boolean }): Promise<{ tokens: number[]; stopReason: string }> {
  await page.fill('#prompt', prompt);
  await page.setChecked('#raw', options.raw ?? true);
  await page.fill('#temperature', '0');
  await page.fill('#max-tokens', String(options.maxTokens));
  await page.click('#send');
  const state = await waitForState(page, ['done', 'error']);
  if (state === 'error') throw new Error(`the page reported: ${await page.textContent('#error')}`);
  const reply = page.locator('.message.assistant').last();
  return { tokens: JSON.parse((await reply.getAttribute('data-tokens')) ?? '[]') as number[], stopReason: (await reply.getAttribute('data-stop-reason')) ?? '' };
}

/** Every file in the page origin's private file system (OPFS), as paths. */
export async function opfsFiles(page: Page): Promise<string[]> {
  // Passed as text: tsx would add helpers to a function that the page does not have.
  return (await page.evaluate(`(async () => {
    const found = [];
    const walk = async (dir, path) => {
      for await (const [name, handle] of dir.entries()) {
        if (handle.kind === 'directory') await walk(handle, path + name + '/');
        else found.push(path + name);
      }
    };
    await walk(await navigator.storage.getDirectory(), '');
    return found;
  })()`)) as string[];
}

/** The text of one file of the page origin's private file system. */
export async function opfsText(page: Page, path: string): Promise<string> {
  return (await page.evaluate(`(async () => {
    let dir = await navigator.storage.getDirectory();
    const parts = ${JSON.stringify(path)}.split('/');
    for (const part of parts.slice(0, -1)) dir = await dir.getDirectoryHandle(part);
    return (await (await dir.getFileHandle(parts.at(-1))).getFile()).text();
  })()`)) as string;
}
