/**
 * The page's side of the worker boundary: the same Model and ModelSession interfaces as the
 * in-process engine (api.ts), over the messages of protocol.ts. Tokenizing and chat templates
 * run here, on a copy of the model's metadata, so they stay synchronous; everything that touches
 * the weights runs in the worker. Signals become `abort` messages; callbacks (load progress)
 * become events; a custom sampler function cannot cross and is refused.
 */
import { WasmChordError } from '../../errors.js';
import { GGUFMetadata, type GGUFKeyValue } from '../../gguf/metadata.js';
import { host } from '../../platform/host.js';
import type { WorkerHandle } from '../../platform/host-types.js';
import { Tokenizer, type DecodeOptions } from '../../tokenizer/index.js';
import type { GenerationStep } from '../../engine/generate.js';
import type { EvaluateOptions } from '../../engine/session.js';
import type { CreateSessionOptions, Model, ModelContext, ModelInfo, ModelSession } from '../api.js';
import type { LoadModelOptions, ModelSource } from '../load-model.js';
import { ModelText } from '../model-text.js';
import type { GenerationResult, InferOptions, Prompt } from '../session.js';
import { fromWireError, type ContextMethod, type EngineReply, type EngineRequest, type LoadedModelReply } from './protocol.js';

interface Pending {
  resolve(reply: { value: unknown; contextTokens?: number[] }): void;
  reject(error: Error): void;
  progress?(which: 'load' | 'download', value: object): void;
}

interface RequestOptions {
  signal?: AbortSignal;
  abortTarget?: number;
  transfer?: Transferable[];
  progress?: Pending['progress'];
}

/** Distributes a request without its id (the client numbers requests). */
type Request = EngineRequest extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

export class EngineClient {
  readonly #pending = new Map<number, Pending>();
  #worker: WorkerHandle | undefined;
  #lost: Error | undefined;
  #nextId = 1;

  static async start(options: object): Promise<EngineClient> {
    const client = new EngineClient();
    client.#worker = await host.spawnEngineWorker<EngineReply>({
      message: (reply) => client.#receive(reply),
      lost: (error) => client.#fail(new WasmChordError('BACKEND_LOST', `the engine's worker stopped: ${error.message}`, { cause: error })),
    });
    try {
      await client.request({ kind: 'init', options });
    } catch (err) {
      await client.#worker.terminate();
      throw err;
    }
    return client;
  }

  /** Sends a request; resolves to the worker's answer. An abort of `signal` stops the call there. */
  request(message: Request, options: RequestOptions = {}): Promise<{ value: unknown; contextTokens?: number[] }> {
    return this.send(message, options).reply;
  }

  /**
   * `request`, also telling the request's id (a stream is named by the id that opened it).
   * `abortTarget`: the call an abort stops, when it is not this request (a stream's steps).
   */
  send(message: Request, options: RequestOptions = {}): { id: number; reply: Promise<{ value: unknown; contextTokens?: number[] }> } {
    const id = this.#nextId++;
    if (this.#lost) return { id, reply: Promise.reject(this.#lost) };
    const { signal } = options;
    if (signal?.aborted) return { id, reply: Promise.reject(new WasmChordError('ABORTED', 'the operation was aborted')) };
    const onAbort = () => this.#worker?.post({ kind: 'abort', target: options.abortTarget ?? id } satisfies EngineRequest);
    signal?.addEventListener('abort', onAbort, { once: true });
    const reply = new Promise<{ value: unknown; contextTokens?: number[] }>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, progress: options.progress });
      try {
        this.#worker!.post({ ...message, id } as EngineRequest, options.transfer);
      } catch (err) {
        this.#pending.delete(id);
        reject(new WasmChordError('INVALID_ARGUMENT', `this cannot be sent to the engine's worker: ${(err as Error).message}`, { cause: err }));
      }
    }).finally(() => signal?.removeEventListener('abort', onAbort));
    return { id, reply };
  }

  async loadModel(source: ModelSource, options: LoadModelOptions): Promise<Model> {
    const { signal, onProgress, onDownloadProgress, ...wire } = options as LoadModelOptions & { onDownloadProgress?: (p: object) => void };
    const { value, transfer } = wireSource(source);
    const { value: loaded } = await this.request(
      { kind: 'loadModel', source: value, options: wire, progress: Boolean(onProgress), downloadProgress: Boolean(onDownloadProgress) },
      {
        signal,
        transfer,
        progress: (which, p) => (which === 'load' ? onProgress?.(p as never) : onDownloadProgress?.(p)),
      },
    );
    return new WorkerModel(this, loaded as LoadedModelReply);
  }

  async dispose(): Promise<void> {
    if (this.#lost) return;
    try {
      await this.request({ kind: 'dispose' });
    } finally {
      this.#fail(new WasmChordError('DISPOSED', 'this runtime was disposed'));
      await this.#worker?.terminate();
    }
  }

  #receive(reply: EngineReply): void {
    const pending = this.#pending.get(reply.id);
    if (!pending) return;
    if (reply.kind === 'progress') return pending.progress?.(reply.which, reply.value);
    this.#pending.delete(reply.id);
    if (reply.kind === 'error') pending.reject(fromWireError(reply.error));
    else pending.resolve(reply);
  }

  #fail(error: Error): void {
    this.#lost ??= error;
    for (const pending of this.#pending.values()) pending.reject(error);
    this.#pending.clear();
  }
}

