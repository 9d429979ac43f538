/** The CPU backend: the reference kernels on typed arrays, in any dtype including float64. */
import * as ref from '../kernels/reference/elementwise.js';
import { indexAdd, indexSelect } from '../kernels/reference/index-select.js';
import { matmul } from '../kernels/reference/matmul.js';
import { reduce } from '../kernels/reference/reduce.js';
import { window } from '../kernels/reference/window.js';
import { typedArrayFor, type DType } from '../tensor/dtype.js';
import { sizeOf } from '../tensor/shape.js';
import { Storage } from '../tensor/storage.js';
import { Tensor, cpuData } from '../tensor/tensor.js';
import type { Backend } from './backend.js';

export const cpuBackend: Backend = {
  device: 'cpu',
  fromArray: (values, shape, dtype, op = 'tensor') => new Tensor(Storage.cpu(values), shape, dtype, op),
  unary: (op, x) => cpuBackend.fromArray(ref.unary(op, cpuData(x), x.dtype), x.shape, x.dtype, op),
  binary: (op, a, b, outShape) =>
    cpuBackend.fromArray(ref.binary(op, cpuData(a), a.shape, cpuData(b), b.shape, outShape, a.dtype), outShape, a.dtype, op),
  where: (c, a, b, outShape) =>
    cpuBackend.fromArray(ref.where(cpuData(c), c.shape, cpuData(a), a.shape, cpuData(b), b.shape, outShape, a.dtype), outShape, a.dtype, 'where'),
  addN: (xs) => cpuBackend.fromArray(ref.addN(xs.map((x) => cpuData(x)), xs[0]!.dtype), xs[0]!.shape, xs[0]!.dtype, 'addN'),
  cast: (x, dtype) => cpuBackend.fromArray(ref.cast(cpuData(x), dtype), x.shape, dtype, 'cast'),
  reduce: (op, x, axis) => {
    const shape = x.shape.map((d, i) => (i === axis ? 1 : d));
    const dtype: DType = op === 'argmax' ? 'int32' : x.dtype;
    return cpuBackend.fromArray(reduce(op, cpuData(x), x.shape, axis, x.dtype), shape, dtype, op);
  },
  window: (x, outShape, spec) => cpuBackend.fromArray(window(cpuData(x), outShape, spec, x.dtype), outShape, x.dtype, 'window'),
  concat: (xs, axis, outShape) => {
    const out = typedArrayFor(xs[0].dtype, sizeOf(outShape));
    const outer = sizeOf(outShape.slice(0, axis));
    const inner = sizeOf(outShape.slice(axis + 1));
    let offset = 0;
    for (const x of xs) {
      const rows = x.shape[axis];
      const src = cpuData(x);
      for (let o = 0; o < outer; o++) {
        out.set(src.subarray(o * rows * inner, (o + 1) * rows * inner), (o * outShape[axis] + offset) * inner);
      }
      offset += rows;
    }
    return cpuBackend.fromArray(out, outShape, xs[0].dtype, 'concat');
  },
  indexSelect: (x, outer, rows, inner, index, outShape) =>
    cpuBackend.fromArray(indexSelect(cpuData(x), outer, rows, inner, cpuData(index), x.dtype), outShape, x.dtype, 'indexSelect'),
  indexAdd: (src, outer, rows, inner, index, outShape) =>
    cpuBackend.fromArray(indexAdd(cpuData(src), outer, rows, inner, cpuData(index), src.dtype), outShape, src.dtype, 'indexAdd'),
  matmul: (a, b, dims, outShape) => cpuBackend.fromArray(matmul(cpuData(a), cpuData(b), dims, a.dtype), outShape, a.dtype, 'matmul'),
};
