/**
 * Split GGUF sets, as llama.cpp's gguf-split writes them: `<prefix>-00001-of-00003.gguf`, … (shard
 * numbers 1-based, five digits). Every shard is a complete GGUF file. Each carries `split.no`
 * (u16, 0-based), `split.count` (u16) and `split.tensors.count` (i32: the tensors of the whole
 * set); the first shard also carries all the model's metadata, the others nothing else. A
 * shard's tensor infos describe its own tensors, at offsets in its own data section.
 *
 * Reading: the shards' headers merge into one GGUFFile over a SplitSource, a ByteSource that lays
 * the shards' data sections end to end (each at an aligned offset), so a backend loads a split
 * model as it loads one file, every tensor streaming from its own shard.
 */
import { WasmChordError } from '../errors.js';
import { tensorByteSize } from '../quant/types.js';
import { checkRange, type ByteSource } from './byte-source.js';
import { GGUFMetadata, GGUFValueType, type GGUFKeyValue } from './metadata.js';
import { alignUp, GGUF_DEFAULT_ALIGNMENT, GGUFFile, readGGUF, type GGUFTensorInfo, type ReadGGUFOptions } from './reader.js';
import type { GGUFWriteSpec, GGUFWriteTensor } from './writer.js';

export const SPLIT_KEYS = { no: 'split.no', count: 'split.count', tensors: 'split.tensors.count' } as const;

/** Where a shard sits in its set, from its header. */
export interface SplitInfo {
  /** 0-based. */
  no: number;
  count: number;
  /** Tensors in the whole set. */
  tensors: number;
}

const SPLIT_NAME = /-(\d{5})-of-(\d{5})\.gguf$/;

/** `prefix-00002-of-00003.gguf` for shard `no` (0-based) of `count`. */
export function splitFileName(prefix: string, no: number, count: number): string {
  const five = (n: number) => String(n).padStart(5, '0');
  return `${prefix}-${five(no + 1)}-of-${five(count)}.gguf`;
}

/** The prefix and place (0-based) that a shard's name (a path, URL or hf:// id) gives; undefined for other names. */
export function parseSplitName(name: string): { prefix: string; no: number; count: number } | undefined {
  const path = isUrl(name) ? new URL(name).pathname : name;
  const m = SPLIT_NAME.exec(path);
  if (!m || Number(m[1]) < 1 || Number(m[1]) > Number(m[2])) return undefined;
  return { prefix: path.slice(0, m.index), no: Number(m[1]) - 1, count: Number(m[2]) };
}

/** The name of shard `no` of the set that `name` names a shard of (a URL keeps its query). */
export function siblingName(name: string, no: number, count: number): string {
  if (!isUrl(name)) return splitFileName(parseSplitName(name)!.prefix, no, count);
  const url = new URL(name);
  url.pathname = splitFileName(parseSplitName(url.href)!.prefix, no, count);
  return url.href;
}

function isUrl(name: string): boolean {
  return /^(https?|file):/i.test(name);
}

/** The split keys of a file's header; undefined for a file that belongs to no set. */
export function splitInfo(file: GGUFFile): SplitInfo | undefined {
  const m = file.metadata;
  const count = m.getInteger(SPLIT_KEYS.count);
  if (count === undefined) return undefined;
  const no = m.getInteger(SPLIT_KEYS.no);
  const tensors = m.getInteger(SPLIT_KEYS.tensors);
  const where = file.source.name;
  if (count < 1 || count > 0xffff) throw new WasmChordError('GGUF_MALFORMED', `${where}: ${SPLIT_KEYS.count} is ${count}`);
  if (no === undefined || no < 0 || no >= count) {
    throw new WasmChordError('GGUF_MALFORMED', `${where}: ${SPLIT_KEYS.no} is ${no ?? 'missing'} in a set of ${count} shards`);
  }
  if (tensors === undefined || tensors < 0) {
    throw new WasmChordError('GGUF_MALFORMED', `${where}: ${SPLIT_KEYS.tensors} is ${tensors ?? 'missing'}`);
  }
  return { no, count, tensors };
}

/** Opens another shard of a set by its name (a path, URL or model id, as the first was named). */
export type ShardOpener = (name: string) => Promise<ByteSource>;

/**
 * Reads the GGUF file in `source`; when it is a shard of a set of several (any shard of it), the
 * other shards are found by `name` (the shard's path, URL or id, named as gguf-split names them)
 * and opened with `open`, and the whole set is returned as one file. The result owns the shards
 * it opened; on failure they are closed (`source` stays the caller's to close).
 */
