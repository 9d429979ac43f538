/**
 * The small interface both backends implement: the primitive kernels. Ops (src/ops) are written once on top
 * of it, with their gradients; a backend only has to compute forward values. Tensors handed in are always
 * contiguous and on the backend's device; results are new tensors without autograd history.
 */
import type { BinaryOp, UnaryOp } from '../kernels/elementwise-ops.js';
import type { MatmulDims } from '../kernels/reference/matmul.js';
import type { ReduceOp } from '../kernels/reference/reduce.js';
import type { WindowSpec } from '../kernels/reference/window.js';
import type { DType, TypedArray } from '../tensor/dtype.js';
import type { Shape } from '../tensor/shape.js';
import type { Device } from '../tensor/storage.js';
import type { Tensor } from '../tensor/tensor.js';

export interface Backend {
  readonly device: Device;
  /** A tensor holding `data`: the CPU backend keeps the array itself, the WebGPU backend copies it into a buffer. */
  fromArray(data: TypedArray, shape: Shape, dtype: DType, op?: string): Tensor;
  unary(op: UnaryOp, x: Tensor): Tensor;
  /** Broadcasting binary op on operands of one dtype, which the result has too; `outShape` is the broadcast shape. */
  binary(op: BinaryOp, a: Tensor, b: Tensor, outShape: Shape): Tensor;
  where(cond: Tensor, a: Tensor, b: Tensor, outShape: Shape): Tensor;
  /** The sum of tensors of one shape and dtype, added in list order: ((x₀ + x₁) + x₂) + …, as a chain of `add`s would. */
  addN(xs: readonly Tensor[]): Tensor;
  cast(x: Tensor, dtype: DType): Tensor;
  /** Reduces one axis, keeping it with size 1. */
  reduce(op: ReduceOp, x: Tensor, axis: number): Tensor;
  window(x: Tensor, outShape: Shape, spec: WindowSpec): Tensor;
  concat(xs: Tensor[], axis: number, outShape: Shape): Tensor;
  /** x viewed as [outer, rows, inner]; picks `index` rows. */
  indexSelect(x: Tensor, outer: number, rows: number, inner: number, index: Tensor, outShape: Shape): Tensor;
  /** The adjoint of indexSelect: zeros of `outShape` with the picked rows of `src` added in. */
  indexAdd(src: Tensor, outer: number, rows: number, inner: number, index: Tensor, outShape: Shape): Tensor;
  matmul(a: Tensor, b: Tensor, dims: MatmulDims, outShape: Shape): Tensor;
}
