/**
 * 2-d convolution, NCHW, with PyTorch's semantics (F.conv2d): stride, zero padding, dilation and groups.
 *
 * Three kernels, each a {cpu, webgpu} pair: the forward pass, the input gradient and the weight gradient. Each is
 * linear in both of its operands and the other two are its adjoints, so every gradient rule is one of the three:
 *   y  = F(x, w):   dx = X(dy, w),          dw = Wg(dy, x)
 *   dx = X(dy, w):  d(dy) = F(ddx, w),      dw = Wg(dy, ddx)
 *   dw = Wg(dy, x): d(dy) = F(x, ddw),      dx = X(dy, ddw)
 * which makes double backward work. The bias gradient is a sum over batch and space; where no double backward is
 * asked for, it comes from the weight gradient's kernel, as one more column of its GEMM.
 *
 * conv2dRelu is relu(conv2d(...)) as one forward kernel, the ReLU applied as the GEMM stores its output; its
 * backward masks the gradient with the output (relu's rule) and continues as conv2d's. conv2dFused adds a
 * per-channel factor before the bias (a frozen batch norm), read into the same kernels.
 */
import { cpuBackend } from '../backend/cpu-backend.js';
import { runKernel, type DeviceKernel } from '../backend/device-kernel.js';
import type { ConvGeometry } from '../kernels/conv-geometry.js';
import { conv2dForward, conv2dInputGrad, conv2dWeightGrad } from '../kernels/reference/conv2d.js';
import { conv2dForwardGpu, conv2dInputGradGpu, conv2dWeightBiasGradGpu, conv2dWeightGradGpu } from './conv2d-gpu.js';
import { reluInPlace } from '../kernels/elementwise-ops.js';
import { isFloat, type TypedArray } from '../tensor/dtype.js';
import { gradEnabled } from '../tensor/engine.js';
import { shapeStr } from '../tensor/shape.js';
import { cpuData, Tensor } from '../tensor/tensor.js';
import { add, addRelu, mul, relu as reluOp, reluBackward } from './elementwise.js';
import { needs, record } from './record.js';
import { sum } from './reduce.js';
import { reshape } from './shape.js';
import { checkOptionNames, intPair, optionValue, type IntPair } from './window-options.js';

export interface Conv2dOptions {
  stride?: IntPair;
  padding?: IntPair;
  dilation?: IntPair;
  groups?: number;
}

const WINDOW_OPTIONS = ['stride', 'padding', 'dilation', 'groups'] satisfies (keyof Conv2dOptions)[];

/** The output length along one axis: ⌊(size + 2·padding − dilation·(kernel − 1) − 1) / stride⌋ + 1. */
export function conv2dOutputSize(size: number, kernel: number, stride = 1, padding = 0, dilation = 1): number {
  return Math.floor((size + 2 * padding - dilation * (kernel - 1) - 1) / stride) + 1;
}

