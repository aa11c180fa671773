/**
 * What the store's loading tests share: a CPU runtime, a temporary folder (removed after the
 * file's tests), and greedy inference of a source through `runtime.loadModel`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { WasmChord } from '../../src/index.js';

export interface StoreRuntime {
  readonly runtime: WasmChord;
  readonly dir: string;
  /** The greedy continuation of "Once upon a time" from `source`, loaded with `options`. */
  infer(source: string, options: object): Promise<string>;
}

/**
 * Makes the folder now (the file's own hooks may use it) and registers the hooks that start the
 * runtime and clean up; `runtime` is set once the first `before` has run.
 */
export function useStoreRuntime(prefix: string, maxTokens: number): StoreRuntime {
  const greedy = { temperature: 0, maxTokens, ignoreEos: true };
  const dir = mkdtempSync(join(tmpdir(), prefix));
  let runtime: WasmChord | undefined;
  let starting: Promise<WasmChord> | undefined;
  const started = () => (starting ??= WasmChord.init({ backend: 'cpu', threads: 1 }).then((r) => (runtime = r)));
  before(started);
  after(async () => {
    await (await starting)?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    get runtime() {
      return runtime!;
    },
    dir,
    async infer(source, options) {
      const model = await (await started()).loadModel(source, { kvType: 'f32', contextSize: 128, ...options });
      try {
        return await model.infer('Once upon a time', greedy);
      } finally {
        await model.dispose();
      }
    },
  };
}
