/** The CPU backend: the reference kernels on typed arrays, in any dtype including float64. */
import * as ref from '../kernels/reference/elementwise.js';
import { indexAdd, indexSelect } from '../kernels/reference/index-select.js';
import { matmul } from '../kernels/reference/matmul.js';
import { reduce } from '../kernels/reference/reduce.js';
import { window } from '../kernels/reference/window.js';
import { typedArrayFor, type DType, type TypedArray } from '../tensor/dtype.js';
import { sizeOf } from '../tensor/shape.js';
import { Storage } from '../tensor/storage.js';
import { Tensor } from '../tensor/tensor.js';
import type { Backend } from './backend.js';

const data = (t: Tensor): TypedArray => t.storage().data;

export const cpuBackend: Backend = {
  device: 'cpu',
  fromArray: (values, shape, dtype, op = 'tensor') => new Tensor(Storage.cpu(values), shape, dtype, op),
  unary: (op, x) => cpuBackend.fromArray(ref.unary(op, data(x), x.dtype), x.shape, x.dtype, op),
  binary: (op, a, b, outShape, outDtype) =>
    cpuBackend.fromArray(ref.binary(op, data(a), a.shape, data(b), b.shape, outShape, outDtype), outShape, outDtype, op),
  where: (c, a, b, outShape) =>
    cpuBackend.fromArray(ref.where(data(c), c.shape, data(a), a.shape, data(b), b.shape, outShape, a.dtype), outShape, a.dtype, 'where'),
  cast: (x, dtype) => cpuBackend.fromArray(ref.cast(data(x), dtype), x.shape, dtype, 'cast'),
  reduce: (op, x, axis) => {
    const shape = x.shape.map((d, i) => (i === axis ? 1 : d));
    const dtype: DType = op === 'argmax' ? 'int32' : x.dtype;
    return cpuBackend.fromArray(reduce(op, data(x), x.shape, axis, x.dtype), shape, dtype, op);
  },
  window: (x, outShape, spec) => cpuBackend.fromArray(window(data(x), outShape, spec, x.dtype), outShape, x.dtype, 'window'),
  concat: (xs, axis, outShape) => {
    const out = typedArrayFor(xs[0].dtype, sizeOf(outShape));
    const outer = sizeOf(outShape.slice(0, axis));
    const inner = sizeOf(outShape.slice(axis + 1));
    let offset = 0;
    for (const x of xs) {
      const rows = x.shape[axis];
      const src = data(x);
      for (let o = 0; o < outer; o++) {
        out.set(src.subarray(o * rows * inner, (o + 1) * rows * inner), (o * outShape[axis] + offset) * inner);
      }
      offset += rows;
    }
    return cpuBackend.fromArray(out, outShape, xs[0].dtype, 'concat');
  },
  indexSelect: (x, outer, rows, inner, index, outShape) =>
    cpuBackend.fromArray(indexSelect(data(x), outer, rows, inner, data(index), x.dtype), outShape, x.dtype, 'indexSelect'),
  indexAdd: (src, outer, rows, inner, index, outShape) =>
    cpuBackend.fromArray(indexAdd(data(src), outer, rows, inner, data(index), src.dtype), outShape, src.dtype, 'indexAdd'),
  matmul: (a, b, dims, outShape) => cpuBackend.fromArray(matmul(data(a), data(b), dims, a.dtype), outShape, a.dtype, 'matmul'),
};
