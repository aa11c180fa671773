// Run by api.test.ts in a child process with --expose-gc: what the runtime keeps alive after
// the caller lets go. Prints one JSON line with the measurements.
import { WasmChord } from '../../src/index.js';
import { buildTinyModel } from '../helpers/tiny-model.js';

declare const gc: () => void;

const MB = 2 ** 20;
/** Wasm memories (shared ones too) show in the resident set, not in `external`. */
const resident = () => process.memoryUsage().rss / MB;

/** Full collections, with turns of the event loop between them for finalizers to run. */
async function collect(): Promise<void> {
  for (let i = 0; i < 10; i++) {
    gc();
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** How many dropped models have been garbage-collected. */
let collected = 0;
const dropped = new FinalizationRegistry(() => collected++);

// Separate functions, so that no suspended frame of main() still holds the last model.
async function loadAndDrop(runtime: WasmChord, bytes: Uint8Array): Promise<void> {
  const model = await runtime.loadModel(bytes);
  await model.infer('hello', { maxTokens: 1 });
  dropped.register(model, undefined);
}

async function loadAndDispose(runtime: WasmChord, bytes: Uint8Array): Promise<unknown> {
  const model = await runtime.loadModel(bytes);
  await model.infer('hello', { maxTokens: 1 });
  await model.dispose();
  return model;
}

async function main(which: string): Promise<unknown> {
  const runtime = await WasmChord.init();
  // About 34 MB of F32 weights (embeddings and output of 16k tokens x 256).
  let bytes: Uint8Array | undefined = await buildTinyModel({ embd: 256, extraTokens: 16384 });
  const modelMb = bytes.length / MB;
  if (which === 'dropped') {
    // Six models loaded and dropped without dispose(): the runtime must not keep them. A first
    // round of six before the baseline: Node 24 keeps ~7 MB of every terminated worker thread
    // for re-use (12 threads here), which is the process's, not a model's; a second round must
    // not add to it.
    for (let i = 0; i < 6; i++) await loadAndDrop(runtime, bytes);
    await collect();
    const base = resident();
    collected = 0;
    for (let i = 0; i < 6; i++) await loadAndDrop(runtime, bytes);
    bytes = undefined;
    await collect();
    return { modelMb, base, after: resident(), collected };
  }
  if (which === 'disposed-held') {
    // A disposed model its caller still holds: its memory is free at the next collection. A
    // first round (dropped) before the baseline, as for 'dropped': Node 24 keeps memory of
    // terminated worker threads for re-use (+68-79 MB over three models here without it).
    const held: unknown[] = [];
    for (let i = 0; i < 3; i++) await loadAndDispose(runtime, bytes);
    await collect();
    const base = resident();
    for (let i = 0; i < 3; i++) held.push(await loadAndDispose(runtime, bytes));
    bytes = undefined;
    await collect();
    return { modelMb, base, after: resident(), held: held.length };
  }
  if (which === 'abandoned-stream') {
    const model = await runtime.loadModel(bytes);
    let stream: AsyncGenerator<string> | undefined = model.inferStream('hello', { maxTokens: 50, ignoreEos: true });
    await stream.next();
    // Dropped half-way: no return(), no break.
    stream = undefined;
    await collect();
    const start = performance.now();
    const text = await Promise.race([
      model.infer('hello', { maxTokens: 2, ignoreEos: true }),
      new Promise<string>((resolve) => setTimeout(() => resolve('TIMEOUT'), 3000)),
    ]);
    await model.dispose();
    return { text, ms: performance.now() - start };
  }
  throw new Error(`unknown case ${which}`);
}

main(process.argv[2] ?? '').then(
  (result) => {
    process.stdout.write(`${JSON.stringify(result)}\n`);
    process.exit(0);
  },
  (err) => {
    process.stderr.write(`${(err as Error).stack}\n`);
    process.exit(1);
  },
);
