import assert from 'node:assert/strict';
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
