/**
 * Compiles a graph into a list of kernel calls over one scratch block, once per graph shape.
 *
 * Every intermediate gets a place in the scratch block for exactly its lifetime (from the step
 * that writes it to the last step that reads it), so a prefill of many tokens needs a few
 * activation-sized buffers, not one per node. Matmul inputs are quantized once per input and
 * activation format and shared by every matmul that reads them (Q, K and V; gate and up).
 *
 * What changes between runs of a compiled plan (the position pos0, the KV cache pointers and
 * stride, the attention scratch) is not baked in: such arguments are listed as patches and filled
 * in by the backend before each run, so nothing is re-planned per token.
 *
 * Each call may name a splittable range argument pair (rows, heads, tokens): the worker pool
 * runs disjoint sub-ranges in parallel (plan-runner.ts), and the kernels guarantee identical bits
 * for any split. A plan is plain data, so it travels to the workers by structured clone.
 */
import { typeName, rowByteSize } from '../../quant/types.js';
import { activationFormat } from './activations.js';
import { inputsOf, type Graph, type GraphNode, type NodeOf, type OpName, type WeightHandle } from '../graph.js';
import type { KVCacheType } from '../backend.js';
import type { ExpertMatrix, MoeStep } from './moe.js';

/** A run-time value a kernel argument takes (see the module comment). */
export type Patch =
  | { readonly kind: 'pos0' }
  | { readonly kind: 'kvStride' }
  | { readonly kind: 'attentionScratch' }
  | { readonly kind: 'keys' | 'values'; readonly layer: number };

/** A [start, end) range argument pair that workers may share out, and the work it covers. */
export interface Split {
  /** Indices of the start and end arguments. */
  readonly at: readonly [number, number];
  /** About how many multiply-adds (or element operations) the whole range is. */
  readonly work: number;
  /** Lanes' shares start at multiples of this (interleaved weights: a group of rows whole in one lane). */
  readonly align?: number;
  /** Attention: the work per position cached before the step (pos0), added at run time. */
  readonly workPerPosition?: number;
}

export interface KernelCall {
  readonly kind: 'kernel';
  readonly fn: string;
  /** Arguments; scratch offsets at `relative` indices are relative to the scratch block. */
  readonly args: number[];
  readonly relative: readonly number[];
  readonly patches: readonly (readonly [number, Patch])[];
  readonly split?: Split;
  /** Set on the call that completes a graph node: its id, and where its output lives. */
  completes?: { readonly node: number; readonly offset: number };
}

/** A step the host runs itself (data-dependent control flow: expert routing). */
export interface HostCall {
  readonly kind: 'host';
  readonly moe: MoeStep;
  completes?: { readonly node: number; readonly offset: number };
}

export type PlanStep = KernelCall | HostCall;

export interface Plan {
  readonly steps: readonly PlanStep[];
  /** Scratch bytes the plan needs; offsets are relative to the scratch block. */
  readonly scratchBytes: number;
  /** Where the backend writes the step's token ids (i32) and positions (i32) before running. */
  readonly tokensOffset: number;
  readonly positionsOffset: number;
  /** The node whose value the plan's output is (the step's output, in the segment that has it). */
  readonly outputNode: number;
  readonly outputOffset: number;
  readonly outputLength: number;
  /** The KV cache element type the plan was made for. */
  readonly kvType: KVCacheType;
  /** Largest head size of the attention nodes (sizes the attention scratch). */
  readonly maxHeadDim: number;
  /** Positions the learned position tables cover (Infinity without such tables). */
  readonly maxPositions: number;
  /**
   * A plan of part of a graph (one memory's share of a sharded model): the values it reads that
   * other parts compute, copied in before it runs, and the values it computes that later parts
   * read, copied out after. Empty for a whole graph.
   */
  readonly imports: readonly PlacedValue[];
  readonly exports: readonly PlacedValue[];
}

/** A node's value (by id) and where it lives in the scratch block (plans travel to workers: plain data). */
export interface PlacedValue {
  readonly node: number;
  readonly offset: number;
  readonly bytes: number;
}

