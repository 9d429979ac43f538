/**
 * A linear op as a pair of passes, the map and its adjoint, each recorded with the other as its gradient rule:
 * the gradient of y = A·x is Aᵀ·g, and the gradient of Aᵀ·g is A again, so double backward (and any order above
 * it) comes free. Nearest and bilinear upsampling and average pooling are written this way.
 */
import { cpuBackend } from '../backend/cpu-backend.js';
import { runKernel, type DeviceKernel } from '../backend/device-kernel.js';
import { gpuDevice, launch } from '../backend/launch.js';
import { cachedProgram } from '../backend/program-cache.js';
import { emptyGpu } from '../backend/webgpu-backend.js';
import type { DeviceInfo, Program } from '../kernels/program.js';
import type { DType, TypedArray } from '../tensor/dtype.js';
import { cpuData, type Tensor } from '../tensor/tensor.js';
import { commonDevice, record } from './record.js';

export type LinearPass = 'forward' | 'adjoint';

/** The two halves of each pass, over the sizes `Dims` that both passes share. */
export interface LinearPair<Dims> {
  /** Each pass's op name, as errors and profiles show it. */
  names: Record<LinearPass, string>;
  /** Each pass's CPU reference. */
  reference: Record<LinearPass, (src: TypedArray, dims: Dims, dtype: DType) => TypedArray>;
  /** Each pass's WGSL program. */
  program: (pass: LinearPass, dims: Dims, dtype: DType, device: DeviceInfo) => Program;
}

/** One pass of `pair` from `src` into a new tensor of `outShape`, recorded with the other pass (back to `src`'s shape) as its gradient. */
export function linearPass<Dims>(pair: LinearPair<Dims>, pass: LinearPass, src: Tensor, dims: Dims, outShape: readonly number[]): Tensor {
  const name = pair.names[pass];
  const device = commonDevice(name, [src]);
  const other: LinearPass = pass === 'forward' ? 'adjoint' : 'forward';
  const srcShape = src.shape;
  return record(name, [src], () => runKernel(device, passKernel(pair), pass, src, dims, outShape), (g) => [linearPass(pair, other, g, dims, srcShape)]);
}

function passKernel<Dims>(pair: LinearPair<Dims>): DeviceKernel<[LinearPass, Tensor, Dims, readonly number[]], Tensor> {
  return {
    cpu: (pass, src, dims, outShape) => cpuBackend.fromArray(pair.reference[pass](cpuData(src), dims, src.dtype), outShape, src.dtype, pair.names[pass]),
    webgpu(pass, src, dims, outShape) {
      const out = emptyGpu(outShape, src.dtype, pair.names[pass]);
      const device = gpuDevice();
      // Dims are plain sizes, so their JSON names the program whole.
      launch(cachedProgram(device, `${pair.names[pass]}|${JSON.stringify(dims)}|${src.dtype}`, () => pair.program(pass, dims, src.dtype, device)), [src, out]);
      return out;
    },
  };
}
