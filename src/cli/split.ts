/**
 * `wasm-chord split [--split-max-tensors N | --split-max-size N(M|G)] IN OUT_PREFIX`: cuts a GGUF
 * model into a split set as llama.cpp's gguf-split does (OUT_PREFIX-00001-of-0000N.gguf, …),
 * reading one tensor at a time.
 */
import { open, rm } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { WasmChordError } from '../errors.js';
import { openByteSource } from '../gguf/open-source.js';
import { readGGUFSet, splitFileName, splitWriteSpec, type SplitLimits } from '../gguf/split.js';
import { writeGGUF } from '../gguf/writer.js';
import { formatBytes } from '../format.js';
import { tensorByteSize } from '../quant/types.js';
import { CommandOutput } from './terminal.js';

const USAGE = `usage: wasm-chord split [options] IN.gguf OUT_PREFIX
  writes OUT_PREFIX-00001-of-0000N.gguf, … (llama.cpp's gguf-split layout; the first keeps the metadata)
      --split-max-tensors N     most tensors in one shard (default 128)
      --split-max-size N(M|G)   most tensor bytes in one shard (M = 10^6, G = 10^9; a larger tensor gets a shard of its own)
      --dry-run                 print the shards without writing them
`;

export async function splitCommand(argv: string[]): Promise<number> {
  const { values: v, positionals } = parseArgs({
    args: argv,
    options: {
      'split-max-tensors': { type: 'string' },
      'split-max-size': { type: 'string' },
      'dry-run': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    allowPositionals: true,
  });
  if (v.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (positionals.length !== 2) throw new WasmChordError('INVALID_ARGUMENT', `give IN.gguf and OUT_PREFIX\n${USAGE}`);
  const [input, prefix] = positionals as [string, string];
  const limits = parseLimits(v['split-max-tensors'], v['split-max-size']);
  const source = await openByteSource(input);
  const file = await readGGUFSet(source, { name: input, open: (name) => openByteSource(name) }).catch(async (err: unknown) => {
    await source.close();
    throw err;
  });
  const out = new CommandOutput();
  try {
    const shards = splitWriteSpec(
      { version: file.version as 2 | 3, metadata: file.metadata, tensors: file.tensors.map((t) => ({ ...t, data: () => file.readTensor(t) })) },
      limits,
    );
    for (const [no, shard] of shards.entries()) {
      const path = splitFileName(prefix, no, shards.length);
      const bytes = shard.tensors.reduce((n, t) => n + tensorByteSize(t.type, t.shape), 0);
      out.write(`${path}: ${shard.tensors.length} tensors, ${formatBytes(bytes)}\n`);
      if (!v['dry-run']) await writeFile(path, (sink) => writeGGUF(shard, sink));
    }
  } finally {
    await file.source.close();
  }
  await out.end();
  return 0;
}

function parseLimits(tensors: string | undefined, size: string | undefined): SplitLimits {
  if (tensors !== undefined && size !== undefined) {
    throw new WasmChordError('INVALID_ARGUMENT', 'give --split-max-tensors or --split-max-size, not both');
  }
  if (size !== undefined) {
    const m = /^([1-9]\d*)([MG])$/.exec(size);
    if (!m) throw new WasmChordError('INVALID_ARGUMENT', `--split-max-size must be a whole number followed by M or G, like 500M or 2G (got "${size}")`);
    return { maxBytes: Number(m[1]) * (m[2] === 'M' ? 1e6 : 1e9) };
  }
  const n = Number(tensors ?? 128);
  if (!Number.isSafeInteger(n) || n < 1) throw new WasmChordError('INVALID_ARGUMENT', `--split-max-tensors must be a positive integer (got "${tensors}")`);
  return { maxTensors: n };
}

/** Writes a new file (never over an existing one); a failed write leaves nothing behind. */
async function writeFile(path: string, write: (sink: (chunk: Uint8Array) => Promise<void>) => Promise<void>): Promise<void> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, 'wx');
  } catch (err) {
    throw new WasmChordError('SOURCE_IO', `cannot create ${path}: ${(err as Error).message}`, { cause: err });
  }
  try {
    await write(async (chunk) => {
      for (let at = 0; at < chunk.length; ) at += (await handle.write(chunk, at)).bytesWritten;
    });
    await handle.close();
  } catch (err) {
    await handle.close().catch(() => {});
    await rm(path, { force: true });
    throw err instanceof WasmChordError ? err : new WasmChordError('SOURCE_IO', `cannot write ${path}: ${(err as Error).message}`, { cause: err });
  }
}