/** Where the backend keeps what the graph refers to. */
export interface PlanContext {
  weightPtr(w: WeightHandle): number;
  /** Rows per group where the weight's rows are stored interleaved (repack_rows; its kernels are the *_x<group> ones), else 0. */
  interleaveGroup(w: WeightHandle): number;
  /** Bytes of the f16 GELU table the *_ggml kernels read (0 until one is needed). */
  geluTable(): number;
  readonly kvType: KVCacheType;
}

const f32Bytes = (n: GraphNode) => n.rows * n.cols * 4;
const lower = (type: number) => typeName(type).toLowerCase();

/** A 3-D expert tensor of nExpert matrices of `rows` x `k`, as the MoE step reads it. */
function expertMatrix(w: WeightHandle, rows: number, k: number, ctx: PlanContext): ExpertMatrix {
  const act = activationFormat(w.type);
  return {
    ptr: ctx.weightPtr(w),
    expertBytes: rows * rowByteSize(w.type, k),
    matmul: `matmul_${lower(w.type)}`,
    quantize: act && `quantize_${act.name}`,
    inputRowBytes: act ? act.rowBytes(k) : k * 4,
  };
}

/**
 * First-fit placement of buffers inside the scratch block. A free range that reaches the end of
 * what is in use is given back to the end, so a buffer larger than every hole starts in the
 * hole below the end instead of past it (TinyLlama, 128 tokens: 9.8 -> 7.8 MiB).
 */
class ScratchLayout {
  readonly #free: { at: number; bytes: number }[] = [];
  /** End of the buffers in use. */
  #end = 0;
  /** The most `#end` has been: the block's size. */
  top = 0;

