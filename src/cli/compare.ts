/**
 * `wasm-chord compare -m MODEL -p PROMPT [--backends cpu,reference]`: runs the prompt on two
 * backends node by node and names the first node whose output is wrong beyond its op's bound
 * (src/backends/compare.ts); exit 0 when they agree, 1 when one diverges.
 */
import { parseArgs } from 'node:util';
import { WasmChordError } from '../errors.js';
import type { Backend, KVCacheType } from '../backends/backend.js';
import { CpuBackend } from '../backends/cpu/backend.js';
import { KERNEL_VARIANTS, type KernelVariant } from '../backends/cpu/kernel-module.js';
import { compareBackends, type CompareReport } from '../backends/compare.js';
import { ReferenceBackend } from '../backends/reference/backend.js';
import { readGGUFHeader } from '../gguf/open-source.js';
import { Tokenizer } from '../tokenizer/index.js';

const USAGE = `usage: wasm-chord compare -m MODEL -p PROMPT [options]
  -m, --model PATH|URL      GGUF model file or URL
  -p, --prompt TEXT         the prompt: all but its last token run as one step, then the last alone
      --backends A,B        the two backends (default cpu,reference); each one of
                            reference, cpu, ${KERNEL_VARIANTS.map((v) => `cpu:${v}`).join(', ')}
      --kv-type f16|f32     KV cache type (default f32)
      --json                print the report as JSON
Every node of each backend is checked against the reference op evaluated on that backend's own
inputs, within the op's bound (src/backends/op-tolerances.ts). Exit status: 0 agree, 1 diverge.
`;

/** A backend by name; the reference one is also the judge. */
async function createBackend(name: string): Promise<Backend> {
  if (name === 'reference') return ReferenceBackend.create();
  const [kind, variant] = name.split(':');
  if (kind === 'cpu' && (variant === undefined || (KERNEL_VARIANTS as readonly string[]).includes(variant))) {
    return CpuBackend.create({ kernels: variant as KernelVariant | undefined });
  }
  throw new WasmChordError('INVALID_ARGUMENT', `unknown backend "${name}" (use reference, cpu or cpu:<${KERNEL_VARIANTS.join('|')}>)`);
}

const sci = (x: number) => (Number.isFinite(x) ? x.toExponential(2) : String(x));

function describeReport(r: CompareReport, model: string): string {
  const lines = [`${model}: ${r.tokens} prompt tokens, ${r.backends[0]} vs ${r.backends[1]}, ${r.kvType} KV cache`];
  for (const s of r.steps) {
    const where = s.nTokens === 1 ? `position ${s.pos0}` : `positions ${s.pos0}..${s.pos0 + s.nTokens - 1}`;
    const w = s.worst;
    const worst = w ? `; closest to its bound: ${w.label} (${w.op}, ${w.backend}) NMSE ${sci(w.local.nmse)} of ${sci(w.bound.nmse)}` : '';
    lines.push(`  step at ${where}: ${s.nodes} nodes${worst}; outputs differ by max abs ${sci(s.output.maxAbs)}, NMSE ${sci(s.output.nmse)}`);
  }
  const d = r.divergence;
  if (!d) {
    lines.push('agree: every node of both backends is within its op\'s bound');
  } else {
    lines.push(
      `DIVERGE at node ${d.label} (${d.op}) on ${d.backend}, step at position ${d.pos0}: NMSE ${sci(d.local.nmse)} > bound ${sci(d.bound.nmse)} (${d.bound.why}), max abs ${sci(d.local.maxAbs)}`,
      `  the two backends' outputs there: max abs ${sci(d.between.maxAbs)}, NMSE ${sci(d.between.nmse)}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

export async function compareCommand(argv: string[]): Promise<number> {
  const { values: v } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string', short: 'm' },
      prompt: { type: 'string', short: 'p' },
      backends: { type: 'string', default: 'cpu,reference' },
      'kv-type': { type: 'string', default: 'f32' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (v.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (!v.model || v.prompt === undefined) throw new WasmChordError('INVALID_ARGUMENT', `-m and -p are required\n${USAGE}`);
  const kvType = v['kv-type'] as KVCacheType;
  if (kvType !== 'f16' && kvType !== 'f32') throw new WasmChordError('INVALID_ARGUMENT', `--kv-type must be f16 or f32 (got "${kvType}")`);
  const names = v.backends.split(',').map((s) => s.trim());
  if (names.length !== 2) throw new WasmChordError('INVALID_ARGUMENT', `--backends names two backends (got "${v.backends}")`);

  const tokens = Tokenizer.fromGGUF((await readGGUFHeader(v.model)).metadata).encode(v.prompt);
  const backends = [];
  for (const name of names) backends.push({ name, backend: await createBackend(name) });
  try {
    const judge = backends.map((b) => b.backend).find((b): b is ReferenceBackend => b instanceof ReferenceBackend);
    const report = await compareBackends({ model: v.model, tokens, backends: [backends[0]!, backends[1]!], judge, kvType });
    process.stdout.write(v.json ? `${JSON.stringify(report)}\n` : describeReport(report, v.model));
    return report.agree ? 0 : 1;
  } finally {
    for (const b of backends) await b.backend.dispose();
  }
}
