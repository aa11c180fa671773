/**
 * The pool's control block: a small SharedArrayBuffer (apart from the Wasm memory) in which the
 * workers of one pool meet. It holds the barrier between dependent plan steps, the count of
 * workers done with the current run, and the failure state and message of a run.
 *
 * A barrier spins briefly (the common case: every worker arrives within microseconds) and then
 * sleeps in Atomics.wait, so that more workers than free cores still make progress. Every
 * Atomics operation here is sequentially consistent, which also orders the workers' plain
 * reads and writes of the Wasm memory around it.
 */

/** Int32 slots of the control block. */
const ARRIVED = 0; // workers at the current barrier
const GENERATION = 1; // bumped when a barrier opens (or a run fails)
const FINISHED = 2; // workers done with the current run
const STATE = 3; // RUNNING or FAILED
const ERROR_LENGTH = 4; // bytes of the failure message
const SLOTS = 8;
const ERROR_BYTES = 1024;

const RUNNING = 0;
const FAILED = 1;

/**
 * Barrier polls before sleeping: about as long as a sleep and wake costs (a few microseconds).
 * Longer spins lose badly when lanes outnumber free cores: the spinner holds the core the lane
 * it waits for needs (measured: 10 us per barrier without spinning, 65 us with 4000 polls, on
 * two loaded cores).
 */
const SPIN = 200;

/** Thrown inside a worker's walk when another worker failed: stop, and report nothing. */
export const BAIL = Symbol('bail');

export function createControlBlock(): SharedArrayBuffer {
  return new SharedArrayBuffer(SLOTS * 4 + ERROR_BYTES);
}

/** One worker's (or the main thread's) view of the control block. */
export class Control {
  readonly #i32: Int32Array;
  readonly #bytes: Uint8Array;

  constructor(
    buffer: SharedArrayBuffer,
    readonly lanes: number,
  ) {
    this.#i32 = new Int32Array(buffer, 0, SLOTS);
    this.#bytes = new Uint8Array(buffer, SLOTS * 4, ERROR_BYTES);
  }

  /** Main thread, with every worker idle: arms the block for a new run. */
  reset(): void {
    Atomics.store(this.#i32, ARRIVED, 0);
    Atomics.store(this.#i32, FINISHED, 0);
    Atomics.store(this.#i32, STATE, RUNNING);
  }

  /** Worker: waits until every lane has arrived. Throws BAIL when the run failed meanwhile. */
  barrier(): void {
    const i32 = this.#i32;
    const generation = Atomics.load(i32, GENERATION);
    if (Atomics.load(i32, STATE) !== RUNNING) throw BAIL;
    if (Atomics.add(i32, ARRIVED, 1) === this.lanes - 1) {
      Atomics.store(i32, ARRIVED, 0);
      Atomics.add(i32, GENERATION, 1);
      Atomics.notify(i32, GENERATION);
      return;
    }
    for (let spin = 0; Atomics.load(i32, GENERATION) === generation; spin++) {
      if (spin >= SPIN) Atomics.wait(i32, GENERATION, generation);
    }
    if (Atomics.load(i32, STATE) !== RUNNING) throw BAIL;
  }

  /**
   * Marks the run failed (the first failure's message is kept) and opens every barrier, so that
   * the other lanes bail out instead of waiting for this one. Also used to stop a pool.
   */
  fail(message: string): void {
    const i32 = this.#i32;
    if (Atomics.compareExchange(i32, STATE, RUNNING, FAILED) === RUNNING) {
      // Browsers refuse encodeInto on a view of shared memory: encode, then copy.
      const encoded = new TextEncoder().encode(message).subarray(0, this.#bytes.length);
      this.#bytes.set(encoded);
      Atomics.store(i32, ERROR_LENGTH, encoded.length);
    }
    Atomics.add(i32, GENERATION, 1);
    Atomics.notify(i32, GENERATION);
  }

  /** Worker, at the end of its run: true for the last lane to finish (it reports the run). */
  finish(): boolean {
    return Atomics.add(this.#i32, FINISHED, 1) === this.lanes - 1;
  }

  /** Main thread, after the run: the failure message, if the run failed. */
  failure(): string | undefined {
    if (Atomics.load(this.#i32, STATE) === RUNNING) return undefined;
    // TextDecoder refuses views of shared memory: decode a copy.
    return new TextDecoder().decode(this.#bytes.slice(0, Atomics.load(this.#i32, ERROR_LENGTH)));
  }

  /** Worker, on receiving a run: an acquire of what the main thread wrote before posting it. */
  acquire(): void {
    Atomics.load(this.#i32, STATE);
  }
}
