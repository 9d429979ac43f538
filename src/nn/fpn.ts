/**
 * The neck: mmdet's FPN, and its PAFPN extension as the SMPR fork builds it (reference 1.2).
 *
 *  1. Laterals L_i = conv1x1(C_i); top-down L_{i−1} += upsample2×(L_i); then I_i = conv3x3(L_i).
 *  2. PAFPN only: bottom-up I_{i+1} += conv3x3 stride 2 (I_i), in order (each step sees the updated level),
 *     then outputs P_first = I_first and P_i = conv3x3(I_i) for the others. Plain FPN outputs the I_i.
 *  3. Extra levels (mmdet's add_extra_convs with extra_convs_on_inputs=False): conv3x3 stride 2 of the last
 *     output, then, for each further level, conv3x3 stride 2 of ReLU(previous extra level).
 *
 * With `relu` (the fork's PAFPN default, activation='relu') every conv above is followed by a ReLU; there is
 * never a norm, and every conv has a bias. Weights are Xavier-uniform, biases 0 (mmdet's FPN.init_weights).
 * Child names follow mmdet: lateral_convs.i, fpn_convs.i (level convs, then the extra ones), downsample_convs.i,
 * pafpn_convs.i — each a ConvModule, so keys read `neck.fpn_convs.3.conv.weight`.
 */
import { add, relu } from '../ops/elementwise.js';
import { upsampleNearest2d } from '../ops/upsample.js';
import { shapeStr } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { ModuleList } from './container.js';
import { ConvModule } from './conv-module.js';
import { constant, xavierUniform, type InitOptions } from './init.js';
import { Module } from './module.js';

export interface FpnOptions extends InitOptions {
  /** Channels of the backbone levels fed in, finest first (C3, C4, C5). */
  inChannels: readonly number[];
  /** Width of every output level (256 in the paper). */
  outChannels?: number;
  /** Output levels: the inputs' levels plus stride-2 extras (5 gives P3–P7 from C3–C5). */
  numOuts?: number;
  /** Add PAFPN's bottom-up path. */
  pathAggregation?: boolean;
  /** ReLU after every conv. */
  relu?: boolean;
}

export class Fpn extends Module {
  readonly outChannels: number;
  readonly numOuts: number;
  private readonly lateralConvs: ModuleList<ConvModule>;
  private readonly fpnConvs: ModuleList<ConvModule>;
  private readonly downsampleConvs: ModuleList<ConvModule> | null;
  private readonly pafpnConvs: ModuleList<ConvModule> | null;

  constructor(options: FpnOptions) {
    super();
    const levels = options.inChannels.length;
    this.outChannels = options.outChannels ?? 256;
    this.numOuts = options.numOuts ?? levels + 2;
    if (levels < 1 || this.numOuts < levels) {
      throw new Error(`Fpn: numOuts (${this.numOuts}) must be at least the number of input levels (${levels})`);
    }
    const width = this.outChannels;
    const { device, dtype, random } = options;
    const make = (cin: number, k: number, stride = 1) =>
      new ConvModule(cin, width, k, {
        stride,
        padding: (k - 1) / 2,
        relu: options.relu ?? false,
        weightInit: xavierUniform(),
        biasInit: constant(0),
        device,
        dtype,
        random,
      });
    const range = (n: number) => Array.from({ length: n }, (_, i) => i);

    this.lateralConvs = this.addModule('lateral_convs', new ModuleList(options.inChannels.map((c) => make(c, 1))));
    this.fpnConvs = this.addModule('fpn_convs', new ModuleList(range(this.numOuts).map((i) => make(width, 3, i < levels ? 1 : 2))));
    const pa = options.pathAggregation ?? false;
    this.downsampleConvs = pa ? this.addModule('downsample_convs', new ModuleList(range(levels - 1).map(() => make(width, 3, 2)))) : null;
    this.pafpnConvs = pa ? this.addModule('pafpn_convs', new ModuleList(range(levels - 1).map(() => make(width, 3)))) : null;
  }

  /** Output levels, finest first, for backbone features finest first. */
  forward(inputs: readonly Tensor[]): Tensor[] {
    const levels = this.lateralConvs.length;
    if (inputs.length !== levels) throw new Error(`Fpn: expected ${levels} input levels, got ${inputs.length}`);
    const laterals = inputs.map((x, i) => this.lateralConvs.at(i).forward(x));
    for (let i = levels - 1; i > 0; i--) laterals[i - 1] = add(laterals[i - 1], upsample2x(laterals[i], laterals[i - 1], i));

    let outs = laterals.map((l, i) => this.fpnConvs.at(i).forward(l));
    if (this.downsampleConvs && this.pafpnConvs) {
      for (let i = 0; i < levels - 1; i++) outs[i + 1] = add(outs[i + 1], this.downsampleConvs.at(i).forward(outs[i]));
      const pafpn = this.pafpnConvs;
      outs = outs.map((o, i) => (i === 0 ? o : pafpn.at(i - 1).forward(o)));
    }
    for (let i = levels; i < this.numOuts; i++) {
      const previous = outs[outs.length - 1];
      outs.push(this.fpnConvs.at(i).forward(i === levels ? previous : relu(previous)));
    }
    return outs;
  }
}

/** Nearest ×2 upsampling of `coarse` onto `fine`'s grid, which must be exactly twice as large. */
function upsample2x(coarse: Tensor, fine: Tensor, level: number): Tensor {
  const [h, w] = coarse.shape.slice(2);
  const [fh, fw] = fine.shape.slice(2);
  if (fh !== 2 * h || fw !== 2 * w) {
    throw new Error(
      `Fpn: input level ${level} is ${shapeStr(coarse.shape)} and level ${level - 1} is ${shapeStr(fine.shape)}; ` +
        'the top-down path needs each level exactly half the size of the one below (pad the image to a multiple of the largest backbone stride)',
    );
  }
  return upsampleNearest2d(coarse, 2);
}
