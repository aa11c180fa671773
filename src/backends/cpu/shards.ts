/**
 * How a model is spread over several Wasm memories. AssemblyScript emits wasm32 only, so one
 * kernel instance addresses at most 4 GiB; a bigger model gets several memories (shards), each
 * with its own kernel instance, holding whole layers: their weights and their part of the KV
 * cache. Activations pass between memories where consecutive nodes live in different ones
 * (segments.ts), which for a layered model is once per shard boundary.
 *
 * The layout is planned once, from the model's largest graph, its tensors and its KV cache:
 * - nodes group into units: the nodes before the first layer, each layer, the nodes after it;
 * - a matrix lives with the last unit that reads it (a tied embedding table with the output
 *   head), and every node that reads it runs there; vectors (norm weights, rope factors: small)
 *   are copied into each memory whose nodes read them;
 * - units are packed in order into memories of a given budget.
 * Tests can instead spread the nodes round-robin over n memories (`interleave`), so that every
 * op's inputs cross memories.
 */
import { WasmChordError } from '../../errors.js';
import { formatBytes } from '../../format.js';
import type { GGUFTensorInfo } from '../../gguf/reader.js';
import { kvLayerBytes, type KVCacheSpec } from '../backend.js';
import { inputsOf, isVectorShape, weightsOf, type Graph, type GraphNode } from '../graph.js';

export type TensorSpan = Pick<GGUFTensorInfo, 'name' | 'offset' | 'byteLength' | 'shape'>;

export interface ShardOptions {
  /** Bytes of weights and KV cache one memory may hold (its fixed part excluded). */
  readonly budget: number;
  /** Spread the nodes round-robin over this many memories, ignoring the budget (tests). */
  readonly interleave?: number;
}

/** Where each tensor, KV layer and node lives. */
export class ShardLayout {
  private constructor(
    readonly count: number,
    readonly interleaved: boolean,
    /** Memories holding each tensor. */
    readonly homes: ReadonlyMap<string, readonly number[]>,
    /** Memory of each KV cache layer. */
    readonly kvShards: readonly number[],
    /** Memory of each layer's nodes (layouts by layer). */
    readonly layerShards: readonly number[],
  ) {}

  /** Everything in one memory. */
  static single(): ShardLayout {
    return new ShardLayout(1, false, new Map(), [], []);
  }

  static plan(graph: Graph, tensors: readonly TensorSpan[], kv: KVCacheSpec, options: ShardOptions): ShardLayout {
    const nodes = graph.nodes;
    const nLayers = Math.max(0, ...nodes.map((n) => n.layer + 1));
    const firstLayerNode = nodes.findIndex((n) => n.layer >= 0);
    const interleave = options.interleave;
    // Units, in execution order: 0 before the layers, 1 + l for layer l, nLayers + 1 after them;
    // or one unit per node when interleaving.
    const unitOf = (n: GraphNode, i: number) => (interleave ? i : n.layer >= 0 ? n.layer + 1 : firstLayerNode >= 0 && i > firstLayerNode ? nLayers + 1 : 0);
    const units = interleave ? nodes.length : nLayers + 2;
    const bytes = new Array<number>(units).fill(0);
    const byName = new Map(tensors.map((t) => [t.name, t]));
    const tensorBytes = (name: string) => byName.get(name)?.byteLength ?? 0;

    const matrixUnit = new Map<string, number>();
    const vectorUnits = new Map<string, Set<number>>();
    const kvUnit: number[] = [];
    nodes.forEach((n, i) => {
      const u = unitOf(n, i);
      for (const w of weightsOf(n)) {
        if (isVectorShape(w.shape)) {
          if (!vectorUnits.has(w.name)) vectorUnits.set(w.name, new Set());
          vectorUnits.get(w.name)!.add(u);
        } else matrixUnit.set(w.name, Math.max(u, matrixUnit.get(w.name) ?? 0));
      }
      if (n.op === 'attention') kvUnit[n.params.layer] = u;
    });
    for (const [name, u] of matrixUnit) bytes[u]! += tensorBytes(name);
    for (const [name, us] of vectorUnits) for (const u of us) bytes[u]! += tensorBytes(name);
    kv.layers.forEach((layer, l) => (bytes[kvUnit[l] ?? 0]! += 2 * kvLayerBytes(kv, layer)));

    const shardOfUnit = interleave ? bytes.map((_, u) => u % interleave) : pack(bytes, options.budget, (u) => unitName(u, nLayers));
    const count = Math.max(1, ...shardOfUnit.map((s) => s + 1));
    const homes = new Map<string, number[]>();
    const addHome = (name: string, shard: number) => {
      const h = homes.get(name) ?? [];
      if (!h.includes(shard)) homes.set(name, [...h, shard].sort((a, b) => a - b));
    };
    for (const [name, u] of matrixUnit) addHome(name, shardOfUnit[u]!);
    for (const [name, us] of vectorUnits) for (const u of us) addHome(name, shardOfUnit[u]!);
    const kvShards = kv.layers.map((_, l) => shardOfUnit[kvUnit[l] ?? 0]!);
    // A KV layer's rope factors serve context shifts there; tensors no node reads stay in memory 0.
    kv.layers.forEach((layer, l) => layer.rope?.freqFactors && addHome(layer.rope.freqFactors.name, kvShards[l]!));
    for (const t of tensors) if (!homes.has(t.name)) addHome(t.name, 0);
    const layerShards = Array.from({ length: nLayers }, (_, l) => shardOfUnit[l + 1]!);
    return new ShardLayout(count, interleave !== undefined, homes, kvShards, layerShards);
  }

