/** `wasm-chord inspect <file|url> [--json]`: a GGUF file's metadata and tensor table. */
import { parseArgs } from 'node:util';
import { WasmChordError } from '../errors.js';
import {
  GGUFValueType,
  valueTypeName,
  type GGUFArray,
  type GGUFFile,
  type GGUFValue,
  type GGUFValueTypeId,
} from '../gguf/index.js';
import { readGGUFHeader } from '../gguf/open-source.js';
import { typeName } from '../quant/types.js';
import { CommandOutput } from './terminal.js';
import { formatBytes } from '../format.js';

/** Arrays longer than this are summarised as { type, length }. */
const MAX_LISTED_ITEMS = 16;

export async function inspectCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { json: { type: 'boolean', default: false } },
    allowPositionals: true,
  });
  if (positionals.length !== 1) {
    throw new WasmChordError('INVALID_ARGUMENT', 'usage: wasm-chord inspect <file|url> [--json]');
  }
  const file = await readGGUFHeader(positionals[0]!);
  // Keys and tensor names come from the file: on a terminal, control characters are shown, not run.
  const out = new CommandOutput({ raw: values.json });
  out.write(values.json ? `${JSON.stringify(toJson(file))}\n` : toText(file));
  await out.end();
  return 0;
}

/** The shortest decimal that reads back as the same float32 (1e-6, not 9.99999997e-7). */
function shortestF32(x: number): number {
  for (let p = 1; p < 9; p++) {
    const y = Number(x.toPrecision(p));
    if (Math.fround(y) === x) return y;
  }
  return x;
}

/** JSON form of a metadata value: bigints as numbers where exact, long arrays summarised. */
function jsonValue(value: GGUFValue, type: GGUFValueTypeId): unknown {
  if (typeof value === 'bigint') return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString();
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return String(value);
    return type === GGUFValueType.FLOAT32 ? shortestF32(value) : value;
  }
  if (typeof value !== 'object') return value;
  const arr = value as GGUFArray;
  if (arr.items.length > MAX_LISTED_ITEMS) {
    return { type: `array<${itemTypeName(arr)}>`, length: arr.items.length };
  }
  return Array.from(arr.items as ArrayLike<GGUFValue>, (v) => jsonValue(v, arr.itemType));
}

function itemTypeName(arr: GGUFArray): string {
  return valueTypeName(arr.itemType).toLowerCase();
}

export interface InspectJson {
  version: number;
  alignment: number;
  dataOffset: number;
  metadata: Record<string, unknown>;
  /** `offset` is absolute (from the start of the file). */
  tensors: { name: string; type: string; shape: number[]; offset: number; bytes: number }[];
}

function toJson(file: GGUFFile): InspectJson {
  // Keys come from the file: no prototype, so "__proto__" is a key like any other.
  const metadata: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  for (const [key, kv] of file.metadata.entries()) metadata[key] = jsonValue(kv.value, kv.type);
  return {
    version: file.version,
    alignment: file.alignment,
    dataOffset: file.dataOffset,
    metadata,
    tensors: file.tensors.map((t) => ({
      name: t.name,
      type: typeName(t.type),
      shape: [...t.shape],
      offset: file.dataOffset + t.offset,
      bytes: t.byteLength,
    })),
  };
}

function textValue(value: GGUFValue, type: GGUFValueTypeId): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 200 ? `${value.slice(0, 200)}…` : value);
  if (typeof value !== 'object') return String(jsonValue(value, type));
  const arr = value as GGUFArray;
  const shown = Array.from((arr.items as ArrayLike<GGUFValue>), (v) => textValue(v, arr.itemType)).slice(0, 8);
  const more = arr.items.length > shown.length ? `, … (${arr.items.length} items)` : '';
  return `[${itemTypeName(arr)}] [${shown.join(', ')}${more}]`;
}

function toText(file: GGUFFile): string {
  const out: string[] = [];
  out.push(`${file.source.name}: GGUF v${file.version}, ${formatBytes(file.source.size, 2)}, alignment ${file.alignment}, data at byte ${file.dataOffset}`);
  out.push('', `metadata (${file.metadata.size} keys):`);
  for (const [key, kv] of file.metadata.entries()) {
    const type = kv.type === GGUFValueType.ARRAY ? 'array' : valueTypeName(kv.type).toLowerCase();
    out.push(`  ${key} (${type}) = ${textValue(kv.value, kv.type)}`);
  }
  out.push('', `tensors (${file.tensors.length}):`);
  const rows = file.tensors.map((t) => [
    t.name,
    typeName(t.type),
    `[${t.shape.join(', ')}]`,
    String(file.dataOffset + t.offset),
    String(t.byteLength),
  ]);
  const header = ['name', 'type', 'shape', 'offset', 'bytes'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => `  ${r.map((c, i) => (i >= 3 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ')}`;
  out.push(line(header), ...rows.map(line));
  const byType = new Map<string, { count: number; bytes: number }>();
  let params = 0;
  let bytes = 0;
  for (const t of file.tensors) {
    const s = byType.get(typeName(t.type)) ?? { count: 0, bytes: 0 };
    s.count++;
    s.bytes += t.byteLength;
    byType.set(typeName(t.type), s);
    params += t.elementCount;
    bytes += t.byteLength;
  }
  out.push('', `totals: ${file.tensors.length} tensors, ${params.toLocaleString('en-US')} parameters, ${formatBytes(bytes, 2)} of tensor data`);
  for (const [type, s] of byType) out.push(`  ${type}: ${s.count} tensors, ${formatBytes(s.bytes, 2)}`);
  return `${out.join('\n')}\n`;
}
