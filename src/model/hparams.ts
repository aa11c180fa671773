/** Reads `{arch}.*` hyper-parameters and checks tensor shapes, with MODEL_INVALID errors. */
import { WasmChordError } from '../errors.js';
import type { GGUFFile, GGUFTensorInfo } from '../gguf/reader.js';

export class HParamReader {
  constructor(
    private readonly file: GGUFFile,
    private readonly arch: string,
  ) {}

  #key(name: string): string {
    return `${this.arch}.${name}`;
  }

  integer(name: string): number {
    const v = this.file.metadata.getInteger(this.#key(name));
    if (v === undefined) throw new WasmChordError('MODEL_INVALID', `metadata ${this.#key(name)} is missing`);
    this.require(v >= 0, `${this.#key(name)} is negative`);
    return v;
  }

  optionalInteger(name: string, fallback: number): number {
    return this.file.metadata.has(this.#key(name)) ? this.integer(name) : fallback;
  }

  number(name: string): number {
    const v = this.file.metadata.getNumber(this.#key(name));
    if (v === undefined) throw new WasmChordError('MODEL_INVALID', `metadata ${this.#key(name)} is missing`);
    this.require(Number.isFinite(v), `${this.#key(name)} is not finite`);
    return v;
  }

  optionalNumber(name: string, fallback: number): number {
    return this.file.metadata.has(this.#key(name)) ? this.number(name) : fallback;
  }

  positive(name: string): number {
    const v = this.number(name);
    this.require(v > 0, `${this.#key(name)} must be positive`);
    return v;
  }

  optionalString(name: string, fallback: string): string {
    return this.file.metadata.getString(this.#key(name)) ?? fallback;
  }

  tensor(name: string): GGUFTensorInfo {
    const t = this.file.tensor(name);
    if (!t) throw new WasmChordError('MODEL_INVALID', `tensor ${name} is missing`);
    return t;
  }

  require(ok: boolean, what: string): asserts ok {
    if (!ok) throw new WasmChordError('MODEL_INVALID', `${this.arch} model: ${what}`);
  }

  /** Looks up each tensor and checks its shape (when one is given). */
  checkTensors(expected: ReadonlyMap<string, readonly number[] | undefined>): GGUFTensorInfo[] {
    return [...expected].map(([name, shape]) => {
      const t = this.tensor(name);
      if (shape && (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i]))) {
        throw new WasmChordError(
          'MODEL_INVALID',
          `tensor ${name} has shape [${t.shape.join(', ')}], but the hyper-parameters need [${shape.join(', ')}]`,
        );
      }
      return t;
    });
  }
}