/** A model source as it crosses: URLs as text; whole buffers transferred (never held twice). */
function wireSource(source: ModelSource): { value: unknown; transfer: Transferable[] } {
  if (Array.isArray(source)) {
    const shards = (source as readonly ModelSource[]).map(wireSource);
    return { value: shards.map((s) => s.value), transfer: shards.flatMap((s) => s.transfer) };
  }
  if (source instanceof URL) return { value: source.href, transfer: [] };
  if (source instanceof ArrayBuffer) return { value: source, transfer: [source] };
  if (ArrayBuffer.isView(source) && source.byteOffset === 0 && source.byteLength === source.buffer.byteLength && source.buffer instanceof ArrayBuffer) {
    return { value: source, transfer: [source.buffer] };
  }
  if (typeof source === 'object' && source !== null && !ArrayBuffer.isView(source) && !(typeof Blob !== 'undefined' && source instanceof Blob)) {
    throw new WasmChordError('INVALID_ARGUMENT', 'a file handle or a ByteSource cannot cross to the engine\'s worker: pass a path, a URL, bytes or a Blob, or use WasmChord.init({ worker: false })');
  }
  return { value: source, transfer: [] };
}

/** Generation options as they cross: the signal stays here (it becomes an abort message). */
function wireOptions(options: InferOptions | undefined): object {
  const { signal: _signal, sampler, ...rest } = options ?? {};
  if (sampler !== undefined) {
    throw new WasmChordError('INVALID_ARGUMENT', 'a custom sampler function cannot cross to the engine\'s worker: use WasmChord.init({ worker: false })');
  }
  return rest;
}

/** A context (the model's default session, or an extra one) living in the worker. */
class WorkerContext implements ModelContext {
  #tokens: readonly number[] = [];

  constructor(
    protected readonly client: EngineClient,
    protected readonly id: number,
  ) {}

  get contextTokens(): readonly number[] {
    return this.#tokens;
  }

  async infer(prompt: Prompt, options?: InferOptions): Promise<string> {
    return (await this.generate(prompt, options)).text;
  }

  async generate(prompt: Prompt, options?: InferOptions): Promise<GenerationResult> {
    return (await this.call('generate', [prompt, wireOptions(options)], options?.signal)) as GenerationResult;
  }

