/**
 * The SMPR head (reference section 2): one set of weights shared by all pyramid levels, plus a per-level pair of
 * Scale parameters. Per level, from the FPN feature x:
 *
 *   cls_feat = cls tower(x), reg_feat = reg tower(x)           (conv3x3 no bias → GroupNorm → ReLU, ×towerConvs)
 *   init     = Scale1_l(conv3x3(reg_feat → 2K))                  initial pose, stride units, [dx0, dy0, dx1, ...]
 *   offset   = conv1x1(detach(init) → deformGroups·18), no bias  a learned map of the detached pose
 *   reg_ref  = ReLU(DCN_reg(reg_feat, offset)), cls_ref = ReLU(DCN_cls(cls_feat, offset))
 *   cls      = conv3x3(cls_ref → 1), score = conv3x3(reg_ref → 1)
 *   refine   = detach(init) + Scale2_l(conv3x3(reg_ref → 2K))
 *
 * and, on the finest level only (P3), the auxiliary heatmap subnet: two conv3x3 + GN + ReLU blocks on x itself,
 * then conv3x3 → K logits. It only trains the shared features, so it runs in training mode or when asked.
 *
 * The detaches matter: no gradient reaches the init branch from the DCNs, the offset conv or the refine output;
 * init learns from its own loss only (there is no RepPoints-style gradient_mul).
 *
 * Child names and registration order are those of the authors' mmdet head (cls_convs, reg_convs, hm_convs,
 * hm_out, fcos_cls, fcos_reg, fcos_rescore, scales_1, scales_2, feature_adaption, fcos_refine_out), so their
 * `bbox_head.*` checkpoint keys load as they are.
 */
import { detach } from '../autograd/index.js';
import { add, relu } from '../ops/elementwise.js';
import { shapeStr } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { ModuleList, Sequential } from '../nn/container.js';
import { Conv2d } from '../nn/conv.js';
import { ConvModule } from '../nn/conv-module.js';
import { DeformConv2d } from '../nn/deform-conv.js';
import { biasForPrior, constant, normal, type InitOptions } from '../nn/init.js';
import { Module } from '../nn/module.js';
import { Scale } from '../nn/scale.js';

export interface SmprHeadOptions extends InitOptions {
  /** Channels of the FPN levels, and width of the towers and the DCNs (256 in the paper). */
  width: number;
  /** Blocks per tower (4 in the paper). */
  towerConvs: number;
  /** GroupNorm groups in the towers and the heatmap subnet; must divide width and heatmapChannels. */
  gnGroups: number;
  /** Offset groups of the two DCNs; must divide width. */
  deformGroups: number;
  /** Width of the heatmap subnet (128 in the paper). */
  heatmapChannels: number;
  numKeypoints: number;
  /** Pyramid levels the head serves (one Scale pair each). */
  numLevels: number;
  /** Prior probability for the cls and heatmap logits' bias (0.01). */
  priorProb: number;
}

/** What the head predicts on one level; every map has the level's spatial size. */
export interface LevelOutput {
  /** [N, 1, H, W] person/not-person logits. */
  clsLogits: Tensor;
  /** [N, 1, H, W] pose-score (OKS) logits. */
  scoreLogits: Tensor;
  /** [N, 2K, H, W] initial keypoint offsets in stride units, channels [dx0, dy0, dx1, dy1, ...]. */
  initPose: Tensor;
  /** [N, 2K, H, W] refined offsets, same layout and units. */
  refinePose: Tensor;
}

export interface HeadOutput {
  levels: LevelOutput[];
  /** [N, K, H3, W3] keypoint heatmap logits on the finest level, or null when not computed. */
  heatmapLogits: Tensor | null;
}

const TAPS = 3 * 3;

/** mmdet's FeatureAdaption: the shared offset conv and the reg/cls DCNs. */
class FeatureAdaption extends Module {
  readonly convOffset: Conv2d;
  readonly convAdaptionReg: DeformConv2d;
  readonly convAdaptionCls: DeformConv2d;

  constructor(width: number, poseChannels: number, deformGroups: number, init: InitOptions) {
    super();
    const dcn = () =>
      new DeformConv2d(width, width, 3, { padding: 1, deformGroups, bias: false, weightInit: normal(0.01), ...init });
    this.convOffset = this.addModule(
      'conv_offset',
      new Conv2d(poseChannels, deformGroups * TAPS * 2, 1, { bias: false, weightInit: normal(0.1), ...init }),
    );
    this.convAdaptionReg = this.addModule('conv_adaption_reg', dcn());
    this.convAdaptionCls = this.addModule('conv_adaption_cls', dcn());
  }

  forward(regFeat: Tensor, clsFeat: Tensor, init: Tensor): [Tensor, Tensor] {
    const offset = this.convOffset.forward(detach(init));
    return [relu(this.convAdaptionReg.forward(regFeat, offset)), relu(this.convAdaptionCls.forward(clsFeat, offset))];
  }
}

