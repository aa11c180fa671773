/**
 * A Wasm kernel instance over its own memory with a bump allocator, for kernel tests.
 * `alloc*` copy data in and return byte pointers; `f32`/`u8` read results back.
 */
import { compileKernels, instantiateKernels, type KernelExports, type KernelVariant } from '../../src/backends/cpu/kernel-module.js';

export interface KernelHarness {
  readonly k: KernelExports;
  readonly variant: KernelVariant;
  readonly memory: WebAssembly.Memory;
  /** Reserves `bytes` (64-byte aligned) and returns the pointer. */
  alloc(bytes: number): number;
  allocF32(data: ArrayLike<number> | number): number;
  allocBytes(data: Uint8Array | number): number;
  f32(ptr: number, count: number): Float32Array;
  u8(ptr: number, count: number): Uint8Array;
  /** Frees everything allocated so far. */
  reset(): void;
}

export async function kernelHarness(variant: KernelVariant, pages = 256): Promise<KernelHarness> {
  const module = await compileKernels(variant);
  if (!module) throw new Error(`the ${variant} kernels do not validate on this engine`);
  const memory = new WebAssembly.Memory({ initial: pages });
  const k = await instantiateKernels(module, memory);
  const base = Math.ceil(k.heap_base() / 64) * 64;
  let top = base;
  const alloc = (bytes: number) => {
    const ptr = top;
    top = Math.ceil((top + bytes) / 64) * 64;
    const need = Math.ceil(top / 65536) - memory.buffer.byteLength / 65536;
    if (need > 0) memory.grow(need);
    return ptr;
  };
  return {
    k,
    variant,
    memory,
    alloc,
    allocF32(data) {
      const n = typeof data === 'number' ? data : data.length;
      const ptr = alloc(n * 4);
      if (typeof data !== 'number') new Float32Array(memory.buffer, ptr, n).set(data);
      return ptr;
    },
    allocBytes(data) {
      const n = typeof data === 'number' ? data : data.length;
      const ptr = alloc(n);
      if (typeof data !== 'number') new Uint8Array(memory.buffer, ptr, n).set(data);
      return ptr;
    },
    f32: (ptr, count) => new Float32Array(memory.buffer, ptr, count).slice(),
    u8: (ptr, count) => new Uint8Array(memory.buffer, ptr, count).slice(),
    reset() {
      top = base;
    },
  };
}
