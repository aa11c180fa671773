/** The shared reference folder beside the repository (../shared), and small readers for it. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const SHARED = fileURLToPath(new URL('../../../shared/', import.meta.url));

/** A little-endian float32 file as a Float32Array (path relative to SHARED or absolute). */
export function readF32(path: string): Float32Array {
  const b = readFileSync(path.startsWith('/') ? path : join(SHARED, path));
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

export function readJson<T = unknown>(path: string): T {
  return JSON.parse(readFileSync(path.startsWith('/') ? path : join(SHARED, path), 'utf8')) as T;
}

/** A binary file as a Uint8Array (path relative to SHARED or absolute). */
export function readBytes(path: string): Uint8Array {
  return new Uint8Array(readFileSync(path.startsWith('/') ? path : join(SHARED, path)));
}
