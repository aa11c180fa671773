/**
 * The mixture-of-experts FFN on the CPU backend. Which experts run depends on the data (the
 * router's top-k), so this is a host step between kernel calls: per token, softmax over the
 * router logits, top-k, optional renormalisation, then the chosen experts' matmuls on their
 * slices of the 3-D expert tensors, summed in the order of selection as ggml does.
 */
import { rowByteSize, typeName } from '../../quant/types.js';
import type { MoeParams } from '../graph.js';
import type { WasmArena } from './arena.js';

interface ExpertTensor {
  readonly ptr: number;
  readonly type: number;
  /** The activation format its matmul reads (undefined: f32). */
  readonly act: number | undefined;
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
  readonly gate: ExpertTensor;
  readonly up: ExpertTensor;
  readonly down: ExpertTensor;
  readonly scratch: { readonly xq: number; readonly xqUp: number; readonly gate: number; readonly up: number; readonly hq: number; readonly down: number };
  readonly geluTable: number;
}

type KernelCaller = (fn: string, ...args: number[]) => void;

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

export function runMoe(step: MoeStep, base: number, arena: WasmArena, call: KernelCaller): void {
  const { nEmbd, nFf, nExpert } = step;
  const s = step.scratch;
  const slice = (t: ExpertTensor, rows: number, k: number) => rows * rowByteSize(t.type, k);
  const matmul = (t: ExpertTensor, e: number, rows: number, k: number, x: number, y: number) =>
    call(`matmul_${typeName(t.type).toLowerCase()}`, t.ptr + e * slice(t, rows, k), x, y, k, rows, 0, rows, 1);
  const quantize = (act: number | undefined, x: number, q: number, k: number) => {
    if (act === undefined) arena.bytes(q, k * 4).set(arena.bytes(x, k * 4));
    else call(`quantize_${typeName(act).toLowerCase()}`, x, q, 1, k);
  };
  for (let t = 0; t < step.rows; t++) {
    const { experts, weights } = routeExperts(arena.f32(base + step.logits + t * nExpert * 4, nExpert).slice(), step.params);
    const xRow = base + step.x + t * nEmbd * 4;
    quantize(step.gate.act, xRow, base + s.xq, nEmbd);
    const xUp = step.up.act === step.gate.act ? base + s.xq : base + s.xqUp;
    if (xUp !== base + s.xq) quantize(step.up.act, xRow, xUp, nEmbd);
    const out = arena.f32(base + step.out + t * nEmbd * 4, nEmbd);
    experts.forEach((e, j) => {
      matmul(step.gate, e, nFf, nEmbd, base + s.xq, base + s.gate);
      matmul(step.up, e, nFf, nEmbd, xUp, base + s.up);
      if (step.params.act === 'silu') call('swiglu_f32', base + s.gate, base + s.up, base + s.gate, nFf);
      else call('geglu_ggml_f32', base + s.gate, base + s.up, base + s.gate, nFf, step.geluTable);
      quantize(step.down.act, base + s.gate, base + s.hq, nFf);
      matmul(step.down, e, nEmbd, nFf, base + s.hq, base + s.down);
      const d = arena.f32(base + s.down, nEmbd);
      const w = weights[j]!;
      for (let i = 0; i < nEmbd; i++) out[i] = j === 0 ? d[i]! * w : out[i]! + Math.fround(d[i]! * w);
    });
  }
}
