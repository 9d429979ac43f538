/**
 * Reference 2-d convolution (NCHW, torch semantics) and its two gradients, straight from the definition:
 *   y[n, co, oh, ow] = bias[co] + Σ_{ci ∈ group(co), kh, kw} x[n, ci, oh·sh − ph + kh·dh, ow·sw − pw + kw·dw] · w[co, ci', kh, kw]
 * where taps outside the input read zero. The input gradient and the weight gradient are the same seven loops
 * with the accumulation moved to x and to w.
 */
import { typedArrayFor, type DType, type TypedArray } from '../../tensor/dtype.js';
import type { ConvGeometry } from '../conv-geometry.js';

/** Visits every (output element, kernel tap) pair whose tap lands inside the input, with the three flat indices. */
function forEachTap(g: ConvGeometry, visit: (yi: number, xi: number, wi: number) => void): void {
  const cinG = g.inChannels / g.groups;
  const coutG = g.outChannels / g.groups;
  for (let n = 0; n < g.batch; n++) {
    for (let co = 0; co < g.outChannels; co++) {
      const group = Math.floor(co / coutG);
      for (let oh = 0; oh < g.outH; oh++) {
        for (let ow = 0; ow < g.outW; ow++) {
          const yi = ((n * g.outChannels + co) * g.outH + oh) * g.outW + ow;
          for (let c = 0; c < cinG; c++) {
            const ci = group * cinG + c;
            for (let kh = 0; kh < g.kernelH; kh++) {
              const ih = oh * g.strideH - g.padH + kh * g.dilationH;
              if (ih < 0 || ih >= g.height) continue;
              for (let kw = 0; kw < g.kernelW; kw++) {
                const iw = ow * g.strideW - g.padW + kw * g.dilationW;
                if (iw < 0 || iw >= g.width) continue;
                visit(yi, ((n * g.inChannels + ci) * g.height + ih) * g.width + iw, ((co * cinG + c) * g.kernelH + kh) * g.kernelW + kw);
              }
            }
          }
        }
      }
    }
  }
}

export function conv2dForward(x: TypedArray, weight: TypedArray, bias: TypedArray | null, g: ConvGeometry, dtype: DType): TypedArray {
  const y = typedArrayFor(dtype, g.batch * g.outChannels * g.outH * g.outW);
  if (bias) {
    const plane = g.outH * g.outW;
    for (let i = 0; i < y.length; i++) y[i] = bias[Math.floor(i / plane) % g.outChannels];
  }
  forEachTap(g, (yi, xi, wi) => { y[yi] += x[xi] * weight[wi]; });
  return y;
}

/** dL/dx from dL/dy: each tap sends dy · w back to the input element it read. */
export function conv2dInputGrad(dy: TypedArray, weight: TypedArray, g: ConvGeometry, dtype: DType): TypedArray {
  const dx = typedArrayFor(dtype, g.batch * g.inChannels * g.height * g.width);
  forEachTap(g, (yi, xi, wi) => { dx[xi] += dy[yi] * weight[wi]; });
  return dx;
}

/** dL/dw from dL/dy: each tap adds dy · x to the weight it used. */
export function conv2dWeightGrad(dy: TypedArray, x: TypedArray, g: ConvGeometry, dtype: DType): TypedArray {
  const dw = typedArrayFor(dtype, g.outChannels * (g.inChannels / g.groups) * g.kernelH * g.kernelW);
  forEachTap(g, (yi, xi, wi) => { dw[wi] += dy[yi] * x[xi]; });
  return dw;
}
