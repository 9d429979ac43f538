/**
 * 2-d convolution, NCHW, with PyTorch's semantics (F.conv2d): stride, zero padding, dilation and groups.
 *
 * Three kernels, each a {cpu, webgpu} pair: the forward pass, the input gradient and the weight gradient. Each is
 * linear in both of its operands and the other two are its adjoints, so every gradient rule is one of the three:
 *   y  = F(x, w):   dx = X(dy, w),          dw = Wg(dy, x)
 *   dx = X(dy, w):  d(dy) = F(ddx, w),      dw = Wg(dy, ddx)
 *   dw = Wg(dy, x): d(dy) = F(x, ddw),      dx = X(dy, ddw)
 * which makes double backward work. The bias gradient is a sum over batch and space.
 *
 * conv2dRelu is relu(conv2d(...)) as one forward kernel, the ReLU applied as the GEMM stores its output; its
 * backward masks the gradient with the output (relu's rule) and continues as conv2d's.
 */
import { cpuBackend } from '../backend/cpu-backend.js';
import { runKernel, type DeviceKernel } from '../backend/device-kernel.js';
import type { ConvGeometry } from '../kernels/conv-geometry.js';
import { conv2dForward, conv2dInputGrad, conv2dWeightGrad } from '../kernels/reference/conv2d.js';
import { conv2dForwardGpu, conv2dInputGradGpu, conv2dWeightGradGpu } from './conv2d-gpu.js';
import { reluInPlace } from '../kernels/elementwise-ops.js';
import { isFloat } from '../tensor/dtype.js';
import { shapeStr } from '../tensor/shape.js';
import { cpuData, Tensor } from '../tensor/tensor.js';
import { reluBackward } from './elementwise.js';
import { needs, record } from './record.js';
import { sum } from './reduce.js';
import { checkOptionNames, intPair, optionValue, type IntPair } from './window-options.js';

export interface Conv2dOptions {
  stride?: IntPair;
  padding?: IntPair;
  dilation?: IntPair;
  groups?: number;
}

/** The output length along one axis: ⌊(size + 2·padding − dilation·(kernel − 1) − 1) / stride⌋ + 1. */
export function conv2dOutputSize(size: number, kernel: number, stride = 1, padding = 0, dilation = 1): number {
  return Math.floor((size + 2 * padding - dilation * (kernel - 1) - 1) / stride) + 1;
}

/** Validates the shapes and options and works out the output size. */
export function conv2dGeometry(xShape: readonly number[], wShape: readonly number[], options: Conv2dOptions = {}): ConvGeometry {
  checkOptionNames('conv2d', options, ['stride', 'padding', 'dilation', 'groups'] satisfies (keyof Conv2dOptions)[]);
  if (xShape.length !== 4 || wShape.length !== 4) {
    throw new Error(`conv2d: input must be [N, C, H, W] and weight [Cout, Cin/groups, KH, KW]; got ${shapeStr(xShape)} and ${shapeStr(wShape)}`);
  }
  const [strideH, strideW] = intPair('conv2d', 'stride', options.stride, 1, 1);
  const [padH, padW] = intPair('conv2d', 'padding', options.padding, 0, 0);
  const [dilationH, dilationW] = intPair('conv2d', 'dilation', options.dilation, 1, 1);
  const groups = options.groups ?? 1;
  if (!Number.isInteger(groups) || groups < 1) throw new Error(`conv2d: groups must be a positive integer, got ${groups}`);
  const [n, cin, h, w] = xShape;
  const [cout, cinG, kh, kw] = wShape;
  if ([cin, cout, cinG, kh, kw].some((d) => d === 0)) {
    throw new Error(`conv2d: channel and kernel sizes must be positive; got input ${shapeStr(xShape)}, weight ${shapeStr(wShape)}`);
  }
  if (cout % groups !== 0) throw new Error(`conv2d: weight has ${cout} output channels, not divisible by groups ${groups}`);
  if (cin % groups !== 0) throw new Error(`conv2d: input has ${cin} channels, not divisible by groups ${groups}`);
  if (cinG * groups !== cin) {
    throw new Error(`conv2d: input has ${cin} channels but weight expects ${cinG * groups} (groups ${groups} × ${cinG}); input ${shapeStr(xShape)}, weight ${shapeStr(wShape)}`);
  }
  const spanH = dilationH * (kh - 1) + 1;
  const spanW = dilationW * (kw - 1) + 1;
  if (spanH > h + 2 * padH || spanW > w + 2 * padW) {
    throw new Error(`conv2d: kernel ${kh}×${kw} (dilation ${dilationH}×${dilationW}, spanning ${spanH}×${spanW}) is larger than the padded input ${h + 2 * padH}×${w + 2 * padW} (input ${shapeStr(xShape)}, padding ${padH}×${padW})`);
  }
  return {
    batch: n, inChannels: cin, height: h, width: w, outChannels: cout, kernelH: kh, kernelW: kw,
    outH: conv2dOutputSize(h, kh, strideH, padH, dilationH), outW: conv2dOutputSize(w, kw, strideW, padW, dilationW),
    strideH, strideW, padH, padW, dilationH, dilationW, groups,
  };
}

