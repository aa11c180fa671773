/**
 * What an architecture module provides: the tensors it declared (the load list, checked against
 * the hyper-parameters), the KV cache layout, and the forward graph of one step shape.
 */
import { WasmChordError } from '../errors.js';
import type { Graph } from '../backends/graph.js';
import type { KVLayerSpec } from '../backends/backend.js';
import type { GGUFFile, GGUFTensorInfo } from '../gguf/reader.js';
import { defineLlama } from './llama.js';
import { defineQwen2, defineQwen3, defineQwen3Moe } from './qwen.js';
import { definePhi3 } from './phi3.js';
import { defineOpenElm } from './openelm.js';
import { defineGemma, defineGemma2, defineGemma3 } from './gemma.js';
import { defineGpt2, defineStarcoder2 } from './gpt2.js';

/** The shape of one step: what a compiled graph is specialised for. Positions are run inputs. */
export interface StepShape {
  /** New tokens in this step. */
  readonly nTokens: number;
  /** Logits for every new token instead of only the last. */
  readonly allLogits: boolean;
}

export interface ModelDefinition {
  readonly arch: string;
  /** The context length the model was trained with. */
  readonly contextLength: number;
  /** The most positions the model can address at all (learned position tables), if limited. */
  readonly maxPositions?: number;
  readonly vocabSize: number;
  /** The tensors to load: exactly those the graph uses. */
  readonly tensors: readonly GGUFTensorInfo[];
  readonly kvLayers: readonly KVLayerSpec[];
  buildGraph(step: StepShape): Graph;
}

export type DefineArchitecture = (file: GGUFFile) => ModelDefinition;

const ARCHITECTURES: Record<string, DefineArchitecture> = {
  llama: defineLlama,
  qwen2: defineQwen2,
  qwen3: defineQwen3,
  qwen3moe: defineQwen3Moe,
  phi3: definePhi3,
  openelm: defineOpenElm,
  gemma: defineGemma,
  gemma2: defineGemma2,
  gemma3: defineGemma3,
  starcoder2: defineStarcoder2,
  gpt2: defineGpt2,
  // (architecture helpers add their entries here)
};

export function supportedArchitectures(): string[] {
  return Object.keys(ARCHITECTURES).sort();
}

/** Reads the architecture and hyper-parameters of a parsed GGUF file. */
export function defineModel(file: GGUFFile): ModelDefinition {
  const arch = file.metadata.getString('general.architecture');
  if (arch === undefined) {
    throw new WasmChordError('MODEL_INVALID', 'general.architecture is missing: this GGUF file is not a model');
  }
  const define = Object.hasOwn(ARCHITECTURES, arch) ? ARCHITECTURES[arch] : undefined;
  if (!define) {
    throw new WasmChordError(
      'MODEL_UNSUPPORTED',
      `architecture "${arch}" is not supported yet (supported: ${supportedArchitectures().join(', ')})`,
    );
  }
  return define(file);
}
