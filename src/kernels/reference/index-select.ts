/**
 * Reference gather along an axis and its adjoint. x is viewed as [outer, R, inner]; `index` picks rows of R.
 * The adjoint (`indexAdd`) sums rows that were picked several times — the gradient of a gather.
 */
import { typedArrayFor, type DType, type TypedArray } from '../../tensor/dtype.js';

export function indexSelect(x: TypedArray, outer: number, rows: number, inner: number, index: TypedArray, dtype: DType): TypedArray {
  const out = typedArrayFor(dtype, outer * index.length * inner);
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < index.length; j++) {
      const r = index[j];
      for (let i = 0; i < inner; i++) out[(o * index.length + j) * inner + i] = x[(o * rows + r) * inner + i];
    }
  }
  return out;
}

export function indexAdd(src: TypedArray, outer: number, rows: number, inner: number, index: TypedArray, dtype: DType): TypedArray {
  const out = typedArrayFor(dtype, outer * rows * inner);
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < index.length; j++) {
      const r = index[j];
      for (let i = 0; i < inner; i++) out[(o * rows + r) * inner + i] += src[(o * index.length + j) * inner + i];
    }
  }
  return out;
}
