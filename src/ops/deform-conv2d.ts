/**
 * Deformable convolution, torchvision.ops.deform_conv2d semantics (NCHW): DCNv1, or DCNv2 when a mask is given.
 *
 *   x       [N, Cin, H, W]
 *   offset  [N, 2·G·KH·KW, OH, OW]   (dy, dx) per kernel tap, row-major over the taps; offset group g (G inferred
 *                                     from the channel count) moves the samples of input channels [g·Cin/G, (g+1)·Cin/G)
 *   weight  [Cout, Cin/groups, KH, KW] (groups inferred as torchvision does: Cin / weight.shape[1])
 *   bias    [Cout] or null
 *   mask    [N, G·KH·KW, OH, OW] or null
 *
 * The kernels are a device pair (kernels/reference/deform-conv2d.ts on the CPU; on WebGPU, deform-conv2d-gpu.ts:
 * the sampling kernels of kernels/wgsl/deform-sampling.ts and matmuls); the bias is an ordinary broadcast add. The backward kernels are not differentiable themselves, so double
 * backward through this op is refused rather than silently wrong.
 */
import { cpuBackend } from '../backend/cpu-backend.js';
import { runKernel, type DeviceKernel } from '../backend/device-kernel.js';
import {
  deformConv2dBackward, deformConv2dForward, type DeformConvGeometry, type DeformConvGrads, type DeformConvOperands,
} from '../kernels/reference/deform-conv2d.js';
import { deformConv2dGpu, deformConv2dGpuBackward } from './deform-conv2d-gpu.js';
import { isFloat, type TypedArray } from '../tensor/dtype.js';
import { gradEnabled } from '../tensor/engine.js';
import { tidy } from '../tensor/scope.js';
import { shapeStr } from '../tensor/shape.js';
import { cpuData, type Tensor } from '../tensor/tensor.js';
import { conv2dOutputSize } from './conv2d.js';
import { add } from './elementwise.js';
import { commonDevice, record } from './record.js';
import { sum } from './reduce.js';
import { reshape } from './shape.js';
import { checkOptionNames, intPair, type IntPair } from './window-options.js';

export interface DeformConv2dOptions {
  stride?: IntPair;
  padding?: IntPair;
  dilation?: IntPair;
  /** DCNv2 modulation [N, G·KH·KW, OH, OW]. */
  mask?: Tensor | null;
}

type Operands = DeformConvOperands<Tensor>;

const arrays = (a: Operands): DeformConvOperands<TypedArray> => ({
  x: cpuData(a.x, 'deformConv2d'),
  offset: cpuData(a.offset, 'deformConv2d'),
  mask: a.mask && cpuData(a.mask, 'deformConv2d'),
  weight: cpuData(a.weight, 'deformConv2d'),
});

const forwardKernel: DeviceKernel<[Operands, DeformConvGeometry], Tensor> = {
  cpu: (a, g) => cpuBackend.fromArray(deformConv2dForward(arrays(a), g, a.x.dtype), [g.batch, g.outChannels, g.outH, g.outW], a.x.dtype, 'deformConv2d'),
  webgpu: deformConv2dGpu,
};

const backwardKernel: DeviceKernel<[Tensor, Operands, DeformConvGeometry], DeformConvGrads<Tensor>> = {
  cpu: (grad, a, g) => {
    const d = deformConv2dBackward(cpuData(grad, 'deformConv2d'), arrays(a), g, a.x.dtype);
    const wrap = (values: TypedArray, like: Tensor) => cpuBackend.fromArray(values, like.shape, like.dtype, 'deformConv2d.grad');
    return { x: wrap(d.x, a.x), offset: wrap(d.offset, a.offset), weight: wrap(d.weight, a.weight), mask: d.mask && wrap(d.mask, a.mask!) };
  },
  webgpu: deformConv2dGpuBackward,
};

