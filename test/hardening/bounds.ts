/**
 * Shared checks of the hardening suites: a hostile input must end in a typed WasmChordError (or
 * run sanely) within a few seconds and a few hundred MB. Time is measured around the call; memory
 * as the growth of the process's peak RSS (a high-water mark, so a case that allocated gigabytes
 * and freed them is still caught).
 */
import assert from 'node:assert/strict';
import { WasmChordError, type ErrorCode } from '../../src/errors.js';

export const LIMIT_MS = 5000;
export const LIMIT_MB = 300;

function peakRssMb(): number {
  return process.resourceUsage().maxRSS / 1024;
}

/** Runs `fn` and checks its time and peak-memory growth; returns what it returned or threw. */
export async function bounded<T>(label: string, fn: () => Promise<T> | T): Promise<{ value?: T; error?: unknown; ms: number }> {
  const peak = peakRssMb();
  const start = performance.now();
  let value: T | undefined;
  let error: unknown;
  try {
    value = await fn();
  } catch (err) {
    error = err;
  }
  const ms = performance.now() - start;
  const grown = peakRssMb() - peak;
  assert.ok(ms < LIMIT_MS, `${label}: took ${ms.toFixed(0)} ms`);
  assert.ok(grown < LIMIT_MB, `${label}: peak RSS grew by ${grown.toFixed(0)} MB`);
  return { value, error, ms };
}

/** `fn` must fail, within bounds, with `code` and a message matching `message`. */
export async function refuses(label: string, fn: () => Promise<unknown> | unknown, code: ErrorCode, message?: RegExp): Promise<WasmChordError> {
  const { error } = await bounded(label, fn);
  assert.ok(error instanceof WasmChordError, `${label}: expected a WasmChordError, got ${error instanceof Error ? error.stack : String(error)}`);
  assert.equal(error.code, code, `${label}: ${error.message}`);
  if (message) assert.match(error.message, message, label);
  return error;
}
