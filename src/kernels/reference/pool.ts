/**
 * Reference 2-D pooling over [planes, H, W], without dilation or ceil mode (torch's floor mode).
 *
 * Max (F.max_pool2d): padding acts as −∞, so a padded position never wins. Each output also records the
 * winner's index h·W + w within its plane; the first maximum in row-major window order wins ties, and NaN wins
 * over numbers (as torch). The backward routes each output's gradient to that index.
 *
 * Average (F.avg_pool2d with count_include_pad, torch's default): the window's sum over kh·kw, padded positions
 * counting as zeros. Its adjoint spreads each output's gradient evenly over the window's real pixels.
 *
 * Both backwards are written here as scatters; the WGSL kernels gather instead.
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

/** Calls `visit(inputIndex)` for every input pixel in the window of output (plane, oh, ow), clipped to the input. */
function forEachInWindow(dims: Pool2dDims, plane: number, oh: number, ow: number, visit: (index: number) => void): void {
  const { height, width, kernel, stride, padding } = dims;
  const h0 = oh * stride[0] - padding[0];
  const w0 = ow * stride[1] - padding[1];
  for (let h = Math.max(h0, 0); h < Math.min(h0 + kernel[0], height); h++) {
    for (let w = Math.max(w0, 0); w < Math.min(w0 + kernel[1], width); w++) visit((plane * height + h) * width + w);
  }
}

export function avgPool2dForward(x: TypedArray, dims: Pool2dDims, dtype: DType): TypedArray {
  const { planes, outHeight, outWidth, kernel } = dims;
  const y = typedArrayFor(dtype, planes * outHeight * outWidth);
  const area = kernel[0] * kernel[1];
  let o = 0;
  for (let plane = 0; plane < planes; plane++) {
    for (let oh = 0; oh < outHeight; oh++) {
      for (let ow = 0; ow < outWidth; ow++, o++) {
        let sum = 0;
        forEachInWindow(dims, plane, oh, ow, (i) => (sum += x[i]));
        y[o] = sum / area;
      }
    }
  }
  return y;
}

/** The adjoint of avgPool2dForward (its gradient): g [planes, outH, outW] → [planes, H, W]. */
export function avgPool2dAdjoint(g: TypedArray, dims: Pool2dDims, dtype: DType): TypedArray {
  const { planes, height, width, outHeight, outWidth, kernel } = dims;
  const dx = typedArrayFor(dtype, planes * height * width);
  const area = kernel[0] * kernel[1];
  let o = 0;
  for (let plane = 0; plane < planes; plane++) {
    for (let oh = 0; oh < outHeight; oh++) {
      for (let ow = 0; ow < outWidth; ow++, o++) {
        const share = g[o] / area;
        forEachInWindow(dims, plane, oh, ow, (i) => (dx[i] += share));
      }
    }
  }
  return dx;
}
