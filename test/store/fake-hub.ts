/**
 * A loopback stand-in for huggingface.co: the tree API (`/api/models/OWNER/REPO/tree/REV[/DIR]`,
 * `?recursive=true`, paged two entries at a time through Link headers, as the Hub pages) and
 * resolve URLs (`/OWNER/REPO/resolve/REV/PATH`) served from real files with ranges.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { serveFolder, type ServerOptions, type TestServer } from '../helpers/http-server.js';
import { SHARED } from '../helpers/shared.js';

const MODELS = join(SHARED, 'models');
const PAGE = 2;

/** Repo -> path in the repo -> the file under ../shared/models it serves (or null: listed only). */
export type FakeRepos = Record<string, Record<string, string | null>>;

export const sha256Of = (file: string, root = MODELS): string => createHash('sha256').update(readFileSync(join(root, file))).digest('hex');

/**
 * `oids` overrides the sha256 the tree API reports for a path (to test the integrity check);
 * `options.root` serves files from another folder than ../shared/models.
 */
export async function fakeHub(repos: FakeRepos, oids: Record<string, string> = {}, options: ServerOptions & { root?: string } = {}): Promise<TestServer> {
  const root = options.root ?? MODELS;
  const tree = (repo: string, dir: string, recursive: boolean) =>
    Object.entries(repos[repo] ?? {})
      .filter(([path]) => (dir ? path.startsWith(`${dir}/`) : true) && (recursive || !path.slice(dir ? dir.length + 1 : 0).includes('/')))
      .map(([path, file]) => {
        const size = file ? readFileSync(join(root, file)).length : 100;
        return { type: 'file', oid: 'f'.repeat(40), size, path, lfs: { oid: oids[path] ?? (file ? sha256Of(file, root) : 'e'.repeat(64)), size, pointerSize: 134 } };
      });
  return serveFolder(root, {
    ...options,
    api: (pathAndQuery) => {
      const url = new URL(pathAndQuery, 'http://hub');
      const m = /^\/api\/models\/([^/]+\/[^/]+)\/tree\/main(?:\/(.*))?$/.exec(url.pathname);
      if (!m) return undefined;
      if (!repos[m[1]!]) return { status: 404, json: { error: 'Repository not found' } };
      const all = tree(m[1]!, m[2] ? decodeURIComponent(m[2]) : '', url.searchParams.get('recursive') === 'true');
      const at = Number(url.searchParams.get('cursor') ?? 0);
      if (at + PAGE >= all.length) return { json: all.slice(at) };
      url.searchParams.set('cursor', String(at + PAGE));
      return { json: all.slice(at, at + PAGE), headers: { Link: `<${url.pathname}${url.search}>; rel="next"` } };
    },
    rewrite: (path) => {
      const m = /^\/([^/]+\/[^/]+)\/resolve\/main\/(.+)$/.exec(path);
      return (m && repos[m[1]!]?.[m[2]!]) ?? path;
    },
  });
}
