/**
 * The forward-pass graph: the one description of a model step that every backend executes
 * (DESIGN principle 4). Architectures build it with GraphBuilder; backends compile and run it.
 *
 * Activations are 2-D f32 tensors [rows][cols] where rows are tokens of the batch. A graph
 * describes one step *shape*: `nTokens` new tokens of one sequence. Their positions are not part
 * of the graph: they are an input of each run (pos0), so a backend compiles a graph once and
 * re-runs it at every position. Attention nodes append the step's keys and values to the
 * session's KV cache at those positions.
 *
 * OpFields is the single source of truth for ops: adding an op there without an entry in OPS
 * (inputs, weights, shape rule) is a type error, and so is a backend whose op handlers (mapped
 * over OpName) miss it.
 */
import type { GGMLTypeId } from '../quant/types.js';

/** A weight tensor owned by a backend; the graph only refers to it. */
export interface WeightHandle {
  readonly name: string;
  readonly type: GGMLTypeId;
  /** ggml order: shape[0] is the row length (the input width of a matmul). */
  readonly shape: readonly number[];
}

/** A 1-D weight (norm weight, bias, rope factors): every dimension past the first is 1. */
export function isVectorShape(shape: readonly number[]): boolean {
  return shape.every((d, i) => i === 0 || d === 1);
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
  /** Multiplies Q·K before the softmax (usually 1/sqrt(headDim); 1 when Q was scaled). */
  readonly scale: number;
  /** Sliding window: key j is hidden from query i when i - j >= window. 0 = none. */
  readonly window: number;
  /** Soft-capping of scores: cap * tanh(s / cap). 0 = none. */
  readonly softcap: number;
}

/** The activation of a gated FFN: act(gate) * up. GELU is ggml's (tanh form, f16 table). */
export type GluActivation = 'silu' | 'gelu';

export interface MoeParams {
  /** Experts each token uses (top-k of the router's softmax). */
  readonly nUsed: number;
  /** Rescale the chosen experts' probabilities to sum to 1. */
  readonly normalize: boolean;
  readonly act: GluActivation;
}

/** The fields of each op, beyond those every node has. GraphNode-typed fields are inputs. */
export interface OpFields {
  /** Rows of `table` for the step's token ids. */
  embed: { readonly table: WeightHandle };
  /** Rows of `table` for the step's positions (learned position embeddings). */
  position_embed: { readonly table: WeightHandle };
  /** RMS norm over each run of `group` values (a head for per-head Q/K norms), times weight. */
  rms_norm: { readonly x: GraphNode; readonly weight?: WeightHandle; readonly eps: number; readonly group: number };
  /** (x - mean) / sqrt(var + eps) * weight + bias, over whole rows. */
  layer_norm: { readonly x: GraphNode; readonly weight?: WeightHandle; readonly bias?: WeightHandle; readonly eps: number };
  /** x · Wᵀ: [rows, k] -> [rows, m] for a weight of shape [k, m]. */
  matmul: { readonly x: GraphNode; readonly weight: WeightHandle };
  add: { readonly a: GraphNode; readonly b: GraphNode };
  /** x + bias, the bias (length cols) added to every row. */
  add_bias: { readonly x: GraphNode; readonly bias: WeightHandle };
  scale: { readonly x: GraphNode; readonly factor: number };
  /** cap * tanh(x / cap). */
  softcap: { readonly x: GraphNode; readonly cap: number };
  /** ggml's GELU (tanh form through its f16 table). */
  gelu: { readonly x: GraphNode };
  /** act(gate) * up. */
  glu: { readonly gate: GraphNode; readonly up: GraphNode; readonly act: GluActivation };
  /** Columns [start, start+cols) of x: a view into fused QKV or gate|up outputs. */
  cols: { readonly x: GraphNode; readonly start: number };
  /** Rows [start, start+rows) of x (e.g. the last token, whose logits we need). */
  rows: { readonly x: GraphNode; readonly start: number };
  /** Rotary position embedding of [tokens, nHead*headDim] at the step's positions. */
  rope: { readonly x: GraphNode; readonly params: RopeParams };
  /** Appends k, v to the layer's KV cache, then attends causally over the cache. */
  attention: { readonly q: GraphNode; readonly k: GraphNode; readonly v: GraphNode; readonly params: AttentionParams };
  /**
   * Mixture-of-experts FFN: p = softmax(logits) over all experts; the top nUsed experts e (by p)
   * give Σ w_e · down_e(act(gate_e x) * up_e x). Expert weights are 3-D: [in, out, nExpert].
   */
  moe_ffn: {
    readonly x: GraphNode;
    readonly logits: GraphNode;
    readonly gate: WeightHandle;
    readonly up: WeightHandle;
    readonly down: WeightHandle;
    readonly params: MoeParams;
  };
}

