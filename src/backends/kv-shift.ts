/**
 * A context shift computed on the host over the backend-neutral KV layout (Backend.readKV's), for
 * backends whose cache lives where no kernel of ours shifts it (the GPU reads it back, shifts,
 * writes it again: a shift is rare, a step is not).
 */
import { WasmChordError } from '../errors.js';
import { f16BitsToF32, f32ToF16Bits } from '../quant/half.js';
import type { KVCacheType, KVLayerData, KVLayerSpec, KVShift } from './backend.js';
import { rotateHead } from './reference/ops.js';

/**
 * One layer's data for positions [0, used) -> [0, used - discard): positions [keep, keep+discard)
 * dropped, the later ones moved down with their keys turned back by `discard` positions.
 */
export function shiftLayerData(data: KVLayerData, layer: KVLayerSpec, type: KVCacheType, shift: KVShift, factors?: Float32Array): KVLayerData {
  const { keep, discard, used } = shift;
  const rope = layer.rope;
  if (!rope) throw new WasmChordError('INVALID_ARGUMENT', 'a layer without RoPE cannot be shifted');
  const { nKvHead, headDim } = layer;
  const kept = used - discard;
  const decode = (bytes: Uint8Array): Float32Array => {
    const copy = bytes.slice(); // aligned
    return type === 'f16' ? Float32Array.from(new Uint16Array(copy.buffer), f16BitsToF32) : new Float32Array(copy.buffer);
  };
  const encode = (values: Float32Array): Uint8Array =>
    new Uint8Array(type === 'f16' ? Uint16Array.from(values, f32ToF16Bits).buffer : values.buffer);
  const move = (src: Float32Array, rotate: boolean): Float32Array => {
    const out = new Float32Array(nKvHead * kept * headDim);
    for (let h = 0; h < nKvHead; h++) {
      const from = (p: number) => (h * used + p) * headDim;
      const to = h * kept * headDim;
      out.set(src.subarray(from(0), from(keep)), to);
      out.set(src.subarray(from(keep + discard), from(used)), to + keep * headDim);
      if (!rotate) continue;
      for (let p = keep; p < kept; p++) {
        const row = out.subarray(to + p * headDim, to + (p + 1) * headDim);
        rotateHead(row, row, 0, -discard, rope, factors);
      }
    }
    return out;
  };
  return { keys: encode(move(decode(data.keys), true)), values: encode(move(decode(data.values), false)) };
}
