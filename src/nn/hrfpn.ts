/**
 * HRFPN, the neck of HRNetV2 detectors (mmdetection's `HRFPN`), as the SMPR HRNet configs set it (reference 1.3):
 *
 *  1. upsample every branch bilinearly (align_corners=False) onto the finest, by 2^i, and concatenate;
 *  2. reduction_conv: a 1×1 conv to `outChannels`, no norm, no activation;
 *  3. average-pool that map by 1, 2, 4, …, 2^(numOuts−1) (kernel = stride, floor mode);
 *  4. fpn_convs.i: a 3×3 conv of stride `stride` on each, no activation. With stride 2 (the configs') a stride-4
 *     HRNet gives levels at strides 8..128, the SMPR head's P3–P7.
 *
 * Every conv has a bias (mmcv's ConvModule without a norm) and starts from caffe2_xavier_init: U(±√(3/fan_in)),
 * bias 0. Names as in mmdet ≥ 1.1: `reduction_conv.conv.weight`, `fpn_convs.3.conv.bias`.
 */
import { avgPool2d } from '../ops/pool.js';
import { concat } from '../ops/shape.js';
import { upsampleBilinear2d } from '../ops/upsample-bilinear.js';
import { shapeStr } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { ModuleList } from './container.js';
import { ConvModule } from './conv-module.js';
import { caffe2Xavier, constant, type InitOptions } from './init.js';
import { Module } from './module.js';

export interface HrFpnOptions extends InitOptions {
  /** Channels of the backbone branches, finest first. */
  inChannels: readonly number[];
  /** Width of every output level (256 in the configs). */
  outChannels?: number;
  /** Output levels (5 in the configs). */
  numOuts?: number;
  /** Stride of the 3×3 output convs: mmdet's default 1, the SMPR configs' 2. */
  stride?: number;
}

export class HrFpn extends Module {
  readonly outChannels: number;
  readonly numOuts: number;
  private readonly reductionConv: ConvModule;
  private readonly fpnConvs: ModuleList<ConvModule>;

  constructor(options: HrFpnOptions) {
    super();
    this.outChannels = options.outChannels ?? 256;
    this.numOuts = options.numOuts ?? 5;
    const stride = options.stride ?? 1;
    if (options.inChannels.length < 1 || !Number.isInteger(this.numOuts) || this.numOuts < 1) {
      throw new Error(`HrFpn: needs at least one input branch and one output level, got ${options.inChannels.length} and ${this.numOuts}`);
    }
    const { device, dtype, random } = options;
    const init = { weightInit: caffe2Xavier(), biasInit: constant(0), device, dtype, random };
    const inTotal = options.inChannels.reduce((a, b) => a + b, 0);
    this.reductionConv = this.addModule('reduction_conv', new ConvModule(inTotal, this.outChannels, 1, init));
    this.fpnConvs = this.addModule(
      'fpn_convs',
      new ModuleList(Array.from({ length: this.numOuts }, () => new ConvModule(this.outChannels, this.outChannels, 3, { ...init, padding: 1, stride }))),
    );
  }

  /** Output levels, finest first, for backbone branches finest first (branch i at 2^i times the first's stride). */
  forward(inputs: readonly Tensor[]): Tensor[] {
    const [fh, fw] = inputs[0].shape.slice(2);
    const resized = inputs.map((x, i) => {
      const y = i === 0 ? x : upsampleBilinear2d(x, { scaleFactor: 2 ** i });
      if (y.shape[2] !== fh || y.shape[3] !== fw) {
        throw new Error(`HrFpn: branch ${i} is ${shapeStr(x.shape)}, which upsampled by ${2 ** i} does not match branch 0's ${fh}×${fw}`);
      }
      return y;
    });
    const reduced = this.reductionConv.forward(concat(resized, 1));
    return this.fpnConvs.items.map((fpnConv, i) => {
      const k = 2 ** i;
      if (k > fh || k > fw) throw new Error(`HrFpn: level ${i} pools the ${fh}×${fw} map by ${k}: the input is too small for ${this.numOuts} levels`);
      return fpnConv.forward(i === 0 ? reduced : avgPool2d(reduced, { kernelSize: k }));
    });
  }
}
