// Compiles the AssemblyScript kernels (kernels/) into one .wasm per variant, next to the code
// that loads them (src/backends/cpu/wasm/, copied to dist/ by the build).
import asc from 'assemblyscript/asc';
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
