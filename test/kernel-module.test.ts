import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compileKernels, instantiateKernels, KERNEL_VARIANTS, selectKernels } from '../src/backends/cpu/kernel-module.js';

test('every kernel build compiles here and adds f32 vectors', async () => {
  for (const variant of KERNEL_VARIANTS) {
    const module = await compileKernels(variant);
    assert.ok(module, `${variant} build must validate (the test runner enables relaxed SIMD on Node 20)`);
    const memory = new WebAssembly.Memory({ initial: 1 });
    const k = await instantiateKernels(module, memory);
    const base = k.heap_base();
    const n = 11; // not a multiple of 4: exercises the scalar tail
    const f32 = new Float32Array(memory.buffer);
    const a = base / 4, b = a + 16, out = b + 16;
    for (let i = 0; i < n; i++) {
      f32[a + i] = i * 0.5;
      f32[b + i] = 100 - i;
    }
    k.add_f32(a * 4, b * 4, out * 4, n);
    for (let i = 0; i < n; i++) assert.equal(f32[out + i], i * 0.5 + 100 - i);
  }
});

test('selectKernels prefers the relaxed build when the engine supports it', async () => {
  const { variant } = await selectKernels();
  assert.equal(variant, 'relaxed');
});
