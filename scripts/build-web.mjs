// Builds the browser distribution, dist/web/: the library as one self-contained ES module
// (wasm-chord.js, with its dependencies, so a plain <script type="module"> from a static folder
// works without an import map), the engine's worker (engine-worker.js), and the CPU backend's
// files in wasm/ (kernels and the worker threads' script). Every module is built with the
// browser host (src/platform/host.browser.ts) in place of the Node one, and the build fails if
// a `node:` import is left in any output.
import { build } from 'esbuild';
import { cp, mkdir, readdir, readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const outDir = `${root}dist/web`;
const nodeHost = resolve(root, 'src/platform/host.js');

/** Resolves every import of src/platform/host.js to the browser host. */
const browserHost = {
  name: 'browser-host',
  setup(b) {
    b.onResolve({ filter: /platform\/host\.js$/ }, (args) =>
      resolve(args.resolveDir, args.path) === nodeHost ? { path: resolve(root, 'src/platform/host.browser.ts') } : undefined,
    );
  },
};

const common = {
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  sourcemap: true,
  minify: true,
  plugins: [browserHost],
  logLevel: 'warning',
};

await mkdir(`${outDir}/wasm`, { recursive: true });
await build({ ...common, entryPoints: { 'wasm-chord': `${root}src/index.ts`, 'engine-worker': `${root}src/runtime/worker/engine-worker.ts` }, outdir: outDir });
await build({ ...common, entryPoints: [`${root}src/backends/cpu/pool/worker.ts`], outfile: `${outDir}/wasm/cpu-worker.js` });
for (const name of await readdir(`${root}src/backends/cpu/wasm`)) {
  if (name.endsWith('.wasm')) await cp(`${root}src/backends/cpu/wasm/${name}`, `${outDir}/wasm/${name}`);
}

for (const file of ['wasm-chord.js', 'engine-worker.js', 'wasm/cpu-worker.js']) {
  const text = await readFile(`${outDir}/${file}`, 'utf8');
  const found = text.match(/(?:from|import\()\s*["']node:[^"']+["']/);
  if (found) throw new Error(`dist/web/${file} imports ${found[0]}: a browser build must not reach node: modules`);
}
