/**
 * 2-D max pooling with torch semantics (padding acts as −∞, output size ⌊(H + 2p − k)/s⌋ + 1, no ceil mode or
 * dilation). The forward records each output's argmax; the backward routes gradients to those pixels with a
 * gather-form kernel (see kernels/wgsl/pool.ts), so ties send the whole gradient to the first maximum, as torch.
 */
import { cpuBackend } from '../backend/cpu-backend.js';
import { runKernel, type DeviceKernel } from '../backend/device-kernel.js';
import { emptyGpu } from '../backend/webgpu-backend.js';
import { maxPool2dBackward, maxPool2dForward, type Pool2dDims } from '../kernels/reference/pool.js';
import { maxPool2dBackwardKernel, maxPool2dForwardKernel } from '../kernels/wgsl/pool.js';
import { isFloat } from '../tensor/dtype.js';
import { gradEnabled, webgpu } from '../tensor/engine.js';
import { shapeStr } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { commonDevice, record } from './record.js';
import { intPair, type IntPair } from './window-options.js';


export interface MaxPool2dOptions {
  kernelSize: IntPair;
  /** Defaults to kernelSize. */
  stride?: IntPair;
  /** Implicit −∞ on each side; at most half the kernel. Default 0. */
  padding?: IntPair;
}

function run(label: string, kernel: { code: string; params: Uint32Array; workgroups: [number, number] }, tensors: Tensor[]): void {
  webgpu().dispatch({ label, code: kernel.code }, { buffers: tensors.map((t) => t.storage().buffer), params: kernel.params, workgroups: kernel.workgroups });
}

const FORWARD: DeviceKernel<[Tensor, Pool2dDims, number[]], { y: Tensor; indices: Tensor }> = {
  cpu(x, dims, outShape) {
    const { y, indices } = maxPool2dForward(x.storage().data, dims, x.dtype);
    return { y: cpuBackend.fromArray(y, outShape, x.dtype, 'maxPool2d'), indices: cpuBackend.fromArray(indices, outShape, 'int32', 'maxPool2d') };
  },
  webgpu(x, dims, outShape) {
    const out = { y: emptyGpu(outShape, x.dtype, 'maxPool2d'), indices: emptyGpu(outShape, 'int32', 'maxPool2d') };
    run('maxPool2d', maxPool2dForwardKernel(dims), [x, out.y, out.indices]);
    return out;
  },
};

const BACKWARD: DeviceKernel<[Tensor, Tensor, Pool2dDims, readonly number[]], Tensor> = {
  cpu: (g, indices, dims, inShape) =>
    cpuBackend.fromArray(maxPool2dBackward(g.storage().data, indices.storage().data, dims, g.dtype), inShape, g.dtype, 'maxPool2dBackward'),
  webgpu(g, indices, dims, inShape) {
    const dx = emptyGpu(inShape, g.dtype, 'maxPool2dBackward');
    run('maxPool2dBackward', maxPool2dBackwardKernel(dims), [g, indices, dx]);
    return dx;
  },
};

/** torch.nn.functional.max_pool2d over the last two dimensions of a [C, H, W] or [N, C, H, W] tensor. */
export function maxPool2d(x: Tensor, options: MaxPool2dOptions): Tensor {
  if (x.rank !== 3 && x.rank !== 4) throw new Error(`maxPool2d: input must be [C, H, W] or [N, C, H, W], got ${shapeStr(x.shape)}`);
  if (!isFloat(x.dtype)) throw new Error(`maxPool2d: needs a floating-point input, got ${x.dtype}`);
  const kernel = intPair('maxPool2d', 'kernelSize', options.kernelSize, 1, 1);
  const stride = intPair('maxPool2d', 'stride', options.stride ?? kernel, 1, 1);
  const padding = intPair('maxPool2d', 'padding', options.padding, 0, 0);
  if (padding[0] > kernel[0] / 2 || padding[1] > kernel[1] / 2) {
    throw new Error(`maxPool2d: padding ${padding.join('×')} must be at most half the kernel ${kernel.join('×')}`);
  }
  const [height, width] = x.shape.slice(-2);
  if (height === 0 || width === 0) throw new Error(`maxPool2d: input ${shapeStr(x.shape)} has an empty spatial dimension`);
  const padded = [height + 2 * padding[0], width + 2 * padding[1]];
  if (kernel[0] > padded[0] || kernel[1] > padded[1]) {
    throw new Error(`maxPool2d: kernel ${kernel.join('×')} is larger than the padded input ${padded.join('×')} (input ${shapeStr(x.shape)}, padding ${padding.join('×')})`);
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
  const outShape = [...x.shape.slice(0, -2), dims.outHeight, dims.outWidth];
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
  if (!y.gradFn) indices.dispose();
  return y;
}