export class SmprHead extends Module {
  readonly width: number;
  readonly numKeypoints: number;
  readonly numLevels: number;
  readonly clsTower: Sequential;
  readonly regTower: Sequential;
  readonly heatmapTower: Sequential;
  readonly heatmapOut: Conv2d;
  readonly clsOut: Conv2d;
  readonly initOut: Conv2d;
  readonly scoreOut: Conv2d;
  readonly initScales: ModuleList<Scale>;
  readonly refineScales: ModuleList<Scale>;
  readonly featureAdaption: FeatureAdaption;
  readonly refineOut: Conv2d;

  constructor(options: SmprHeadOptions) {
    super();
    const { width, towerConvs, gnGroups, deformGroups, heatmapChannels, numKeypoints: k, numLevels } = options;
    const mustDivide = (what: string, channels: number, name: string, groups: number) => {
      if (!Number.isInteger(groups) || groups < 1 || channels % groups !== 0) {
        throw new Error(`SmprHead: ${what} ${channels} is not divisible by ${name} ${groups}`);
      }
    };
    mustDivide('width', width, 'gnGroups', gnGroups);
    mustDivide('heatmapChannels', heatmapChannels, 'gnGroups', gnGroups);
    mustDivide('width', width, 'deformGroups', deformGroups);
    if (towerConvs < 0 || numLevels < 1 || k < 1) {
      throw new Error(`SmprHead: need towerConvs ≥ 0, numLevels ≥ 1 and numKeypoints ≥ 1 (got ${towerConvs}, ${numLevels}, ${k})`);
    }
    this.width = width;
    this.numKeypoints = k;
    this.numLevels = numLevels;
    const { device, dtype, random } = options;
    const init: InitOptions = { device, dtype, random };
    const block = (cin: number, cout: number) =>
      new ConvModule(cin, cout, 3, { padding: 1, gnGroups, relu: true, weightInit: normal(0.01), ...init });
    const tower = () => new Sequential(Array.from({ length: towerConvs }, () => block(width, width)));
    const out = (cin: number, cout: number, bias: number) =>
      new Conv2d(cin, cout, 3, { padding: 1, weightInit: normal(0.01), biasInit: constant(bias), ...init });
    const prior = biasForPrior(options.priorProb);
    const scales = () => new ModuleList(Array.from({ length: numLevels }, () => new Scale(1, init)));

    this.clsTower = this.addModule('cls_convs', tower());
    this.regTower = this.addModule('reg_convs', tower());
    this.heatmapTower = this.addModule('hm_convs', new Sequential([block(width, heatmapChannels), block(heatmapChannels, heatmapChannels)]));
    this.heatmapOut = this.addModule('hm_out', out(heatmapChannels, k, prior));
    this.clsOut = this.addModule('fcos_cls', out(width, 1, prior));
    this.initOut = this.addModule('fcos_reg', out(width, 2 * k, 0));
    this.scoreOut = this.addModule('fcos_rescore', out(width, 1, 0));
    this.initScales = this.addModule('scales_1', scales());
    this.refineScales = this.addModule('scales_2', scales());
    this.featureAdaption = this.addModule('feature_adaption', new FeatureAdaption(width, 2 * k, deformGroups, init));
    this.refineOut = this.addModule('fcos_refine_out', out(width, 2 * k, 0));
  }

  /** Predictions for one level; `level` picks the Scale pair. */
  forwardLevel(x: Tensor, level: number): LevelOutput {
    const clsFeat = this.clsTower.forward(x);
    const regFeat = this.regTower.forward(x);
    const initPose = this.initScales.at(level).forward(this.initOut.forward(regFeat));
    const [regRef, clsRef] = this.featureAdaption.forward(regFeat, clsFeat, initPose);
    return {
      clsLogits: this.clsOut.forward(clsRef),
      scoreLogits: this.scoreOut.forward(regRef),
      initPose,
      refinePose: add(detach(initPose), this.refineScales.at(level).forward(this.refineOut.forward(regRef))),
    };
  }

  /** The heatmap subnet on the finest level's feature. */
  heatmap(p3: Tensor): Tensor {
    return this.heatmapOut.forward(this.heatmapTower.forward(p3));
  }

  /**
   * All levels, finest first. The heatmap is computed when `options.heatmap` says so, by default in training
   * mode only (it only serves the auxiliary loss).
   */
  forward(features: readonly Tensor[], options: { heatmap?: boolean } = {}): HeadOutput {
    if (features.length !== this.numLevels) {
      throw new Error(`SmprHead: expected ${this.numLevels} levels, got ${features.length}`);
    }
    features.forEach((x, l) => {
      if (x.rank !== 4 || x.shape[1] !== this.width) {
        throw new Error(`SmprHead: level ${l} feature ${shapeStr(x.shape)} should be [N, ${this.width}, H, W]`);
      }
    });
    return {
      levels: features.map((x, l) => this.forwardLevel(x, l)),
      heatmapLogits: (options.heatmap ?? this.training) ? this.heatmap(features[0]) : null,
    };
  }
}
