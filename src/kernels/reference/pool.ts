/**
 * Reference 2-D max pooling over [planes, H, W] (torch.nn.functional.max_pool2d without dilation or ceil mode).
 * Padding acts as −∞: a padded position never wins. Each output also records the winner's index h·W + w within
 * its plane; the first maximum in row-major window order wins ties, and NaN wins over numbers (as torch).
 * The backward routes each output's gradient to that index (written here as a scatter; the WGSL kernel
 * gathers instead).
 */
import { typedArrayFor, type DType, type TypedArray } from '../../tensor/dtype.js';

export interface Pool2dDims {
  planes: number;
  height: number;
  width: number;
  outHeight: number;
  outWidth: number;
  kernel: [number, number];
  stride: [number, number];
  padding: [number, number];
}

export function maxPool2dForward(x: TypedArray, dims: Pool2dDims, dtype: DType): { y: TypedArray; indices: TypedArray } {
  const { planes, height, width, outHeight, outWidth, kernel, stride, padding } = dims;
  const y = typedArrayFor(dtype, planes * outHeight * outWidth);
  const indices = typedArrayFor('int32', y.length);
  let o = 0;
  for (let plane = 0; plane < planes; plane++) {
    const base = plane * height * width;
    for (let oh = 0; oh < outHeight; oh++) {
      for (let ow = 0; ow < outWidth; ow++, o++) {
        const h0 = oh * stride[0] - padding[0];
        const w0 = ow * stride[1] - padding[1];
        let best = -Infinity;
        let arg = Math.max(h0, 0) * width + Math.max(w0, 0);
        for (let h = Math.max(h0, 0); h < Math.min(h0 + kernel[0], height); h++) {
          for (let w = Math.max(w0, 0); w < Math.min(w0 + kernel[1], width); w++) {
            const v = x[base + h * width + w];
            if (v > best || Number.isNaN(v)) {
              best = v;
              arg = h * width + w;
            }
          }
        }
        y[o] = best;
        indices[o] = arg;
      }
    }
  }
  return { y, indices };
}

export function maxPool2dBackward(g: TypedArray, indices: TypedArray, dims: Pool2dDims, dtype: DType): TypedArray {
  const { planes, height, width, outHeight, outWidth } = dims;
  const dx = typedArrayFor(dtype, planes * height * width);
  for (let o = 0; o < g.length; o++) {
    const plane = Math.floor(o / (outHeight * outWidth));
    dx[plane * height * width + indices[o]] += g[o];
  }
  return dx;
}
