/**
 * The engine's side of the worker boundary: an in-process WasmChord driven by the messages of
 * protocol.ts. Models and contexts (a model's default session, or an extra one) are named by
 * numbers the client holds; results that are buffers are transferred, not copied.
 */
import type { WorkerPort } from '../../platform/host-types.js';
import type { Model, ModelContext } from '../api.js';
import type { GenerationStep } from '../../engine/generate.js';
import type { GenerationResult } from '../session.js';
import { WasmChord } from '../wasm-chord.js';
import { WasmChordError } from '../../errors.js';
import { toWireError, type EngineReply, type EngineRequest, type LoadedModelReply } from './protocol.js';

type Stream = AsyncGenerator<GenerationStep, GenerationResult>;

export function serveEngine(port: WorkerPort<EngineRequest, EngineReply>): void {
  let runtime: WasmChord | undefined;
  let nextId = 1;
  const models = new Map<number, { model: Model; contexts: Set<number> }>();
  const contexts = new Map<number, ModelContext>();
  const streams = new Map<number, { stream: Stream; context: ModelContext }>();
  /** Calls that can be aborted, by request id (a stream's by the id that opened it). */
  const aborts = new Map<number, AbortController>();

  const reply = (id: number, value: unknown, context?: ModelContext) => {
    const transfer = ArrayBuffer.isView(value) ? [value.buffer as ArrayBuffer] : [];
    port.post({ kind: 'result', id, value, contextTokens: context ? [...context.contextTokens] : undefined }, transfer);
  };

  const contextOf = (id: number): ModelContext => {
    const c = contexts.get(id);
    if (!c) throw new WasmChordError('DISPOSED', 'this session was disposed');
    return c;
  };

  const abortable = (id: number): AbortSignal => {
    const controller = new AbortController();
    aborts.set(id, controller);
    return controller.signal;
  };

  async function handle(req: Exclude<EngineRequest, { kind: 'abort' }>): Promise<void> {
    switch (req.kind) {
      case 'init':
        runtime = await WasmChord.init({ ...req.options, worker: false });
        return reply(req.id, null);
      case 'loadModel': {
        if (!runtime) throw new WasmChordError('DISPOSED', 'the engine is not running');
        const signal = abortable(req.id);
        const progress = (which: 'load' | 'download') => (value: object) => port.post({ kind: 'progress', id: req.id, which, value });
        const model = await runtime.loadModel(req.source as never, {
          ...req.options,
          signal,
          ...(req.progress && { onProgress: progress('load') }),
          ...(req.downloadProgress && { onDownloadProgress: progress('download') }),
        });
        const id = nextId++;
        models.set(id, { model, contexts: new Set([id]) });
        contexts.set(id, model);
        const loaded: LoadedModelReply = { model: id, context: id, info: model.info, metadata: [...model.metadata.entries()] };
        return reply(req.id, loaded);
      }
      case 'createSession': {
        const owner = models.get(req.model);
        if (!owner) throw new WasmChordError('DISPOSED', 'this model was disposed');
        const session = await owner.model.createSession(req.options);
        const id = nextId++;
        contexts.set(id, session);
        owner.contexts.add(id);
        return reply(req.id, { context: id, contextSize: session.contextSize });
      }
      case 'call': {
        const context = contextOf(req.context);
        const [first, options] = req.args as [never, object | undefined];
        switch (req.method) {
          case 'generate':
            return reply(req.id, await context.generate(first, { ...options, signal: abortable(req.id) }), context);
          case 'evaluate':
            return reply(req.id, await context.evaluate(first, { ...options, signal: abortable(req.id) }), context);
          case 'loadState':
            return reply(req.id, await context.loadState(first), context);
          case 'resetContext':
            return reply(req.id, await context.resetContext(), context);
          case 'saveState':
            return reply(req.id, await context.saveState(), context);
          case 'dispose':
            await context.dispose();
            contexts.delete(req.context);
            return reply(req.id, null);
        }
        throw new WasmChordError('INVALID_ARGUMENT', `unknown method ${String(req.method)}`);
      }
      case 'stream': {
        const context = contextOf(req.context);
        const stream = context.generateStream(req.prompt as never, { ...req.options, signal: abortable(req.id) });
        streams.set(req.id, { stream, context });
        return reply(req.id, null);
      }
      case 'next': {
        const open = streams.get(req.stream);
        if (!open) throw new WasmChordError('INVALID_ARGUMENT', 'this stream has ended');
        let step: IteratorResult<GenerationStep, GenerationResult>;
        try {
          step = await open.stream.next();
        } catch (err) {
          endStream(req.stream);
          throw err;
        }
        if (step.done) endStream(req.stream);
        return reply(req.id, step, step.done ? open.context : undefined);
      }
      case 'return': {
        const open = streams.get(req.stream);
        endStream(req.stream);
        await open?.stream.return(undefined as never);
        return reply(req.id, null, open?.context);
      }
      case 'disposeModel': {
        const owner = models.get(req.model);
        models.delete(req.model);
        for (const id of owner?.contexts ?? []) contexts.delete(id);
        await owner?.model.dispose();
        return reply(req.id, null);
      }
      case 'dispose':
        await runtime?.dispose();
        runtime = undefined;
        models.clear();
        contexts.clear();
        return reply(req.id, null);
    }
  }

  function endStream(id: number): void {
    streams.delete(id);
    aborts.delete(id);
  }

  port.listen((req) => {
    if (req.kind === 'abort') {
      aborts.get(req.target)?.abort();
      return;
    }
    handle(req).then(
      () => req.kind !== 'stream' && req.kind !== 'next' && aborts.delete(req.id),
      (err: unknown) => {
        aborts.delete(req.id);
        port.post({ kind: 'error', id: req.id, error: toWireError(err) });
      },
    );
  });
}