function geometry(x: Tensor, offset: Tensor, weight: Tensor, bias: Tensor | null, mask: Tensor | null, options: DeformConv2dOptions): DeformConvGeometry {
  checkOptionNames('deformConv2d', options, ['stride', 'padding', 'dilation', 'mask'] satisfies (keyof DeformConv2dOptions)[]);
  for (const [name, t] of [['x', x], ['offset', offset], ['weight', weight], ['mask', mask]] as const) {
    if (t && t.rank !== 4) throw new Error(`deformConv2d: ${name} must be 4-D, got shape ${shapeStr(t.shape)}`);
  }
  const all = [x, offset, weight, bias, mask].filter((t): t is Tensor => t !== null);
  if (!isFloat(x.dtype) || all.some((t) => t.dtype !== x.dtype)) {
    throw new Error(`deformConv2d: inputs must share one float dtype, got ${all.map((t) => t.dtype).join(', ')}`);
  }
  const [strideH, strideW] = intPair('deformConv2d', 'stride', options.stride, 1, 1);
  const [padH, padW] = intPair('deformConv2d', 'padding', options.padding, 0, 0);
  const [dilationH, dilationW] = intPair('deformConv2d', 'dilation', options.dilation, 1, 1);
  const [batch, inChannels, height, width] = x.shape;
  const [outChannels, weightChannels, kernelH, kernelW] = weight.shape;
  const taps = kernelH * kernelW;
  // As conv2d: no output channels left the GPU's GEMMs a [.., 0, NaN] view.
  if (outChannels === 0) throw new Error(`deformConv2d: weight ${shapeStr(weight.shape)} has no output channels`);
  if (weightChannels === 0 || inChannels % weightChannels !== 0) {
    throw new Error(`deformConv2d: input has ${inChannels} channels but weight ${shapeStr(weight.shape)} expects a multiple of ${weightChannels} (channels per group)`);
  }
  const weightGroups = inChannels / weightChannels;
  if (outChannels % weightGroups !== 0) {
    throw new Error(`deformConv2d: weight ${shapeStr(weight.shape)} has ${outChannels} outputs, not divisible by its ${weightGroups} groups (input has ${inChannels} channels)`);
  }
  const outH = conv2dOutputSize(height, kernelH, strideH, padH, dilationH);
  const outW = conv2dOutputSize(width, kernelW, strideW, padW, dilationW);
  if (taps === 0 || outH <= 0 || outW <= 0) {
    throw new Error(`deformConv2d: a ${kernelH}×${kernelW} kernel (dilation ${dilationH}×${dilationW}) does not fit input ${shapeStr(x.shape)} with padding ${padH}×${padW}`);
  }
  const where = `input ${shapeStr(x.shape)}, ${kernelH}×${kernelW} kernel, stride ${strideH}×${strideW}, padding ${padH}×${padW}, dilation ${dilationH}×${dilationW}: output ${outH}×${outW}`;
  const offsetGroups = offset.shape[1] / (2 * taps);
  if (!Number.isInteger(offsetGroups) || offsetGroups === 0) {
    throw new Error(`deformConv2d: offset has ${offset.shape[1]} channels; expected a positive multiple of 2·${kernelH}·${kernelW} = ${2 * taps} (2 per tap per offset group)`);
  }
  if (inChannels % offsetGroups !== 0) {
    throw new Error(`deformConv2d: input has ${inChannels} channels, not divisible by the ${offsetGroups} offset groups of offset ${shapeStr(offset.shape)}`);
  }
  const expectShape = (name: string, t: Tensor, shape: number[]) => {
    if (shapeStr(t.shape) !== shapeStr(shape)) throw new Error(`deformConv2d: ${name} has shape ${shapeStr(t.shape)}; expected ${shapeStr(shape)} (${where}, ${offsetGroups} offset groups)`);
  };
  expectShape('offset', offset, [batch, 2 * offsetGroups * taps, outH, outW]);
  if (mask) expectShape('mask', mask, [batch, offsetGroups * taps, outH, outW]);
  if (bias) {
    if (shapeStr(bias.shape) !== shapeStr([outChannels])) throw new Error(`deformConv2d: bias has shape ${shapeStr(bias.shape)}; expected [${outChannels}] (one per output channel of weight ${shapeStr(weight.shape)})`);
  }
  return {
    batch, inChannels, height, width, outChannels, kernelH, kernelW, outH, outW,
    strideH, strideW, padH, padW, dilationH, dilationW, offsetGroups, groups: weightGroups,
  };
}

export function deformConv2d(x: Tensor, offset: Tensor, weight: Tensor, bias?: Tensor | null, options: DeformConv2dOptions = {}): Tensor {
  const b = bias ?? null;
  const mask = options.mask ?? null;
  const g = geometry(x, offset, weight, b, mask, options);
  const a: Operands = { x, offset, weight, mask };
  const inputs = [x, offset, weight, ...(b ? [b] : []), ...(mask ? [mask] : [])];
  const device = commonDevice('deformConv2d', inputs);
  return record('deformConv2d', inputs, () => tidy(() => {
    const y = runKernel(device, forwardKernel, a, g);
    return b ? add(y, reshape(b, [1, g.outChannels, 1, 1])) : y;
  }), (grad) => {
    if (gradEnabled()) throw new Error('deformConv2d: double backward (createGraph) is not supported');
    const d = tidy(() => runKernel(device, backwardKernel, grad, a, g));
    return [d.x, d.offset, d.weight, ...(b ? [sum(grad, [0, 2, 3])] : []), ...(mask ? [d.mask] : [])];
  });
}
