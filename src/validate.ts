/** Checks for user-supplied options: each failure is an INVALID_ARGUMENT naming the option. */
import { WasmChordError } from './errors.js';

export interface NumberRule {
  min?: number;
  max?: number;
  /** Exclusive lower bound. */
  above?: number;
  integer?: boolean;
}

export function checkNumber(name: string, value: unknown, rule: NumberRule = {}): number {
  const fail = (why: string) => new WasmChordError('INVALID_ARGUMENT', `option ${name} ${why} (got ${String(value)})`);
  if (typeof value !== 'number' || Number.isNaN(value)) throw fail('must be a number');
  if (rule.integer && !Number.isInteger(value)) throw fail('must be an integer');
  if (rule.min !== undefined && value < rule.min) throw fail(`must be at least ${rule.min}`);
  if (rule.above !== undefined && value <= rule.above) throw fail(`must be greater than ${rule.above}`);
  if (rule.max !== undefined && value > rule.max) throw fail(`must be at most ${rule.max}`);
  if (!Number.isFinite(value) && rule.max === undefined) throw fail('must be finite');
  return value;
}

/** Same as checkNumber, for an optional value: undefined gives the default. */
export function optionalNumber(name: string, value: unknown, fallback: number, rule: NumberRule = {}): number {
  return value === undefined ? fallback : checkNumber(name, value, rule);
}

/**
 * Refuses options that are not an object, and option names that are not in `known`, so that
 * `null` or a typo does not pass silently (or fail later as a TypeError).
 */
export function checkKnownKeys(what: string, options: unknown, known: readonly string[]): asserts options is object {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new WasmChordError('INVALID_ARGUMENT', `${what} options must be an object (got ${describe(options)})`);
  }
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) {
      throw new WasmChordError('INVALID_ARGUMENT', `unknown ${what} option "${key}" (known: ${known.join(', ')})`);
    }
  }
}

/** A short description of a value for error messages (never its whole content). */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return value.length > 40 ? `a string of ${value.length} characters` : JSON.stringify(value);
  if (typeof value === 'object') return 'an object';
  return String(value);
}

export function checkBoolean(name: string, value: unknown): boolean | undefined {
  if (value !== undefined && typeof value !== 'boolean') {
    throw new WasmChordError('INVALID_ARGUMENT', `option ${name} must be true or false (got ${describe(value)})`);
  }
  return value;
}

export function checkFunction(name: string, value: unknown): void {
  if (value !== undefined && typeof value !== 'function') {
    throw new WasmChordError('INVALID_ARGUMENT', `option ${name} must be a function (got ${describe(value)})`);
  }
}

export function checkString(name: string, value: unknown): string | undefined {
  if (value !== undefined && typeof value !== 'string') {
    throw new WasmChordError('INVALID_ARGUMENT', `option ${name} must be a string (got ${describe(value)})`);
  }
  return value;
}

export function checkStringArray(name: string, value: unknown): readonly string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || !value.every((s) => typeof s === 'string')) {
    throw new WasmChordError('INVALID_ARGUMENT', `option ${name} must be an array of strings (got ${describe(value)})`);
  }
  return value;
}

/** An AbortSignal (or an object that behaves as one: `aborted` and `addEventListener`). */
export function checkSignal(name: string, value: unknown): AbortSignal | undefined {
  if (value === undefined) return undefined;
  const ok =
    (typeof AbortSignal !== 'undefined' && value instanceof AbortSignal) ||
    (typeof value === 'object' && value !== null && typeof (value as AbortSignal).aborted === 'boolean' && typeof (value as AbortSignal).addEventListener === 'function');
  if (!ok) throw new WasmChordError('INVALID_ARGUMENT', `option ${name} must be an AbortSignal (got ${describe(value)})`);
  return value as AbortSignal;
}
