// Entry point of the CPU kernel module. Kernels are pointer-only functions over memory the host
// manages (see DESIGN.md and docs/ARCHITECTURE.md): no allocation, no GC objects, no mutable
// globals. Pointers are byte offsets into the imported memory.
export * from './ops/index';
export * from './quant/index';

/** First byte the host may use: everything below holds this module's static data. */
export function heap_base(): usize {
  return __heap_base;
}
