/**
 * Hand-assembles GGUF bytes field by field, so tests can write headers that our writer
 * would never produce (absurd counts, wrong types, bad offsets).
 */
export class GGUFBytes {
  #parts: number[] = [];

  u8(v: number): this {
    this.#parts.push(v & 0xff);
    return this;
  }
  u32(v: number): this {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, v >>> 0, true);
    this.#parts.push(...b);
    return this;
  }
  u64(v: bigint | number): this {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, BigInt(v), true);
    this.#parts.push(...b);
    return this;
  }
  f32(v: number): this {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    this.#parts.push(...b);
    return this;
  }
  raw(bytes: ArrayLike<number>): this {
    this.#parts.push(...Array.from(bytes));
    return this;
  }
  /** A GGUF string: u64 length then UTF-8 bytes. */
  str(s: string, declaredLength?: bigint | number): this {
    const bytes = new TextEncoder().encode(s);
    return this.u64(declaredLength ?? bytes.length).raw(bytes);
  }
  /** Magic, version, tensor count, key/value count. */
  header(version: number, tensors: bigint | number, kvs: bigint | number): this {
    return this.raw([0x47, 0x47, 0x55, 0x46]).u32(version).u64(tensors).u64(kvs);
  }
  /** A tensor info: name, dims, type id, offset. */
  tensorInfo(name: string, ne: (bigint | number)[], type: number, offset: bigint | number): this {
    this.str(name).u32(ne.length);
    for (const d of ne) this.u64(d);
    return this.u32(type).u64(offset);
  }
  padTo(alignment: number): this {
    while (this.#parts.length % alignment) this.#parts.push(0);
    return this;
  }
  zeros(n: number): this {
    for (let i = 0; i < n; i++) this.#parts.push(0);
    return this;
  }
  get length(): number {
    return this.#parts.length;
  }
  bytes(): Uint8Array {
    return Uint8Array.from(this.#parts);
  }
}
