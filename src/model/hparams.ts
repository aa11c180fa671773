/** Reads `{arch}.*` hyper-parameters with MODEL_INVALID errors. */
import { WasmChordError } from '../errors.js';
import type { GGUFFile } from '../gguf/reader.js';
import { GGUFValueType } from '../gguf/metadata.js';

export class HParamReader {
  constructor(
    private readonly file: GGUFFile,
    readonly arch: string,
  ) {}

  #key(name: string): string {
    return `${this.arch}.${name}`;
  }

  has(name: string): boolean {
    return this.file.metadata.has(this.#key(name));
  }

  integer(name: string): number {
    const v = this.file.metadata.getInteger(this.#key(name));
    if (v === undefined) throw new WasmChordError('MODEL_INVALID', `metadata ${this.#key(name)} is missing`);
    this.require(v >= 0, `${this.#key(name)} is negative`);
    return v;
  }

  optionalInteger(name: string, fallback: number): number {
    return this.has(name) ? this.integer(name) : fallback;
  }

  /**
   * A per-layer integer: an array of `nLayer` values (OpenELM's head counts), or one scalar
   * shared by every layer.
   */
  perLayer(name: string, nLayer: number, fallback?: number): number[] {
    const key = this.#key(name);
    const arr = this.file.metadata.getArray(key);
    if (!arr) {
      const v = fallback !== undefined && !this.has(name) ? fallback : this.integer(name);
      return new Array<number>(nLayer).fill(v);
    }
    this.require(arr.itemType !== GGUFValueType.STRING && arr.itemType !== GGUFValueType.ARRAY, `${key} is not numeric`);
    const items = Array.from(arr.items as ArrayLike<number | bigint>, Number);
    this.require(items.length === nLayer, `${key} has ${items.length} values for ${nLayer} layers`);
    this.require(items.every((v) => Number.isSafeInteger(v) && v >= 0), `${key} holds a value that is not a count`);
    return items;
  }

  number(name: string): number {
    const v = this.file.metadata.getNumber(this.#key(name));
    if (v === undefined) throw new WasmChordError('MODEL_INVALID', `metadata ${this.#key(name)} is missing`);
    this.require(Number.isFinite(v), `${this.#key(name)} is not finite`);
    return v;
  }

  optionalNumber(name: string, fallback: number): number {
    return this.has(name) ? this.number(name) : fallback;
  }

  positive(name: string): number {
    const v = this.number(name);
    this.require(v > 0, `${this.#key(name)} must be positive`);
    return v;
  }

  optionalString(name: string, fallback: string): string {
    return this.file.metadata.getString(this.#key(name)) ?? fallback;
  }

  require(ok: boolean, what: string): asserts ok {
    if (!ok) throw new WasmChordError('MODEL_INVALID', `${this.arch} model: ${what}`);
  }

  /** `rope.scaling.*` as a frequency scale: 1/factor for linear scaling, 1 for none. */
  ropeFreqScale(): number {
    const scaling = this.optionalString('rope.scaling.type', 'none');
    if (scaling === 'linear') return 1 / this.positive('rope.scaling.factor');
    if (scaling !== 'none') throw new WasmChordError('MODEL_UNSUPPORTED', `RoPE scaling "${scaling}" is not supported yet (linear is)`);
    return 1;
  }
}
