// The CPU planner's scratch: a value keeps its place until its last f32 reader has run. Places
// are reused (that is the point), so this walks real models' plans and checks every overlap
// against the values' lifetimes; an op that writes over an input must be one allowed to.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { activationFormat } from '../../src/backends/cpu/activations.js';
import { planGraph } from '../../src/backends/cpu/planner.js';
import { inputsOf, nodeLabel, type GraphNode } from '../../src/backends/graph.js';
import { MemorySource, readGGUF } from '../../src/gguf/index.js';
import { defineModel } from '../../src/model/model.js';
import { SHARED } from '../helpers/shared.js';

const MODELS = ['stories260K.gguf', 'archs/gemma-tiny-Q8_0.gguf', 'archs/phi3-tiny-Q8_0.gguf', 'archs/gpt2-tiny-Q8_0.gguf', 'archs/qwen3moe-tiny-Q8_0.gguf'];

/**
 * The last step that reads each node's f32 value: any reader but a matmul that takes a quantized
 * copy, of which only the first (which makes the copy) reads the f32 value.
 */
function lastF32Reads(nodes: readonly GraphNode[]): Map<number, number> {
  const last = new Map<number, number>();
  const copied = new Set<string>();
  nodes.forEach((node, step) => {
    for (const input of inputsOf(node)) {
      const act = node.op === 'matmul' ? activationFormat(node.weight.type) : undefined;
      const copy = `${input.id}:${act?.name}`;
      if (!act || !copied.has(copy)) last.set(input.id, step);
      if (act) copied.add(copy);
    }
  });
  return last;
}

for (const file of MODELS) {
  test(`${file}: no value's place is reused before its last reader`, async () => {
    const model = defineModel(await readGGUF(new MemorySource(new Uint8Array(readFileSync(join(SHARED, 'models', file))))));
    const graph = model.buildGraph({ nTokens: 9, allLogits: false });
    const plan = planGraph(graph, { weightPtr: () => 0, interleaveGroup: () => 0, geluTable: () => 0, kvType: 'f16' });
    const place = new Map<number, { at: number; end: number; step: number }>();
    for (const s of plan.steps) {
      if (!s.completes) continue;
      const step = graph.nodes.findIndex((n) => n.id === s.completes!.node);
      const node = graph.nodes[step]!;
      place.set(node.id, { at: s.completes.offset, end: s.completes.offset + node.rows * node.cols * 4, step });
    }
    assert.equal(place.size, graph.nodes.length, 'every node completes once');
    const last = lastF32Reads(graph.nodes);
    let overwrites = 0;
    for (const node of graph.nodes) {
      const p = place.get(node.id)!;
      for (const [id, q] of place) {
        if (q.step >= p.step || q.end <= p.at || p.end <= q.at) continue;
        // `node` is written where an earlier value lives: that value must be dead, or die here as
        // an input of an element-wise op.
        const reads = last.get(id) ?? q.step;
        const label = `${nodeLabel(node)} over ${nodeLabel(graph.nodes[q.step]!)}`;
        assert.ok(reads <= p.step, `${label}, which step ${reads} still reads`);
        if (reads === p.step) {
          assert.ok(node.op === 'glu' || node.op === 'add', `${label}: ${node.op} may not write over its input`);
          assert.ok(inputsOf(node).some((n) => n.id === id) && q.at === p.at && q.end === p.end, `${label}: not the same place`);
          overwrites++;
        }
      }
    }
    assert.ok(overwrites > 0, 'some element-wise op writes over an input');
  });
}
