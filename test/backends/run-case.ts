/** Runs one conformance case on a backend beside the reference, through the divergence tool's comparison. */
import type { Backend } from '../../src/backends/backend.js';
import { BackendComparison, type Divergence, type NodeCheck } from '../../src/backends/compare.js';
import type { WeightHandle } from '../../src/backends/graph.js';
import { ReferenceBackend } from '../../src/backends/reference/backend.js';
import type { GGUFFile } from '../../src/gguf/reader.js';
import { caseGraph, caseKVSpec, caseTokens, type OpCase } from './op-cases.js';

export interface CaseResult {
  /** The checks of the nodes of the op under test (its inputs are exact embeds). */
  readonly checks: readonly NodeCheck[];
  readonly divergence?: Divergence;
}

/** Loads the case into `backend` (fresh) and a reference, runs its steps on both, judges every node. */
export async function runCase(c: OpCase, file: GGUFFile, name: string, backend: Backend): Promise<CaseResult> {
  const reference = ReferenceBackend.create();
  const w = (n: string): WeightHandle => file.tensor(n) ?? assertNever(n);
  await backend.loadWeights(file, file.tensors);
  await reference.loadWeights(file, file.tensors);
  const spec = caseKVSpec(c, w);
  const comparison = new BackendComparison(
    [
      { name, backend, cache: backend.createKVCache(spec) },
      { name: 'reference', backend: reference, cache: reference.createKVCache(spec) },
    ],
    reference,
  );
  const checks: NodeCheck[] = [];
  try {
    for (let i = 0; i < c.steps.length; i++) {
      const graph = caseGraph(c, c.steps[i]!.nTokens, w);
      const r = await comparison.step(graph, { tokens: caseTokens(c, i), pos0: c.steps[i]!.pos0 });
      checks.push(...r.checks.filter((k) => k.op === c.op));
      if (r.divergence) return { checks, divergence: r.divergence };
    }
    return { checks };
  } finally {
    comparison.dispose();
    await reference.dispose();
  }
}

function assertNever(name: string): never {
  throw new Error(`the case has no tensor ${name}`);
}
