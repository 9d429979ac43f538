/**
 * Nearest-neighbour 2-D upsampling by an integer factor (F.interpolate(x, scale_factor=s, mode='nearest')).
 * The backward sums each s×s block of the gradient; the two are each other's adjoints, so each is the other's
 * gradient rule and double backward works.
 */
import { cpuBackend } from '../backend/cpu-backend.js';
import { runKernel, type DeviceKernel } from '../backend/device-kernel.js';
import { gpuDevice, launch } from '../backend/launch.js';
import { emptyGpu } from '../backend/webgpu-backend.js';
import { upsampleNearest, upsampleNearestAdjoint, type UpsampleDims } from '../kernels/reference/upsample.js';
import { upsampleNearestKernel, type UpsamplePass } from '../kernels/wgsl/upsample.js';
import { shapeStr, type Shape } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { commonDevice, record } from './record.js';

const opName = (pass: UpsamplePass): string => (pass === 'forward' ? 'upsampleNearest2d' : 'upsampleNearest2dBackward');

const REFERENCE = { forward: upsampleNearest, adjoint: upsampleNearestAdjoint };

const KERNEL: DeviceKernel<[UpsamplePass, Tensor, UpsampleDims, Shape], Tensor> = {
  cpu: (pass, src, dims, outShape) => cpuBackend.fromArray(REFERENCE[pass](src.storage().data, dims, src.dtype), outShape, src.dtype, opName(pass)),
  webgpu(pass, src, dims, outShape) {
    const out = emptyGpu(outShape, src.dtype, opName(pass));
    launch(upsampleNearestKernel(pass, dims, src.dtype, gpuDevice()), [src, out]);
    return out;
  },
};

function dimsOf(op: string, x: Tensor, scale: number): { lead: number[]; height: number; width: number } {
  if (x.rank !== 3 && x.rank !== 4) throw new Error(`${op}: input must be [C, H, W] or [N, C, H, W], got ${shapeStr(x.shape)}`);
  if (!Number.isInteger(scale) || scale < 1) throw new Error(`${op}: scale must be a positive integer, got ${scale}`);
  const [height, width] = x.shape.slice(-2);
  return { lead: x.shape.slice(0, -2), height, width };
}

/** Repeats every pixel of the last two dimensions into a scale×scale block. */
export function upsampleNearest2d(x: Tensor, scale: number): Tensor {
  const { lead, height, width } = dimsOf('upsampleNearest2d', x, scale);
  const dims: UpsampleDims = { planes: lead.reduce((a, b) => a * b, 1), height, width, scale };
  const device = commonDevice('upsampleNearest2d', [x]);
  return record('upsampleNearest2d', [x], () => runKernel(device, KERNEL, 'forward', x, dims, [...lead, height * scale, width * scale]),
    (g) => [blockSum(g, scale)]);
}

/** The adjoint: sums each scale×scale block (the gradient of upsampleNearest2d). */
function blockSum(g: Tensor, scale: number): Tensor {
  const { lead, height, width } = dimsOf('upsampleNearest2dBackward', g, scale);
  const dims: UpsampleDims = { planes: lead.reduce((a, b) => a * b, 1), height: height / scale, width: width / scale, scale };
  const device = commonDevice('upsampleNearest2dBackward', [g]);
  return record('upsampleNearest2dBackward', [g], () => runKernel(device, KERNEL, 'adjoint', g, dims, [...lead, dims.height, dims.width]),
    (gg) => [upsampleNearest2d(gg, scale)]);
}
