/**
 * Stop strings over streamed text: text that might be the start of a stop string is held back
 * until it is clearly not, so a stop string is never partly emitted.
 */
export class StopStringFilter {
  readonly #stops: readonly string[];
  #pending = '';
  #stopped = false;

  constructor(stops: readonly string[]) {
    this.#stops = stops.filter((s) => s.length > 0);
  }

  /** Feeds new text; returns what can be emitted now, and whether a stop string was reached. */
  push(text: string): { text: string; stopped: boolean } {
    if (this.#stopped) return { text: '', stopped: true };
    this.#pending += text;
    let cut = -1;
    for (const s of this.#stops) {
      const i = this.#pending.indexOf(s);
      if (i >= 0 && (cut < 0 || i < cut)) cut = i;
    }
    if (cut >= 0) {
      this.#stopped = true;
      const out = this.#pending.slice(0, cut);
      this.#pending = '';
      return { text: out, stopped: true };
    }
    const hold = this.#heldBack();
    const out = this.#pending.slice(0, this.#pending.length - hold);
    this.#pending = this.#pending.slice(this.#pending.length - hold);
    return { text: out, stopped: false };
  }

  /** Releases held-back text at the end of generation. */
  flush(): string {
    const out = this.#pending;
    this.#pending = '';
    return out;
  }

  /** Length of the longest suffix of the pending text that begins some stop string. */
  #heldBack(): number {
    let best = 0;
    for (const s of this.#stops) {
      for (let n = Math.min(s.length - 1, this.#pending.length); n > best; n--) {
        if (this.#pending.endsWith(s.slice(0, n))) {
          best = n;
          break;
        }
      }
    }
    return best;
  }
}
