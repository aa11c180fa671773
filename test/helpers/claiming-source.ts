import type { ByteSource } from '../../src/gguf/byte-source.js';

/** A source that claims `size` bytes: `head` first, then zeros (a sparse file, a lying server, a header alone). */
export function claimingSource(head: Uint8Array, size: number, name = 'a huge claimed source'): ByteSource {
  return {
    name,
    size,
    async readInto(offset, target) {
      target.fill(0);
      if (offset < head.length) target.set(head.subarray(offset, offset + target.length));
    },
    async close() {},
  };
}