/** Validates the shapes and options and works out the output size. */
export function conv2dGeometry(xShape: readonly number[], wShape: readonly number[], options: Conv2dOptions = {}, op = 'conv2d'): ConvGeometry {
  checkOptionNames(op, options, WINDOW_OPTIONS);
  if (xShape.length !== 4 || wShape.length !== 4) {
    throw new Error(`${op}: input must be [N, C, H, W] and weight [Cout, Cin/groups, KH, KW]; got ${shapeStr(xShape)} and ${shapeStr(wShape)}`);
  }
  const [strideH, strideW] = intPair(op, 'stride', options.stride, 1, 1);
  const [padH, padW] = intPair(op, 'padding', options.padding, 0, 0);
  const [dilationH, dilationW] = intPair(op, 'dilation', options.dilation, 1, 1);
  const groups = options.groups ?? 1;
  if (!Number.isInteger(groups) || groups < 1) throw new Error(`${op}: groups must be a positive integer, got ${groups}`);
  const [n, cin, h, w] = xShape;
  const [cout, cinG, kh, kw] = wShape;
  if ([cin, cout, cinG, kh, kw].some((d) => d === 0)) {
    throw new Error(`${op}: channel and kernel sizes must be positive; got input ${shapeStr(xShape)}, weight ${shapeStr(wShape)}`);
  }
  if (cout % groups !== 0) throw new Error(`${op}: weight has ${cout} output channels, not divisible by groups ${groups}`);
  if (cin % groups !== 0) throw new Error(`${op}: input has ${cin} channels, not divisible by groups ${groups}`);
  if (cinG * groups !== cin) {
    throw new Error(`${op}: input has ${cin} channels but weight expects ${cinG * groups} (groups ${groups} × ${cinG}); input ${shapeStr(xShape)}, weight ${shapeStr(wShape)}`);
  }
  const spanH = dilationH * (kh - 1) + 1;
  const spanW = dilationW * (kw - 1) + 1;
  if (spanH > h + 2 * padH || spanW > w + 2 * padW) {
    throw new Error(`${op}: kernel ${kh}×${kw} (dilation ${dilationH}×${dilationW}, spanning ${spanH}×${spanW}) is larger than the padded input ${h + 2 * padH}×${w + 2 * padW} (input ${shapeStr(xShape)}, padding ${padH}×${padW})`);
  }
  return {
    batch: n, inChannels: cin, height: h, width: w, outChannels: cout, kernelH: kh, kernelW: kw,
    outH: conv2dOutputSize(h, kh, strideH, padH, dilationH), outW: conv2dOutputSize(w, kw, strideW, padW, dilationW),
    strideH, strideW, padH, padW, dilationH, dilationW, groups,
  };
}

/** values[i] · scale[c] for c the channel of element i of an NCHW tensor: the products a separate mul would store. */
function timesChannels(values: TypedArray, scale: TypedArray, plane: number, into: TypedArray = values.slice()): TypedArray {
  for (let i = 0; i < values.length; i++) into[i] = values[i]! * scale[Math.floor(i / plane) % scale.length]!;
  return into;
}

type Scale = Tensor | null;

/** dy·s, channel by channel, the gradient that reaches the conv through ×s; dy itself without a factor. */
const scaledGrad = (dy: Tensor, s: Scale, g: ConvGeometry): TypedArray => (s ? timesChannels(cpuData(dy), cpuData(s), g.outH * g.outW) : cpuData(dy));

const FORWARD: DeviceKernel<[Tensor, Tensor, Tensor | null, ConvGeometry, Scale, boolean], Tensor> = {
  cpu(x, w, b, g, s, relu) {
    const plane = g.outH * g.outW;
    // With a factor: the conv, then ×s, then +b, each rounded as the separate ops round it.
    const y = conv2dForward(cpuData(x), cpuData(w), s ? null : b && cpuData(b), g, x.dtype);
    if (s) {
      timesChannels(y, cpuData(s), plane, y);
      const bias = b && cpuData(b);
      if (bias) for (let i = 0; i < y.length; i++) y[i] += bias[Math.floor(i / plane) % g.outChannels]!;
    }
    if (relu) reluInPlace(y);
    return cpuBackend.fromArray(y, [g.batch, g.outChannels, g.outH, g.outW], x.dtype, relu ? 'conv2dRelu' : 'conv2d');
  },
  webgpu: (x, w, b, g, scale, relu) => conv2dForwardGpu(x, w, b, g, { scale, relu }),
};
const INPUT_GRAD: DeviceKernel<[Tensor, Tensor, ConvGeometry, Scale], Tensor> = {
  cpu: (dy, w, g, s) => cpuBackend.fromArray(conv2dInputGrad(scaledGrad(dy, s, g), cpuData(w), g, dy.dtype), [g.batch, g.inChannels, g.height, g.width], dy.dtype, 'conv2d input grad'),
  webgpu: (dy, w, g, s) => conv2dInputGradGpu(dy, w, g, s),
};
const WEIGHT_GRAD: DeviceKernel<[Tensor, Tensor, ConvGeometry, Scale], Tensor> = {
  cpu: (dy, x, g, s) => cpuBackend.fromArray(conv2dWeightGrad(scaledGrad(dy, s, g), cpuData(x), g, dy.dtype), [g.outChannels, g.inChannels / g.groups, g.kernelH, g.kernelW], dy.dtype, 'conv2d weight grad'),
  webgpu: (dy, x, g, s) => conv2dWeightGradGpu(dy, x, g, s),
};
/** dw and db = Σ dy over batch and space: one GEMM on the GPU (its last column sums dy), the two passes on the CPU. */
const WEIGHT_BIAS_GRAD: DeviceKernel<[Tensor, Tensor, ConvGeometry], [Tensor, Tensor]> = {
  cpu: (dy, x, g) => [WEIGHT_GRAD.cpu(dy, x, g, null), sum(dy, [0, 2, 3])],
  webgpu: (dy, x, g) => conv2dWeightBiasGradGpu(dy, x, g),
};

