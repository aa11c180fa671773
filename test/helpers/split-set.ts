/** Split sets of real models, written with our writer into a folder, for the split tests. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeGGUF, MemorySource, readGGUF, splitFileName, splitWriteSpec, type GGUFWriteSpec, type SplitLimits } from '../../src/gguf/index.js';
import { readBytes } from './shared.js';

/** The write spec of a model under ../shared/models (its own metadata and tensor bytes). */
export async function modelSpec(file: string): Promise<GGUFWriteSpec> {
  const f = await readGGUF(new MemorySource(readBytes(`models/${file}`)));
  return { version: f.version as 2 | 3, metadata: f.metadata, tensors: f.tensors.map((t) => ({ name: t.name, type: t.type, shape: t.shape, data: () => f.readTensor(t) })) };
}

/** The shards' bytes, shard 1 first. */
export async function splitBytes(file: string, limits: SplitLimits): Promise<Uint8Array[]> {
  return Promise.all(splitWriteSpec(await modelSpec(file), limits).map((s) => encodeGGUF(s)));
}

/** Writes the shards as `dir/prefix-0000i-of-0000n.gguf`; returns their paths. */
export function writeShards(dir: string, prefix: string, shards: readonly Uint8Array[]): string[] {
  return shards.map((bytes, no) => {
    const path = splitFileName(join(dir, prefix), no, shards.length);
    writeFileSync(path, bytes);
    return path;
  });
}
