/**
 * Loads the compiled AssemblyScript kernels. Two builds ship: `baseline` (SIMD128) and
 * `relaxed` (SIMD128 + relaxed SIMD); the best one this engine validates is chosen.
 * The .wasm files are found through assets.ts.
 *
 * Each build also runs over a shared memory (worker threads): `sharedKernels` derives that form
 * from the same bytes instead of shipping a second file per build (see withSharedMemory).
 */
import { WasmChordError } from '../../errors.js';
import { concatBytes } from '../../gguf/byte-source.js';
import { host } from '../../platform/host.js';
import { kernelUrl } from './assets.js';
import type { OpKernelExports } from './op-kernels.js';
import type { QuantKernelExports } from './quant-kernels.js';

export const KERNEL_VARIANTS = ['relaxed', 'baseline'] as const;
export type KernelVariant = (typeof KERNEL_VARIANTS)[number];

/** The functions every kernel build exports. Pointers are byte offsets into the memory. */
export interface KernelExports extends OpKernelExports, QuantKernelExports {
  heap_base(): number;
}

async function readVariant(variant: KernelVariant): Promise<Uint8Array<ArrayBuffer>> {
  const url = kernelUrl(variant);
  try {
    return await host.readAsset(url);
  } catch (err) {
    throw new WasmChordError('SOURCE_IO', `cannot load the ${variant} CPU kernels: ${(err as Error).message}`, { cause: err });
  }
}

const compiled = new Map<KernelVariant, Promise<WebAssembly.Module | undefined>>();
const compiledShared = new Map<KernelVariant, Promise<WebAssembly.Module>>();

/**
 * Compiles one kernel build; resolves to undefined when this engine cannot run it (relaxed SIMD
 * on an engine without it).
 */
export function compileKernels(variant: KernelVariant): Promise<WebAssembly.Module | undefined> {
  let p = compiled.get(variant);
  if (!p) {
    p = readVariant(variant).then(async (bytes) => {
      if (!WebAssembly.validate(bytes) && variant === 'relaxed') await host.enableRelaxedSimd();
      return WebAssembly.validate(bytes) ? WebAssembly.compile(bytes) : undefined;
    });
    compiled.set(variant, p);
  }
  return p;
}

/** wasm32's whole address space in 64 KiB pages: the maximum of every shared kernel memory. */
export const MAX_MEMORY_PAGES = 65536;

/**
 * The shared-memory form of a kernel build (for `selectKernels`' variant, already validated):
 * the same code with its memory import declared shared with wasm32's maximum. Compiling with
 * asc's `--sharedMemory --maximumMemory 65536` changes exactly these limits and nothing else
 * (checked with AssemblyScript 0.28.20): the kernels need no atomics, since the threads meet in
 * JavaScript (pool/control.ts).
 */
export function sharedKernels(variant: KernelVariant): Promise<WebAssembly.Module> {
  let p = compiledShared.get(variant);
  if (!p) {
    p = readVariant(variant).then((bytes) => WebAssembly.compile(withSharedMemory(bytes)));
    compiledShared.set(variant, p);
  }
  return p;
}

/** Rewrites the limits of a module's imported memory to `shared, max MAX_MEMORY_PAGES`. */
export function withSharedMemory(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  const u32 = (at: number): [value: number, next: number] => {
    let value = 0;
    for (let shift = 0; ; shift += 7) {
      const b = bytes[at++]!;
      value += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return [value, at];
    }
  };
  const leb = (v: number): number[] => {
    const out: number[] = [];
    do {
      const b = v % 128;
      v = Math.floor(v / 128);
      out.push(v > 0 ? b | 0x80 : b);
    } while (v > 0);
    return out;
  };
  const skipName = (at: number) => {
    const [length, start] = u32(at);
    return start + length;
  };
  // Sections after the 8-byte header: id, size, contents. Imports are section 2.
  for (let at = 8; at < bytes.length; ) {
    const id = bytes[at]!;
    const [size, start] = u32(at + 1);
    const end = start + size;
    if (id === 2) {
      let [count, p] = u32(start);
      for (; count > 0; count--) {
        p = skipName(skipName(p)); // module and field names
        const kind = bytes[p++]!;
        if (kind === 2) {
          const flags = bytes[p]!;
          if (flags > 1) throw new Error('the kernel memory import is already shared or 64-bit');
          const [min, afterMin] = u32(p + 1);
          const limitsEnd = flags === 1 ? u32(afterMin)[1] : afterMin;
          const contents = concatBytes([bytes.subarray(start, p), Uint8Array.of(0x03, ...leb(min), ...leb(MAX_MEMORY_PAGES)), bytes.subarray(limitsEnd, end)]);
          return concatBytes([bytes.subarray(0, at), Uint8Array.of(2, ...leb(contents.length)), contents, bytes.subarray(end)]);
        }
        // Function (type index), table (reftype + limits), global (type + mutability), tag.
        if (kind === 0) p = u32(p)[1];
        else if (kind === 1) p = bytes[p + 1]! & 1 ? u32(u32(p + 2)[1])[1] : u32(p + 2)[1];
        else if (kind === 3) p += 2;
        else p = u32(p + 1)[1];
      }
    }
    at = end;
  }
  throw new Error('the kernel build imports no memory');
}

