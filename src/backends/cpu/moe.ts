/**
 * The mixture-of-experts FFN on the CPU backend. Which experts run depends on the data (the
 * router's top-k), so it cannot be a fixed list of kernel calls: every lane (worker) computes
 * the routing itself (the same result everywhere) and then takes its share of each chosen
 * expert's matmul rows. Per token: softmax over the router logits, top-k, optional
 * renormalisation, then the chosen experts' FFNs on their slices of the 3-D expert tensors,
 * summed in the order of selection as ggml does. Each output element is computed by one lane
 * in that fixed order, so the bits do not depend on the number of lanes.
 */
import type { MoeParams } from '../graph.js';
import type { Lane } from './plan-runner.js';
import { laneRange } from './plan-runner.js';

/** One of the 3-D expert tensors: nExpert matrices, each read by one matmul kernel. */
export interface ExpertMatrix {
  readonly ptr: number;
  /** Bytes of one expert's matrix. */
  readonly expertBytes: number;
  readonly matmul: string;
  /** The kernel that quantizes its input rows (undefined: the matmul reads f32). */
  readonly quantize: string | undefined;
  /** Bytes of one input row in the format the matmul reads. */
  readonly inputRowBytes: number;
}

/** Offsets (x, logits, out, scratch) are relative to the plan's scratch block. */
export interface MoeStep {
  readonly x: number;
  readonly logits: number;
  readonly out: number;
  readonly rows: number;
  readonly nEmbd: number;
  readonly nFf: number;
  readonly nExpert: number;
  readonly params: MoeParams;
  readonly gate: ExpertMatrix;
  readonly up: ExpertMatrix;
  readonly down: ExpertMatrix;
  /**
   * xq / xqUp: every token's input in the gate's / up's format; gate, up, hq and down: one row
   * per chosen expert (gate holds the activation's output, hq it in the down matrix's format).
   */
  readonly scratch: { readonly xq: number; readonly xqUp: number; readonly gate: number; readonly up: number; readonly hq: number; readonly down: number };
  readonly geluTable: number;
}

export type Kernel = (...args: number[]) => unknown;

/** Router probabilities -> the chosen experts and their weights, as ggml computes them (f32). */
export function routeExperts(logits: Float32Array, params: MoeParams): { experts: number[]; weights: number[] } {
  let max = -Infinity;
  for (const l of logits) max = Math.max(max, l);
  const p = Array.from(logits, (l) => Math.fround(Math.exp(l - max)));
  const inv = Math.fround(1 / p.reduce((s, v) => s + v, 0));
  const probs = p.map((v) => Math.fround(v * inv));
  const experts = probs
    .map((_, i) => i)
    .sort((a, b) => probs[b]! - probs[a]! || a - b)
    .slice(0, params.nUsed);
  let weights = experts.map((e) => probs[e]!);
  if (params.normalize) {
    const sum = Math.fround(weights.reduce((s, w) => Math.fround(s + w), 0));
    weights = weights.map((w) => Math.fround(w / sum));
  }
  return { experts, weights };
}

/** Runs one MoE step on this lane; every lane of the run calls it (it meets them at barriers). */
export function runMoe(step: MoeStep, base: number, lane: Lane, kernel: (name: string) => Kernel, memory: WebAssembly.Memory): void {
  const { nEmbd, nFf, nExpert, rows, gate, up, down, params } = step;
  const s = step.scratch;
  const x = base + step.x;
  const matmul = (m: ExpertMatrix, expert: number, k: number, outRows: number, input: number, y: number, [r0, r1]: [number, number]) => {
    if (r1 > r0) kernel(m.matmul)(m.ptr + expert * m.expertBytes, input, y, k, outRows, r0, r1, 1);
  };

  // Every token's input row in the gate's and the up's formats (rows shared out among lanes).
  const [t0, t1] = laneRange(0, rows, lane);
  const inputs = (m: ExpertMatrix, at: number) => {
    // One row per call: the experts read each token's row alone, and a call over several rows
    // may interleave them (q8_k_x8: activations.ts).
    for (let t = t0; m.quantize && t < t1; t++) kernel(m.quantize)(x + t * nEmbd * 4, at + t * m.inputRowBytes, 1, nEmbd);
    return m.quantize ? at : x;
  };
  const xGate = inputs(gate, base + s.xq);
  const xUp = up.quantize === gate.quantize ? xGate : inputs(up, base + s.xqUp);
  lane.barrier();

  const ffRows = laneRange(0, nFf, lane);
  const [f0, f1] = ffRows;
  const embdRows = laneRange(0, nEmbd, lane);
  const hidden = (j: number) => base + s.gate + j * nFf * 4;
  const downInput = (j: number) => (down.quantize ? base + s.hq + j * down.inputRowBytes : hidden(j));
  for (let t = 0; t < rows; t++) {
    const { experts, weights } = routeExperts(new Float32Array(memory.buffer, base + step.logits + t * nExpert * 4, nExpert), params);
    // Gate and up of every chosen expert on this lane's rows, then the activation of those rows.
    experts.forEach((e, j) => {
      const g = hidden(j);
      const u = base + s.up + j * nFf * 4;
      matmul(gate, e, nEmbd, nFf, xGate + t * gate.inputRowBytes, g, ffRows);
      matmul(up, e, nEmbd, nFf, xUp + t * up.inputRowBytes, u, ffRows);
      if (f1 <= f0) return;
      const [gf, uf] = [g + f0 * 4, u + f0 * 4];
      if (params.act === 'silu') kernel('swiglu_f32')(gf, uf, gf, f1 - f0);
      else kernel('geglu_ggml_f32')(gf, uf, gf, f1 - f0, step.geluTable);
    });
    lane.barrier();
    // Each expert's whole hidden row in the down matrix's format: one lane per row.
    if (down.quantize) for (let j = lane.index; j < experts.length; j += lane.count) kernel(down.quantize)(hidden(j), downInput(j), 1, nFf);
    lane.barrier();
    // Down of every chosen expert on this lane's rows, summed in the order of selection.
    const [e0, e1] = embdRows;
    const out = new Float32Array(memory.buffer, base + step.out + t * nEmbd * 4, nEmbd);
    experts.forEach((e, j) => {
      const d = base + s.down + j * nEmbd * 4;
      matmul(down, e, nFf, nEmbd, downInput(j), d, embdRows);
      const dv = new Float32Array(memory.buffer, d, nEmbd);
      const w = weights[j]!;
      for (let i = e0; i < e1; i++) out[i] = j === 0 ? dv[i]! * w : out[i]! + Math.fround(dv[i]! * w);
    });
    // The next token overwrites the hidden rows that this one's down matmuls may still read.
    lane.barrier();
  }
}