/** The inputs an op records: the factor goes last, a constant that gets no gradient (the rules return none). */
const withScale = (inputs: Tensor[], s: Scale): Tensor[] => (s ? [...inputs, s] : inputs);

function forward(x: Tensor, w: Tensor, b: Tensor | null, g: ConvGeometry, s: Scale, relu: boolean): Tensor {
  return record(relu ? 'conv2dRelu' : 'conv2d', withScale(b ? [x, w, b] : [x, w], s), (be) => runKernel(be.device, FORWARD, x, w, b, g, s, relu), (gy, y) => {
    // relu's rule on its output (the gradient passes where y > 0 or y is NaN), then conv2d's.
    const dy = relu ? reluBackward(gy, y) : gy;
    // With no graph to build for them (no double backward), dw and db come from one kernel. Not under a factor:
    // db is Σ dy, the weight GEMM sums dy·s.
    if (b && b.requiresGrad && w.requiresGrad && !s && !gradEnabled()) {
      const [dw, db] = runKernel(dy.storage('conv2d').device, WEIGHT_BIAS_GRAD, dy, x, g);
      return [needs(x, () => inputGrad(dy, w, g, null)), dw, db];
    }
    return [
      needs(x, () => inputGrad(dy, w, g, s)),
      needs(w, () => weightGrad(dy, x, g, s)),
      b && needs(b, () => sum(dy, [0, 2, 3])),
    ];
  });
}

function inputGrad(dy: Tensor, w: Tensor, g: ConvGeometry, s: Scale): Tensor {
  return record('conv2d input grad', withScale([dy, w], s), (be) => runKernel(be.device, INPUT_GRAD, dy, w, g, s), (ddx) => [
    needs(dy, () => forward(ddx, w, null, g, s, false)),
    needs(w, () => weightGrad(dy, ddx, g, s)),
  ]);
}

function weightGrad(dy: Tensor, x: Tensor, g: ConvGeometry, s: Scale): Tensor {
  return record('conv2d weight grad', withScale([dy, x], s), (be) => runKernel(be.device, WEIGHT_GRAD, dy, x, g, s), (ddw) => [
    needs(dy, () => forward(x, ddw, null, g, s, false)),
    needs(x, () => inputGrad(dy, ddw, g, s)),
  ]);
}

/**
 * y = conv2d(x, weight) + bias, x [N, Cin, H, W], weight [Cout, Cin/groups, KH, KW], bias [Cout] or none.
 * Differentiable in all three (twice, too).
 */
export function conv2d(x: Tensor, weight: Tensor, bias?: Tensor | null, options: Conv2dOptions = {}): Tensor {
  return checkedForward('conv2d', x, weight, bias, options, {});
}

