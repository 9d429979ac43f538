/**
 * Reference nearest-neighbour upsampling of [planes, H, W] by an integer factor s (F.interpolate, mode
 * 'nearest', scale_factor s): out[h, w] = x[⌊h/s⌋, ⌊w/s⌋]. Its adjoint sums each s×s output block back into
 * the pixel it was copied from.
 */
import { typedArrayFor, type DType, type TypedArray } from '../../tensor/dtype.js';

export interface UpsampleDims {
  planes: number;
  /** Input (small) size. */
  height: number;
  width: number;
  scale: number;
}

export function upsampleNearest(x: TypedArray, { planes, height, width, scale }: UpsampleDims, dtype: DType): TypedArray {
  const [outH, outW] = [height * scale, width * scale];
  const out = typedArrayFor(dtype, planes * outH * outW);
  for (let plane = 0; plane < planes; plane++) {
    for (let h = 0; h < outH; h++) {
      for (let w = 0; w < outW; w++) {
        out[(plane * outH + h) * outW + w] = x[(plane * height + Math.floor(h / scale)) * width + Math.floor(w / scale)];
      }
    }
  }
  return out;
}

export function upsampleNearestAdjoint(g: TypedArray, { planes, height, width, scale }: UpsampleDims, dtype: DType): TypedArray {
  const [outH, outW] = [height * scale, width * scale];
  const dx = typedArrayFor(dtype, planes * height * width);
  for (let plane = 0; plane < planes; plane++) {
    for (let h = 0; h < outH; h++) {
      for (let w = 0; w < outW; w++) {
        dx[(plane * height + Math.floor(h / scale)) * width + Math.floor(w / scale)] += g[(plane * outH + h) * outW + w];
      }
    }
  }
  return dx;
}
