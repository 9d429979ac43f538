/**
 * Reference bilinear resampling of [planes, H, W] to [planes, outH, outW] with PyTorch's align_corners=False
 * (F.interpolate, mode 'bilinear'). Output pixel o along an axis reads the input at the source coordinate
 * s = max(scale·(o + ½) − ½, 0), between i0 = ⌊s⌋ and i1 = min(i0 + 1, size − 1), with weights 1 − λ and λ,
 * λ = s − i0. `scale` is input pixels per output pixel: 1/scale_factor when torch is given a scale factor,
 * in/out when it is given a size (the two differ when the size was rounded).
 *
 * The map is linear in x; its adjoint, the gradient, scatters each output's gradient back to its four taps
 * (written here as that scatter; the WGSL kernel gathers instead).
 */
import { typedArrayFor, type DType, type TypedArray } from '../../tensor/dtype.js';

export interface BilinearDims {
  planes: number;
  height: number;
  width: number;
  outHeight: number;
  outWidth: number;
  /** Input pixels per output pixel along each axis. */
  scaleH: number;
  scaleW: number;
}

export interface Tap {
  i0: number;
  i1: number;
  /** The weight of i1 (i0 gets 1 − lambda). */
  lambda: number;
}

/** The two input pixels output pixel `o` reads along an axis of `size` input pixels. */
export function bilinearTap(o: number, scale: number, size: number): Tap {
  const s = Math.max(scale * (o + 0.5) - 0.5, 0);
  const i0 = Math.min(Math.floor(s), size - 1);
  return { i0, i1: Math.min(i0 + 1, size - 1), lambda: s - i0 };
}

/** Calls `visit(inputIndex, outputIndex, weight)` for the four taps of every output pixel. */
function forEachTap(dims: BilinearDims, visit: (input: number, output: number, weight: number) => void): void {
  const { planes, height, width, outHeight, outWidth, scaleH, scaleW } = dims;
  const rows = Array.from({ length: outHeight }, (_, o) => bilinearTap(o, scaleH, height));
  const cols = Array.from({ length: outWidth }, (_, o) => bilinearTap(o, scaleW, width));
  let o = 0;
  for (let plane = 0; plane < planes; plane++) {
    const base = plane * height * width;
    for (const r of rows) {
      for (const c of cols) {
        visit(base + r.i0 * width + c.i0, o, (1 - r.lambda) * (1 - c.lambda));
        visit(base + r.i0 * width + c.i1, o, (1 - r.lambda) * c.lambda);
        visit(base + r.i1 * width + c.i0, o, r.lambda * (1 - c.lambda));
        visit(base + r.i1 * width + c.i1, o, r.lambda * c.lambda);
        o++;
      }
    }
  }
}

export function upsampleBilinear(x: TypedArray, dims: BilinearDims, dtype: DType): TypedArray {
  const out = typedArrayFor(dtype, dims.planes * dims.outHeight * dims.outWidth);
  forEachTap(dims, (i, o, weight) => (out[o] += weight * x[i]));
  return out;
}

/** The adjoint (gradient) of upsampleBilinear: g [planes, outH, outW] → [planes, H, W]. */
export function upsampleBilinearAdjoint(g: TypedArray, dims: BilinearDims, dtype: DType): TypedArray {
  const dx = typedArrayFor(dtype, dims.planes * dims.height * dims.width);
  forEachTap(dims, (i, o, weight) => (dx[i] += weight * g[o]));
  return dx;
}