/** relu(conv2d(x, weight, bias, options)) in one kernel: the same values and gradients, one pass fewer. */
export function conv2dRelu(x: Tensor, weight: Tensor, bias?: Tensor | null, options: Conv2dOptions = {}): Tensor {
  return checkedForward('conv2dRelu', x, weight, bias, options, { relu: true });
}

/** What conv2dFused does besides the convolution. */
export interface Conv2dFusion {
  /** [Cout]: each output channel's factor, applied before the bias (a frozen batch norm's scale). */
  scale?: Tensor | null;
  /** A ReLU after the bias. */
  relu?: boolean;
}

/**
 * relu?(conv2d(x, weight) · scale + bias), scale and bias per output channel: a conv and the frozen batch norm
 * after it (scale s, shift t as the bias), with the ReLU that follows, in one kernel. ×s is applied as the
 * output is stored, and to dy as the two gradient kernels read it, so that neither the scaled output nor the
 * scaled gradient is ever written out; the values are those of the separate ops, bit for bit (conv2d, mul, add,
 * relu). Gradients reach x, weight and bias; a scale that requires one (a trained affine) makes the composition,
 * whose mul gives it.
 */
export function conv2dFused(x: Tensor, weight: Tensor, bias: Tensor | null | undefined, options: Conv2dOptions & Conv2dFusion = {}): Tensor {
  checkOptionNames('conv2dFused', options, [...WINDOW_OPTIONS, 'scale', 'relu'] satisfies (keyof (Conv2dOptions & Conv2dFusion))[]);
  const { scale, relu, ...window } = options;
  return checkedForward('conv2dFused', x, weight, bias, window, { scale, relu });
}

function checkedForward(op: string, x: Tensor, weight: Tensor, bias: Tensor | null | undefined, options: Conv2dOptions, fusion: Conv2dFusion): Tensor {
  // Options passed third, where the bias goes, would otherwise be reported as a bias of dtype undefined.
  if (bias != null && !(bias instanceof Tensor)) throw new Error(`${op}: bias must be a tensor or null, got ${optionValue(bias)}; options come fourth: ${op}(x, weight, bias, options)`);
  if (x.dtype !== weight.dtype || !isFloat(x.dtype) || (bias && bias.dtype !== x.dtype)) {
    throw new Error(`${op}: input, weight and bias must share one float dtype; got ${x.dtype}, ${weight.dtype}${bias ? `, ${bias.dtype}` : ''}`);
  }
  const g = conv2dGeometry(x.shape, weight.shape, options, op);
  if (bias && (bias.rank !== 1 || bias.shape[0] !== g.outChannels)) {
    throw new Error(`${op}: bias must have shape [${g.outChannels}] (one per output channel), got ${shapeStr(bias.shape)}`);
  }
  const scale = fusion.scale ?? null;
  if (scale !== null) {
    if (!(scale instanceof Tensor)) throw new Error(`${op}: scale must be a tensor or null, got ${optionValue(scale)}`);
    if (scale.rank !== 1 || scale.shape[0] !== g.outChannels || scale.dtype !== x.dtype) {
      throw new Error(`${op}: scale must be a ${x.dtype} tensor of shape [${g.outChannels}] (one per output channel), got ${scale.dtype} ${shapeStr(scale.shape)}`);
    }
  }
  const relu = fusion.relu ?? false;
  if (typeof relu !== 'boolean') throw new Error(`${op}: relu must be true or false, got ${optionValue(relu)}`);
  // The kernels treat the factor as a constant; one that needs a gradient goes through a mul, whose rule gives it.
  if (scale && scale.requiresGrad && gradEnabled()) {
    const channels = [1, g.outChannels, 1, 1];
    const y = mul(forward(x, weight, null, g, null, false), reshape(scale, channels));
    return bias ? (relu ? addRelu : add)(y, reshape(bias, channels)) : relu ? reluOp(y) : y;
  }
  return forward(x, weight, bias ?? null, g, scale, relu);
}