export type OpName = keyof OpFields;

interface NodeBase {
  readonly id: number;
  /** What the node computes, as llama.cpp names it ("attn_norm", "ffn_out", "result_output"). */
  readonly name: string;
  /** The layer it belongs to, or -1 outside the layers (embeddings, output). */
  readonly layer: number;
  readonly rows: number;
  readonly cols: number;
}

export type NodeOf<K extends OpName> = NodeBase & { readonly op: K } & OpFields[K];
export type GraphNode = { [K in OpName]: NodeOf<K> }[OpName];

/** "attn_norm-3" for a layer node, "result_output" outside the layers (ggml's naming). */
export function nodeLabel(node: GraphNode): string {
  return node.layer >= 0 ? `${node.name}-${node.layer}` : node.name;
}

interface OpRule<K extends OpName> {
  /** The activations the node reads, in order. */
  inputs(n: OpFields[K]): GraphNode[];
  /** The weights it reads. */
  weights(n: OpFields[K]): WeightHandle[];
  /** [rows, cols] of the output; throws (through check) when the operands do not fit. */
  shape(n: OpFields[K], nTokens: number, cols?: number, rows?: number): readonly [number, number];
}

const same = (x: GraphNode) => [x.rows, x.cols] as const;
const present = (...w: (WeightHandle | undefined)[]) => w.filter((v): v is WeightHandle => v !== undefined);

