/**
 * Every failure wasm-chord reports on purpose is a WasmChordError with a stable `code`.
 * Codes are part of the public API: callers branch on them, so never rename one.
 */
export const ERROR_CODES = [
  // GGUF container
  'GGUF_BAD_MAGIC', // not a GGUF file at all
  'GGUF_UNSUPPORTED_VERSION', // v1, or newer than we know
  'GGUF_TRUNCATED', // the file ends inside a structure it declares
  'GGUF_MALFORMED', // structurally invalid: bad alignment, overlapping tensors, wrong value type...
  'GGUF_LIMIT_EXCEEDED', // a declared count or size is absurd for the file it is in
  // tensor types
  'UNKNOWN_TENSOR_TYPE', // a type id no ggml version defines
  'UNSUPPORTED_TENSOR_TYPE', // a known type whose values we cannot compute
  // byte sources
  'SOURCE_IO', // file system error
  'SOURCE_HTTP', // HTTP status or network error
  'SOURCE_RANGE_UNSUPPORTED', // the server ignores Range requests
  'SOURCE_OUT_OF_BOUNDS', // a read past the end of the source
  // API use
  'INVALID_ARGUMENT',
  'ABORTED',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export class WasmChordError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'WasmChordError';
    this.code = code;
  }
}

export function isWasmChordError(value: unknown, code?: ErrorCode): value is WasmChordError {
  return value instanceof WasmChordError && (code === undefined || value.code === code);
}
