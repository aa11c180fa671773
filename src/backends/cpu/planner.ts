/**
 * Turns a graph into a list of kernel calls over one scratch block.
 *
 * Every intermediate gets a place in the scratch block for exactly its lifetime (from the step
 * that writes it to the last step that reads it), so a prefill of many tokens needs a few
 * activation-sized buffers, not one per node. Matmul inputs are quantized once per input and
 * activation format and shared by every matmul that reads them (Q, K and V; gate and up).
 *
 * Each call may name a splittable range argument pair (rows, heads, tokens): a worker pool can
 * run disjoint sub-ranges in parallel, and the kernels guarantee identical bits for any split.
 */
import { typeName, GGMLType, rowByteSize } from '../../quant/types.js';
import { vecDotType } from '../../quant/index.js';
import type { Graph, GraphNode, WeightHandle } from '../graph.js';
import type { KVCacheType } from '../backend.js';

export interface KernelCall {
  readonly fn: string;
  readonly args: number[];
  /** Indices of a [start, end) range argument pair that may be split across workers. */
  readonly split?: readonly [number, number];
  /** Set on the call that completes a graph node: its id, and where its output lives. */
  readonly completes?: { readonly node: number; readonly ptr: number };
}

export interface Plan {
  readonly steps: readonly KernelCall[];
  /** Scratch bytes the plan needs; pointers in `steps` assume the block at `base`. */
  readonly scratchBytes: number;
  /** Where the caller writes the step's token ids (i32) and positions (i32) before running. */
  readonly tokensPtr: number;
  readonly positionsPtr: number;
  readonly outputPtr: number;
  readonly outputLength: number;
}

/** Where the backend keeps what the graph refers to. */
export interface PlanContext {
  weightPtr(w: WeightHandle): number;
  kv: {
    readonly type: KVCacheType;
    readonly contextSize: number;
    keys(layer: number): number;
    values(layer: number): number;
  };
  /** Scratch bytes one attention call needs (from the kernel module). */
  attentionScratchBytes(nKv: number, headDim: number): number;
  /** Makes a scratch block of at least `bytes` and returns its address. */
  reserveScratch(bytes: number): number;
}

const f32Bytes = (n: GraphNode) => n.rows * n.cols * 4;
const lower = (type: number) => typeName(type).toLowerCase();

/** First-fit placement of buffers inside the scratch block. */
class ScratchLayout {
  readonly #free: { at: number; bytes: number }[] = [];
  top = 0;

