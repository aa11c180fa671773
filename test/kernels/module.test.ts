import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { KERNEL_VARIANTS, selectKernels } from '../../src/backends/cpu/kernel-module.js';
import { kernelHarness } from '../helpers/kernel-harness.js';

test('every kernel build compiles here and adds f32 vectors', async () => {
  for (const variant of KERNEL_VARIANTS) {
    const h = await kernelHarness(variant);
    const n = 11; // not a multiple of 4: exercises the scalar tail
    const a = Array.from({ length: n }, (_, i) => i * 0.5);
    const b = Array.from({ length: n }, (_, i) => 100 - i);
    const pa = h.allocF32(a), pb = h.allocF32(b), out = h.allocF32(n);
    h.k.add_f32(pa, pb, out, n);
    assert.deepEqual(Array.from(h.f32(out, n)), a.map((x, i) => x + b[i]!));
  }
});

test('selectKernels prefers the relaxed build when the engine supports it', async () => {
  const { variant } = await selectKernels();
  assert.equal(variant, 'relaxed');
});

test('a fresh Node process picks the relaxed build without any V8 flag', () => {
  const script = `import { selectKernels } from ${JSON.stringify(new URL('../../src/backends/cpu/kernel-module.ts', import.meta.url).href)};
    process.stdout.write((await selectKernels()).variant);`;
  const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(out, 'relaxed');
});
