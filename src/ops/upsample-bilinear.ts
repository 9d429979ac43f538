/**
 * Bilinear resizing of the last two dimensions, as F.interpolate(x, scale_factor=s or size=(h, w),
 * mode='bilinear', align_corners=False): HRFPN's upsampling of the coarse HRNet branches. With a scale factor
 * the output is ⌊H·s⌋ × ⌊W·s⌋ and the source coordinates step by 1/s (torch's default,
 * recompute_scale_factor=None); with a size they step by H/h. The map is linear: the backward is its adjoint,
 * and the adjoint's gradient the resize again (linear-pair.ts), so double backward works.
 */
import { upsampleBilinear, upsampleBilinearAdjoint, type BilinearDims } from '../kernels/reference/upsample-bilinear.js';
import { upsampleBilinearKernel } from '../kernels/wgsl/upsample-bilinear.js';
import { isFloat } from '../tensor/dtype.js';
import { shapeStr } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { linearPass, type LinearPair } from './linear-pair.js';
import { checkOptionNames, optionValue } from './window-options.js';

export interface UpsampleBilinearOptions {
  /** Output = ⌊input·s⌋ per axis; a number or [sh, sw], each > 0. */
  scaleFactor?: number | readonly [number, number];
  /** Output [height, width]. Exactly one of size and scaleFactor. */
  size?: readonly [number, number];
}

/** The bilinear resize and its adjoint. */
const BILINEAR: LinearPair<BilinearDims> = {
  names: { forward: 'upsampleBilinear2d', adjoint: 'upsampleBilinear2dBackward' },
  reference: { forward: upsampleBilinear, adjoint: upsampleBilinearAdjoint },
  program: (pass, dims, _dtype, device) => upsampleBilinearKernel(pass, dims, device),
};

function resizeDims(x: Tensor, options: UpsampleBilinearOptions): BilinearDims {
  const op = 'upsampleBilinear2d';
  checkOptionNames(op, options, ['scaleFactor', 'size'] satisfies (keyof UpsampleBilinearOptions)[]);
  if (x.rank !== 3 && x.rank !== 4) throw new Error(`${op}: input must be [C, H, W] or [N, C, H, W], got ${shapeStr(x.shape)}`);
  if (!isFloat(x.dtype)) throw new Error(`${op}: needs a floating-point input, got ${x.dtype}`);
  const [height, width] = x.shape.slice(-2);
  if (height === 0 || width === 0) throw new Error(`${op}: input ${shapeStr(x.shape)} has an empty spatial dimension`);
  const planes = x.size / (height * width);
  const { scaleFactor, size } = options;
  if ((scaleFactor === undefined) === (size === undefined)) throw new Error(`${op}: give exactly one of scaleFactor and size`);
  if (size !== undefined) {
    if (size.length !== 2 || !size.every((v) => Number.isInteger(v) && v >= 1)) throw new Error(`${op}: size must be two integers ≥ 1, got ${optionValue(size)}`);
    return { planes, height, width, outHeight: size[0], outWidth: size[1], scaleH: height / size[0], scaleW: width / size[1] };
  }
  const factors: readonly number[] = typeof scaleFactor === 'number' ? [scaleFactor, scaleFactor] : scaleFactor!;
  if (factors.length !== 2 || !factors.every((v) => Number.isFinite(v) && v > 0)) {
    throw new Error(`${op}: scaleFactor must be a number > 0 or a pair of them, got ${optionValue(scaleFactor)}`);
  }
  const [outHeight, outWidth] = [Math.floor(height * factors[0]), Math.floor(width * factors[1])];
  if (outHeight < 1 || outWidth < 1) throw new Error(`${op}: scaleFactor ${optionValue(scaleFactor)} leaves ${shapeStr(x.shape)} empty`);
  return { planes, height, width, outHeight, outWidth, scaleH: 1 / factors[0], scaleW: 1 / factors[1] };
}

/** Resizes a [C, H, W] or [N, C, H, W] tensor bilinearly (align_corners=False). */
export function upsampleBilinear2d(x: Tensor, options: UpsampleBilinearOptions): Tensor {
  const dims = resizeDims(x, options);
  const lead = x.shape.slice(0, -2);
  return linearPass(BILINEAR, 'forward', x, dims, [...lead, dims.outHeight, dims.outWidth]);
}
