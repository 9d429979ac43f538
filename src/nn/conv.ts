/** A 2-d convolution layer over `conv2d`: weight [Cout, Cin/groups, KH, KW], optional bias [Cout]. */
import { conv2d, conv2dFused, conv2dRelu, type Conv2dFusion } from '../ops/conv2d.js';
import type { Tensor } from '../tensor/tensor.js';
import { intPair, type IntPair } from '../ops/window-options.js';
import { fans, initTensor, uniform, type Initializer, type InitOptions } from './init.js';
import { Module, type Parameter } from './module.js';

export interface Conv2dOptions extends InitOptions {
  stride?: IntPair;
  padding?: IntPair;
  dilation?: IntPair;
  groups?: number;
  /** Whether the layer has a bias (default true). */
  bias?: boolean;
  /** Default: PyTorch's, U(±1/√fan_in) for weight and bias alike. */
  weightInit?: Initializer;
  biasInit?: Initializer;
}

/** PyTorch's default conv initialisation (kaiming_uniform with a = √5 reduces to this bound). */
export function defaultConvInit(weightShape: readonly number[]): Initializer {
  const bound = 1 / Math.sqrt(fans(weightShape).fanIn);
  return uniform(-bound, bound);
}

/**
 * A conv layer's channel and group counts, each a positive integer; checked when the layer is built, not at the
 * first forward: 0 input channels made an infinite init bound, −1 a typed-array RangeError.
 */
export function checkCounts(layer: string, counts: Record<string, number>): void {
  for (const [name, n] of Object.entries(counts)) {
    if (!Number.isInteger(n) || n < 1) throw new Error(`${layer}: ${name} must be a positive integer, got ${n}`);
  }
}

/** A conv's initial weight of `shape` ([Cout, …]) and bias [Cout], or null for the bias when `options.bias` is false. */
export function convWeightAndBias(shape: readonly number[], options: Omit<Conv2dOptions, 'groups'>): { weight: Tensor; bias: Tensor | null } {
  const init = defaultConvInit(shape);
  const weight = initTensor(shape, options.weightInit ?? init, options);
  const bias = (options.bias ?? true) ? initTensor([shape[0]!], options.biasInit ?? init, options) : null;
  return { weight, bias };
}

export class Conv2d extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter | null;
  readonly stride: [number, number];
  readonly padding: [number, number];
  readonly dilation: [number, number];
  readonly groups: number;

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    kernelSize: IntPair,
    options: Conv2dOptions = {},
  ) {
    super();
    this.groups = options.groups ?? 1;
    checkCounts('Conv2d', { inChannels, outChannels, groups: this.groups });
    if (inChannels % this.groups !== 0 || outChannels % this.groups !== 0) {
      throw new Error(`Conv2d: ${inChannels} input and ${outChannels} output channels must both divide into ${this.groups} groups`);
    }
    this.stride = intPair('Conv2d', 'stride', options.stride, 1, 1);
    this.padding = intPair('Conv2d', 'padding', options.padding, 0, 0);
    this.dilation = intPair('Conv2d', 'dilation', options.dilation, 1, 1);
    const shape = [outChannels, inChannels / this.groups, ...intPair('Conv2d', 'kernelSize', kernelSize, 1, 1)];
    const { weight, bias } = convWeightAndBias(shape, options);
    this.weight = this.addParameter('weight', weight, 'weight');
    this.bias = bias && this.addParameter('bias', bias, 'bias');
  }

  forward(x: Tensor): Tensor {
    return this.withWeights(x, this.weight.tensor, this.bias?.tensor ?? null, {});
  }

  /** relu(forward(x)), the ReLU applied as the conv stores its output. */
  forwardRelu(x: Tensor): Tensor {
    return this.withWeights(x, this.weight.tensor, this.bias?.tensor ?? null, { relu: true });
  }

  /**
   * This conv's window (stride, padding, dilation, groups) over other weights, with the fusions of conv2dFused:
   * a frozen BN's scale and shift (the bias), a ReLU after it (resnet.ts).
   */
  withWeights(x: Tensor, weight: Tensor, bias: Tensor | null, fusion: Conv2dFusion): Tensor {
    const window = { stride: this.stride, padding: this.padding, dilation: this.dilation, groups: this.groups };
    if (fusion.scale) return conv2dFused(x, weight, bias, { ...window, ...fusion });
    return (fusion.relu ? conv2dRelu : conv2d)(x, weight, bias, window);
  }
}