  place(bytes: number): number {
    const size = Math.ceil(bytes / 64) * 64;
    const i = this.#free.findIndex((f) => f.bytes >= size);
    if (i < 0) {
      const at = this.top;
      this.top += size;
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
  }
}

/** A call whose pointer arguments at `relative` indices are offsets into the scratch block. */
interface PendingCall extends KernelCall {
  readonly relative: readonly number[];
  completes?: { readonly node: number; readonly ptr: number };
}

/** The inputs each node reads. */
function inputsOf(n: GraphNode): GraphNode[] {
  switch (n.op) {
    case 'embed':
      return [];
    case 'rms_norm':
    case 'matmul':
    case 'rope':
    case 'rows':
      return [n.x];
    case 'add':
      return [n.a, n.b];
    case 'attention':
      return [n.q, n.k, n.v];
    case 'swiglu':
      return [n.gate, n.up];
  }
}

/** The activation format a matmul over this weight needs, or undefined for plain f32. */
function activationType(w: WeightHandle): number | undefined {
  return w.type === GGMLType.F32 ? undefined : vecDotType(w.type);
}

export function planGraph(graph: Graph, ctx: PlanContext): Plan {
  const layout = new ScratchLayout();
  const calls: PendingCall[] = [];
  const n = graph.nTokens;

  // The last step at which each node's value (or a quantized copy of it) is read, and, by step,
  // the buffers that become free after it.
  const lastUse = new Map<string, number>();
  graph.nodes.forEach((node, i) => {
    for (const input of inputsOf(node)) {
      lastUse.set(`${input.id}`, i);
      if (node.op === 'matmul' && activationType(node.weight) !== undefined) {
        lastUse.set(`${input.id}:${activationType(node.weight)}`, i);
      }
    }
  });
  const freedAfter: string[][] = graph.nodes.map(() => []);
  for (const [key, step] of lastUse) freedAfter[step]!.push(key);

  const placed = new Map<string, { at: number; bytes: number }>();
  const place = (key: string, bytes: number) => {
    const at = layout.place(bytes);
    placed.set(key, { at, bytes });
    return at;
  };
  const at = (node: GraphNode) => placed.get(`${node.id}`)!.at;

  const tokensPtr = layout.place(n * 4);
  const positionsPtr = layout.place(n * 4);
  const call = (fn: string, args: number[], relative: number[], split?: [number, number]) =>
    calls.push({ fn, args, relative, split });

  graph.nodes.forEach((node, step) => {
    // Quantized copies of matmul inputs are made just before their first reader.
    if (node.op === 'matmul') {
      const act = activationType(node.weight);
      const key = `${node.x.id}:${act}`;
      if (act !== undefined && !placed.has(key)) {
        const bytes = node.x.rows * rowByteSize(act, node.x.cols);
        const q = place(key, bytes);
        call(`quantize_${lower(act)}`, [at(node.x), q, node.x.rows, node.x.cols], [0, 1]);
      }
    }
    const out = place(`${node.id}`, f32Bytes(node));
    emit(node, out);
    calls[calls.length - 1]!.completes = { node: node.id, ptr: out };
    for (const key of freedAfter[step]!) {
      const p = placed.get(key)!;
      layout.release(p.at, p.bytes);
    }
  });

  function emit(node: GraphNode, out: number): void {
    switch (node.op) {
      case 'embed': {
        const table = node.table;
        call(`dequantize_rows_${lower(table.type)}`, [ctx.weightPtr(table), tokensPtr, n, node.cols, out], [1, 4]);
        return;
      }
      case 'rms_norm': {
        const rows = (node.rows * node.cols) / node.group;
        const w = node.weight ? ctx.weightPtr(node.weight) : 0;
        call('rms_norm_f32', [at(node.x), w, out, node.group, node.eps, 0, rows], [0, 2], [5, 6]);
        return;
      }
      case 'matmul': {
        const w = node.weight;
        const act = activationType(w);
        const x = act === undefined ? at(node.x) : placed.get(`${node.x.id}:${act}`)!.at;
        const m = node.cols;
        call(`matmul_${lower(w.type)}`, [ctx.weightPtr(w), x, out, node.x.cols, m, 0, m, node.rows], [1, 2], [5, 6]);
        return;
      }
      case 'add':
        call('add_f32', [at(node.a), at(node.b), out, node.rows * node.cols], [0, 1, 2]);
        return;
      case 'rope': {
        const p = node.params;
        const ff = p.freqFactors ? ctx.weightPtr(p.freqFactors) : 0;
        call(
          `rope_${p.mode}_f32`,
          [at(node.x), node.cols, out, node.cols, positionsPtr, p.nHead, p.headDim, p.nRot, p.freqBase, p.freqScale, ff, 0, node.rows],
          [0, 2, 4],
          [11, 12],
        );
        return;
      }
      case 'attention': {
        const p = node.params;
        const kv = ctx.kv;
        const kc = kv.keys(p.layer);
        const vc = kv.values(p.layer);
        const store = `kv_store_${kv.type}`;
        call(store, [at(node.k), node.k.cols, kc, n, p.nKvHead, p.headDim, kv.contextSize, graph.pos0], [0]);
        call(store, [at(node.v), node.v.cols, vc, n, p.nKvHead, p.headDim, kv.contextSize, graph.pos0], [0]);
        const scratchBytes = ctx.attentionScratchBytes(graph.pos0 + n, p.headDim);
        const scratch = layout.place(scratchBytes);
        call(
          `attention_${kv.type}kv`,
          [at(node.q), kc, vc, out, scratch, n, graph.pos0, p.nHead, p.nKvHead, p.headDim, kv.contextSize, p.scale, p.window, p.softcap, 0, p.nHead],
          [0, 3, 4],
          [14, 15],
        );
        layout.release(scratch, scratchBytes);
        return;
      }
      case 'swiglu':
        call('swiglu_f32', [at(node.gate), at(node.up), out, node.rows * node.cols], [0, 1, 2]);
        return;
      case 'rows':
        call('copy_f32', [at(node.x) + node.start * node.cols * 4, out, node.rows * node.cols], [0, 1]);
        return;
    }
  }

  const scratchBytes = layout.top;
  const base = ctx.reserveScratch(scratchBytes);
  const steps = calls.map(({ fn, args, relative, split, completes }) => {
    const bound = args.slice();
    for (const i of relative) bound[i] = bound[i]! + base;
    return { fn, args: bound, split, completes: completes && { node: completes.node, ptr: completes.ptr + base } };
  });
  return {
    steps,
    scratchBytes,
    tokensPtr: base + tokensPtr,
    positionsPtr: base + positionsPtr,
    outputPtr: base + at(graph.output),
    outputLength: graph.output.rows * graph.output.cols,
  };
}
