/**
 * mmdet's ConvModule: conv → optional GroupNorm → optional ReLU, with mmdet's child names (`conv`, `gn`), so an
 * FPN's `lateral_convs.0.conv.weight` or a head's `cls_convs.0.gn.bias` match the authors' checkpoints.
 * As in mmdet, the conv has a bias exactly when there is no norm after it. The ReLU runs inside the norm's
 * kernels, or the conv's where there is no norm (groupNormRelu, conv2dRelu).
 */
import type { Tensor } from '../tensor/tensor.js';
import { Conv2d, type Conv2dOptions } from './conv.js';
import type { IntPair } from '../ops/window-options.js';
import { Module } from './module.js';
import { GroupNorm } from './norm.js';

export interface ConvModuleOptions extends Omit<Conv2dOptions, 'bias'> {
  /** GroupNorm groups after the conv; absent means no norm. */
  gnGroups?: number;
  relu?: boolean;
}

export class ConvModule extends Module {
  readonly conv: Conv2d;
  readonly gn: GroupNorm | null;
  readonly relu: boolean;

  constructor(inChannels: number, outChannels: number, kernelSize: IntPair, options: ConvModuleOptions = {}) {
    super();
    const { gnGroups, relu: withRelu, ...convOptions } = options;
    this.conv = this.addModule('conv', new Conv2d(inChannels, outChannels, kernelSize, { ...convOptions, bias: gnGroups === undefined }));
    const { device, dtype, random } = options;
    this.gn = gnGroups === undefined ? null : this.addModule('gn', new GroupNorm(gnGroups, outChannels, { device, dtype, random }));
    this.relu = withRelu ?? false;
  }

  forward(x: Tensor): Tensor {
    if (!this.gn) return this.relu ? this.conv.forwardRelu(x) : this.conv.forward(x);
    const y = this.conv.forward(x);
    return this.relu ? this.gn.forwardRelu(y) : this.gn.forward(y);
  }
}
