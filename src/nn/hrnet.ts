/**
 * HRNetV2 (Wang et al. 2019, "Deep High-Resolution Representation Learning for Visual Recognition") as
 * mmdetection's `HRNet` builds it for the SMPR HRNet configs, under its parameter names, so that an mmdetection
 * checkpoint (open-mmlab://msra/hrnetv2_w32) loads by name. W is the width of the finest branch (32 or 48):
 *
 *  - stem: conv1 3×3/2 → bn1 → ReLU → conv2 3×3/2 → bn2 → ReLU, 64 channels at stride 4;
 *  - layer1: 4 Bottlenecks of 64 planes (256 channels out), the first with a 1×1 conv-BN downsample;
 *  - transition1..3, before stages 2..4: a kept branch whose width changes gets a 3×3 conv-BN-ReLU (only the
 *    first, 256 → W); the new, coarser branch is a 3×3/2 conv-BN-ReLU of the previous stage's coarsest output;
 *  - stage2..4: 1, 4 and 3 HRModules over 2, 3 and 4 branches of widths W, 2W, 4W, 8W at strides 4..32. In each,
 *    every branch runs 4 BasicBlocks; then output i is ReLU(Σ_j f_ij(x_j)): f_ii the identity, a coarser branch
 *    (j > i) a 1×1 conv-BN (no ReLU) and nearest upsampling by 2^(j−i), a finer one (j < i) i − j 3×3/2
 *    conv-BNs with a ReLU after each but the last.
 *
 * Every conv is bias-free and followed by BN, which the configs set to requires_grad=True with norm_eval=True:
 * the affine trains, the running statistics stay those of the pretrained model ('affine-bn'). No stage is
 * frozen. Child names are torch's: nn.Sequential positions (`transition1.1.0.0.weight`, `fuse_layers.2.0.1.1.bias`)
 * and holes where mmdet's ModuleLists hold None (`transition2.2` exists, `transition2.0` does not).
 */
import { add, addRelu } from '../ops/elementwise.js';
import { upsampleNearest2d } from '../ops/upsample.js';
import { shapeStr } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Conv2d } from './conv.js';
import { ModuleList, OptionalModuleList, Sequential } from './container.js';
import type { InitOptions } from './init.js';
import { Module, type LayerModule } from './module.js';
import { BasicBlock, Bottleneck, ConvNorm, conv, convNormRelu, normLayer, type BlockOptions, type NormLayer, type ResNetNorm } from './resnet.js';

/** HRNetV2's stages 2–4 (mmdet's `extra`): HRModules per stage; every stage adds one branch. */
const STAGE_MODULES = [1, 4, 3] as const;
const BLOCKS_PER_BRANCH = 4;
const STEM_WIDTH = 64;
const LAYER1 = { blocks: 4, planes: 64 } as const;

export type HrNetWidths = readonly [number, number, number, number];

export interface HrNetOptions extends InitOptions {
  /** Branch widths, finest first: (32, 64, 128, 256) for W32, (48, 96, 192, 384) for W48. */
  widths: HrNetWidths;
  /** 'affine-bn' (default, the configs'), 'frozen-bn', or 'group' (trainable GroupNorm of normGroups groups). */
  norm?: ResNetNorm;
  normGroups?: number;
}

/** conv → norm (torch positions 0 and 1), then a ReLU or a nearest upsampling when asked. */
class ConvNormThen extends ConvNorm {
  constructor(cin: number, cout: number, k: number, stride: number, private readonly after: { relu?: boolean; upsample?: number }, init: BlockOptions) {
    super(cin, cout, k, stride, init);
  }

  override forward(x: Tensor): Tensor {
    if (this.after.relu) return convNormRelu(this.conv, this.norm, x);
    const y = super.forward(x);
    return this.after.upsample ? upsampleNearest2d(y, this.after.upsample) : y;
  }
}

/** How branch j reaches output i of a fuse layer (null: it is output i's own branch). */
function fuseStep(widths: readonly number[], i: number, j: number, init: BlockOptions): LayerModule | null {
  if (j === i) return null;
  if (j > i) return new ConvNormThen(widths[j], widths[i], 1, 1, { upsample: 2 ** (j - i) }, init);
  return new Sequential(
    Array.from({ length: i - j }, (_, k) => {
      const last = k === i - j - 1;
      return new ConvNormThen(widths[j], last ? widths[i] : widths[j], 3, 2, { relu: !last }, init);
    }),
  );
}

/** One HRModule: parallel branches of BasicBlocks, then the exchange between all of them. */
class HrModule extends Module {
  private readonly branches: ModuleList<Sequential>;
  private readonly fuseLayers: ModuleList<OptionalModuleList<LayerModule>>;

  constructor(widths: readonly number[], init: BlockOptions) {
    super();
    const blocks = (w: number) => new Sequential(Array.from({ length: BLOCKS_PER_BRANCH }, () => new BasicBlock(w, w, 1, 'pytorch', init)));
    this.branches = this.addModule('branches', new ModuleList(widths.map(blocks)));
    this.fuseLayers = this.addModule(
      'fuse_layers',
      new ModuleList(widths.map((_, i) => new OptionalModuleList(widths.map((_, j) => fuseStep(widths, i, j, init))))),
    );
  }

