/**
 * The entry script of a CPU worker thread (bundled to wasm/cpu-worker.js by
 * scripts/build-kernels.mjs). It instantiates the kernels over each of the pool's shared
 * memories (one per shard of a model too big for one), keeps
 * the plans the pool sends (once per compiled graph), and on each run walks the plan as its lane,
 * meeting the other lanes at the control block's barriers. The last lane to finish reports (lane
 * 0 alone runs, and reports, a run that no step is worth sharing in).
 */
import { instantiateKernels, type KernelExports } from '../kernel-module.js';
import { PlanRunner, SOLO, type Lane, type RunParams } from '../plan-runner.js';
import type { Plan } from '../planner.js';
import { BAIL, Control } from './control.js';
import type { WorkerReply } from './host.js';
import { host } from '../../../platform/host.js';

/** A message from the pool to a worker. */
export type WorkerRequest =
  | {
      readonly kind: 'init';
      readonly module: WebAssembly.Module;
      readonly memories: readonly WebAssembly.Memory[];
      readonly control: SharedArrayBuffer;
      readonly lane: number;
      readonly lanes: number;
    }
  | { readonly kind: 'plan'; readonly id: number; readonly shard: number; readonly plan: Plan }
  /** `lanes`: the pool's lane count, or 1 for a run that lane 0 (alone) does. */
  | { readonly kind: 'run'; readonly params: RunParams; readonly lanes: number };

const port = await host.workerPort<WorkerRequest, WorkerReply>();
/** This worker's lane and kernels, once initialised. */
let worker: { control: Control; lane: Lane; memories: readonly WebAssembly.Memory[]; kernels: KernelExports[] } | undefined;
const runners = new Map<number, PlanRunner>();

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

port.listen((request) => {
  switch (request.kind) {
    case 'init': {
      const control = new Control(request.control, request.lanes);
      const lane: Lane = { index: request.lane, count: request.lanes, barrier: () => control.barrier() };
      Promise.all(request.memories.map((m) => instantiateKernels(request.module, m))).then(
        (kernels) => {
          worker = { control, lane, memories: request.memories, kernels };
          port.post({ kind: 'ready' });
        },
        (e: unknown) => port.post({ kind: 'failed', message: message(e) }),
      );
      return;
    }
    case 'plan':
      runners.set(request.id, new PlanRunner(request.plan, worker!.kernels[request.shard]!, worker!.memories[request.shard]!));
      return;
    case 'run': {
      const { control, lane } = worker!;
      const alone = request.lanes === 1;
      control.acquire();
      try {
        runners.get(request.params.plan)!.run(request.params, alone ? SOLO : lane);
      } catch (e) {
        if (e !== BAIL) control.fail(`CPU worker ${lane.index}: ${message(e)}`);
      }
      if (alone || control.finish()) port.post({ kind: 'done' });
    }
  }
});