/** The op table. */
export const OPS: { readonly [K in OpName]: OpRule<K> } = {
  embed: {
    inputs: () => [],
    weights: (n) => [n.table],
    shape: (n, t) => [t, n.table.shape[0]!],
  },
  position_embed: {
    inputs: () => [],
    weights: (n) => [n.table],
    shape: (n, t) => [t, n.table.shape[0]!],
  },
  rms_norm: {
    inputs: (n) => [n.x],
    weights: (n) => present(n.weight),
    shape: (n) => {
      check(n.group > 0 && n.x.cols % n.group === 0, `rms_norm group ${n.group} does not divide ${n.x.cols}`);
      if (n.weight) check(n.weight.shape[0] === n.group, `norm weight ${n.weight.name} has ${n.weight.shape[0]} values, not ${n.group}`);
      return same(n.x);
    },
  },
  layer_norm: {
    inputs: (n) => [n.x],
    weights: (n) => present(n.weight, n.bias),
    shape: (n) => {
      for (const w of present(n.weight, n.bias)) check(w.shape[0] === n.x.cols, `${w.name} has ${w.shape[0]} values, not ${n.x.cols}`);
      return same(n.x);
    },
  },
  matmul: {
    inputs: (n) => [n.x],
    weights: (n) => [n.weight],
    shape: (n) => {
      check(n.weight.shape[0] === n.x.cols, `${n.weight.name} expects ${n.weight.shape[0]} inputs, got ${n.x.cols}`);
      check(n.weight.shape.length <= 2, `${n.weight.name} is not a matrix`);
      return [n.x.rows, n.weight.shape[1] ?? 1];
    },
  },
  add: {
    inputs: (n) => [n.a, n.b],
    weights: () => [],
    shape: (n) => {
      check(n.a.rows === n.b.rows && n.a.cols === n.b.cols, `add of [${n.a.rows},${n.a.cols}] and [${n.b.rows},${n.b.cols}]`);
      return same(n.a);
    },
  },
  add_bias: {
    inputs: (n) => [n.x],
    weights: (n) => [n.bias],
    shape: (n) => {
      check(n.bias.shape[0] === n.x.cols, `bias ${n.bias.name} has ${n.bias.shape[0]} values, not ${n.x.cols}`);
      return same(n.x);
    },
  },
  scale: { inputs: (n) => [n.x], weights: () => [], shape: (n) => same(n.x) },
  softcap: {
    inputs: (n) => [n.x],
    weights: () => [],
    shape: (n) => {
      check(n.cap > 0, `soft-cap ${n.cap}`);
      return same(n.x);
    },
  },
  gelu: { inputs: (n) => [n.x], weights: () => [], shape: (n) => same(n.x) },
  glu: {
    inputs: (n) => [n.gate, n.up],
    weights: () => [],
    shape: (n) => {
      check(n.gate.rows === n.up.rows && n.gate.cols === n.up.cols, 'glu operands differ in shape');
      return same(n.gate);
    },
  },
  cols: {
    inputs: (n) => [n.x],
    weights: () => [],
    shape: (n, _t, cols = 0) => {
      check(n.start >= 0 && cols > 0 && n.start + cols <= n.x.cols, `cols ${n.start}+${cols} of ${n.x.cols}`);
      return [n.x.rows, cols];
    },
  },
  rows: {
    inputs: (n) => [n.x],
    weights: () => [],
    shape: (n, _t, _c, rows = 0) => {
      check(n.start >= 0 && rows > 0 && n.start + rows <= n.x.rows, `rows ${n.start}+${rows} of ${n.x.rows}`);
      return [rows, n.x.cols];
    },
  },
  rope: {
    inputs: (n) => [n.x],
    weights: (n) => present(n.params.freqFactors),
    shape: (n) => {
      const p = n.params;
      check(n.x.cols === p.nHead * p.headDim, `rope over ${n.x.cols} values, not ${p.nHead}x${p.headDim}`);
      check(p.nRot > 0 && p.nRot % 2 === 0 && p.nRot <= p.headDim, `rope dims ${p.nRot} for head size ${p.headDim}`);
      if (p.freqFactors) check(p.freqFactors.shape[0] === p.nRot / 2, `${p.freqFactors.name} needs ${p.nRot / 2} values`);
      return same(n.x);
    },
  },
  attention: {
    inputs: (n) => [n.q, n.k, n.v],
    weights: () => [],
    shape: (n) => {
      const { nHead, nKvHead, headDim } = n.params;
      check(nKvHead > 0 && nHead % nKvHead === 0, `${nHead} query heads cannot share ${nKvHead} KV heads`);
      check(n.q.cols === nHead * headDim, 'attention Q width');
      check(n.k.cols === nKvHead * headDim && n.v.cols === nKvHead * headDim, 'attention K/V width');
      check(n.q.rows === n.k.rows && n.k.rows === n.v.rows, 'attention Q/K/V rows differ');
      return same(n.q);
    },
  },
  moe_ffn: {
    inputs: (n) => [n.x, n.logits],
    weights: (n) => [n.gate, n.up, n.down],
    shape: (n) => {
      const [inW, ff, nExpert] = n.gate.shape;
      check(n.gate.shape.length === 3 && inW === n.x.cols, `${n.gate.name} must be [${n.x.cols}, n_ff, n_expert]`);
      check(sameShape(n.up.shape, n.gate.shape), `${n.up.name} differs from ${n.gate.name}`);
      check(sameShape(n.down.shape, [ff!, n.x.cols, nExpert!]), `${n.down.name} must be [${ff}, ${n.x.cols}, ${nExpert}]`);
      check(n.logits.cols === nExpert && n.logits.rows === n.x.rows, 'router logits must be [tokens, n_expert]');
      check(n.params.nUsed > 0 && n.params.nUsed <= nExpert!, `${n.params.nUsed} of ${nExpert} experts`);
      return same(n.x);
    },
  },
};

const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);

export function inputsOf(node: GraphNode): GraphNode[] {
  return (OPS[node.op] as OpRule<OpName>).inputs(node as never);
}

