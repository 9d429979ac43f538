/**
 * 2-D pooling with torch semantics: output size ⌊(H + 2p − k)/s⌋ + 1, no ceil mode or dilation.
 *
 * Max pooling (padding acts as −∞) records each output's argmax; the backward routes gradients to those pixels
 * with a gather-form kernel (see kernels/wgsl/pool.ts), so ties send the whole gradient to the first maximum,
 * as torch. Average pooling (padding counts as zeros, torch's count_include_pad) is linear: its backward is its
 * adjoint, and the adjoint's gradient is the average again (linear-pair.ts), so double backward works.
 */
import { cpuBackend } from '../backend/cpu-backend.js';
import { runKernel, type DeviceKernel } from '../backend/device-kernel.js';
import { gpuDevice, launch } from '../backend/launch.js';
import { emptyGpu } from '../backend/webgpu-backend.js';
import { avgPool2dAdjoint, avgPool2dForward, maxPool2dBackward, maxPool2dForward, type Pool2dDims } from '../kernels/reference/pool.js';
import { avgPool2dAdjointKernel, avgPool2dForwardKernel, maxPool2dBackwardKernel, maxPool2dForwardKernel } from '../kernels/wgsl/pool.js';
import type { DeviceInfo, Program, ProgramForm } from '../kernels/program.js';
import { specialisedProgram } from '../backend/program-cache.js';
import { isFloat } from '../tensor/dtype.js';
import { gradEnabled } from '../tensor/engine.js';
import { shapeStr } from '../tensor/shape.js';
import { cpuData, type Tensor } from '../tensor/tensor.js';
import { linearPass, type LinearPair } from './linear-pair.js';
import { commonDevice, record } from './record.js';
import { checkOptionNames, intPair, type IntPair } from './window-options.js';

export interface Pool2dOptions {
  kernelSize: IntPair;
  /** Defaults to kernelSize. */
  stride?: IntPair;
  /** On each side (−∞ for max pooling, zeros for average pooling); at most half the kernel. Default 0. */
  padding?: IntPair;
}

export type MaxPool2dOptions = Pool2dOptions;
export type AvgPool2dOptions = Pool2dOptions;

/** A max-pooling kernel's program for these dims: general for a shape's first uses, then specialised (program-cache.ts). */
function poolProgram(kernel: (dims: Pool2dDims, device: DeviceInfo, form: ProgramForm) => Program, label: string, dims: Pool2dDims): Program {
  const device = gpuDevice();
  const key = `${label}|${[dims.planes, dims.height, dims.width, dims.outHeight, dims.outWidth, ...dims.kernel, ...dims.stride, ...dims.padding].join(',')}`;
  return specialisedProgram(device, key, () => kernel(dims, device, 'general'), () => kernel(dims, device, 'specialised'));
}

const FORWARD: DeviceKernel<[Tensor, Pool2dDims, number[]], { y: Tensor; indices: Tensor }> = {
  cpu(x, dims, outShape) {
    const { y, indices } = maxPool2dForward(cpuData(x), dims, x.dtype);
    return { y: cpuBackend.fromArray(y, outShape, x.dtype, 'maxPool2d'), indices: cpuBackend.fromArray(indices, outShape, 'int32', 'maxPool2d') };
  },
  webgpu(x, dims, outShape) {
    const out = { y: emptyGpu(outShape, x.dtype, 'maxPool2d'), indices: emptyGpu(outShape, 'int32', 'maxPool2d') };
    launch(poolProgram(maxPool2dForwardKernel, 'maxPool2d', dims), [x, out.y, out.indices]);
    return out;
  },
};

const BACKWARD: DeviceKernel<[Tensor, Tensor, Pool2dDims, readonly number[]], Tensor> = {
  cpu: (g, indices, dims, inShape) =>
    cpuBackend.fromArray(maxPool2dBackward(cpuData(g), cpuData(indices), dims, g.dtype), inShape, g.dtype, 'maxPool2dBackward'),
  webgpu(g, indices, dims, inShape) {
    const dx = emptyGpu(inShape, g.dtype, 'maxPool2dBackward');
    launch(poolProgram(maxPool2dBackwardKernel, 'maxPool2dBackward', dims), [g, indices, dx]);
    return dx;
  },
};

