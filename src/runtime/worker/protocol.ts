/**
 * The messages between the page-side engine client and the engine in its worker. Every request
 * carries an id; the worker answers each with one `result` or `error`, and may send `progress`
 * events for a load before that. Streams are pulled: the client asks for each step with `next`.
 * An abort is a message naming the call to stop.
 */
import { ERROR_CODES, WasmChordError, type ErrorCode } from '../../errors.js';
import type { LoadModelOptions } from '../load-model.js';

/** The plain-data parts of the loadModel options (callbacks and signals stay on the page). */
export type WireLoadOptions = Omit<LoadModelOptions, 'signal' | 'onProgress' | 'onDownloadProgress'>;

export type EngineRequest =
  | { kind: 'init'; id: number; options: object }
  | { kind: 'loadModel'; id: number; source: unknown; options: WireLoadOptions; progress: boolean; downloadProgress: boolean }
  | { kind: 'createSession'; id: number; model: number; options: object }
  /** A method of a context (a model's default session or an extra one). */
  | { kind: 'call'; id: number; context: number; method: ContextMethod; args: unknown[] }
  | { kind: 'stream'; id: number; context: number; prompt: unknown; options: object }
  | { kind: 'next'; id: number; stream: number }
  | { kind: 'return'; id: number; stream: number }
  | { kind: 'abort'; target: number }
  | { kind: 'disposeModel'; id: number; model: number }
  | { kind: 'dispose'; id: number };

export type ContextMethod = 'generate' | 'evaluate' | 'resetContext' | 'saveState' | 'loadState' | 'dispose';

export type EngineReply =
  | { kind: 'result'; id: number; value: unknown; contextTokens?: number[] }
  | { kind: 'error'; id: number; error: WireError }
  | { kind: 'progress'; id: number; which: 'load' | 'download'; value: object };

/** What the client learns of a loaded model. */
export interface LoadedModelReply {
  model: number;
  /** The id of the model's default session. */
  context: number;
  info: object;
  /** The GGUF metadata the page needs to tokenize and apply the chat template, as entries. */
  metadata: [string, unknown][];
}

export interface WireError {
  code?: ErrorCode;
  message: string;
}

export function toWireError(err: unknown): WireError {
  if (err instanceof WasmChordError) return { code: err.code, message: err.message };
  return { message: err instanceof Error ? err.message : String(err) };
}

/** The error as the page sees it: a WasmChordError with the worker's code when it had one. */
export function fromWireError(error: WireError): Error {
  return error.code && (ERROR_CODES as readonly string[]).includes(error.code) ? new WasmChordError(error.code, error.message) : new Error(error.message);
}
