/**
 * A deformable convolution layer (DCNv1) over `deformConv2d`: the offsets come from outside (in SMPR, a 1×1 conv of
 * the detached initial pose), with `deformGroups` offset groups each steering a consecutive block of input
 * channels. The offset layout is torchvision's: [N, 2·G·KH·KW, OH, OW], (dy, dx) per tap, taps row-major.
 */
import { deformConv2d } from '../ops/deform-conv2d.js';
import { shapeStr } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { checkCounts, convWeightAndBias, type Conv2dOptions } from './conv.js';
import { intPair, type IntPair } from '../ops/window-options.js';
import { Module, type Parameter } from './module.js';

export interface DeformConv2dOptions extends Omit<Conv2dOptions, 'groups'> {
  /** Offset groups (mmdet's deformable_groups); must divide the input channels. */
  deformGroups?: number;
}

export class DeformConv2d extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter | null;
  readonly kernelSize: [number, number];
  readonly stride: [number, number];
  readonly padding: [number, number];
  readonly dilation: [number, number];
  readonly deformGroups: number;

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    kernelSize: IntPair,
    options: DeformConv2dOptions = {},
  ) {
    super();
    this.deformGroups = options.deformGroups ?? 1;
    checkCounts('DeformConv2d', { inChannels, outChannels, deformGroups: this.deformGroups });
    if (inChannels % this.deformGroups !== 0) {
      throw new Error(`DeformConv2d: ${inChannels} input channels do not divide into ${this.deformGroups} deformable groups`);
    }
    this.kernelSize = intPair('DeformConv2d', 'kernelSize', kernelSize, 1, 1);
    this.stride = intPair('DeformConv2d', 'stride', options.stride, 1, 1);
    this.padding = intPair('DeformConv2d', 'padding', options.padding, 0, 0);
    this.dilation = intPair('DeformConv2d', 'dilation', options.dilation, 1, 1);
    const shape = [outChannels, inChannels, ...this.kernelSize];
    const { weight, bias } = convWeightAndBias(shape, options);
    this.weight = this.addParameter('weight', weight, 'weight');
    this.bias = bias && this.addParameter('bias', bias, 'bias');
  }

  /** Offset channels the layer expects: 2 (dy, dx) × taps × groups. */
  get offsetChannels(): number {
    return 2 * this.kernelSize[0] * this.kernelSize[1] * this.deformGroups;
  }

  forward(x: Tensor, offset: Tensor): Tensor {
    // The op infers the group count from the offset; checking it here catches a wrongly wired offset conv.
    if (offset.rank !== 4 || offset.shape[1] !== this.offsetChannels) {
      throw new Error(
        `DeformConv2d: offset ${shapeStr(offset.shape)} should have ${this.offsetChannels} channels ` +
          `(2 × ${this.kernelSize[0]}×${this.kernelSize[1]} taps × ${this.deformGroups} groups)`,
      );
    }
    return deformConv2d(x, offset, this.weight.tensor, this.bias?.tensor ?? null, {
      stride: this.stride,
      padding: this.padding,
      dilation: this.dilation,
    });
  }
}
