/** wasm-chord: private, on-device LLM inference for JavaScript. */
export { WasmChord, type InitOptions } from './runtime/wasm-chord.js';
export type { LoadModelOptions, ModelSource } from './runtime/load-model.js';
export type { MemoryPlan, PlanBackend, PlanLimit, PlanOptions } from './runtime/plan.js';
export { ModelCache, type DownloadProgress, type ModelCacheOptions, type PullOptions, type StoreEntry } from './runtime/model-cache.js';
export type { CreateSessionOptions, Model, ModelContext, ModelInfo, ModelSession } from './runtime/api.js';
export type { GenerationResult, InferOptions, Prompt } from './runtime/session.js';
export type { EvaluateOptions } from './engine/session.js';
export type { ContextShift, GenerateOptions, GenerationStep, SamplerFunction, StopReason } from './engine/generate.js';
export { Sampler, argmax, type SamplingOptions } from './engine/sampler.js';
export {
  parseGrammar, GrammarMatcher, grammarAccepts, jsonSchemaToGrammar, jsonObjectGrammar, type CompiledGrammar, type JsonSchemaGrammarOptions,
} from './engine/grammar/index.js';
export { openaiApi, type ContextLease, type ContextProvider, type OpenAIApi, type OpenAIApiOptions, type RequestOptions } from './server/openai-api.js';
export type * from './server/openai-types.js';
export { SessionPool } from './server/session-pool.js';
export { WasmChordError, isWasmChordError, ERROR_CODES, type ErrorCode } from './errors.js';
export * from './gguf/index.js';
export { GGMLType, GGML_TYPES, typeInfo, typeByName, typeName, type GGMLTypeId, type GGMLTypeInfo } from './quant/types.js';
export * from './tokenizer/index.js';
export * from './chat/index.js';
