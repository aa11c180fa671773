/**
 * What an architecture module provides: which tensors to load (with the shapes its
 * hyper-parameters require), the KV cache layout, and the forward graph of one step.
 */
import { WasmChordError } from '../errors.js';
import type { Graph, WeightHandle } from '../backends/graph.js';
import type { GGUFFile, GGUFTensorInfo } from '../gguf/reader.js';
import { defineLlama } from './llama.js';

export interface StepOptions {
  /** New tokens in this step. */
  readonly nTokens: number;
  /** Position of the first of them (tokens already in the KV cache). */
  readonly pos0: number;
  /** Logits for every new token instead of only the last. */
  readonly allLogits: boolean;
}

/** Loaded weights by tensor name. */
export class WeightMap {
  constructor(readonly handles: ReadonlyMap<string, WeightHandle>) {}

  get(name: string): WeightHandle {
    const w = this.handles.get(name);
    if (!w) throw new WasmChordError('MODEL_INVALID', `tensor ${name} is missing`);
    return w;
  }

  optional(name: string): WeightHandle | undefined {
    return this.handles.get(name);
  }
}

export interface ModelDefinition {
  readonly arch: string;
  /** The context length the model was trained with. */
  readonly contextLength: number;
  readonly vocabSize: number;
  /** The tensors to load, checked against the hyper-parameters. */
  readonly tensors: readonly GGUFTensorInfo[];
  readonly kvLayers: readonly { readonly nKvHead: number; readonly headDim: number }[];
  buildGraph(weights: WeightMap, step: StepOptions): Graph;
}

const ARCHITECTURES: Record<string, (file: GGUFFile) => ModelDefinition> = {
  llama: defineLlama,
};

function supportedArchitectures(): string[] {
  return Object.keys(ARCHITECTURES);
}

/** Reads the architecture and hyper-parameters of a parsed GGUF file. */
export function defineModel(file: GGUFFile): ModelDefinition {
  const arch = file.metadata.getString('general.architecture');
  if (arch === undefined) {
    throw new WasmChordError('MODEL_INVALID', 'general.architecture is missing: this GGUF file is not a model');
  }
  const define = ARCHITECTURES[arch];
  if (!define) {
    throw new WasmChordError(
      'MODEL_UNSUPPORTED',
      `architecture "${arch}" is not supported yet (supported: ${supportedArchitectures().join(', ')})`,
    );
  }
  return define(file);
}
