/**
 * An architecture declares each tensor it uses once, with the shape its hyper-parameters require.
 * The declaration is both the load list (`tensors`) and the handles the graph refers to: a
 * declared tensor's info is its WeightHandle, which backends resolve by name.
 */
import { WasmChordError } from '../errors.js';
import type { GGUFFile, GGUFTensorInfo } from '../gguf/reader.js';
import type { WeightHandle } from '../backends/graph.js';

export class WeightDeclarations {
  readonly #declared = new Map<string, GGUFTensorInfo>();

  constructor(
    private readonly file: GGUFFile,
    private readonly arch: string,
  ) {}

  /** A tensor the model needs; MODEL_INVALID when it is missing or has another shape. */
  required(name: string, shape: readonly number[]): WeightHandle {
    const t = this.optional(name, shape);
    if (!t) throw new WasmChordError('MODEL_INVALID', `${this.arch} model: tensor ${name} is missing`);
    return t;
  }

  /** A tensor the model uses when present (biases, an untied output); checked when present. */
  optional(name: string, shape: readonly number[]): WeightHandle | undefined {
    const t = this.file.tensor(name);
    if (!t) return undefined;
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new WasmChordError(
        'MODEL_INVALID',
        `tensor ${name} has shape [${t.shape.join(', ')}], but the hyper-parameters need [${shape.join(', ')}]`,
      );
    }
    this.#declared.set(name, t);
    return t;
  }

  /** True when the file has this tensor (to choose between layouts, e.g. fused QKV or not). */
  has(name: string): boolean {
    return this.file.tensor(name) !== undefined;
  }

  /**
   * The token embeddings and the output matrix: `output.weight` when the file has it (or must),
   * else the embeddings themselves (tied).
   */
  embeddings(nEmbd: number, output: 'tied' | 'optional' | 'required'): { vocabSize: number; tokenEmbd: WeightHandle; output: WeightHandle } {
    const vocabSize = this.file.tensor('token_embd.weight')?.shape[1] ?? 0;
    const tokenEmbd = this.required('token_embd.weight', [nEmbd, vocabSize]);
    const shape = [nEmbd, vocabSize];
    const out = output === 'required' ? this.required('output.weight', shape) : output === 'optional' ? this.optional('output.weight', shape) : undefined;
    return { vocabSize, tokenEmbd, output: out ?? tokenEmbd };
  }

  /** Every declared tensor: what the backend loads. */
  get tensors(): GGUFTensorInfo[] {
    return [...this.#declared.values()];
  }
}
