/** The entry script of the engine's dedicated worker (bundled to dist/web/engine-worker.js). */
import { host } from '../../platform/host.js';
import { serveEngine } from './engine-server.js';
import type { EngineReply, EngineRequest } from './protocol.js';

serveEngine(await host.workerPort<EngineRequest, EngineReply>());