const FORWARD: DeviceKernel<[Tensor, Tensor, Tensor | null, ConvGeometry, boolean], Tensor> = {
  cpu(x, w, b, g, relu) {
    const y = conv2dForward(cpuData(x), cpuData(w), b && cpuData(b), g, x.dtype);
    if (relu) reluInPlace(y);
    return cpuBackend.fromArray(y, [g.batch, g.outChannels, g.outH, g.outW], x.dtype, relu ? 'conv2dRelu' : 'conv2d');
  },
  webgpu: conv2dForwardGpu,
};
const INPUT_GRAD: DeviceKernel<[Tensor, Tensor, ConvGeometry], Tensor> = {
  cpu: (dy, w, g) => cpuBackend.fromArray(conv2dInputGrad(cpuData(dy), cpuData(w), g, dy.dtype), [g.batch, g.inChannels, g.height, g.width], dy.dtype, 'conv2d input grad'),
  webgpu: conv2dInputGradGpu,
};
const WEIGHT_GRAD: DeviceKernel<[Tensor, Tensor, ConvGeometry], Tensor> = {
  cpu: (dy, x, g) => cpuBackend.fromArray(conv2dWeightGrad(cpuData(dy), cpuData(x), g, dy.dtype), [g.outChannels, g.inChannels / g.groups, g.kernelH, g.kernelW], dy.dtype, 'conv2d weight grad'),
  webgpu: conv2dWeightGradGpu,
};

function forward(x: Tensor, w: Tensor, b: Tensor | null, g: ConvGeometry, relu = false): Tensor {
  return record(relu ? 'conv2dRelu' : 'conv2d', b ? [x, w, b] : [x, w], (be) => runKernel(be.device, FORWARD, x, w, b, g, relu), (gy, y) => {
    // relu's rule on its output (the gradient passes where y > 0 or y is NaN), then conv2d's.
    const dy = relu ? reluBackward(gy, y) : gy;
    return [
      needs(x, () => inputGrad(dy, w, g)),
      needs(w, () => weightGrad(dy, x, g)),
      b && needs(b, () => sum(dy, [0, 2, 3])),
    ];
  });
}

function inputGrad(dy: Tensor, w: Tensor, g: ConvGeometry): Tensor {
  return record('conv2d input grad', [dy, w], (be) => runKernel(be.device, INPUT_GRAD, dy, w, g), (ddx) => [
    needs(dy, () => forward(ddx, w, null, g)),
    needs(w, () => weightGrad(dy, ddx, g)),
  ]);
}

function weightGrad(dy: Tensor, x: Tensor, g: ConvGeometry): Tensor {
  return record('conv2d weight grad', [dy, x], (be) => runKernel(be.device, WEIGHT_GRAD, dy, x, g), (ddw) => [
    needs(dy, () => forward(x, ddw, null, g)),
    needs(x, () => inputGrad(dy, ddw, g)),
  ]);
}

/**
 * y = conv2d(x, weight) + bias, x [N, Cin, H, W], weight [Cout, Cin/groups, KH, KW], bias [Cout] or none.
 * Differentiable in all three (twice, too).
 */
export function conv2d(x: Tensor, weight: Tensor, bias?: Tensor | null, options: Conv2dOptions = {}): Tensor {
  return checkedForward('conv2d', x, weight, bias, options, false);
}

/** relu(conv2d(x, weight, bias, options)) in one kernel: the same values and gradients, one pass fewer. */
export function conv2dRelu(x: Tensor, weight: Tensor, bias?: Tensor | null, options: Conv2dOptions = {}): Tensor {
  return checkedForward('conv2dRelu', x, weight, bias, options, true);
}

function checkedForward(op: string, x: Tensor, weight: Tensor, bias: Tensor | null | undefined, options: Conv2dOptions, relu: boolean): Tensor {
  // Options passed third, where the bias goes, would otherwise be reported as a bias of dtype undefined.
  if (bias != null && !(bias instanceof Tensor)) throw new Error(`${op}: bias must be a tensor or null, got ${optionValue(bias)}; options come fourth: ${op}(x, weight, bias, options)`);
  if (x.dtype !== weight.dtype || !isFloat(x.dtype) || (bias && bias.dtype !== x.dtype)) {
    throw new Error(`${op}: input, weight and bias must share one float dtype; got ${x.dtype}, ${weight.dtype}${bias ? `, ${bias.dtype}` : ''}`);
  }
  const g = conv2dGeometry(x.shape, weight.shape, options);
  if (bias && (bias.rank !== 1 || bias.shape[0] !== g.outChannels)) {
    throw new Error(`${op}: bias must have shape [${g.outChannels}] (one per output channel), got ${shapeStr(bias.shape)}`);
  }
  return forward(x, weight, bias ?? null, g, relu);
}
