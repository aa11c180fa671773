// The test command: builds the package (kernels, dist/ and the browser build dist/web/, which the
// CLI, worker and browser tests run), then runs every test/**/*.test.ts (or the files
// given as arguments) with Node's built-in runner. `--no-build` runs on what an earlier build
// left (CI's second run, on another Node). (No V8 flag: on Node 20 the kernel loader
// enables relaxed SIMD itself, and the tests check that it does.)
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// Which Node runs the suite (CI runs it on two): the tests spawn this same binary.
console.log(`Node ${process.version} (${process.execPath})`);

const args = process.argv.slice(2);
const noBuild = args[0] === '--no-build';
if (noBuild) args.shift();

for (const step of noBuild ? [] : [['scripts/build-kernels.mjs'], ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'], ['scripts/copy-wasm.mjs'], ['scripts/build-web.mjs']]) {
  const build = spawnSync(process.execPath, step, { stdio: 'inherit' });
  if (build.status !== 0) process.exit(build.status ?? 1);
}

// node_modules folders (test/hosts has one: the other hosts' binaries) hold no tests of ours.
function findTests(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? e.name === 'node_modules' ? [] : findTests(join(dir, e.name))
      : e.name.endsWith('.test.ts') ? [join(dir, e.name)] : [],
  );
}

const files = args.length > 0 ? args : findTests('test').sort();
// Models the tests load by URL go to a throwaway model store, not the user's cache.
const cacheDir = mkdtempSync(join(tmpdir(), 'wasm-chord-test-cache-'));
// --max-semi-space-size=16: V8's young generation as Node 20 sizes it. Node 24 sizes it from the
// machine's memory, and the hardening tests' peak-RSS bounds then measure that instead of what a
// hostile input holds (a template stopped at its 2 s limit: peak +104 MB on Node 20, +300 on
// Node 24 on a 23 GB VM, +173 on Node 24 with this flag). The test files' processes inherit it.
const run = spawnSync(
  process.execPath,
  ['--max-semi-space-size=16', '--import', 'tsx', '--test', '--test-reporter=spec', ...files],
  { stdio: 'inherit', env: { ...process.env, WASM_CHORD_CACHE_DIR: cacheDir } },
);
rmSync(cacheDir, { recursive: true, force: true });
process.exit(run.status ?? 1);
