/**
 * Model ids: plain http(s) URLs, and Hugging Face ids resolved through the Hub.
 *
 *   hf://owner/repo/path/file.gguf             a file on the main branch
 *   hf://owner/repo@revision/path/file.gguf    at a branch, tag or commit (huggingface_hub's form)
 *   owner/repo:QUANT  (owner/repo@revision:QUANT)   the repo's .gguf whose name has that quant tag
 *
 * Canonical sources (the model store's keys): a URL without its fragment; `hf://owner/repo/path`
 * with `@revision` after the repo unless it is main. The Hub is https://huggingface.co unless
 * the `hubEndpoint` option or `WASM_CHORD_HF_ENDPOINT` names another (a mirror, or a test).
 */
import { WasmChordError } from '../errors.js';
import { concatBytes } from '../gguf/byte-source.js';
import { checkHeaders, DEFAULT_TIMEOUT_MS, request, statusError, streamBody } from '../gguf/http-source.js';
import { envVar } from '../platform/env.js';

export type ModelRef =
  | { kind: 'url'; url: string }
  | { kind: 'hf'; repo: string; revision: string; path: string }
  | { kind: 'hf-quant'; repo: string; revision: string; quant: string };

/** A model to download: where from, under which source, and its sha256 when the Hub knows it. */
export interface ResolvedModel {
  source: string;
  url: string;
  sha256?: string;
  bytes?: number;
}

export interface HubOptions {
  hubEndpoint?: string;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  timeoutMs?: number;
  fetch?: typeof fetch;
}

const NAME = '[A-Za-z0-9][A-Za-z0-9._-]*';
const HF_URL = new RegExp(`^hf://(${NAME}/${NAME})(?:@([^/]+))?/(.+)$`);
const HF_QUANT = new RegExp(`^(${NAME}/${NAME})(?:@([^/:]+))?:([A-Za-z0-9_.-]+)$`);

/**
 * What kind of id `text` is; undefined for anything else (a local path). A local file whose
 * path looks like `owner/repo:QUANT` is reached as `./owner/repo:QUANT`.
 */
export function parseModelRef(text: string): ModelRef | undefined {
  if (/^https?:\/\//i.test(text)) {
    let url: URL;
    try {
      url = new URL(text);
    } catch (err) {
      throw new WasmChordError('INVALID_ARGUMENT', `"${text}" is not a valid URL: ${(err as Error).message}`, { cause: err });
    }
    url.hash = '';
    return { kind: 'url', url: url.href };
  }
  if (/^hf:/i.test(text)) {
    const m = HF_URL.exec(text);
    const path = m?.[3]?.replace(/\/+$/, '');
    if (!m || !path || path.split('/').some((s) => s === '' || s === '.' || s === '..')) {
      throw new WasmChordError('INVALID_ARGUMENT', `"${text}" is not a Hugging Face file id; write hf://owner/repo/file.gguf or hf://owner/repo@revision/file.gguf`);
    }
    return { kind: 'hf', repo: m[1]!, revision: m[2] ? decodeURIComponent(m[2]) : 'main', path };
  }
  const q = HF_QUANT.exec(text);
  if (q) return { kind: 'hf-quant', repo: q[1]!, revision: q[2] ?? 'main', quant: q[3]! };
  return undefined;
}

/** The store key of a URL or hf:// ref (an `owner/repo:QUANT` ref has none until resolved). */
export function canonicalSource(ref: ModelRef): string | undefined {
  if (ref.kind === 'url') return ref.url;
  if (ref.kind === 'hf') return `hf://${ref.repo}${ref.revision === 'main' ? '' : `@${ref.revision}`}/${ref.path}`;
  return undefined;
}

export function hubEndpoint(option?: string): string {
  const env = envVar('WASM_CHORD_HF_ENDPOINT');
  const endpoint = option ?? (env || 'https://huggingface.co');
  if (!/^https?:\/\/[^/]+/i.test(endpoint)) {
    throw new WasmChordError('INVALID_ARGUMENT', `the Hugging Face endpoint must be an http(s) URL (got "${endpoint}")`);
  }
  return endpoint.replace(/\/+$/, '');
}

/** Whether a file name carries `quant` as a whole tag (Q4_K matches "x-Q4_K.gguf", not "x-Q4_K_M.gguf"). */
export function hasQuantTag(fileName: string, quant: string): boolean {
  const q = quant.toLowerCase().replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`(?:^|[^a-z0-9])${q}(?:$|[^a-z0-9_])`).test(fileName.toLowerCase().replace(/\.gguf$/, ''));
}

/** The .gguf files that answer `quant`: not projector files, and of a split set only its first part. */
export function quantCandidates(paths: readonly string[], quant: string): string[] {
  return paths.filter((p) => {
    const base = p.split('/').pop()!;
    if (!/\.gguf$/i.test(base) || /^mmproj/i.test(base)) return false;
    const split = /-(\d{5})-of-\d{5}\.gguf$/i.exec(base);
    if (split && Number(split[1]) !== 1) return false;
    return hasQuantTag(base, quant);
  });
}

/** The one candidate, or INVALID_ARGUMENT naming what there is. */
export function pickQuantFile(candidates: readonly string[], all: readonly string[], id: string, quant: string): string {
  if (candidates.length === 1) return candidates[0]!;
  const ggufs = all.filter((p) => /\.gguf$/i.test(p));
  if (candidates.length === 0) {
    throw new WasmChordError(
      'INVALID_ARGUMENT',
      `${id} has no .gguf file tagged ${quant}${ggufs.length ? `; its .gguf files: ${ggufs.slice(0, 30).join(', ')}` : ' (it has no .gguf files at all)'}`,
    );
  }
  throw new WasmChordError('INVALID_ARGUMENT', `${id}: several .gguf files match ${quant} (${candidates.join(', ')}); name one with hf://${id.split(':')[0]}/FILE`);
}

