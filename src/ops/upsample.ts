/**
 * Nearest-neighbour 2-D upsampling by an integer factor (F.interpolate(x, scale_factor=s, mode='nearest')).
 * The backward sums each s×s block of the gradient; the two are each other's adjoints, so each is the other's
 * gradient rule (linear-pair.ts) and double backward works.
 */
import { upsampleNearest, upsampleNearestAdjoint, type UpsampleDims } from '../kernels/reference/upsample.js';
import { upsampleNearestKernel } from '../kernels/wgsl/upsample.js';
import { shapeStr } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { linearPass, type LinearPair } from './linear-pair.js';

/** Repeating each pixel into a block, and its adjoint, summing each block. */
const NEAREST: LinearPair<UpsampleDims> = {
  names: { forward: 'upsampleNearest2d', adjoint: 'upsampleNearest2dBackward' },
  reference: { forward: upsampleNearest, adjoint: upsampleNearestAdjoint },
  program: upsampleNearestKernel,
};

/** Repeats every pixel of the last two dimensions into a scale×scale block. */
export function upsampleNearest2d(x: Tensor, scale: number): Tensor {
  const op = 'upsampleNearest2d';
  if (x.rank !== 3 && x.rank !== 4) throw new Error(`${op}: input must be [C, H, W] or [N, C, H, W], got ${shapeStr(x.shape)}`);
  if (!Number.isInteger(scale) || scale < 1) throw new Error(`${op}: scale must be a positive integer, got ${scale}`);
  const lead = x.shape.slice(0, -2);
  const [height, width] = x.shape.slice(-2);
  const dims: UpsampleDims = { planes: lead.reduce((a, b) => a * b, 1), height, width, scale };
  return linearPass(NEAREST, 'forward', x, dims, [...lead, height * scale, width * scale]);
}
