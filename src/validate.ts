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

/** Refuses option names that are not in `known`, so a typo does not pass silently. */
export function checkKnownKeys(what: string, options: object, known: readonly string[]): void {
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) {
      throw new WasmChordError('INVALID_ARGUMENT', `unknown ${what} option "${key}" (known: ${known.join(', ')})`);
    }
  }
}
