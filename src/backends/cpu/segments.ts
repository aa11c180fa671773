/**
 * Splits a graph into segments: maximal stretches of consecutive nodes that run in one memory
 * (shards.ts places them). Each segment is planned on its own (planner.ts): the values it reads
 * from earlier segments are its imports, the values later segments read are its exports. With
 * one memory there is one segment, the whole graph.
 */
import { inputsOf, type Graph, type GraphNode } from '../graph.js';

export interface GraphSegment {
  readonly shard: number;
  /** The segment's nodes as a graph (its output: the step's output, or its last node). */
  readonly graph: Graph;
  /** Its values that later segments read. */
  readonly exports: readonly GraphNode[];
}

/** `graph` cut where `shardOf` (by node position) changes. */
export function segmentGraph(graph: Graph, shardOf: readonly number[]): GraphSegment[] {
  const starts = graph.nodes.flatMap((_, i) => (i === 0 || shardOf[i] !== shardOf[i - 1] ? [i] : []));
  const segmentOf = new Map<number, number>();
  starts.forEach((start, s) => {
    const end = starts[s + 1] ?? graph.nodes.length;
    for (let i = start; i < end; i++) segmentOf.set(graph.nodes[i]!.id, s);
  });
  const exported = starts.map(() => new Set<GraphNode>());
  for (const node of graph.nodes) {
    for (const input of inputsOf(node)) {
      const from = segmentOf.get(input.id)!;
      if (from !== segmentOf.get(node.id)) exported[from]!.add(input);
    }
  }
  return starts.map((start, s) => {
    const nodes = graph.nodes.slice(start, starts[s + 1] ?? graph.nodes.length);
    const output = nodes.includes(graph.output) ? graph.output : nodes[nodes.length - 1]!;
    return { shard: shardOf[start]!, graph: { nTokens: graph.nTokens, nodes, output }, exports: [...exported[s]!] };
  });
}