/**
 * Detect, never assume: a relaxed-SIMD implementation may be wrong (V8 11.3's
 * i32x4.relaxed_dot_i8x16_i7x16_add_s is). The relaxed build is used only if it agrees with the
 * baseline build on a canary: a Q8_0 matmul over the full int8 range must give the same bits
 * (integer dot products), and an f32 attention the same values up to rounding (relaxed_madd may
 * fuse the multiply-add, which changes the last bits, not the result).
 */
async function relaxedAgrees(relaxed: WebAssembly.Module, baseline: WebAssembly.Module): Promise<boolean> {
  const run = async (module: WebAssembly.Module) => {
    const memory = new WebAssembly.Memory({ initial: 2 });
    const k = await instantiateKernels(module, memory);
    const base = (k.heap_base() + 63) & ~63;
    const bytes = new Uint8Array(memory.buffer);
    const k32 = 64; // two Q8_0 blocks per row
    const w = base, x = base + 1024, y = base + 2048, q = base + 3072, kv = base + 4096, scratch = base + 8192;
    for (let i = 0; i < 1024; i++) bytes[w + i] = bytes[x + i] = (i * 167 + 13) & 0xff;
    for (let blk = 0; blk < 8; blk++) {
      // Scale 1.0 (f16 0x3C00) at the start of each 34-byte block, so every value is finite.
      for (const p of [w + blk * 34, x + blk * 34]) [bytes[p], bytes[p + 1]] = [0x00, 0x3c];
    }
    k.matmul_q8_0(w, x, y, k32, 4, 0, 4, 1);
    const f = new Float32Array(memory.buffer);
    for (let i = 0; i < 256; i++) f[(q >> 2) + i] = f[(kv >> 2) + i] = Math.sin(i * 0.37) * 3;
    k.attention_f32kv(q, kv, kv, y + 64, scratch, 1, 7, 2, 1, 16, 8, 0.25, 0, 0, 0, 2);
    return { matmul: new Uint8Array(memory.buffer, y, 16).slice(), attention: new Float32Array(memory.buffer, y + 64, 32).slice() };
  };
  const [a, b] = await Promise.all([run(relaxed), run(baseline)]);
  return a.matmul.every((v, i) => v === b.matmul[i]) && a.attention.every((v, i) => Math.abs(v - b.attention[i]!) <= 1e-5 * (1 + Math.abs(v)));
}

const relaxedChecked = new Map<WebAssembly.Module, Promise<boolean>>();

/** The best build this engine runs, or the one asked for (which must then be supported). */
export async function selectKernels(preferred?: KernelVariant): Promise<{ variant: KernelVariant; module: WebAssembly.Module }> {
  for (const variant of preferred ? [preferred] : KERNEL_VARIANTS) {
    const module = await compileKernels(variant);
    if (!module) continue;
    if (variant === 'relaxed' && !preferred) {
      const baseline = await compileKernels('baseline');
      if (baseline) {
        let ok = relaxedChecked.get(module);
        if (!ok) relaxedChecked.set(module, (ok = relaxedAgrees(module, baseline)));
        if (!(await ok)) continue;
      }
    }
    return { variant, module };
  }
  throw new WasmChordError(
    'INVALID_ARGUMENT',
    preferred
      ? `this JavaScript engine cannot run the ${preferred} CPU kernels`
      : 'this JavaScript engine lacks WebAssembly SIMD128, which the CPU backend needs',
  );
}

export async function instantiateKernels(module: WebAssembly.Module, memory: WebAssembly.Memory): Promise<KernelExports> {
  const instance = await WebAssembly.instantiate(module, { env: { memory, abort: kernelAbort } });
  return instance.exports as unknown as KernelExports;
}

function kernelAbort(): never {
  throw new WasmChordError('INVALID_ARGUMENT', 'a CPU kernel aborted');
}
