/**
 * `wasm-chord run -m MODEL -p PROMPT [...]`: generates text, streaming it to stdout, with
 * prompt/decode speed on stderr; or, with --json, one JSON object on stdout.
 */
import { parseArgs } from 'node:util';
import { WasmChordError } from '../errors.js';
import { CommandOutput } from './terminal.js';
import { backendOption } from './backend-option.js';
import { WasmChord } from '../runtime/wasm-chord.js';
import type { GenerationResult, InferOptions, Prompt } from '../runtime/model.js';

const USAGE = `usage: wasm-chord run -m MODEL -p PROMPT [options]
  -m, --model PATH|URL      GGUF model file or URL
  -p, --prompt TEXT         the prompt (with --chat: the user message)
  -n, --n-predict N         tokens to generate (default 128)
      --temp T              temperature, 0 = greedy (default 0.8)
      --top-k K             (default 40; 0 = off)
      --top-p P             (default 0.95; 1 = off)
      --min-p M             (default 0.05; 0 = off)
      --repeat-penalty R    (default 1 = off)
      --repeat-last-n N     tokens the penalty looks back over (default 64)
      --seed S              PRNG seed (default: random)
      --stop TEXT           stop before this text (repeatable)
      --ignore-eos          keep generating past end-of-generation tokens
      --chat                apply the model's chat template to the prompt
      --system TEXT         with --chat: a system message
  -c, --ctx-size N          context size (default: the model's, at most 4096)
      --kv-type f16|f32     KV cache type (default f16)
  -t, --threads N           CPU worker threads (default: the cores available)
      --backend B           auto (WebGPU on a hardware adapter, else CPU), cpu, webgpu or
                            reference (default: $WASM_CHORD_BACKEND, else auto)
      --json                print {prompt_tokens, tokens, text, timings} instead of streaming
`;

function numberOption(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || Number.isNaN(n)) {
    throw new WasmChordError('INVALID_ARGUMENT', `--${name} needs a number (got "${value}")`);
  }
  return n;
}

export async function runCommand(argv: string[]): Promise<number> {
  const { values: v } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string', short: 'm' },
      prompt: { type: 'string', short: 'p' },
      'n-predict': { type: 'string', short: 'n' },
      temp: { type: 'string' },
      'top-k': { type: 'string' },
      'top-p': { type: 'string' },
      'min-p': { type: 'string' },
      'repeat-penalty': { type: 'string' },
      'repeat-last-n': { type: 'string' },
      seed: { type: 'string' },
      stop: { type: 'string', multiple: true },
      'ignore-eos': { type: 'boolean', default: false },
      chat: { type: 'boolean', default: false },
      system: { type: 'string' },
      'ctx-size': { type: 'string', short: 'c' },
      'kv-type': { type: 'string' },
      threads: { type: 'string', short: 't' },
      backend: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (v.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (!v.model || v.prompt === undefined) throw new WasmChordError('INVALID_ARGUMENT', `-m and -p are required\n${USAGE}`);
  const kvType = v['kv-type'];
  if (kvType !== undefined && kvType !== 'f16' && kvType !== 'f32') {
    throw new WasmChordError('INVALID_ARGUMENT', `--kv-type must be f16 or f32 (got "${kvType}")`);
  }

  const abort = new AbortController();
  const onSigint = () => abort.abort();
  process.once('SIGINT', onSigint);
  // A closed stdout (`| head`) stops the generation at its next step, quietly.
  const out = new CommandOutput({ raw: v.json, onClosed: () => abort.abort() });
  const runtime = await WasmChord.init({ threads: numberOption('threads', v.threads), ...backendOption(v.backend) });
  try {
    const model = await runtime.loadModel(v.model, {
      contextSize: numberOption('ctx-size', v['ctx-size']),
      kvType,
      signal: abort.signal,
    });
    const options: InferOptions = {
      maxTokens: numberOption('n-predict', v['n-predict']) ?? 128,
      temperature: numberOption('temp', v.temp),
      topK: numberOption('top-k', v['top-k']),
      topP: numberOption('top-p', v['top-p']),
      minP: numberOption('min-p', v['min-p']),
      repeatPenalty: numberOption('repeat-penalty', v['repeat-penalty']),
      penaltyLastN: numberOption('repeat-last-n', v['repeat-last-n']),
      seed: numberOption('seed', v.seed),
      stop: v.stop,
      ignoreEos: v['ignore-eos'],
      signal: abort.signal,
    };
    for (const key of Object.keys(options) as (keyof InferOptions)[]) if (options[key] === undefined) delete options[key];
    const prompt: Prompt = v.chat
      ? [...(v.system !== undefined ? [{ role: 'system', content: v.system }] : []), { role: 'user', content: v.prompt }]
      : v.prompt;

    // Like llama.cpp's CLI, a raw prompt is echoed so that the continuation reads on from it.
    if (!v.json && !v.chat) out.write(v.prompt);
    const stream = model.generateStream(prompt, options);
    let result: GenerationResult | undefined;
    try {
      for (;;) {
        const step = await stream.next();
        if (step.done) {
          result = step.value;
          break;
        }
        if (!v.json) out.write(step.value.text);
      }
    } catch (err) {
      // Ctrl-C (or a closed stdout) ends the generation; what was printed stays.
      if (!(err instanceof WasmChordError && err.code === 'ABORTED')) throw err;
    }
    if (out.closed) {
      await model.dispose();
      return 0;
    }
    if (v.json) {
      if (!result) throw new WasmChordError('ABORTED', 'generation was interrupted');
      const json = {
        prompt_tokens: result.promptTokens,
        tokens: result.tokens,
        text: result.text,
        stop_reason: result.stopReason,
        timings: { prefill_tps: result.timings.prefillTokensPerSecond, decode_tps: result.timings.decodeTokensPerSecond },
      };
      out.write(`${JSON.stringify(json)}\n`);
    } else {
      out.write('\n');
      if (result) {
        const t = result.timings;
        process.stderr.write(
          `prefill: ${result.promptTokens.length} tokens, ${t.prefillTokensPerSecond.toFixed(1)} tokens/s; ` +
            `decode: ${result.tokens.length} tokens, ${t.decodeTokensPerSecond.toFixed(1)} tokens/s [${model.info.backend}]\n`,
        );
      }
    }
    await out.end();
    await model.dispose();
  } finally {
    process.off('SIGINT', onSigint);
    await runtime.dispose();
  }
  return 0;
}