export async function readGGUFSet(source: ByteSource, options: ReadGGUFOptions & { name?: string; open?: ShardOpener } = {}): Promise<GGUFFile> {
  const file = await readGGUF(source, options);
  const info = splitInfo(file);
  if (!info || info.count === 1) return file;
  const named = options.name === undefined ? undefined : parseSplitName(options.name);
  if (!named || !options.open) {
    throw new WasmChordError(
      'INVALID_ARGUMENT',
      `${source.name} is shard ${info.no + 1} of ${info.count} of a split GGUF set: pass all its shards (an array of files or buffers), or a path or URL named as gguf-split names shards (${splitFileName('…', info.no, info.count)})`,
    );
  }
  if (named.no !== info.no || named.count !== info.count) {
    throw new WasmChordError('GGUF_MALFORMED', `${source.name} is named shard ${named.no + 1} of ${named.count}, but its header says shard ${info.no + 1} of ${info.count}`);
  }
  const files: GGUFFile[] = [];
  try {
    for (let no = 0; no < info.count; no++) {
      if (no === info.no) {
        files.push(file);
        continue;
      }
      const name = siblingName(options.name!, no, info.count);
      const shard = await options.open(name).catch((err: unknown) => {
        throw err instanceof WasmChordError ? new WasmChordError(err.code, `shard ${no + 1} of ${info.count} (${name}): ${err.message}`, { cause: err }) : err;
      });
      files.push(await readGGUF(shard, options).catch(async (err: unknown) => {
        await shard.close();
        throw err;
      }));
    }
    return mergeShards(files);
  } catch (err) {
    await closeAll(files.filter((f) => f !== file));
    throw err;
  }
}

/**
 * Reads the shards of one set from sources given in any order (files a user picked, buffers) as
 * one file; a single source that belongs to no set is read as it is. The result owns the sources.
 */
export async function readGGUFShards(sources: readonly ByteSource[], options: ReadGGUFOptions = {}): Promise<GGUFFile> {
  const files: GGUFFile[] = [];
  try {
    if (sources.length === 0) throw new WasmChordError('INVALID_ARGUMENT', 'an empty array is no model: give the shards of a split GGUF set');
    for (const s of sources) files.push(await readGGUF(s, options));
    if (files.length === 1 && (splitInfo(files[0]!)?.count ?? 1) === 1) return files[0]!;
    const placed = files.map((f) => {
      const info = splitInfo(f);
      if (!info) throw new WasmChordError('GGUF_MALFORMED', `${f.source.name} is not a shard of a split GGUF set (it has no ${SPLIT_KEYS.count}), but was given with ${files.length - 1} others`);
      return { f, info };
    });
    const count = placed[0]!.info.count;
    const shards: GGUFFile[] = new Array(count);
    for (const { f, info } of placed) {
      if (info.count !== count) throw mismatch(f, info, info.no, count);
      const other = shards[info.no];
      if (other) throw new WasmChordError('GGUF_MALFORMED', `${other.source.name} and ${f.source.name} both say they are shard ${info.no + 1} of ${count}`);
      shards[info.no] = f;
    }
    const missing = [...shards.keys()].filter((i) => !shards[i]).map((i) => i + 1);
    if (missing.length > 0) throw new WasmChordError('GGUF_MALFORMED', `the split GGUF set of ${count} shards lacks shard${missing.length > 1 ? 's' : ''} ${missing.join(', ')} (${files.length} given)`);
    return mergeShards(shards);
  } catch (err) {
    await Promise.all(sources.map((s) => s.close()));
    throw err;
  }
}

/** `f` stands where shard `no` of `count` belongs but says otherwise. */
function mismatch(f: GGUFFile, info: SplitInfo, no: number, count: number): WasmChordError {
  return new WasmChordError('GGUF_MALFORMED', `${f.source.name} says it is shard ${info.no + 1} of ${info.count}, where shard ${no + 1} of ${count} belongs (a shard of another set?)`);
}

/** Shards in order -> one file over a SplitSource; every split key is checked against the set. */
function mergeShards(shards: readonly GGUFFile[]): GGUFFile {
  const count = shards.length;
  const first = splitInfo(shards[0]!)!;
  const alignment = Math.max(...shards.map((s) => s.alignment));
  const parts: SplitPart[] = [];
  const tensors: GGUFTensorInfo[] = [];
  const shardOf = new Map<string, string>();
  let at = 0;
  shards.forEach((shard, no) => {
    const info = splitInfo(shard);
    if (!info) throw new WasmChordError('GGUF_MALFORMED', `${shard.source.name} (shard ${no + 1} of ${count}) has no ${SPLIT_KEYS.count}`);
    if (info.count !== count || info.no !== no) throw mismatch(shard, info, no, count);
    if (info.tensors !== first.tensors) {
      throw new WasmChordError('GGUF_MALFORMED', `${shard.source.name} says the set has ${info.tensors} tensors, ${shards[0]!.source.name} says ${first.tensors}`);
    }
    at = alignUp(at, alignment);
    for (const t of shard.tensors) {
      const other = shardOf.get(t.name);
      if (other !== undefined) throw new WasmChordError('GGUF_MALFORMED', `tensor "${t.name}" is in both ${other} and ${shard.source.name}`);
      shardOf.set(t.name, shard.source.name);
      tensors.push({ ...t, offset: at + t.offset });
    }
    const length = Math.max(0, shard.source.size - shard.dataOffset);
    parts.push({ source: shard.source, from: shard.dataOffset, length, at });
    at += length;
  });
  if (tensors.length !== first.tensors) {
    throw new WasmChordError('GGUF_MALFORMED', `the ${count} shards of ${shards[0]!.source.name} hold ${tensors.length} tensors, but ${SPLIT_KEYS.tensors} says ${first.tensors}`);
  }
  return new GGUFFile(new SplitSource(parts, `${shards[0]!.source.name} (+${count - 1} shards)`), shards[0]!.version, shards[0]!.metadata, tensors, alignment, 0);
}

