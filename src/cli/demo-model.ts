/**
 * The demo model that ships with the package (assets/demo.gguf): a small llama that wasm-chord
 * trained itself on children's stories its own generator writes (tools/train-demo-model).
 * `wasm-chord demo`, and `wasm-chord run` without -m, generate from it.
 */
import { fileURLToPath } from 'node:url';

export const DEMO_MODEL_PATH = fileURLToPath(new URL('../../assets/demo.gguf', import.meta.url));
