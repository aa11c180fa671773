import { WasmChordError } from '../errors.js';

/** A whole number option, or undefined when absent; the API checks its range and names the option. */
export function integerOption(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new WasmChordError('INVALID_ARGUMENT', `${flag} ${value}: expected a whole number`);
  return Number(value);
}
