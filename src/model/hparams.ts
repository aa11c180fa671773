/** Reads `{arch}.*` hyper-parameters with MODEL_INVALID errors. */
import { WasmChordError } from '../errors.js';
import type { GGUFFile } from '../gguf/reader.js';
import { GGUFValueType } from '../gguf/metadata.js';
import type { RopeMode, RopeParams } from '../backends/graph.js';

/** The attention hyper-parameters most architectures read the same way. */
export interface AttentionShape {
  readonly nEmbd: number;
  readonly nLayer: number;
  readonly nHead: number;
  readonly nHeadKv: number;
  /** key_length when the file has it (n_head·hd need not equal n_embd), else n_embd/n_head. */
  readonly headDim: number;
  /** rope.dimension_count, else the head size. */
  readonly nRot: number;
}

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
    this.require(v > 0, `${this.#key(name)} is ${v}; it must be positive`);
    return v;
  }

  optionalPositive(name: string, fallback: number): number {
    return this.has(name) ? this.positive(name) : fallback;
  }

  /** A norm's epsilon: finite and positive (a negative or NaN one makes every output NaN). */
  epsilon(name: string): number {
    return this.positive(name);
  }

  /**
   * block_count: positive, and at most the number of tensors in the file (every layer has some),
   * so that an absurd count is refused before anything is sized or looped over by it.
   */
  blockCount(): number {
    const n = this.integer('block_count');
    const tensors = this.file.tensors.length;
    this.require(n > 0, `${this.#key('block_count')} is 0: the model has no layers`);
    this.require(n <= tensors, `${this.#key('block_count')} is ${n}, but the file has only ${tensors} tensors`);
    return n;
  }

  optionalString(name: string, fallback: string): string {
    return this.file.metadata.getString(this.#key(name)) ?? fallback;
  }

  require(ok: boolean, what: string): asserts ok {
    if (!ok) throw new WasmChordError('MODEL_INVALID', `${this.arch} model: ${what}`);
  }

  /** embedding_length, block_count, head counts, head size and RoPE dimensions, checked. */
  attentionShape(): AttentionShape {
    const nEmbd = this.integer('embedding_length');
    const nLayer = this.blockCount();
    const nHead = this.integer('attention.head_count');
    const nHeadKv = this.optionalInteger('attention.head_count_kv', nHead);
    this.require(nEmbd > 0 && nLayer > 0 && nHead > 0, `${nLayer} layers of width ${nEmbd} with ${nHead} heads`);
    const headDim = this.optionalInteger('attention.key_length', nEmbd / nHead);
    const nRot = this.optionalInteger('rope.dimension_count', headDim);
    this.require(Number.isInteger(headDim) && headDim > 0, `head size ${headDim} is not a positive integer`);
    this.require(this.optionalInteger('attention.value_length', headDim) === headDim, 'value_length differs from key_length');
    this.require(nHeadKv > 0 && nHead % nHeadKv === 0, `${nHead} heads cannot share ${nHeadKv} KV heads`);
    this.require(nRot > 0 && nRot % 2 === 0 && nRot <= headDim, `RoPE dimensions ${nRot} for head size ${headDim}`);
    return { nEmbd, nLayer, nHead, nHeadKv, headDim, nRot };
  }

  /** RoPE of the file's base (default 10000) and scaling, for heads of `headDim` rotating `nRot`. */
  rope(mode: RopeMode, headDim: number, nRot: number): Omit<RopeParams, 'nHead'> {
    return { headDim, nRot, mode, freqBase: this.optionalPositive('rope.freq_base', 10000), freqScale: this.ropeFreqScale() };
  }

  /** `rope.scaling.*` as a frequency scale: 1/factor for linear scaling, 1 for none. */
  ropeFreqScale(): number {
    const scaling = this.optionalString('rope.scaling.type', 'none');
    if (scaling === 'linear') return 1 / this.positive('rope.scaling.factor');
    if (scaling !== 'none') throw new WasmChordError('MODEL_UNSUPPORTED', `RoPE scaling "${scaling}" is not supported yet (linear is)`);
    return 1;
  }
}
