/** Signatures of the op kernels exported by kernels/ops (pointers are byte offsets). */
export interface OpKernelExports {
  add_f32(a: number, b: number, out: number, n: number): void;
}
