/**
 * conv2d's three passes on WebGPU, each one launch of a GEMM program (kernels/wgsl/conv2d.ts says how a
 * convolution is a GEMM); the weight gradient's split-K partials are summed by one more reduction.
 */
import { gpuDevice, launch } from '../backend/launch.js';
import { emptyGpu, webgpuBackend } from '../backend/webgpu-backend.js';
import type { ConvGeometry } from '../kernels/conv-geometry.js';
import { forwardOperands, forwardShape, inputGradOperands, inputGradShape, weightGradOperands, weightGradShape } from '../kernels/wgsl/conv2d.js';
import { chooseTile, gemmKernel, gemmTarget, type GemmTarget } from '../kernels/wgsl/gemm.js';
import type { Tensor } from '../tensor/tensor.js';
import { view } from './shape.js';

/** Tests pass a target to force a schedule; by default it is the device's. */
const deviceTarget = (): GemmTarget => gemmTarget(gpuDevice());

export function conv2dForwardGpu(x: Tensor, weight: Tensor, bias: Tensor | null, g: ConvGeometry, target = deviceTarget()): Tensor {
  const y = emptyGpu([g.batch, g.outChannels, g.outH, g.outW], x.dtype, 'conv2d');
  const shape = forwardShape(g);
  launch(gemmKernel(forwardOperands(g, bias !== null), shape, chooseTile(shape, false, target)), bias ? [x, weight, bias, y] : [x, weight, y]);
  return y;
}

export function conv2dInputGradGpu(dy: Tensor, weight: Tensor, g: ConvGeometry, target = deviceTarget()): Tensor {
  const dx = emptyGpu([g.batch, g.inChannels, g.height, g.width], dy.dtype, 'conv2d input grad');
  const shape = inputGradShape(g);
  launch(gemmKernel(inputGradOperands(g), shape, chooseTile(shape, false, target)), [dy, weight, dx]);
  return dx;
}

export function conv2dWeightGradGpu(dy: Tensor, x: Tensor, g: ConvGeometry, target = deviceTarget()): Tensor {
  const shape = weightGradShape(g);
  const tile = chooseTile(shape, true, target);
  const wShape = [g.outChannels, g.inChannels / g.groups, g.kernelH, g.kernelW];
  const size = g.outChannels * shape.n;
  const out = emptyGpu(tile.splits > 1 ? [tile.splits, size] : wShape, dy.dtype, 'conv2d weight grad');
  launch(gemmKernel(weightGradOperands(g), shape, tile), [dy, x, out]);
  if (tile.splits === 1) return out;
  const summed = webgpuBackend.reduce('sum', out, 0);
  out.dispose();
  const dw = view(summed, wShape);
  summed.dispose();
  return dw;
}