export function weightsOf(node: GraphNode): WeightHandle[] {
  return (OPS[node.op] as OpRule<OpName>).weights(node as never);
}

export interface Graph {
  /** Tokens per run. */
  readonly nTokens: number;
  /** Nodes in execution order: every node comes after its inputs. */
  readonly nodes: readonly GraphNode[];
  readonly output: GraphNode;
}

/**
 * Builds a graph. Every node gets a name and the current layer (set with `layer(il)`), so that
 * inspection, backend comparison and sharding can address it.
 */
export class GraphBuilder {
  readonly #nodes: GraphNode[] = [];
  #layer = -1;

  constructor(readonly nTokens: number) {
    check(Number.isInteger(nTokens) && nTokens > 0, `${nTokens} tokens`);
  }

  /** Nodes added from now on belong to layer `il` (-1: outside the layers). */
  layer(il: number): this {
    this.#layer = il;
    return this;
  }

  /** Adds a node of any op; the typed helpers below are shorthands. */
  node<K extends OpName>(op: K, name: string, fields: OpFields[K], size: { cols?: number; rows?: number } = {}): NodeOf<K> {
    const [rows, cols] = (OPS[op] as OpRule<K>).shape(fields, this.nTokens, size.cols, size.rows);
    const node = { ...fields, op, name, layer: this.#layer, id: this.#nodes.length, rows, cols } as unknown as NodeOf<K>;
    this.#nodes.push(node as GraphNode);
    return node;
  }

  embed(name: string, table: WeightHandle): GraphNode {
    return this.node('embed', name, { table });
  }
  positionEmbed(name: string, table: WeightHandle): GraphNode {
    return this.node('position_embed', name, { table });
  }
  rmsNorm(name: string, x: GraphNode, weight: WeightHandle | undefined, eps: number, group = x.cols): GraphNode {
    return this.node('rms_norm', name, { x, weight, eps, group });
  }
  layerNorm(name: string, x: GraphNode, weight: WeightHandle | undefined, bias: WeightHandle | undefined, eps: number): GraphNode {
    return this.node('layer_norm', name, { x, weight, bias, eps });
  }
  matmul(name: string, x: GraphNode, weight: WeightHandle): GraphNode {
    return this.node('matmul', name, { x, weight });
  }
  add(name: string, a: GraphNode, b: GraphNode): GraphNode {
    return this.node('add', name, { a, b });
  }
  addBias(name: string, x: GraphNode, bias: WeightHandle): GraphNode {
    return this.node('add_bias', name, { x, bias });
  }
  scale(name: string, x: GraphNode, factor: number): GraphNode {
    return this.node('scale', name, { x, factor });
  }
  softcap(name: string, x: GraphNode, cap: number): GraphNode {
    return this.node('softcap', name, { x, cap });
  }
  gelu(name: string, x: GraphNode): GraphNode {
    return this.node('gelu', name, { x });
  }
  glu(name: string, gate: GraphNode, up: GraphNode, act: GluActivation): GraphNode {
    return this.node('glu', name, { gate, up, act });
  }
  cols(name: string, x: GraphNode, start: number, count: number): GraphNode {
    return this.node('cols', name, { x, start }, { cols: count });
  }
  rows(name: string, x: GraphNode, start: number, count: number): GraphNode {
    return this.node('rows', name, { x, start }, { rows: count });
  }
  rope(name: string, x: GraphNode, params: RopeParams): GraphNode {
    return this.node('rope', name, { x, params });
  }
  attention(name: string, q: GraphNode, k: GraphNode, v: GraphNode, params: AttentionParams): GraphNode {
    return this.node('attention', name, { q, k, v, params });
  }
  moeFfn(name: string, x: GraphNode, logits: GraphNode, experts: { gate: WeightHandle; up: WeightHandle; down: WeightHandle }, params: MoeParams): GraphNode {
    return this.node('moe_ffn', name, { x, logits, ...experts, params });
  }

  finish(output: GraphNode): Graph {
    return { nTokens: this.nTokens, nodes: this.#nodes, output };
  }
}

function check(ok: boolean, what: string): asserts ok {
  if (!ok) throw new Error(`invalid graph: ${what}`);
}
