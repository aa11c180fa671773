/**
 * The backends a runtime's models hold, so that `runtime.dispose()` can free them all, without
 * the runtime keeping alive a model its caller dropped: a model garbage-collected without
 * `dispose()` has its backend disposed and forgotten (FinalizationRegistry), so its memory (a
 * Wasm memory of the model's size, worker threads) goes with it.
 */
import type { Backend } from '../backends/backend.js';
import type { BackendOwner } from './load-model.js';

export class BackendTracker implements BackendOwner {
  readonly #live = new Set<Backend>();
  readonly #dropped = new FinalizationRegistry<Backend>((backend) => {
    if (this.#live.delete(backend)) void backend.dispose().catch(() => {});
  });

  adopt(backend: Backend): void {
    this.#live.add(backend);
  }

  /** `model` owns `backend`: when the model is collected, the backend is disposed. */
  track(model: object, backend: Backend): void {
    this.#dropped.register(model, backend, backend);
  }

  release(backend: Backend): void {
    this.#live.delete(backend);
    this.#dropped.unregister(backend);
  }

  /** Backends of models not yet disposed nor collected. */
  get size(): number {
    return this.#live.size;
  }

  async disposeAll(): Promise<void> {
    const all = [...this.#live];
    this.#live.clear();
    for (const b of all) this.#dropped.unregister(b);
    await Promise.all(all.map((b) => b.dispose()));
  }
}
