/**
 * A binary min-heap of integer handles, ordered by `before(a, b)` (true when a must come out
 * first). Callers keep each entry's fields in typed arrays indexed by handle, so the merge loops
 * allocate no object per candidate pair. A merge loop over n symbols queues fewer than 3n pairs
 * (n - 1 at the start, at most two per merge), which bounds the capacity.
 */
export class HandleHeap {
  readonly #heap: Int32Array;
  readonly #before: (a: number, b: number) => boolean;
  #size = 0;

  constructor(capacity: number, before: (a: number, b: number) => boolean) {
    this.#heap = new Int32Array(capacity);
    this.#before = before;
  }

  push(handle: number): void {
    const heap = this.#heap;
    let i = this.#size++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.#before(handle, heap[parent]!)) break;
      heap[i] = heap[parent]!;
      i = parent;
    }
    heap[i] = handle;
  }

  /** Removes and returns the first handle; -1 when empty. */
  pop(): number {
    if (this.#size === 0) return -1;
    const heap = this.#heap;
    const top = heap[0]!;
    const last = heap[--this.#size]!;
    const n = this.#size;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const child = r < n && this.#before(heap[r]!, heap[l]!) ? r : l;
      if (!this.#before(heap[child]!, last)) break;
      heap[i] = heap[child]!;
      i = child;
    }
    heap[i] = last;
    return top;
  }
}
