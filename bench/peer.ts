/**
 * The native peer: node-llama-cpp (llama.cpp's prebuilt CPU binaries, run offline), installed
 * apart from the project with `npm install --prefix bench/peer` because it weighs about 700 MB.
 * Only the calls the benchmarks make are typed here, so the project type-checks without it.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

export interface PeerSequence {
  clearHistory(): Promise<void>;
  evaluateWithoutGeneratingNewTokens(tokens: number[]): Promise<void>;
  /** Evaluates `tokens`, then each sampled token in turn, yielding every sampled token. */
  evaluate(tokens: number[], options: { temperature: number; yieldEogToken?: boolean }): AsyncIterable<number>;
}
export interface PeerContext {
  readonly flashAttention: boolean;
  getSequence(): PeerSequence;
  dispose(): Promise<void>;
}
export interface PeerModel {
  tokenize(text: string, specialTokens?: boolean): number[];
  createContext(options: { contextSize: number; batchSize: number; threads: number }): Promise<PeerContext>;
  dispose(): Promise<void>;
}
export interface PeerLlama {
  loadModel(options: { modelPath: string; vocabOnly?: boolean }): Promise<PeerModel>;
}

/** node-llama-cpp's entry: bench/peer's, or NODE_LLAMA_CPP (the GPU machine carries its own). */
const ENTRY = process.env.NODE_LLAMA_CPP ?? fileURLToPath(new URL('./peer/node_modules/node-llama-cpp/dist/index.js', import.meta.url));

/**
 * llama.cpp on the CPU only, or on its Vulkan backend (never building or downloading), or
 * undefined when not installed.
 */
export async function nativeLlama(gpu: false | 'vulkan' = false): Promise<PeerLlama | undefined> {
  if (!existsSync(ENTRY)) {
    process.stderr.write('node-llama-cpp is not installed: run `npm install --prefix bench/peer` for the side-by-side numbers\n');
    return undefined;
  }
  const peer = await import(pathToFileURL(ENTRY).href);
  return peer.getLlama({ gpu, build: 'never', logLevel: peer.LlamaLogLevel.disabled });
}
