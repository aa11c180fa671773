// The graph IR: every node is named and tagged with its layer, labels are unique, shape rules
// refuse operands that do not fit, and the load list is exactly what the graph reads.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { GraphBuilder, inputsOf, nodeLabel, weightsOf } from '../../src/backends/graph.js';
import { MemorySource, readGGUF } from '../../src/gguf/index.js';
import { defineModel } from '../../src/model/model.js';
import { GGMLType } from '../../src/quant/types.js';
import { SHARED } from '../helpers/shared.js';

test('a llama graph names every node after its layer, as llama.cpp does', async () => {
  const file = await readGGUF(new MemorySource(new Uint8Array(readFileSync(join(SHARED, 'models/stories260K.gguf')))));
  const model = defineModel(file);
  const graph = model.buildGraph({ nTokens: 3, allLogits: false });
  const labels = graph.nodes.map(nodeLabel);
  assert.equal(new Set(labels).size, labels.length, 'labels are unique');
  assert.equal(labels[0], 'inp_embd');
  assert.ok(labels.includes('attn_norm-0') && labels.includes('kqv_out-4') && labels.includes('l_out-4'));
  assert.equal(nodeLabel(graph.output), 'result_output');
  assert.equal(graph.output.rows, 1, 'only the last token reaches the output');
  // Inputs come first, and every weight the graph reads is one the model declared (the load list).
  const declared = new Set(model.tensors.map((t) => t.name));
  for (const node of graph.nodes) {
    for (const input of inputsOf(node)) assert.ok(input.id < node.id, `${nodeLabel(node)} reads a later node`);
    for (const w of weightsOf(node)) assert.ok(declared.has(w.name), `${w.name} is not in the load list`);
  }
  const used = new Set(graph.nodes.flatMap((n) => weightsOf(n).map((w) => w.name)));
  assert.deepEqual([...declared].filter((n) => !used.has(n)), [], 'every declared tensor is used');
});

test('shape rules refuse operands that do not fit', () => {
  const g = new GraphBuilder(2);
  const table = { name: 't', type: GGMLType.F32, shape: [8, 10] };
  const x = g.embed('x', table);
  assert.throws(() => g.matmul('m', x, { name: 'w', type: GGMLType.F32, shape: [6, 4] }), /w expects 6 inputs, got 8/);
  assert.throws(() => g.cols('c', x, 4, 5), /cols 4\+5 of 8/);
  assert.throws(() => g.rmsNorm('n', x, undefined, 1e-5, 3), /group 3 does not divide 8/);
  assert.throws(() => g.rope('r', x, { nHead: 2, headDim: 4, nRot: 6, mode: 'neox', freqBase: 1e4, freqScale: 1 }), /rope dims 6/);
  assert.equal(g.layer(3).add('sum', x, x).layer, 3);
});
