// Builds the CPU backend's generated assets next to the code that loads them
// (src/backends/cpu/wasm/, copied to dist/ by the build): the AssemblyScript kernels (kernels/),
// one .wasm per variant, and the worker threads' entry script bundled into one file
// (cpu-worker.js), so that it starts the same from src/ under tsx, from dist/, and in a browser.
import asc from 'assemblyscript/asc';
import { build } from 'esbuild';
import { mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const outDir = `${root}src/backends/cpu/wasm`;

/** Variant name -> extra asc flags. The runtime picks one with WebAssembly.validate. */
export const VARIANTS = {
  baseline: ['--enable', 'simd'],
  relaxed: ['--enable', 'simd,relaxed-simd'],
};

await mkdir(outDir, { recursive: true });
for (const [name, flags] of Object.entries(VARIANTS)) {
  const args = [
    `${root}kernels/index.ts`,
    '--outFile', `${outDir}/kernels-${name}.wasm`,
    '--runtime', 'stub',
    '--importMemory',
    '--optimizeLevel', '3',
    '--shrinkLevel', '0',
    '--noAssert',
    ...flags,
  ];
  const { error, stderr } = await asc.main(args);
  if (error) {
    console.error(stderr.toString());
    console.error(`asc failed for variant ${name}: ${error.message}`);
    process.exit(1);
  }
}

await build({
  entryPoints: [`${root}src/backends/cpu/pool/worker.ts`],
  outfile: `${outDir}/cpu-worker.js`,
  bundle: true,
  format: 'esm',
  platform: 'neutral',
  target: 'es2022',
  // Dynamically imported, only on Node.
  external: ['node:*'],
  logLevel: 'warning',
});
