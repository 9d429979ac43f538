/** Reference elementwise kernels: the definitions the WGSL template is tested against. */
import { BINARY, UNARY, elementwiseFor, type BinaryOp, type UnaryOp } from '../elementwise-ops.js';
import { typedArrayFor, type DType, type TypedArray } from '../../tensor/dtype.js';
import { broadcastStrides, sizeOf, type Shape } from '../../tensor/shape.js';

export function unary(op: UnaryOp, x: TypedArray, dtype: DType): TypedArray {
  const f = elementwiseFor(op, UNARY[op], dtype).cpu;
  const out = typedArrayFor(dtype, x.length);
  for (let i = 0; i < x.length; i++) out[i] = f(x[i]);
  return out;
}

/**
 * Walks the output in row-major order and, for each operand, the flat index it reads: broadcast dimensions
 * have stride 0. `visit(outIndex, operandIndices)` is called once per output element.
 */
function forEachBroadcast(outShape: Shape, operandShapes: Shape[], visit: (i: number, idx: number[]) => void): void {
  const rank = outShape.length;
  const strides = operandShapes.map((s) => broadcastStrides(s, outShape));
  const coord = new Array<number>(rank).fill(0);
  const idx = operandShapes.map(() => 0);
  const n = sizeOf(outShape);
  for (let i = 0; i < n; i++) {
    visit(i, idx);
    for (let d = rank - 1; d >= 0; d--) {
      coord[d] += 1;
      for (let k = 0; k < idx.length; k++) idx[k] += strides[k][d];
      if (coord[d] < outShape[d]) break;
      for (let k = 0; k < idx.length; k++) idx[k] -= strides[k][d] * outShape[d];
      coord[d] = 0;
    }
  }
}

export function binary(op: BinaryOp, a: TypedArray, aShape: Shape, b: TypedArray, bShape: Shape, outShape: Shape, dtype: DType): TypedArray {
  const f = elementwiseFor(op, BINARY[op], dtype).cpu;
  const out = typedArrayFor(dtype, sizeOf(outShape));
  forEachBroadcast(outShape, [aShape, bShape], (i, [ia, ib]) => {
    out[i] = f(a[ia], b[ib]);
  });
  return out;
}

/** Σ xs in list order; the typed array rounds (or wraps) each partial sum, as one add at a time would. */
export function addN(xs: readonly TypedArray[], dtype: DType): TypedArray {
  const out = typedArrayFor(dtype, xs[0]!.length);
  out.set(xs[0]!);
  for (const x of xs.slice(1)) for (let i = 0; i < out.length; i++) out[i] += x[i];
  return out;
}

export function where(
  cond: TypedArray, condShape: Shape, a: TypedArray, aShape: Shape, b: TypedArray, bShape: Shape, outShape: Shape, dtype: DType,
): TypedArray {
  const out = typedArrayFor(dtype, sizeOf(outShape));
  forEachBroadcast(outShape, [condShape, aShape, bShape], (i, [ic, ia, ib]) => {
    out[i] = cond[ic] !== 0 ? a[ia] : b[ib];
  });
  return out;
}

/**
 * Float → int goes toward zero and saturates, as WGSL's i32(f) and u32(f) do: to the integer type's range as the
 * source float type can hold it (for float32, 2^31 − 128 and 2^32 − 256). NaN goes to 0 here; WGSL leaves it
 * indeterminate. Int → int wraps, as bits.
 */
export function cast(x: TypedArray, dtype: DType): TypedArray {
  const out = typedArrayFor(dtype, x.length);
  const fromFloat = x instanceof Float32Array || x instanceof Float64Array;
  if (fromFloat && (dtype === 'int32' || dtype === 'uint32')) {
    const f32 = x instanceof Float32Array;
    const [low, high] = dtype === 'int32' ? [-2147483648, f32 ? 2147483520 : 2147483647] : [0, f32 ? 4294967040 : 4294967295];
    for (let i = 0; i < x.length; i++) out[i] = Number.isNaN(x[i]!) ? 0 : Math.min(high, Math.max(low, Math.trunc(x[i]!)));
  } else out.set(x);
  return out;
}