  async *inferStream(prompt: Prompt, options?: InferOptions): AsyncGenerator<string, void> {
    for await (const step of this.generateStream(prompt, options)) if (step.text) yield step.text;
  }

  async *generateStream(prompt: Prompt, options?: InferOptions): AsyncGenerator<GenerationStep, GenerationResult> {
    const wire = wireOptions(options);
    const signal = options?.signal;
    const { id: stream, reply } = this.client.send({ kind: 'stream', context: this.id, prompt, options: wire }, { signal });
    await reply;
    let done = false;
    try {
      for (;;) {
        const { value, contextTokens } = await this.client.request({ kind: 'next', stream }, { signal, abortTarget: stream });
        const step = value as IteratorResult<GenerationStep, GenerationResult>;
        if (step.done) {
          done = true;
          this.#tokens = contextTokens ?? this.#tokens;
          return step.value;
        }
        yield step.value;
      }
    } finally {
      if (!done) {
        const { contextTokens } = await this.client.request({ kind: 'return', stream });
        this.#tokens = contextTokens ?? this.#tokens;
      }
    }
  }

  async evaluate(tokens: readonly number[], options?: EvaluateOptions): Promise<Float32Array> {
    const { signal, ...rest } = options ?? {};
    // `output` crosses as a copy, checked there before anything runs; the logits come back into it.
    const logits = (await this.call('evaluate', [tokens, rest], signal)) as Float32Array;
    if (!rest.output) return logits;
    rest.output.set(logits);
    return rest.output;
  }

  async resetContext(): Promise<void> {
    await this.call('resetContext', []);
  }

  async saveState(): Promise<Uint8Array> {
    return (await this.call('saveState', [])) as Uint8Array;
  }

  async loadState(state: Uint8Array): Promise<void> {
    await this.call('loadState', [state]);
  }

  async dispose(): Promise<void> {
    await this.call('dispose', []);
  }

  protected async call(method: ContextMethod, args: unknown[], signal?: AbortSignal): Promise<unknown> {
    const { value, contextTokens } = await this.client.request({ kind: 'call', context: this.id, method, args }, { signal });
    if (contextTokens) this.#tokens = contextTokens;
    return value;
  }
}

class WorkerSession extends WorkerContext implements ModelSession {
  constructor(
    client: EngineClient,
    id: number,
    readonly contextSize: number,
  ) {
    super(client, id);
  }
}

class WorkerModel extends WorkerContext implements Model {
  readonly info: ModelInfo;
  readonly #text: ModelText;
  readonly #model: number;

  constructor(client: EngineClient, loaded: LoadedModelReply) {
    super(client, loaded.context);
    this.#model = loaded.model;
    this.info = { ...(loaded.info as ModelInfo), engine: 'worker' };
    const metadata = new GGUFMetadata(loaded.metadata as [string, GGUFKeyValue][]);
    this.#text = new ModelText(metadata, Tokenizer.fromGGUF(metadata));
  }

  get metadata(): GGUFMetadata {
    return this.#text.metadata;
  }

  get tokenizer(): Tokenizer {
    return this.#text.tokenizer;
  }

  tokenize(text: string, options?: { addSpecial?: boolean; parseSpecial?: boolean }): number[] {
    return this.#text.tokenize(text, options);
  }

  detokenize(tokens: readonly number[], options?: DecodeOptions): string {
    return this.#text.detokenize(tokens, options);
  }

  promptTokens(prompt: Prompt, options?: InferOptions): number[] {
    return this.#text.promptTokens(prompt, options);
  }

  async createSession(options: CreateSessionOptions = {}): Promise<ModelSession> {
    const { value } = await this.client.request({ kind: 'createSession', model: this.#model, options });
    const { context, contextSize } = value as { context: number; contextSize: number };
    return new WorkerSession(this.client, context, contextSize);
  }

  override async dispose(): Promise<void> {
    await this.client.request({ kind: 'disposeModel', model: this.#model });
  }
}
