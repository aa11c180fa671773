/**
 * Backend comparison (DESIGN principle 4): runs the same graphs on two backends, node by node
 * through RunOptions.inspect, and names the first node whose output is wrong beyond its op's
 * bound (op-tolerances.ts).
 *
 * Comparing the two outputs directly would blame every op downstream of a legitimate difference:
 * a quantized matmul's 8-bit activations (NMSE ~1e-5) are far past the 1e-7 of the rope that
 * follows it. So each node is judged on its own: the reference backend re-evaluates the node on
 * the inputs *that backend* computed (and on that backend's KV cache, copied through readKV),
 * and the backend's output must lie within the op's bound of that. The two backends' outputs at
 * the node, one against the other, are reported beside it.
 */
import { WasmChordError } from '../errors.js';
import { openByteSource, type ByteSourceInput } from '../gguf/open-source.js';
import { readGGUF } from '../gguf/reader.js';
import type { Backend, CompiledGraph, KVCacheHandle, KVCacheType, StepInput } from './backend.js';
import { inputsOf, nodeLabel, type Graph, type GraphNode, type OpName } from './graph.js';
import { boundFor, measureError, withinBound, type ErrorFigures, type OpBound } from './op-tolerances.js';
import { ReferenceBackend } from './reference/backend.js';

/** One backend under comparison, with the KV cache its steps append to. */
export interface Side {
  readonly name: string;
  readonly backend: Backend;
  readonly cache: KVCacheHandle;
}

export interface NodeCheck {
  /** nodeLabel: "attn_norm-3", "result_output". */
  readonly label: string;
  readonly op: OpName;
  /** Which side (its name) this check judges. */
  readonly backend: string;
  /** The side's output against the reference op evaluated on the side's own inputs. */
  readonly local: ErrorFigures;
  readonly bound: OpBound;
}

export interface Divergence extends NodeCheck {
  readonly pos0: number;
  readonly nTokens: number;
  /** The two backends' outputs at this node, one against the other (expected: the reference side if any, else the first). */
  readonly between: ErrorFigures;
}

export interface StepResult {
  readonly pos0: number;
  readonly nTokens: number;
  /** Every node of every judged side, in graph order. */
  readonly checks: readonly NodeCheck[];
  /** The first node (in graph order) outside its bound. */
  readonly divergence?: Divergence;
  /** The graph outputs, one backend against the other. */
  readonly output: ErrorFigures;
}

/**
 * Runs steps on two sides and judges every node of each side with `judge` (a reference backend
 * holding the same weights). A side whose backend is the judge itself is exact by definition.
 */
export class BackendComparison {
  readonly #compiled = new Map<Backend, Map<Graph, CompiledGraph>>();
  /** Per judged side, the judge's copy of that side's KV cache. */
  readonly #mirrors = new Map<Side, KVCacheHandle>();

  constructor(
    readonly sides: readonly [Side, Side],
    readonly judge: ReferenceBackend,
  ) {}

