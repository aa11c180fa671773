/** A reference backend with one op broken on purpose: proof that the comparison catches it. */
import type { GraphNode, OpName } from '../../src/backends/graph.js';
import { ReferenceBackend } from '../../src/backends/reference/backend.js';
import type { OpContext } from '../../src/backends/reference/ops.js';

export type Breakage = 'add' | 'rope';

export class BrokenReference extends ReferenceBackend {
  constructor(readonly breakage: Breakage) {
    super();
  }

  /** The op it breaks. */
  get brokenOp(): OpName {
    return this.breakage;
  }

  protected override op(node: GraphNode, context: OpContext): Float32Array {
    if (node.op === 'rope' && this.breakage === 'rope') {
      // The wrong pairing: NEOX for NORM and back.
      return super.op({ ...node, params: { ...node.params, mode: node.params.mode === 'norm' ? 'neox' : 'norm' } }, context);
    }
    const y = super.op(node, context);
    // 0.1% too large: NMSE 1e-6, ten times the add bound.
    if (node.op === 'add' && this.breakage === 'add') return y.map((v) => v * 1.001);
    return y;
  }
}
