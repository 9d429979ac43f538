/**
 * The affine gather behind permute, slice, pad, flip and broadcast: output element at coordinates o reads the
 * input at flat index Σ c_d·coef_d, with c_d = shift_d + o_d·step_d, or `fill` where a coordinate falls outside
 * [0, bound_d). One spec, one kernel, many ops.
 */
import { typedArrayFor, type DType, type TypedArray } from '../../tensor/dtype.js';
import { sizeOf, type Shape } from '../../tensor/shape.js';

export interface WindowSpec {
  /** Per output dimension: the flat-index stride in the input for one step of c_d (0 for broadcast). */
  coef: number[];
  shift: number[];
  step: number[];
  /** Valid input coordinates are [0, bound). */
  bound: number[];
  fill: number;
}

export function window(x: TypedArray, outShape: Shape, spec: WindowSpec, dtype: DType): TypedArray {
  const out = typedArrayFor(dtype, sizeOf(outShape));
  const rank = outShape.length;
  const coord = new Array<number>(rank).fill(0);
  for (let i = 0; i < out.length; i++) {
    let src = 0;
    let inside = true;
    for (let d = 0; d < rank; d++) {
      const c = spec.shift[d] + coord[d] * spec.step[d];
      if (c < 0 || c >= spec.bound[d]) inside = false;
      src += c * spec.coef[d];
    }
    out[i] = inside ? x[src] : spec.fill;
    for (let d = rank - 1; d >= 0; d--) {
      if (++coord[d] < outShape[d]) break;
      coord[d] = 0;
    }
  }
  return out;
}
