/**
 * A hash table from a pair of token ids to a non-negative integer, in flat typed arrays: the merge
 * loops look pairs up hundreds of thousands of times per long prompt, and string keys would
 * have to be sliced and hashed each time.
 */
export class PairTable {
  #mask: number;
  #left: Int32Array;
  #right: Int32Array;
  #value: Int32Array;
  #size = 0;

  constructor(expected = 1024) {
    const capacity = 1 << Math.ceil(Math.log2(Math.max(16, expected * 2)));
    this.#mask = capacity - 1;
    this.#left = new Int32Array(capacity).fill(-1);
    this.#right = new Int32Array(capacity);
    this.#value = new Int32Array(capacity);
  }

  /** The value for (left, right), or -1. */
  get(left: number, right: number): number {
    for (let i = slot(left, right) & this.#mask; ; i = (i + 1) & this.#mask) {
      const l = this.#left[i]!;
      if (l === -1) return -1;
      if (l === left && this.#right[i] === right) return this.#value[i]!;
    }
  }

  /** Stores the value unless the pair already has one (the first setting wins). */
  setIfAbsent(left: number, right: number, value: number): void {
    if ((this.#size + 1) * 2 > this.#mask + 1) this.#grow();
    for (let i = slot(left, right) & this.#mask; ; i = (i + 1) & this.#mask) {
      const l = this.#left[i]!;
      if (l === left && this.#right[i] === right) return;
      if (l === -1) {
        this.#left[i] = left;
        this.#right[i] = right;
        this.#value[i] = value;
        this.#size++;
        return;
      }
    }
  }

  #grow(): void {
    const [left, right, value] = [this.#left, this.#right, this.#value];
    const capacity = (this.#mask + 1) * 2;
    this.#mask = capacity - 1;
    this.#left = new Int32Array(capacity).fill(-1);
    this.#right = new Int32Array(capacity);
    this.#value = new Int32Array(capacity);
    this.#size = 0;
    for (let i = 0; i < left.length; i++) {
      if (left[i] !== -1) this.setIfAbsent(left[i]!, right[i]!, value[i]!);
    }
  }
}

function slot(left: number, right: number): number {
  let h = Math.imul(left, 0x9e3779b1) ^ Math.imul(right + 0x632be5ab, 0x85ebca77);
  h ^= h >>> 16; // murmur3's finaliser, so that the low bits the mask keeps depend on all bits
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  return h >>> 0;
}