/** The download URL of a file on the Hub. */
export function resolveUrl(endpoint: string, repo: string, revision: string, path: string): string {
  return `${endpoint}/${repo}/resolve/${encodeURIComponent(revision)}/${path.split('/').map(encodeURIComponent).join('/')}`;
}

/** Resolves a URL or Hub ref to what to download (asking the Hub for hf ids). */
export async function resolveModel(ref: ModelRef, options: HubOptions = {}): Promise<ResolvedModel> {
  if (ref.kind === 'url') return { source: ref.url, url: ref.url };
  const endpoint = hubEndpoint(options.hubEndpoint);
  if (ref.kind === 'hf') {
    const dir = ref.path.includes('/') ? ref.path.slice(0, ref.path.lastIndexOf('/')) : '';
    const files = await listRepo(endpoint, ref.repo, ref.revision, dir, false, options);
    const file = files.find((f) => f.path === ref.path);
    if (!file) {
      const ggufs = files.filter((f) => /\.gguf$/i.test(f.path)).map((f) => f.path);
      throw new WasmChordError('INVALID_ARGUMENT', `${ref.repo} has no file ${ref.path} at ${ref.revision}${ggufs.length ? ` (there: ${ggufs.slice(0, 30).join(', ')})` : ''}`);
    }
    return { source: canonicalSource(ref)!, url: resolveUrl(endpoint, ref.repo, ref.revision, ref.path), sha256: file.sha256, bytes: file.size };
  }
  const files = await listRepo(endpoint, ref.repo, ref.revision, '', true, options);
  const all = files.map((f) => f.path);
  const id = `${ref.repo}${ref.revision === 'main' ? '' : `@${ref.revision}`}:${ref.quant}`;
  const path = pickQuantFile(quantCandidates(all, ref.quant), all, id, ref.quant);
  const file = files.find((f) => f.path === path)!;
  const hf = { kind: 'hf', repo: ref.repo, revision: ref.revision, path } as const;
  return { source: canonicalSource(hf)!, url: resolveUrl(endpoint, ref.repo, ref.revision, path), sha256: file.sha256, bytes: file.size };
}

interface RepoFile {
  path: string;
  size?: number;
  /** From the LFS pointer: the file's sha256. */
  sha256?: string;
}

/** Largest Hub API answer read (a repo listing is a few hundred KiB at most). */
const MAX_API_BYTES = 32 << 20;

/** The files of a repo folder, through the Hub's tree API (following its pages). */
async function listRepo(endpoint: string, repo: string, revision: string, dir: string, recursive: boolean, options: HubOptions): Promise<RepoFile[]> {
  const fetchFn = options.fetch ?? globalThis.fetch;
  const headers = checkHeaders(options.headers);
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const files: RepoFile[] = [];
  let url: string | undefined =
    `${endpoint}/api/models/${repo}/tree/${encodeURIComponent(revision)}${dir ? `/${dir.split('/').map(encodeURIComponent).join('/')}` : ''}${recursive ? '?recursive=true' : ''}`;
  for (let page = 0; url !== undefined && page < 100; page++) {
    const r = await request(fetchFn, url, headers, undefined, options.signal, timeoutMs);
    let text: string;
    try {
      if (r.response.status === 401 || r.response.status === 404) {
        throw new WasmChordError(
          'SOURCE_HTTP',
          `${repo} (revision ${revision}) was not found on ${endpoint} (HTTP ${r.response.status}); check the id, and for a private or gated repo pass an Authorization header`,
        );
      }
      if (r.response.status !== 200) throw statusError(url, r.response);
      const parts: Uint8Array[] = [];
      let size = 0;
      await streamBody(r, url, options.signal, (bytes) => {
        size += bytes.length;
        if (size > MAX_API_BYTES) throw new WasmChordError('SOURCE_HTTP', `${url}: the Hub's answer is larger than ${MAX_API_BYTES} bytes`);
        parts.push(bytes);
      });
      text = new TextDecoder().decode(concatBytes(parts));
      url = nextPage(r.response.headers.get('link'), url);
    } finally {
      await r.done();
    }
    files.push(...parseTree(text, repo));
  }
  return files;
}

/** The `rel="next"` target of a Link header. */
function nextPage(link: string | null, base: string): string | undefined {
  const m = link ? /<([^>]+)>\s*;\s*rel="?next"?/.exec(link) : null;
  return m ? new URL(m[1]!, base).href : undefined;
}

function parseTree(text: string, repo: string): RepoFile[] {
  let items: unknown;
  try {
    items = JSON.parse(text);
  } catch {
    items = undefined;
  }
  if (!Array.isArray(items)) throw new WasmChordError('SOURCE_HTTP', `the Hub's file list of ${repo} is not a JSON array`);
  const files: RepoFile[] = [];
  for (const item of items as { type?: unknown; path?: unknown; size?: unknown; lfs?: { oid?: unknown } }[]) {
    if (item?.type !== 'file' || typeof item.path !== 'string') continue;
    const oid = item.lfs?.oid;
    files.push({
      path: item.path,
      size: typeof item.size === 'number' ? item.size : undefined,
      sha256: typeof oid === 'string' && /^[0-9a-f]{64}$/i.test(oid) ? oid.toLowerCase() : undefined,
    });
  }
  return files;
}
