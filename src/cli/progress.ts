/**
 * The loading line on stderr. On a terminal it is one line rewritten in place: the download
 * (bytes, rate, time left) when the model comes from a URL that is not cached yet, then the
 * weights going into backend memory. Elsewhere nothing periodic is written, so that logs stay
 * clean; with `announce`, one line when loading starts and one when it ends.
 */
import { basename } from 'node:path';
import type { LoadProgress } from '../backends/backend.js';
import type { DownloadProgress } from '../runtime/model-cache.js';
import { formatBytes } from '../format.js';

export interface ProgressLine {
  onProgress(progress: LoadProgress): void;
  onDownloadProgress(progress: DownloadProgress): void;
  /** Removes the line; with `announce`, says how long loading took. */
  done(ms: number): void;
  /** Removes the line (loading failed or was interrupted). */
  clear(): void;
}

/** Rewrites at most this often: a fast download would otherwise flood the terminal. */
const REDRAW_MS = 100;

/** The file name a model location shows as: a path's or a URL's (http, hf://) last segment. */
export function modelName(location: string): string {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(location)) {
    try {
      return basename(decodeURIComponent(new URL(location).pathname)) || location;
    } catch {
      return location;
    }
  }
  return basename(location);
}

function amount(loaded: number, total: number): string {
  if (total <= 0) return formatBytes(loaded);
  return `${Math.floor((100 * loaded) / total)}% (${formatBytes(loaded)} of ${formatBytes(total)})`;
}

/** "42 s", "3 min 5 s", "1 h 2 min"; "?" when unknown (Infinity). */
export function duration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.ceil(seconds);
  return s < 60 ? `${s} s` : s < 3600 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

/** The line for loading `location`: give its callbacks to loadModel, then call done or clear. */
export function loadProgress(location: string, options: { announce?: boolean } = {}): ProgressLine {
  const name = modelName(location);
  const stream = process.stderr;
  const tty = stream.isTTY === true;
  let shown = '';
  let shownAt = 0;
  let drawn = false;
  if (options.announce && !tty) stream.write(`loading ${name} ...\n`);

  const draw = (text: string, final: boolean) => {
    const now = performance.now();
    if (!tty || text === shown || (!final && now - shownAt < REDRAW_MS)) return;
    shown = text;
    shownAt = now;
    drawn = true;
    stream.write(`\r${text}\x1b[K`);
  };
  const clear = () => {
    if (drawn) stream.write('\r\x1b[K');
    drawn = false;
  };
  return {
    onProgress: ({ loadedBytes, totalBytes }) => draw(`loading ${name}: ${amount(loadedBytes, totalBytes)}`, loadedBytes >= totalBytes),
    onDownloadProgress: ({ loadedBytes, totalBytes, bytesPerSecond, etaSeconds }) =>
      draw(
        `downloading ${name}: ${amount(loadedBytes, totalBytes)}, ${formatBytes(Math.round(bytesPerSecond))}/s, ${duration(etaSeconds)} left`,
        totalBytes > 0 && loadedBytes >= totalBytes,
      ),
    done: (ms) => {
      clear();
      if (options.announce) stream.write(`loaded ${name} in ${ms.toFixed(0)} ms\n`);
    },
    clear,
  };
}