/** The window geometry of a pooling op, checked; `op` names it in errors. */
function poolDims(op: string, x: Tensor, options: Pool2dOptions): { dims: Pool2dDims; outShape: number[] } {
  if (x.rank !== 3 && x.rank !== 4) throw new Error(`${op}: input must be [C, H, W] or [N, C, H, W], got ${shapeStr(x.shape)}`);
  if (!isFloat(x.dtype)) throw new Error(`${op}: needs a floating-point input, got ${x.dtype}`);
  if (options?.kernelSize === undefined) throw new Error(`${op}: options.kernelSize is required`);
  checkOptionNames(op, options, ['kernelSize', 'stride', 'padding'] satisfies (keyof Pool2dOptions)[]);
  const kernel = intPair(op, 'kernelSize', options.kernelSize, 1, 1);
  const stride = intPair(op, 'stride', options.stride ?? kernel, 1, 1);
  const padding = intPair(op, 'padding', options.padding, 0, 0);
  if (padding[0] > kernel[0] / 2 || padding[1] > kernel[1] / 2) {
    throw new Error(`${op}: padding ${padding.join('×')} must be at most half the kernel ${kernel.join('×')}`);
  }
  const [height, width] = x.shape.slice(-2);
  if (height === 0 || width === 0) throw new Error(`${op}: input ${shapeStr(x.shape)} has an empty spatial dimension`);
  const padded = [height + 2 * padding[0], width + 2 * padding[1]];
  if (kernel[0] > padded[0] || kernel[1] > padded[1]) {
    throw new Error(`${op}: kernel ${kernel.join('×')} is larger than the padded input ${padded.join('×')} (input ${shapeStr(x.shape)}, padding ${padding.join('×')})`);
  }
  const dims: Pool2dDims = {
    planes: x.size / (height * width),
    height,
    width,
    outHeight: Math.floor((padded[0] - kernel[0]) / stride[0]) + 1,
    outWidth: Math.floor((padded[1] - kernel[1]) / stride[1]) + 1,
    kernel,
    stride,
    padding,
  };
  return { dims, outShape: [...x.shape.slice(0, -2), dims.outHeight, dims.outWidth] };
}

/** torch.nn.functional.max_pool2d over the last two dimensions of a [C, H, W] or [N, C, H, W] tensor. */
export function maxPool2d(x: Tensor, options: MaxPool2dOptions): Tensor {
  const { dims, outShape } = poolDims('maxPool2d', x, options);
  const device = commonDevice('maxPool2d', [x]);

  let indices!: Tensor;
  const y = record('maxPool2d', [x], () => {
    const out = runKernel(device, FORWARD, x, dims, outShape);
    indices = out.indices;
    return out.y;
  }, (g) => {
    if (gradEnabled()) throw new Error('maxPool2d: double backward is not supported (the backward pass is a fused kernel)');
    return [runKernel(device, BACKWARD, g, indices, dims, x.shape)];
  });
  return y;
}

/** Average pooling and its adjoint, which spreads each output's gradient evenly over its window. */
const AVERAGE: LinearPair<Pool2dDims> = {
  names: { forward: 'avgPool2d', adjoint: 'avgPool2dBackward' },
  reference: { forward: avgPool2dForward, adjoint: avgPool2dAdjoint },
  program: (pass, dims, _dtype, device) => (pass === 'forward' ? avgPool2dForwardKernel : avgPool2dAdjointKernel)(dims, device),
};

/** torch.nn.functional.avg_pool2d (count_include_pad, floor mode) over the last two dimensions of [C, H, W] or [N, C, H, W]. */
export function avgPool2d(x: Tensor, options: AvgPool2dOptions): Tensor {
  const { dims, outShape } = poolDims('avgPool2d', x, options);
  return linearPass(AVERAGE, 'forward', x, dims, outShape);
}
