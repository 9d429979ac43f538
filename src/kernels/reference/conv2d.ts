/**
 * Reference 2-d convolution (NCHW, torch semantics) and its two gradients, straight from the definition:
 *   y[n, co, oh, ow] = bias[co] + Σ_{ci ∈ group(co), kh, kw} x[n, ci, oh·sh − ph + kh·dh, ow·sw − pw + kw·dw] · w[co, ci', kh, kw]
 * where taps outside the input read zero. The input gradient and the weight gradient are the same seven loops
 * with the accumulation moved to x and to w.
 */
import { typedArrayFor, type DType, type TypedArray } from '../../tensor/dtype.js';

export interface Conv2dGeometry {
  n: number;
  cin: number;
  h: number;
  w: number;
  cout: number;
  kh: number;
  kw: number;
  oh: number;
  ow: number;
  strideH: number;
  strideW: number;
  padH: number;
  padW: number;
  dilationH: number;
  dilationW: number;
  groups: number;
}

/** Visits every (output element, kernel tap) pair whose tap lands inside the input, with the three flat indices. */
function forEachTap(g: Conv2dGeometry, visit: (yi: number, xi: number, wi: number) => void): void {
  const cinG = g.cin / g.groups;
  const coutG = g.cout / g.groups;
  for (let n = 0; n < g.n; n++) {
    for (let co = 0; co < g.cout; co++) {
      const group = Math.floor(co / coutG);
      for (let oh = 0; oh < g.oh; oh++) {
        for (let ow = 0; ow < g.ow; ow++) {
          const yi = ((n * g.cout + co) * g.oh + oh) * g.ow + ow;
          for (let c = 0; c < cinG; c++) {
            const ci = group * cinG + c;
            for (let kh = 0; kh < g.kh; kh++) {
              const ih = oh * g.strideH - g.padH + kh * g.dilationH;
              if (ih < 0 || ih >= g.h) continue;
              for (let kw = 0; kw < g.kw; kw++) {
                const iw = ow * g.strideW - g.padW + kw * g.dilationW;
                if (iw < 0 || iw >= g.w) continue;
                visit(yi, ((n * g.cin + ci) * g.h + ih) * g.w + iw, ((co * cinG + c) * g.kh + kh) * g.kw + kw);
              }
            }
          }
        }
      }
    }
  }
}

export function conv2dForward(x: TypedArray, weight: TypedArray, bias: TypedArray | null, g: Conv2dGeometry, dtype: DType): TypedArray {
  const y = typedArrayFor(dtype, g.n * g.cout * g.oh * g.ow);
  if (bias) {
    const plane = g.oh * g.ow;
    for (let i = 0; i < y.length; i++) y[i] = bias[Math.floor(i / plane) % g.cout];
  }
  forEachTap(g, (yi, xi, wi) => { y[yi] += x[xi] * weight[wi]; });
  return y;
}

/** dL/dx from dL/dy: each tap sends dy · w back to the input element it read. */
export function conv2dInputGrad(dy: TypedArray, weight: TypedArray, g: Conv2dGeometry, dtype: DType): TypedArray {
  const dx = typedArrayFor(dtype, g.n * g.cin * g.h * g.w);
  forEachTap(g, (yi, xi, wi) => { dx[xi] += dy[yi] * weight[wi]; });
  return dx;
}

/** dL/dw from dL/dy: each tap adds dy · x to the weight it used. */
export function conv2dWeightGrad(dy: TypedArray, x: TypedArray, g: Conv2dGeometry, dtype: DType): TypedArray {
  const dw = typedArrayFor(dtype, g.cout * (g.cin / g.groups) * g.kh * g.kw);
  forEachTap(g, (yi, xi, wi) => { dw[wi] += dy[yi] * x[xi]; });
  return dw;
}
