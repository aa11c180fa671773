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
  // downloads and the model store
  'QUOTA_EXCEEDED', // the model store has no room (disk full, browser storage quota)
  'INTEGRITY', // downloaded bytes whose size or sha256 is not what was expected
  // models
  'MODEL_UNSUPPORTED', // an architecture or feature we do not run (yet)
  'MODEL_INVALID', // hyper-parameters and tensors that contradict each other
  // inference
  'CONTEXT_FULL', // the prompt and generation do not fit the context size
  'BACKEND_UNAVAILABLE', // the requested backend cannot run here
  'OUT_OF_MEMORY', // a backend cannot allocate what the model needs
  'BACKEND_LOST', // the GPU device was lost (driver reset, another tab, destroyed)
  'BACKEND_DISAGREES', // a backend's load-time canary disagreed with the reference
  // API use
  'INVALID_ARGUMENT',
  'ABORTED',
  'DISPOSED', // the model or runtime was disposed
  // tokenizers and chat templates
  'TOKENIZER_UNSUPPORTED', // a tokenizer model or pre-tokenizer we do not implement
  'TOKENIZER_INPUT', // text the vocabulary cannot represent, or a token id out of range
  'CHAT_TEMPLATE', // a chat template that does not parse or render
  // constrained sampling
  'GRAMMAR_INVALID', // a GBNF grammar that does not parse, names an undefined rule or is left-recursive
  'SCHEMA_UNSUPPORTED', // a JSON Schema keyword or form that grammar conversion does not support
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