  place(bytes: number): number {
    const size = Math.ceil(bytes / 64) * 64;
    const i = this.#free.findIndex((f) => f.bytes >= size);
    if (i < 0) {
      const at = this.#end;
      this.#end += size;
      this.top = Math.max(this.top, this.#end);
      return at;
    }
    const f = this.#free[i]!;
    const at = f.at;
    f.at += size;
    f.bytes -= size;
    if (f.bytes === 0) this.#free.splice(i, 1);
    return at;
  }

  release(at: number, bytes: number): void {
    const size = Math.ceil(bytes / 64) * 64;
    this.#free.push({ at, bytes: size });
    this.#free.sort((a, b) => a.at - b.at);
    for (let i = 0; i + 1 < this.#free.length; ) {
      const a = this.#free[i]!;
      const b = this.#free[i + 1]!;
      if (a.at + a.bytes === b.at) {
        a.bytes += b.bytes;
        this.#free.splice(i + 1, 1);
      } else i++;
    }
    const last = this.#free[this.#free.length - 1]!;
    if (last.at + last.bytes === this.#end) {
      this.#end = last.at;
      this.#free.pop();
    }
  }
}

/**
 * The inputs an element-wise op (each output element from the inputs' same element alone) may
 * write over when one dies at that op: the FFN's activation takes the gate's place, the
 * largest buffer a prompt batch needs (TinyLlama, 128 tokens: 12.8 -> 10.1 MiB of scratch).
 */
const OVERWRITABLE: { readonly [K in OpName]?: (node: NodeOf<K>) => readonly GraphNode[] } = {
  glu: (node) => [node.gate, node.up],
  add: (node) => [node.a, node.b],
};

/** Where each planned buffer lives, and how to add calls. */
interface Emitter {
  readonly n: number;
  readonly ctx: PlanContext;
  readonly tokens: number;
  readonly positions: number;
  at(node: GraphNode): number;
  /** The quantized copy of a matmul input, made by the planner before its first reader. */
  quantized(node: GraphNode, format: string): number;
  /** Temporary scratch that lives only during the current node. */
  temp(bytes: number): number;
  call(fn: string, args: number[], relative: number[], options?: { split?: Split; patches?: [number, Patch][] }): void;
  host(moe: MoeStep): void;
}

type Lowering = { readonly [K in OpName]: (node: NodeOf<K>, out: number, e: Emitter) => void };

/** out[i] = row ids[i] of `table` as f32 (ids: the step's token or position row). */
function lookupRows(table: WeightHandle, ids: number, cols: number, out: number, e: Emitter): void {
  const group = e.ctx.interleaveGroup(table);
  if (group) {
    e.call(`dequantize_rows_${lower(table.type)}_x${group}`, [e.ctx.weightPtr(table), ids, e.n, cols, out, table.shape[1]!], [1, 4]);
  } else e.call(`dequantize_rows_${lower(table.type)}`, [e.ctx.weightPtr(table), ids, e.n, cols, out], [1, 4]);
}

/** How each op becomes kernel calls (exhaustive over the op table). */
const LOWER: Lowering = {
  embed: (node, out, e) => lookupRows(node.table, e.tokens, node.cols, out, e),
  position_embed: (node, out, e) => lookupRows(node.table, e.positions, node.cols, out, e),
  rms_norm: (node, out, e) => {
    const rows = (node.rows * node.cols) / node.group;
    const w = node.weight ? e.ctx.weightPtr(node.weight) : 0;
    e.call('rms_norm_f32', [e.at(node.x), w, out, node.group, node.eps, 0, rows], [0, 2], { split: { at: [5, 6], work: rows * node.group } });
  },
  layer_norm: (node, out, e) => {
    const w = node.weight ? e.ctx.weightPtr(node.weight) : 0;
    const b = node.bias ? e.ctx.weightPtr(node.bias) : 0;
    e.call('layer_norm_f32', [e.at(node.x), w, b, out, node.cols, node.eps, 0, node.rows], [0, 3], { split: { at: [6, 7], work: node.rows * node.cols } });
  },
  matmul: (node, out, e) => {
    const w = node.weight;
    const act = activationFormat(w.type);
    const x = act ? e.quantized(node.x, act.name) : e.at(node.x);
    const m = node.cols;
    const group = e.ctx.interleaveGroup(w);
    e.call(`matmul_${lower(w.type)}${group ? `_x${group}` : ''}`, [e.ctx.weightPtr(w), x, out, node.x.cols, m, 0, m, node.rows], [1, 2], {
      split: { at: [5, 6], work: m * node.x.cols * node.rows, align: group || undefined },
    });
  },
  add: (node, out, e) => e.call('add_f32', [e.at(node.a), e.at(node.b), out, node.rows * node.cols], [0, 1, 2]),
  add_bias: (node, out, e) =>
    e.call('add_row_f32', [e.at(node.x), e.ctx.weightPtr(node.bias), out, node.cols, node.rows], [0, 2]),
  scale: (node, out, e) => e.call('scale_f32', [e.at(node.x), out, node.rows * node.cols, node.factor], [0, 1]),
  softcap: (node, out, e) => e.call('softcap_f32', [e.at(node.x), out, node.rows * node.cols, node.cap], [0, 1]),
  gelu: (node, out, e) => e.call('gelu_ggml_f32', [e.at(node.x), out, node.rows * node.cols, e.ctx.geluTable()], [0, 1]),
  glu: (node, out, e) => {
    const n = node.rows * node.cols;
    if (node.act === 'silu') e.call('swiglu_f32', [e.at(node.gate), e.at(node.up), out, n], [0, 1, 2]);
    else e.call('geglu_ggml_f32', [e.at(node.gate), e.at(node.up), out, n, e.ctx.geluTable()], [0, 1, 2]);
  },
  cols: (node, out, e) =>
    e.call('copy_rows_f32', [e.at(node.x) + node.start * 4, node.x.cols, out, node.cols, node.cols, node.rows], [0, 2]),
  rows: (node, out, e) => e.call('copy_f32', [e.at(node.x) + node.start * node.cols * 4, out, node.rows * node.cols], [0, 1]),
  rope: (node, out, e) => {
    const p = node.params;
    const ff = p.freqFactors ? e.ctx.weightPtr(p.freqFactors) : 0;
    e.call(
      `rope_${p.mode}_f32`,
      [e.at(node.x), node.cols, out, node.cols, e.positions, p.nHead, p.headDim, p.nRot, p.freqBase, p.freqScale, ff, 0, node.rows],
      [0, 2, 4],
      { split: { at: [11, 12], work: node.rows * node.cols } },
    );
  },
  attention: (node, out, e) => {
    const p = node.params;
    const store = `kv_store_${e.ctx.kvType}`;
    for (const [src, kind] of [[node.k, 'keys'], [node.v, 'values']] as const) {
      e.call(store, [e.at(src), src.cols, 0, e.n, p.nKvHead, p.headDim, 0, 0], [0], {
        patches: [
          [2, { kind, layer: p.layer }],
          [6, { kind: 'kvStride' }],
          [7, { kind: 'pos0' }],
        ],
      });
    }
    e.call(
      `attention_${e.ctx.kvType}kv`,
      [e.at(node.q), 0, 0, out, 0, e.n, 0, p.nHead, p.nKvHead, p.headDim, 0, p.scale, p.window, p.softcap, 0, p.nHead],
      [0, 3],
      {
        // Scores and the weighted sum: 2 multiply-adds per head element and position attended,
        // about n/2 of this step's positions per token, and all pos0 earlier ones.
        split: { at: [14, 15], work: e.n * e.n * p.nHead * p.headDim, workPerPosition: 2 * e.n * p.nHead * p.headDim },
        patches: [
          [1, { kind: 'keys', layer: p.layer }],
          [2, { kind: 'values', layer: p.layer }],
          [4, { kind: 'attentionScratch' }],
          [6, { kind: 'pos0' }],
          [10, { kind: 'kvStride' }],
        ],
      },
    );
  },
  moe_ffn: (node, out, e) => {
    const [nEmbd, nFf, nExpert] = node.gate.shape as [number, number, number];
    const { nUsed } = node.params;
    const gate = expertMatrix(node.gate, nFf, nEmbd, e.ctx);
    const up = expertMatrix(node.up, nFf, nEmbd, e.ctx);
    const down = expertMatrix(node.down, nEmbd, nFf, e.ctx);
    e.host({
      x: e.at(node.x),
      logits: e.at(node.logits),
      out,
      rows: node.rows,
      nEmbd,
      nFf,
      nExpert,
      params: node.params,
      gate,
      up,
      down,
      scratch: {
        xq: e.temp(gate.quantize ? node.rows * gate.inputRowBytes : 0),
        xqUp: e.temp(up.quantize && up.quantize !== gate.quantize ? node.rows * up.inputRowBytes : 0),
        gate: e.temp(nUsed * nFf * 4),
        up: e.temp(nUsed * nFf * 4),
        hq: e.temp(down.quantize ? nUsed * down.inputRowBytes : 0),
        down: e.temp(nUsed * nEmbd * 4),
      },
      geluTable: node.params.act === 'gelu' ? e.ctx.geluTable() : 0,
    });
  },
};

/**
 * Plans `graph`, or a part of one: nodes whose inputs are not among `graph.nodes` read values
 * imported from elsewhere, and `exports` stay in place until the plan ends.
 */
export function planGraph(graph: Graph, ctx: PlanContext, exports: readonly GraphNode[] = []): Plan {
  const layout = new ScratchLayout();
  const steps: PlanStep[] = [];
  const n = graph.nTokens;

  // The last step at which each node's value (or a quantized copy of it) is read, and, by step,
  // the buffers that become free after it.
  const lastUse = new Map<string, number>();
  // A matmul that reads a quantized copy needs the f32 value only where the copy is made, at
  // the first such reader.
  graph.nodes.forEach((node, i) => {
    for (const input of inputsOf(node)) {
      const act = node.op === 'matmul' ? activationFormat(node.weight.type) : undefined;
      const copy = `${input.id}:${act?.name}`;
      if (!act || !lastUse.has(copy)) lastUse.set(`${input.id}`, i);
      if (act) lastUse.set(copy, i);
    }
  });
  for (const node of exports) lastUse.delete(`${node.id}`);
  const freedAfter: string[][] = graph.nodes.map(() => []);
  for (const [key, step] of lastUse) freedAfter[step]!.push(key);

  const placed = new Map<string, { at: number; bytes: number }>();
  const place = (key: string, bytes: number) => {
    const at = layout.place(bytes);
    placed.set(key, { at, bytes });
    return at;
  };
  const at = (node: GraphNode) => placed.get(`${node.id}`)!.at;
  /** The place of an input `node` may write over (OVERWRITABLE), now `node`'s, or undefined. */
  const overwrite = (node: GraphNode, step: number): number | undefined => {
    const inputs = (OVERWRITABLE[node.op] as ((n: GraphNode) => readonly GraphNode[]) | undefined)?.(node) ?? [];
    const dying = freedAfter[step]!;
    for (const input of inputs) {
      const key = `${input.id}`;
      const p = placed.get(key)!;
      const i = dying.indexOf(key);
      if (i < 0 || p.bytes !== f32Bytes(node)) continue;
      dying.splice(i, 1);
      placed.set(`${node.id}`, p);
      return p.at;
    }
    return undefined;
  };
  let temps: { at: number; bytes: number }[] = [];
  let maxHeadDim = 0;
  let maxPositions = Infinity;

  const emitter: Emitter = {
    n,
    ctx,
    tokens: layout.place(n * 4),
    positions: layout.place(n * 4),
    at,
    quantized: (node, format) => placed.get(`${node.id}:${format}`)!.at,
    temp: (bytes) => {
      const t = { at: layout.place(bytes), bytes };
      temps.push(t);
      return t.at;
    },
    call: (fn, args, relative, { split, patches = [] } = {}) => steps.push({ kind: 'kernel', fn, args, relative, split, patches }),
    host: (moe) => steps.push({ kind: 'host', moe }),
  };

  const own = new Set(graph.nodes.map((node) => node.id));
  const imports = new Map<number, GraphNode>();
  for (const node of graph.nodes) for (const input of inputsOf(node)) if (!own.has(input.id)) imports.set(input.id, input);
  for (const node of imports.values()) place(`${node.id}`, f32Bytes(node));

  graph.nodes.forEach((node, step) => {
    // Quantized copies of matmul inputs are made just before their first reader.
    if (node.op === 'matmul') {
      const act = activationFormat(node.weight.type);
      const key = `${node.x.id}:${act?.name}`;
      if (act && !placed.has(key)) {
        const q = place(key, node.x.rows * act.rowBytes(node.x.cols));
        emitter.call(`quantize_${act.name}`, [at(node.x), q, node.x.rows, node.x.cols], [0, 1]);
      }
    }
    if (node.op === 'attention') maxHeadDim = Math.max(maxHeadDim, node.params.headDim);
    if (node.op === 'position_embed') maxPositions = Math.min(maxPositions, node.table.shape[1] ?? 1);
    const out = overwrite(node, step) ?? place(`${node.id}`, f32Bytes(node));
    (LOWER[node.op] as (n: GraphNode, out: number, e: Emitter) => void)(node, out, emitter);
    steps[steps.length - 1]!.completes = { node: node.id, offset: out };
    for (const t of temps) layout.release(t.at, t.bytes);
    temps = [];
    for (const key of freedAfter[step]!) {
      const p = placed.get(key)!;
      layout.release(p.at, p.bytes);
    }
  });

  return {
    steps,
    scratchBytes: layout.top,
    tokensOffset: emitter.tokens,
    positionsOffset: emitter.positions,
    outputNode: graph.output.id,
    outputOffset: at(graph.output),
    outputLength: graph.output.rows * graph.output.cols,
    kvType: ctx.kvType,
    maxHeadDim,
    maxPositions,
    imports: [...imports.values()].map((node) => ({ node: node.id, offset: at(node), bytes: f32Bytes(node) })),
    exports: exports.map((node) => ({ node: node.id, offset: at(node), bytes: f32Bytes(node) })),
  };
}
