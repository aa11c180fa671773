/**
 * The CPU backend's memory: one WebAssembly.Memory holding the kernels' static data, the
 * weights, KV caches and the scratch of the running graph. Allocation is first-fit over a free
 * list, 64-byte aligned; the memory grows on demand up to wasm32's 4 GiB.
 */
import { WasmChordError } from '../../errors.js';

const PAGE = 65536;
const ALIGN = 64;
/** wasm32 addresses 4 GiB: 65536 pages. */
const MAX_WASM_BYTES = 65536 * PAGE;

interface Block {
  ptr: number;
  bytes: number;
}

export class WasmArena {
  readonly memory: WebAssembly.Memory;
  /** Free blocks, sorted by address. */
  readonly #free: Block[] = [];
  readonly #used = new Map<number, number>();
  #top: number;

  constructor(memory: WebAssembly.Memory, base: number) {
    this.memory = memory;
    this.#top = alignUp(base);
  }

  /** Bytes currently allocated (not counting free blocks). */
  get allocatedBytes(): number {
    let n = 0;
    for (const bytes of this.#used.values()) n += bytes;
    return n;
  }

  alloc(bytes: number, what: string): number {
    const size = alignUp(Math.max(bytes, 1));
    const i = this.#free.findIndex((b) => b.bytes >= size);
    let ptr: number;
    if (i >= 0) {
      const block = this.#free[i]!;
      ptr = block.ptr;
      if (block.bytes === size) this.#free.splice(i, 1);
      else {
        block.ptr += size;
        block.bytes -= size;
      }
    } else {
      ptr = this.#top;
      this.#ensure(ptr + size, what);
      this.#top = ptr + size;
    }
    this.#used.set(ptr, size);
    return ptr;
  }

  free(ptr: number): void {
    const size = this.#used.get(ptr);
    if (size === undefined) throw new Error(`arena: free of unknown pointer ${ptr}`);
    this.#used.delete(ptr);
    let at = this.#free.findIndex((b) => b.ptr > ptr);
    if (at < 0) at = this.#free.length;
    this.#free.splice(at, 0, { ptr, bytes: size });
    // Merge with the neighbours, and give the top of the heap back.
    const next = this.#free[at + 1];
    const block = this.#free[at]!;
    if (next && block.ptr + block.bytes === next.ptr) {
      block.bytes += next.bytes;
      this.#free.splice(at + 1, 1);
    }
    const prev = this.#free[at - 1];
    if (prev && prev.ptr + prev.bytes === block.ptr) {
      prev.bytes += block.bytes;
      this.#free.splice(at, 1);
    }
    const last = this.#free[this.#free.length - 1];
    if (last && last.ptr + last.bytes === this.#top) {
      this.#top = last.ptr;
      this.#free.pop();
    }
  }

  /** Grows the memory so that [0, end) is addressable. */
  #ensure(end: number, what: string): void {
    if (end > MAX_WASM_BYTES) {
      throw new WasmChordError(
        'OUT_OF_MEMORY',
        `${what} needs ${(end / 2 ** 30).toFixed(2)} GiB of Wasm memory; one CPU backend instance is limited to 4 GiB`,
      );
    }
    const have = this.memory.buffer.byteLength;
    if (end <= have) return;
    // Grow geometrically so that many small allocations do not grow page by page.
    const target = Math.min(MAX_WASM_BYTES, Math.max(end, Math.floor(have * 1.25)));
    try {
      this.memory.grow(Math.ceil((target - have) / PAGE));
    } catch (err) {
      throw new WasmChordError('OUT_OF_MEMORY', `cannot grow Wasm memory to ${target} bytes for ${what}`, { cause: err });
    }
  }

  /** A fresh byte view (views die when the memory grows). */
  bytes(ptr: number, length: number): Uint8Array {
    return new Uint8Array(this.memory.buffer, ptr, length);
  }

  f32(ptr: number, length: number): Float32Array {
    return new Float32Array(this.memory.buffer, ptr, length);
  }

  i32(ptr: number, length: number): Int32Array {
    return new Int32Array(this.memory.buffer, ptr, length);
  }
}

function alignUp(n: number): number {
  return Math.ceil(n / ALIGN) * ALIGN;
}