  async step(graph: Graph, input: StepInput): Promise<StepResult> {
    const outputs: Map<number, Float32Array>[] = [];
    for (const side of this.sides) {
      const values = new Map<number, Float32Array>();
      await side.backend.run(this.#compile(side.backend, graph), input, side.cache, { inspect: (node, v) => values.set(node.id, v) });
      outputs.push(values);
    }
    const judged = await Promise.all(this.sides.map((side, i) => (side.backend === this.judge ? undefined : this.#judge(side, outputs[i]!, graph, input))));
    // The expected side of direct comparisons: the judge when it is one of the two.
    const [e, a] = this.sides[1].backend === this.judge ? [1, 0] : [0, 1];
    const between = (node: GraphNode) => measureError(outputs[e]!.get(node.id) ?? [], outputs[a]!.get(node.id) ?? []);
    const checks: NodeCheck[] = [];
    let divergence: Divergence | undefined;
    graph.nodes.forEach((node, i) => {
      for (const side of judged) {
        const check = side?.[i];
        if (!check) continue;
        checks.push(check);
        if (!divergence && !withinBound(check.local, check.bound)) divergence = { ...check, pos0: input.pos0, nTokens: input.tokens.length, between: between(node) };
      }
    });
    return { pos0: input.pos0, nTokens: input.tokens.length, checks, divergence, output: between(graph.output) };
  }

  /** Every node of one side against the judge's evaluation of it on that side's inputs. */
  async #judge(side: Side, values: Map<number, Float32Array>, graph: Graph, input: StepInput): Promise<NodeCheck[]> {
    let mirror = this.#mirrors.get(side);
    if (!mirror) {
      mirror = this.judge.createKVCache(side.cache.spec);
      this.#mirrors.set(side, mirror);
    }
    // The state each attention node saw: the side's cache up to this step's end. (Each attention
    // node rewrites its own step's keys and values from its inputs before attending.)
    const n = input.pos0 + input.tokens.length;
    this.judge.writeKV(mirror, n, await side.backend.readKV(side.cache, n));
    return graph.nodes.map((node) => {
      const check = { label: nodeLabel(node), op: node.op, backend: side.name };
      const actual = values.get(node.id);
      // A node the backend never reported fails (and so does every node reading it).
      if (!actual || inputsOf(node).some((m) => !values.has(m.id))) {
        return { ...check, local: { nmse: Infinity, maxAbs: Infinity }, bound: boundFor(node, { maxPosition: 0, activationQuantization: () => 0 }) };
      }
      const value = (m: GraphNode) => values.get(m.id)!;
      const expected = this.judge.evaluate(node, value, input, mirror);
      const bound = boundFor(node, {
        maxPosition: input.pos0 + input.tokens.length - 1,
        // Only matmul-like rules ask, and those nodes have no side effects to repeat.
        activationQuantization: () => measureError(expected, this.judge.evaluate(node, value, input, mirror, { ggmlActivations: true })).nmse,
      });
      return { ...check, local: measureError(expected, actual), bound };
    });
  }

  #compile(backend: Backend, graph: Graph): CompiledGraph {
    let byGraph = this.#compiled.get(backend);
    if (!byGraph) this.#compiled.set(backend, (byGraph = new Map()));
    let c = byGraph.get(graph);
    if (!c) byGraph.set(graph, (c = backend.compile(graph)));
    return c;
  }

  /** Releases the judge's mirror caches. */
  dispose(): void {
    for (const mirror of this.#mirrors.values()) this.judge.releaseKVCache(mirror);
    this.#mirrors.clear();
  }
}

export interface CompareOptions {
  /** The model: a path, URL, bytes or ByteSource. */
  readonly model: ByteSourceInput;
  /** Prompt token ids. */
  readonly tokens: readonly number[];
  /** The two backends, fresh (the model's weights are loaded into them), with display names. */
  readonly backends: readonly [{ name: string; backend: Backend }, { name: string; backend: Backend }];
  /** The judge; one of the two when it is a reference backend, else a fresh one is made. */
  readonly judge?: ReferenceBackend;
  readonly kvType?: KVCacheType;
}

export interface StepSummary {
  readonly pos0: number;
  readonly nTokens: number;
  readonly nodes: number;
  /** The node closest to its bound (largest NMSE / bound). */
  readonly worst?: NodeCheck;
  readonly output: ErrorFigures;
}

export interface CompareReport {
  readonly agree: boolean;
  readonly backends: readonly [string, string];
  readonly kvType: KVCacheType;
  readonly tokens: number;
  readonly steps: readonly StepSummary[];
  readonly divergence?: Divergence;
  /** Per op, the largest local NMSE seen, with its bound. */
  readonly ops: Partial<Record<OpName, { readonly nmse: number; readonly maxAbs: number; readonly bound: number }>>;
}

/**
 * Loads a model into two backends and runs the prompt on both: all but the last token as one
 * step (a prefill), then the last token alone (a decode step at pos0 > 0), as the engine does.
 * Stops at the first step with a divergence.
 */
export async function compareBackends(options: CompareOptions): Promise<CompareReport> {
  const { tokens, backends } = options;
  const kvType = options.kvType ?? 'f32';
  if (tokens.length === 0) throw new WasmChordError('INVALID_ARGUMENT', 'the prompt has no tokens');
  const ownJudge = options.judge === undefined;
  const judge = options.judge ?? ReferenceBackend.create();
  const source = await openByteSource(options.model);
  let comparison: BackendComparison | undefined;
  try {
    const file = await readGGUF(source);
    // Loaded here only: comparing graphs (the conformance suite) needs no architecture registry.
    const { defineModel } = await import('../model/model.js');
    const model = defineModel(file);
    // Checked here: a backend may not check ids (the CPU reads past its table).
    const bad = tokens.find((t) => !(Number.isInteger(t) && t >= 0 && t < model.vocabSize));
    if (bad !== undefined) throw new WasmChordError('INVALID_ARGUMENT', `token id ${bad} is outside the vocabulary of ${model.vocabSize}`);
    for (const b of new Set([...backends.map((s) => s.backend), judge])) await b.loadWeights(file, model.tensors);
    const spec = { contextSize: tokens.length, type: kvType, layers: model.kvLayers };
    const side = (b: CompareOptions['backends'][number]): Side => ({ ...b, cache: b.backend.createKVCache(spec) });
    const sides: [Side, Side] = [side(backends[0]), side(backends[1])];
    comparison = new BackendComparison(sides, judge);
    const steps: StepSummary[] = [];
    const ops: CompareReport['ops'] = {};
    let divergence: Divergence | undefined;
    const split = tokens.length > 1 ? [tokens.length - 1, 1] : [1];
    let pos0 = 0;
    for (const nTokens of split) {
      const graph = model.buildGraph({ nTokens, allLogits: false });
      const r = await comparison.step(graph, { tokens: Int32Array.from(tokens.slice(pos0, pos0 + nTokens)), pos0 });
      let worst: NodeCheck | undefined;
      for (const c of r.checks) {
        if (!worst || c.local.nmse / c.bound.nmse > worst.local.nmse / worst.bound.nmse) worst = c;
        const seen = ops[c.op];
        if (!seen || c.local.nmse > seen.nmse) ops[c.op] = { nmse: c.local.nmse, maxAbs: c.local.maxAbs, bound: c.bound.nmse };
      }
      steps.push({ pos0, nTokens, nodes: graph.nodes.length, worst, output: r.output });
      pos0 += nTokens;
      if ((divergence = r.divergence)) break;
    }
    for (const s of sides) s.backend.releaseKVCache(s.cache);
    return { agree: !divergence, backends: [backends[0].name, backends[1].name], kvType, tokens: tokens.length, steps, divergence, ops };
  } finally {
    comparison?.dispose();
    await source.close();
    if (ownJudge) await judge.dispose();
  }
}
