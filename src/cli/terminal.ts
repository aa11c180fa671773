/**
 * Writing to the terminal safely. Text from a model file (generated text, metadata keys,
 * tensor names, error messages that quote them) may hold terminal escape sequences: on a
 * terminal they could retitle the window, rewrite the screen or worse, so control characters
 * are shown as visible escapes there. Pipes and files get the exact bytes (and --json is JSON).
 * A closed stdout (`| head`) ends the command quietly instead of with an EPIPE stack trace.
 */

/** Control characters: C0 (but tab, newline, and CR before a newline), DEL and C1. */
const CONTROL = /\r(?!\n)|[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/g;

function visible(ch: string): string {
  return `\\x${ch.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`;
}

/** `text` with every control character but tab and newline shown as `\xNN` (CR before LF kept). */
export function terminalSafe(text: string): string {
  return text.replace(CONTROL, visible);
}

/** Streaming terminalSafe: a CR at the end of a piece waits to see whether LF follows. */
export class TerminalText {
  #pendingCR = false;

  push(text: string): string {
    let t = (this.#pendingCR ? '\r' : '') + text;
    this.#pendingCR = t.endsWith('\r');
    if (this.#pendingCR) t = t.slice(0, -1);
    return terminalSafe(t);
  }

  flush(): string {
    const t = this.#pendingCR ? terminalSafe('\r') : '';
    this.#pendingCR = false;
    return t;
  }
}

/**
 * Stdout for a command: sanitised when it is a terminal, and closed quietly when the reader
 * goes away (EPIPE): `onClosed` runs once (e.g. to stop a generation), later writes are dropped.
 */
export class CommandOutput {
  readonly isTerminal: boolean;
  #closed = false;
  readonly #text = new TerminalText();
  readonly #onClosed: () => void;

  constructor(options: { raw?: boolean; onClosed?: () => void } = {}) {
    this.isTerminal = !options.raw && process.stdout.isTTY === true;
    this.#onClosed = options.onClosed ?? (() => {});
    process.stdout.on('error', (err: NodeJS.ErrnoException) => this.#closedBy(err));
    // stderr may be the same closed pipe (2>&1): never let a write there crash the command.
    process.stderr.on('error', () => {});
  }

  get closed(): boolean {
    return this.#closed;
  }

  write(text: string): void {
    if (this.#closed || text === '') return;
    try {
      process.stdout.write(this.isTerminal ? this.#text.push(text) : text);
    } catch (err) {
      this.#closedBy(err as NodeJS.ErrnoException);
    }
  }

  /** Text held back (a final CR), then waits until stdout has taken everything. */
  async end(): Promise<void> {
    if (this.isTerminal) this.write(this.#text.flush());
    if (this.#closed) return;
    await new Promise<void>((resolve) => {
      if (process.stdout.writableLength === 0) resolve();
      else process.stdout.once('drain', resolve).once('error', () => resolve());
    });
  }

  #closedBy(err: NodeJS.ErrnoException): void {
    if (this.#closed) return;
    this.#closed = true;
    if (err?.code !== 'EPIPE' && err?.code !== 'ERR_STREAM_DESTROYED') {
      process.stderr.write(`wasm-chord: cannot write the output: ${err?.message ?? String(err)}\n`);
    }
    this.#onClosed();
  }
}
