/**
 * Whole-model checks at load time. Each architecture checks its own hyper-parameters and tensor
 * shapes as it reads them (naming the metadata key); this is what only the whole model shows:
 * a tokenizer that does not match the embeddings, no layers, no context, and, as a safety net for
 * every architecture, graph parameters that cannot compute (NaN scales, a zero RoPE base).
 * A model that passes loads and generates; one that does not is MODEL_INVALID at load, never a
 * failure in the middle of a generation.
 */
import { WasmChordError } from '../errors.js';
import { nodeLabel, type GraphNode } from '../backends/graph.js';
import type { Tokenizer } from '../tokenizer/index.js';
import type { ModelDefinition } from './model.js';

function invalid(message: string): WasmChordError {
  return new WasmChordError('MODEL_INVALID', message);
}

export function validateModel(definition: ModelDefinition, tokenizer: Tokenizer): void {
  const arch = definition.arch;
  if (tokenizer.vocabSize !== definition.vocabSize) {
    throw invalid(
      `the tokenizer has ${tokenizer.vocabSize} tokens (tokenizer.ggml.tokens) but token_embd.weight has ${definition.vocabSize} rows: the vocabulary does not belong to these weights`,
    );
  }
  if (definition.vocabSize < 1) throw invalid('token_embd.weight has no rows (an empty vocabulary)');
  if (definition.kvLayers.length === 0) throw invalid(`${arch}.block_count is 0: the model has no layers`);
  if (!(definition.contextLength > 0)) throw invalid(`${arch}.context_length is ${definition.contextLength}: the model has no context`);
  for (const id of tokenizer.endOfGenerationIds) {
    if (id >= definition.vocabSize) throw invalid(`end-of-generation token ${id} is outside the vocabulary`);
  }
  definition.kvLayers.forEach((l, il) => {
    if (!(l.nKvHead > 0 && l.headDim > 0)) throw invalid(`layer ${il} has ${l.nKvHead} KV heads of size ${l.headDim}`);
  });
  for (const node of definition.buildGraph({ nTokens: 1, allLogits: false }).nodes) checkNode(node);
}

/** Every number a node computes with is finite; norms and RoPE have their positive ones. */
function checkNode(node: GraphNode): void {
  const where = `${nodeLabel(node)} (${node.op})`;
  const check = (what: string, value: unknown, positive = false) => {
    if (typeof value !== 'number') return;
    if (!Number.isFinite(value) || (positive && !(value > 0))) {
      throw invalid(`graph node ${where}: ${what} is ${value}${positive ? ', not a positive number' : ''} (a hyper-parameter of the file is invalid)`);
    }
  };
  for (const [key, value] of Object.entries(node)) {
    if (key === 'eps') check('the norm epsilon', value, true);
    else if (typeof value === 'number') check(key, value);
    else if (key === 'params' && typeof value === 'object' && value !== null) {
      for (const [k, v] of Object.entries(value)) {
        if (k === 'freqBase') check('the RoPE frequency base', v, true);
        else if (k === 'freqScale') check('the RoPE frequency scale', v, true);
        else check(k, v);
      }
    }
  }
}
