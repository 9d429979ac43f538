/**
 * Bilinear resizing of the last two dimensions, as F.interpolate(x, scale_factor=s or size=(h, w),
 * mode='bilinear', align_corners=False): HRFPN's upsampling of the coarse HRNet branches. With a scale factor
 * the output is ⌊H·s⌋ × ⌊W·s⌋ and the source coordinates step by 1/s (torch's default,
 * recompute_scale_factor=None); with a size they step by H/h. The map is linear: the backward is its adjoint,
 * and the adjoint's gradient the resize again, so double backward works.
 */
import { cpuBackend } from '../backend/cpu-backend.js';
import { runKernel, type DeviceKernel } from '../backend/device-kernel.js';
import { gpuDevice, launch } from '../backend/launch.js';
import { emptyGpu } from '../backend/webgpu-backend.js';
import { upsampleBilinear, upsampleBilinearAdjoint, type BilinearDims } from '../kernels/reference/upsample-bilinear.js';
import { upsampleBilinearKernel, type BilinearPass } from '../kernels/wgsl/upsample-bilinear.js';
import { isFloat } from '../tensor/dtype.js';
import { shapeStr } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { commonDevice, record } from './record.js';

export interface UpsampleBilinearOptions {
  /** Output = ⌊input·s⌋ per axis; a number or [sh, sw], each > 0. */
  scaleFactor?: number | readonly [number, number];
  /** Output [height, width]. Exactly one of size and scaleFactor. */
  size?: readonly [number, number];
}

const opName = (pass: BilinearPass): string => (pass === 'forward' ? 'upsampleBilinear2d' : 'upsampleBilinear2dBackward');

const REFERENCE = { forward: upsampleBilinear, adjoint: upsampleBilinearAdjoint };

const KERNEL: DeviceKernel<[BilinearPass, Tensor, BilinearDims, readonly number[]], Tensor> = {
  cpu: (pass, src, dims, outShape) => cpuBackend.fromArray(REFERENCE[pass](src.storage().data, dims, src.dtype), outShape, src.dtype, opName(pass)),
  webgpu(pass, src, dims, outShape) {
    const out = emptyGpu(outShape, src.dtype, opName(pass));
    launch(upsampleBilinearKernel(pass, dims, gpuDevice()), [src, out]);
    return out;
  },
};

function resizeDims(x: Tensor, options: UpsampleBilinearOptions): BilinearDims {
  const op = 'upsampleBilinear2d';
  if (x.rank !== 3 && x.rank !== 4) throw new Error(`${op}: input must be [C, H, W] or [N, C, H, W], got ${shapeStr(x.shape)}`);
  if (!isFloat(x.dtype)) throw new Error(`${op}: needs a floating-point input, got ${x.dtype}`);
  const [height, width] = x.shape.slice(-2);
  if (height === 0 || width === 0) throw new Error(`${op}: input ${shapeStr(x.shape)} has an empty spatial dimension`);
  const planes = x.size / (height * width);
  const { scaleFactor, size } = options;
  if ((scaleFactor === undefined) === (size === undefined)) throw new Error(`${op}: give exactly one of scaleFactor and size`);
  if (size !== undefined) {
    if (size.length !== 2 || !size.every((v) => Number.isInteger(v) && v >= 1)) throw new Error(`${op}: size must be two integers ≥ 1, got ${JSON.stringify(size)}`);
    return { planes, height, width, outHeight: size[0], outWidth: size[1], scaleH: height / size[0], scaleW: width / size[1] };
  }
  const factors: readonly number[] = typeof scaleFactor === 'number' ? [scaleFactor, scaleFactor] : scaleFactor!;
  if (factors.length !== 2 || !factors.every((v) => Number.isFinite(v) && v > 0)) {
    throw new Error(`${op}: scaleFactor must be a number > 0 or a pair of them, got ${JSON.stringify(scaleFactor)}`);
  }
  const [outHeight, outWidth] = [Math.floor(height * factors[0]), Math.floor(width * factors[1])];
  if (outHeight < 1 || outWidth < 1) throw new Error(`${op}: scaleFactor ${JSON.stringify(scaleFactor)} leaves ${shapeStr(x.shape)} empty`);
  return { planes, height, width, outHeight, outWidth, scaleH: 1 / factors[0], scaleW: 1 / factors[1] };
}

/** Resizes a [C, H, W] or [N, C, H, W] tensor bilinearly (align_corners=False). */
export function upsampleBilinear2d(x: Tensor, options: UpsampleBilinearOptions): Tensor {
  const dims = resizeDims(x, options);
  const lead = x.shape.slice(0, -2);
  return resample('forward', x, dims, [...lead, dims.outHeight, dims.outWidth], x.shape);
}

/** One pass of the resize/adjoint pair, recorded with the other pass as its gradient. */
function resample(pass: BilinearPass, src: Tensor, dims: BilinearDims, outShape: readonly number[], srcShape: readonly number[]): Tensor {
  const device = commonDevice(opName(pass), [src]);
  const other: BilinearPass = pass === 'forward' ? 'adjoint' : 'forward';
  return record(opName(pass), [src], () => runKernel(device, KERNEL, pass, src, dims, outShape), (g) => [resample(other, g, dims, srcShape, outShape)]);
}