  forward(xs: readonly Tensor[]): Tensor[] {
    const ys = xs.map((x, i) => this.branches.at(i).forward(x));
    return ys.map((_, i) => {
      const row = this.fuseLayers.at(i);
      const terms = ys.map((y, j) => row.at(j)?.forward(y) ?? y);
      // The last add and the ReLU in one kernel: relu(((t0 + t1) + t2) + t3), summed in the same order. (A module
      // has 2 to 4 branches: HrNet builds stage s + 2 of s + 2.)
      const last = terms.pop()!;
      return addRelu(terms.reduce((sum, t) => add(sum, t)), last);
    });
  }
}

/** A transition slot: a kept branch (maybe re-widened) or a new, coarser one built from the coarsest. */
function transitionStep(previous: readonly number[], widths: readonly number[], i: number, init: BlockOptions): LayerModule | null {
  if (i < previous.length) return widths[i] === previous[i] ? null : new ConvNormThen(previous[i], widths[i], 3, 1, { relu: true }, init);
  // mmdet's steps all start from the coarsest width and only the last reaches the new one; with one new branch
  // per stage there is exactly one step.
  const coarsest = previous[previous.length - 1];
  const steps = i + 1 - previous.length;
  return new Sequential(
    Array.from({ length: steps }, (_, k) => new ConvNormThen(coarsest, k === steps - 1 ? widths[i] : coarsest, 3, 2, { relu: true }, init)),
  );
}

export class HrNet extends Module {
  /** Channels of the four outputs, finest (stride 4) first. */
  readonly outChannels: HrNetWidths;
  private readonly conv1: Conv2d;
  private readonly bn1: NormLayer;
  private readonly conv2: Conv2d;
  private readonly bn2: NormLayer;
  private readonly layer1: Sequential;
  private readonly transitions: OptionalModuleList<LayerModule>[] = [];
  private readonly stages: ModuleList<HrModule>[] = [];

  constructor(options: HrNetOptions) {
    super();
    const widths = options.widths;
    if (widths.length !== 4 || widths.some((w) => !Number.isInteger(w) || w < 1)) {
      throw new Error(`HrNet: widths must be 4 positive integers, got [${widths.join(', ')}]`);
    }
    const { device, dtype, random } = options;
    const init: BlockOptions = { device, dtype, random, norm: options.norm ?? 'affine-bn', normGroups: options.normGroups ?? 32 };
    this.outChannels = widths;

    this.conv1 = this.addModule('conv1', conv(3, STEM_WIDTH, 3, 2, init));
    this.bn1 = this.addModule('bn1', normLayer(STEM_WIDTH, init));
    this.conv2 = this.addModule('conv2', conv(STEM_WIDTH, STEM_WIDTH, 3, 2, init));
    this.bn2 = this.addModule('bn2', normLayer(STEM_WIDTH, init));
    const layer1Out = LAYER1.planes * Bottleneck.expansion;
    this.layer1 = this.addModule(
      'layer1',
      new Sequential(Array.from({ length: LAYER1.blocks }, (_, b) => new Bottleneck(b === 0 ? STEM_WIDTH : layer1Out, LAYER1.planes, 1, 'pytorch', init))),
    );

    let previous: readonly number[] = [layer1Out];
    STAGE_MODULES.forEach((modules, s) => {
      const current = widths.slice(0, s + 2);
      this.transitions.push(this.addModule(`transition${s + 1}`, new OptionalModuleList(current.map((_, i) => transitionStep(previous, current, i, init)))));
      this.stages.push(this.addModule(`stage${s + 2}`, new ModuleList(Array.from({ length: modules }, () => new HrModule(current, init)))));
      previous = current;
    });
  }

  /** The four branches' outputs [N, W·2^i, H/2^(i+2), W/2^(i+2)] for images [N, 3, H, W] with H and W multiples of 32. */
  forward(x: Tensor): Tensor[] {
    const [h, w] = x.shape.slice(2);
    if (x.rank !== 4 || x.shape[1] !== 3 || h % 32 !== 0 || w % 32 !== 0) {
      // The fuse layers add nearest-upsampled coarse maps to fine ones: the four strides must divide the input.
      throw new Error(`HrNet: input ${shapeStr(x.shape)} should be [N, 3, H, W] with H and W multiples of 32`);
    }
    const stem = convNormRelu(this.conv2, this.bn2, convNormRelu(this.conv1, this.bn1, x));
    let ys = [this.layer1.forward(stem)];
    this.stages.forEach((stage, s) => {
      const inputs = this.transitions[s].items.map((t, i) => {
        const source = ys[Math.min(i, ys.length - 1)];
        return t ? t.forward(source) : source;
      });
      ys = stage.items.reduce((branches, module) => module.forward(branches), inputs);
    });
    return ys;
  }
}