  /** The memories holding a tensor. */
  homesOf(name: string): readonly number[] {
    return this.homes.get(name) ?? [0];
  }

  kvShard(layer: number): number {
    return this.kvShards[layer] ?? 0;
  }

  /**
   * The memory each node of `graph` runs in (by position in graph.nodes): where its weights (or
   * its KV layer) are; otherwise with its layer, or with its first input.
   */
  place(graph: Graph): number[] {
    const shardOf = new Map<number, number>();
    return graph.nodes.map((node, i) => {
      let candidates: readonly number[] | undefined = node.op === 'attention' ? [this.kvShard(node.params.layer)] : undefined;
      for (const w of weightsOf(node)) {
        const h = this.homesOf(w.name);
        candidates = candidates ? candidates.filter((s) => h.includes(s)) : h;
      }
      const input = inputsOf(node)[0];
      const preferred = this.interleaved
        ? i % this.count
        : node.layer >= 0
          ? (this.layerShards[node.layer] ?? 0)
          : input
            ? shardOf.get(input.id)!
            : 0;
      if (candidates && candidates.length === 0) {
        throw new WasmChordError('INVALID_ARGUMENT', `node ${node.name} reads weights that were loaded into different memories`);
      }
      const shard = !candidates || candidates.includes(preferred) ? preferred : candidates[0]!;
      shardOf.set(node.id, shard);
      return shard;
    });
  }
}

/** Packs units in order into memories of `budget` bytes each: the memory of each unit. */
function pack(bytes: readonly number[], budget: number, name: (unit: number) => string): number[] {
  let shard = 0;
  let used = 0;
  return bytes.map((b, u) => {
    if (b > budget) {
      throw new WasmChordError('OUT_OF_MEMORY', `${name(u)} needs ${formatBytes(b)} of Wasm memory; one memory holds ${formatBytes(Math.max(0, budget))} besides the kernels and scratch`);
    }
    if (used > 0 && used + b > budget) {
      shard++;
      used = 0;
    }
    used += b;
    return shard;
  });
}

function unitName(unit: number, nLayers: number): string {
  return unit === 0 ? 'the input embeddings' : unit > nLayers ? 'the output head' : `layer ${unit - 1}`;
}

/** A byte range of the file loaded as one block, and the tensors in it. */
export interface WeightRun {
  readonly start: number;
  readonly end: number;
  readonly tensors: readonly TensorSpan[];
}

/** Gaps up to this size (alignment, small tensors kept elsewhere) are loaded with their neighbours. */
const RUN_GAP = 1 << 16;

/**
 * The blocks that hold `tensors`: runs of them in file order, split where the file holds more
 * than a little of something else in between (another memory's layers), so that no memory
 * holds another's weights.
 */
export function weightRuns(tensors: readonly TensorSpan[]): WeightRun[] {
  const runs: { start: number; end: number; tensors: TensorSpan[] }[] = [];
  for (const t of [...tensors].sort((a, b) => a.offset - b.offset)) {
    const last = runs[runs.length - 1];
    if (last && t.offset - last.end <= RUN_GAP) {
      last.end = Math.max(last.end, t.offset + t.byteLength);
      last.tensors.push(t);
    } else runs.push({ start: t.offset, end: t.offset + t.byteLength, tensors: [t] });
  }
  return runs;
}
