/**
 * The forward-pass graph: the one description of a model step that every backend executes
 * (DESIGN principle 4). Architectures build it with GraphBuilder; backends plan and run it.
 *
 * Activations are 2-D f32 tensors [rows][cols] where rows are tokens of the batch. A graph
 * covers one step of one sequence: `nTokens` new tokens at positions pos0 .. pos0+nTokens-1,
 * whose keys and values the attention nodes append to the session's KV cache.
 */
import type { GGMLTypeId } from '../quant/types.js';

/** A weight tensor owned by a backend; the graph only refers to it. */
export interface WeightHandle {
  readonly name: string;
  readonly type: GGMLTypeId;
  /** ggml order: shape[0] is the row length (the input width of a matmul). */
  readonly shape: readonly number[];
}

export type RopeMode = 'norm' | 'neox';

export interface RopeParams {
  readonly nHead: number;
  readonly headDim: number;
  /** Rotated dimensions per head (≤ headDim); the rest pass through. */
  readonly nRot: number;
  readonly mode: RopeMode;
  readonly freqBase: number;
  /** 1/factor for linear scaling, else 1. */
  readonly freqScale: number;
  /** Per-frequency divisors (Llama-3 `rope_freqs.weight`), length nRot/2. */
  readonly freqFactors?: WeightHandle;
}

export interface AttentionParams {
  /** Index of the layer whose KV cache this attention appends to and reads. */
  readonly layer: number;
  readonly nHead: number;
  readonly nKvHead: number;
  readonly headDim: number;
  /** Multiplies Q·K before the softmax (usually 1/sqrt(headDim)). */
  readonly scale: number;
  /** Sliding window: key j is hidden from query i when i - j >= window. 0 = none. */
  readonly window: number;
  /** Soft-capping of scores: cap * tanh(s / cap). 0 = none. */
  readonly softcap: number;
}

interface NodeBase {
  readonly id: number;
  readonly rows: number;
  readonly cols: number;
}

export type GraphNode =
  | (NodeBase & { readonly op: 'embed'; readonly table: WeightHandle })
  | (NodeBase & { readonly op: 'rms_norm'; readonly x: GraphNode; readonly weight?: WeightHandle; readonly eps: number; readonly group: number })
  | (NodeBase & { readonly op: 'matmul'; readonly x: GraphNode; readonly weight: WeightHandle })
  | (NodeBase & { readonly op: 'add'; readonly a: GraphNode; readonly b: GraphNode })
  | (NodeBase & { readonly op: 'rope'; readonly x: GraphNode; readonly params: RopeParams })
  | (NodeBase & {
      readonly op: 'attention';
      readonly q: GraphNode;
      readonly k: GraphNode;
      readonly v: GraphNode;
      readonly params: AttentionParams;
    })
  | (NodeBase & { readonly op: 'swiglu'; readonly gate: GraphNode; readonly up: GraphNode })
  | (NodeBase & { readonly op: 'rows'; readonly x: GraphNode; readonly start: number });

export interface Graph {
  readonly nTokens: number;
  readonly pos0: number;
  /** Nodes in execution order: every node comes after its inputs. */
  readonly nodes: readonly GraphNode[];
  readonly output: GraphNode;
}

/** Distributes Omit over the union so that each op keeps its own fields. */
type NodeSpec = GraphNode extends infer N ? (N extends GraphNode ? Omit<N, 'id'> : never) : never;

export class GraphBuilder {
  readonly #nodes: GraphNode[] = [];

  constructor(
    readonly nTokens: number,
    readonly pos0: number,
  ) {}

  #add<T extends NodeSpec>(spec: T): GraphNode {
    const node = { ...spec, id: this.#nodes.length } as GraphNode;
    this.#nodes.push(node);
    return node;
  }

  /** Rows of `table` for the step's input tokens. */
  embed(table: WeightHandle): GraphNode {
    return this.#add({ op: 'embed', table, rows: this.nTokens, cols: table.shape[0]! });
  }

  /**
   * RMS normalisation of each run of `group` values (the whole row by default; a head for
   * per-head Q/K norms), then multiplied by `weight` (length `group`) if given.
   */
  rmsNorm(x: GraphNode, weight: WeightHandle | undefined, eps: number, group = x.cols): GraphNode {
    check(x.cols % group === 0, `rms_norm group ${group} does not divide ${x.cols}`);
    if (weight) check(weight.shape[0] === group, `norm weight ${weight.name} has ${weight.shape[0]} values, not ${group}`);
    return this.#add({ op: 'rms_norm', x, weight, eps, group, rows: x.rows, cols: x.cols });
  }

  /** x · Wᵀ: [rows, k] -> [rows, m] for a weight of shape [k, m]. */
  matmul(x: GraphNode, weight: WeightHandle): GraphNode {
    check(weight.shape[0] === x.cols, `${weight.name} expects ${weight.shape[0]} inputs, got ${x.cols}`);
    return this.#add({ op: 'matmul', x, weight, rows: x.rows, cols: weight.shape[1] ?? 1 });
  }

  add(a: GraphNode, b: GraphNode): GraphNode {
    check(a.rows === b.rows && a.cols === b.cols, `add of [${a.rows},${a.cols}] and [${b.rows},${b.cols}]`);
    return this.#add({ op: 'add', a, b, rows: a.rows, cols: a.cols });
  }

  /** Rotary position embedding of [tokens, nHead*headDim] at the step's positions. */
  rope(x: GraphNode, params: RopeParams): GraphNode {
    check(x.cols === params.nHead * params.headDim, `rope over ${x.cols} values, not ${params.nHead}x${params.headDim}`);
    check(params.nRot % 2 === 0 && params.nRot <= params.headDim, `rope dims ${params.nRot} for head size ${params.headDim}`);
    return this.#add({ op: 'rope', x, params, rows: x.rows, cols: x.cols });
  }

  /** Appends k, v to the layer's KV cache, then attends causally over the cache. */
  attention(q: GraphNode, k: GraphNode, v: GraphNode, params: AttentionParams): GraphNode {
    const { nHead, nKvHead, headDim } = params;
    check(nHead % nKvHead === 0, `${nHead} query heads cannot share ${nKvHead} KV heads`);
    check(q.cols === nHead * headDim, 'attention Q width');
    check(k.cols === nKvHead * headDim && v.cols === nKvHead * headDim, 'attention K/V width');
    return this.#add({ op: 'attention', q, k, v, params, rows: q.rows, cols: q.cols });
  }

  /** silu(gate) * up. */
  swiglu(gate: GraphNode, up: GraphNode): GraphNode {
    check(gate.rows === up.rows && gate.cols === up.cols, 'swiglu operands differ in shape');
    return this.#add({ op: 'swiglu', gate, up, rows: gate.rows, cols: gate.cols });
  }

  /** Rows [start, start+count) of x (e.g. the last token, whose logits we need). */
  rows(x: GraphNode, start: number, count: number): GraphNode {
    check(start >= 0 && count > 0 && start + count <= x.rows, `rows ${start}+${count} of ${x.rows}`);
    return this.#add({ op: 'rows', x, start, rows: count, cols: x.cols });
  }

  finish(output: GraphNode): Graph {
    return { nTokens: this.nTokens, pos0: this.pos0, nodes: this.#nodes, output };
  }
}

function check(ok: boolean, what: string): asserts ok {
  if (!ok) throw new Error(`invalid graph: ${what}`);
}
