/** A 2-d convolution layer over `conv2d`: weight [Cout, Cin/groups, KH, KW], optional bias [Cout]. */
import { conv2d } from '../ops/conv2d.js';
import type { Tensor } from '../tensor/tensor.js';
import { fans, initTensor, uniform, type Initializer, type InitOptions } from './init.js';
import { Module, type Parameter } from './module.js';

export type Pair = number | readonly [number, number];

export interface Conv2dOptions extends InitOptions {
  stride?: Pair;
  padding?: Pair;
  dilation?: Pair;
  groups?: number;
  /** Whether the layer has a bias (default true). */
  bias?: boolean;
  /** Default: PyTorch's, U(±1/√fan_in) for weight and bias alike. */
  weightInit?: Initializer;
  biasInit?: Initializer;
}

export const pair = (v: Pair): [number, number] => (typeof v === 'number' ? [v, v] : [v[0], v[1]]);

/** PyTorch's default conv initialisation (kaiming_uniform with a = √5 reduces to this bound). */
export function defaultConvInit(weightShape: readonly number[]): Initializer {
  const bound = 1 / Math.sqrt(fans(weightShape).fanIn);
  return uniform(-bound, bound);
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
    kernelSize: Pair,
    options: Conv2dOptions = {},
  ) {
    super();
    this.groups = options.groups ?? 1;
    if (inChannels % this.groups !== 0 || outChannels % this.groups !== 0) {
      throw new Error(`Conv2d: ${inChannels} input and ${outChannels} output channels must both divide into ${this.groups} groups`);
    }
    this.stride = pair(options.stride ?? 1);
    this.padding = pair(options.padding ?? 0);
    this.dilation = pair(options.dilation ?? 1);
    const shape = [outChannels, inChannels / this.groups, ...pair(kernelSize)];
    const init = defaultConvInit(shape);
    this.weight = this.addParameter('weight', initTensor(shape, options.weightInit ?? init, options), 'weight');
    this.bias = (options.bias ?? true) ? this.addParameter('bias', initTensor([outChannels], options.biasInit ?? init, options), 'bias') : null;
  }

  forward(x: Tensor): Tensor {
    return this.withWeights(x, this.weight.tensor, this.bias?.tensor ?? null);
  }

  /** This conv's window (stride, padding, dilation, groups) over other weights: a norm folded into it (resnet.ts). */
  withWeights(x: Tensor, weight: Tensor, bias: Tensor | null): Tensor {
    return conv2d(x, weight, bias, {
      stride: this.stride,
      padding: this.padding,
      dilation: this.dilation,
      groups: this.groups,
    });
  }
}
