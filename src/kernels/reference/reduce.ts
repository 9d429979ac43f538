/**
 * Reference reduction over one axis. The tensor is viewed as [outer, R, inner] with R the reduced axis; the
 * result keeps the axis with size 1. Multi-axis reductions are repeated single-axis ones.
 */
import { typedArrayFor, type DType, type TypedArray } from '../../tensor/dtype.js';
import { splitAtAxis, type Shape } from '../../tensor/shape.js';

export type ReduceOp = 'sum' | 'max' | 'min' | 'argmax';

export function reduce(op: ReduceOp, x: TypedArray, shape: Shape, axis: number, dtype: DType): TypedArray {
  const [outer, r, inner] = splitAtAxis(shape, axis);
  const out = typedArrayFor(op === 'argmax' ? 'int32' : dtype, outer * inner);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const base = o * r * inner + i;
      let acc = op === 'sum' ? 0 : op === 'min' ? Infinity : -Infinity;
      let arg = 0;
      for (let k = 0; k < r; k++) {
        const v = x[base + k * inner];
        if (op === 'sum') acc += v;
        else if (op === 'min') acc = Math.min(acc, v);
        else if (op === 'max') acc = Math.max(acc, v);
        // argmax: first index of the maximum; NaN counts as maximal, as in NumPy.
        else if (v > acc || (Number.isNaN(v) && !Number.isNaN(acc))) {
          acc = v;
          arg = k;
        }
      }
      out[o * inner + i] = op === 'argmax' ? arg : acc;
    }
  }
  return out;
}
