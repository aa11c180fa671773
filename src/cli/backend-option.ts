/**
 * The --backend option of run and bench: auto, or a backend the registry knows; unset, the
 * environment's WASM_CHORD_BACKEND, else auto (WebGPU on a hardware adapter, else the CPU).
 */
import { WasmChordError } from '../errors.js';
import { BACKEND_KINDS, type BackendPreference } from '../runtime/backend-registry.js';
import { envVar } from '../platform/env.js';

export function backendOption(value: string | undefined): { backend: BackendPreference; gpuEnabled: boolean } {
  const choices: readonly string[] = ['auto', ...BACKEND_KINDS];
  const backend = value ?? envVar('WASM_CHORD_BACKEND') ?? 'auto';
  if (!choices.includes(backend)) throw new WasmChordError('INVALID_ARGUMENT', `--backend ${backend}: use one of ${choices.join(', ')}`);
  // auto prefers the GPU, as a user of the command line would expect.
  return { backend: backend as BackendPreference, gpuEnabled: true };
}
