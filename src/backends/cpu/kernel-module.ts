/**
 * Loads the compiled AssemblyScript kernels. Two builds ship: `baseline` (SIMD128) and
 * `relaxed` (SIMD128 + relaxed SIMD); the best one this engine validates is chosen.
 * The .wasm files sit next to this module, so bundlers that understand
 * `new URL(..., import.meta.url)` pick them up.
 */
import { WasmChordError } from '../../errors.js';
import type { OpKernelExports } from './op-kernels.js';
import type { QuantKernelExports } from './quant-kernels.js';

export const KERNEL_VARIANTS = ['relaxed', 'baseline'] as const;
export type KernelVariant = (typeof KERNEL_VARIANTS)[number];

/** The functions every kernel build exports. Pointers are byte offsets into the memory. */
export interface KernelExports extends OpKernelExports, QuantKernelExports {
  heap_base(): number;
}

function variantUrl(variant: KernelVariant): URL {
  return new URL(`./wasm/kernels-${variant}.wasm`, import.meta.url);
}

async function readVariant(variant: KernelVariant): Promise<Uint8Array<ArrayBuffer>> {
  const url = variantUrl(variant);
  try {
    if (url.protocol === 'file:' && typeof process !== 'undefined' && process.versions?.node) {
      const [{ readFile }, { fileURLToPath }] = await Promise.all([import('node:fs/promises'), import('node:url')]);
      return new Uint8Array(await readFile(fileURLToPath(url)));
    }
    const res = await fetch(url);
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    return new Uint8Array(await res.arrayBuffer());
  } catch (err) {
    throw new WasmChordError('SOURCE_IO', `cannot load the ${variant} CPU kernels from ${url}: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

const compiled = new Map<KernelVariant, Promise<WebAssembly.Module | undefined>>();

/**
 * Compiles one kernel build; resolves to undefined when this engine cannot run it
 * (relaxed SIMD on Node 20 without --experimental-wasm-relaxed-simd, for example).
 */
export function compileKernels(variant: KernelVariant): Promise<WebAssembly.Module | undefined> {
  let p = compiled.get(variant);
  if (!p) {
    p = readVariant(variant).then((bytes) => (WebAssembly.validate(bytes) ? WebAssembly.compile(bytes) : undefined));
    compiled.set(variant, p);
  }
  return p;
}

/** The best build this engine runs, or the one asked for (which must then be supported). */
export async function selectKernels(preferred?: KernelVariant): Promise<{ variant: KernelVariant; module: WebAssembly.Module }> {
  for (const variant of preferred ? [preferred] : KERNEL_VARIANTS) {
    const module = await compileKernels(variant);
    if (module) return { variant, module };
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