function closeAll(files: readonly GGUFFile[]): Promise<unknown> {
  return Promise.all(files.map((f) => f.source.close()));
}

interface SplitPart {
  readonly source: ByteSource;
  /** Where the shard's data section starts in its own source. */
  readonly from: number;
  readonly length: number;
  /** Where it starts in the SplitSource. */
  readonly at: number;
}

/** The shards' data sections end to end; the bytes between them (alignment) read as zeros. */
export class SplitSource implements ByteSource {
  readonly size: number;

  constructor(
    readonly parts: readonly SplitPart[],
    readonly name: string,
  ) {
    const last = parts.at(-1);
    this.size = last ? last.at + last.length : 0;
  }

  async readInto(offset: number, target: Uint8Array, signal?: AbortSignal): Promise<void> {
    checkRange(this, offset, target.length);
    const end = offset + target.length;
    let pos = offset;
    for (const p of this.parts) {
      if (p.at >= end) break;
      const from = Math.max(pos, p.at);
      const to = Math.min(end, p.at + p.length);
      if (from >= to) continue;
      target.fill(0, pos - offset, from - offset);
      await p.source.readInto(p.from + from - p.at, target.subarray(from - offset, to - offset), signal);
      pos = to;
    }
    target.fill(0, pos - offset);
  }

  async close(): Promise<void> {
    await Promise.all(this.parts.map((p) => p.source.close()));
  }
}

/** Limits of one shard, as gguf-split's `--split-max-tensors` and `--split-max-size`. */
export interface SplitLimits {
  maxTensors?: number;
  /**
   * Tensor bytes per shard, each tensor counted with its alignment padding (the header is not
   * counted). A soft limit, as gguf-split's: a tensor larger than it gets a shard of its own.
   */
  maxBytes?: number;
}

/**
 * Cuts a model into the shards gguf-split writes: tensors in order, a new shard when the next
 * tensor would pass a limit; the first shard keeps the model's metadata, every shard gets the
 * split keys. Returns one write spec per shard (for writeGGUF), shard 1 first.
 */
export function splitWriteSpec(spec: GGUFWriteSpec, limits: SplitLimits): GGUFWriteSpec[] {
  const { maxTensors = Infinity, maxBytes = Infinity } = limits;
  for (const [name, v] of [['maxTensors', maxTensors], ['maxBytes', maxBytes]] as const) {
    if (!(v >= 1) || (v !== Infinity && !Number.isSafeInteger(v))) throw new WasmChordError('INVALID_ARGUMENT', `${name} must be a positive integer (got ${v})`);
  }
  const metadata = [...(spec.metadata instanceof GGUFMetadata ? spec.metadata.entries() : spec.metadata)];
  const alignment = metadata.find(([k]) => k === 'general.alignment')?.[1].value;
  const pad = typeof alignment === 'number' ? alignment : GGUF_DEFAULT_ALIGNMENT;
  const groups: GGUFWriteTensor[][] = [[]];
  let bytes = 0;
  for (const t of spec.tensors) {
    const n = alignUp(tensorByteSize(t.type, t.shape), pad);
    const group = groups.at(-1)!;
    if (group.length > 0 && (group.length >= maxTensors || bytes + n > maxBytes)) {
      groups.push([t]);
      bytes = n;
    } else {
      group.push(t);
      bytes += n;
    }
  }
  if (groups.length > 0xffff) throw new WasmChordError('INVALID_ARGUMENT', `these limits cut the model into ${groups.length} shards; split.count holds at most 65535`);
  const model = metadata.filter(([k]) => !Object.values<string>(SPLIT_KEYS).includes(k));
  return groups.map((tensors, no) => {
    const keys: [string, GGUFKeyValue][] = [
      [SPLIT_KEYS.no, { type: GGUFValueType.UINT16, value: no }],
      [SPLIT_KEYS.count, { type: GGUFValueType.UINT16, value: groups.length }],
      [SPLIT_KEYS.tensors, { type: GGUFValueType.INT32, value: spec.tensors.length }],
    ];
    return { version: spec.version, tensors, metadata: no === 0 ? [...model, ...keys] : keys };
  });
}
