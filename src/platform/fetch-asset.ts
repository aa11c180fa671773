import { WasmChordError } from '../errors.js';

/**
 * Fetches one of the package's own files (a kernel build). A failure names the URL and the HTTP
 * status: a bundler that did not copy the .wasm files must not pass for a missing CPU feature.
 */
export async function fetchAsset(url: URL): Promise<Uint8Array<ArrayBuffer>> {
  let res: Response;
  try {
    res = await fetch(url);
  } catch (err) {
    throw new WasmChordError('SOURCE_IO', `cannot fetch ${url}: ${(err as Error).message}`, { cause: err });
  }
  if (!res.ok) throw new WasmChordError('SOURCE_IO', `cannot fetch ${url}: HTTP ${res.status} ${res.statusText}`.trimEnd());
  return new Uint8Array(await res.arrayBuffer());
}
