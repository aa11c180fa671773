// Copies the compiled kernels next to the compiled loader in dist/.
import { cp } from 'node:fs/promises';

await cp('src/backends/cpu/wasm', 'dist/backends/cpu/wasm', { recursive: true });
