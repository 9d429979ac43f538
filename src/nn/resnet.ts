/**
 * ResNet-18/34/50/101 in torchvision's (and mmdet's) layout and parameter names — conv1, bn1, layer1..layer4,
 * `layer2.0.downsample.0/.1` — with every batch norm frozen, as SMPR trains it (reference 1.1). Returns the
 * outputs of layer2..layer4 (C3, C4, C5 at strides 8, 16, 32); C2 is computed but not returned, as the neck
 * starts at C3.
 *
 * `style` decides where a downsampling bottleneck puts its stride: 'pytorch' on the 3×3 conv2, 'caffe' (mmdet's
 * resnet50_caffe, the SMPR config) on the first 1×1 conv1. Basic blocks always stride their first 3×3.
 * `frozenStages` follows mmdet: −1 freezes nothing, 0 the stem, k ≥ 1 the stem and layer1..layerk.
 * `baseChannels` (64 in the real networks) scales every width, so a tiny variant exists for quick training.
 * `norm: 'affine-bn'` keeps the BN statistics frozen but trains its weight and bias (mmdet's requires_grad=True
 * with norm_eval=True, as the HRNet configs set it; HRNet builds its blocks from here).
 * `norm: 'group'` swaps every frozen BN for a trainable GroupNorm under the same names (bn1, downsample.1, ...):
 * a network trained from scratch has no pretrained statistics to freeze, and GroupNorm is what makes detectors
 * train from scratch at small batch sizes (Wu & He 2018, "Group Normalization"; He et al. 2019, "Rethinking
 * ImageNet Pre-training").
 */
import { conv2dOutputSize } from '../ops/conv2d.js';
import { maxPool2d } from '../ops/pool.js';
import { add, addRelu, mul } from '../ops/elementwise.js';
import { reshape } from '../ops/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { Conv2d } from './conv.js';
import { Sequential } from './container.js';
import { kaimingNormal, type InitOptions } from './init.js';
import { Module, type Layer } from './module.js';
import { FrozenBatchNorm2d, GroupNorm } from './norm.js';

export type ResNetDepth = 18 | 34 | 50 | 101;
export type ResNetStyle = 'pytorch' | 'caffe';

const ARCHITECTURES: Record<ResNetDepth, { block: 'basic' | 'bottleneck'; layers: [number, number, number, number] }> = {
  18: { block: 'basic', layers: [2, 2, 2, 2] },
  34: { block: 'basic', layers: [3, 4, 6, 3] },
  50: { block: 'bottleneck', layers: [3, 4, 6, 3] },
  101: { block: 'bottleneck', layers: [3, 4, 23, 3] },
};

export interface ResNetOptions extends InitOptions {
  depth: ResNetDepth;
  /** Blocks per stage, overriding the depth's (the depth still picks the block type). */
  layers?: readonly [number, number, number, number];
  /** Stem width and layer1's planes; 64 in torchvision. */
  baseChannels?: number;
  style?: ResNetStyle;
  frozenStages?: number;
  /** 'frozen-bn' (default; torchvision and mmdet weights), 'affine-bn' (frozen statistics, trained affine) or 'group' (trainable GroupNorm, for training from scratch). */
  norm?: ResNetNorm;
  /** Groups of each GroupNorm when norm is 'group' (capped at the channel count). */
  normGroups?: number;
}

export type ResNetNorm = 'frozen-bn' | 'affine-bn' | 'group';

/** What every norm slot of the network is built from. */
export interface BlockOptions extends InitOptions {
  norm: ResNetNorm;
  normGroups: number;
}

export type NormLayer = FrozenBatchNorm2d | GroupNorm;

export const normLayer = (channels: number, options: BlockOptions): NormLayer =>
  options.norm === 'group'
    ? new GroupNorm(Math.min(options.normGroups, channels), channels, options)
    : new FrozenBatchNorm2d(channels, { ...options, trainAffine: options.norm === 'affine-bn' });

/**
 * conv then norm. A frozen batch norm y·s + t runs inside the conv (conv2dFused: ×s and +t as the output is
 * stored, ×s again as the gradient kernels read dy), so that it costs no pass of its own: the output is written
 * once where conv, ×s and +t wrote it three times. A trained affine (HRNet's 'affine-bn') needs the gradient of s,
 * which the fused kernels do not give; there s is folded into the weights as a tensor, conv(x, W·s) with bias t,
 * where that pays (foldPays), and the gradient reaches the affine's weight and bias through s and t.
 */
export function convNorm(conv: Conv2d, norm: NormLayer, x: Tensor): Tensor {
  return convNormWith(conv, norm, x, false);
}

/**
 * relu(convNorm(conv, norm, x)), the ReLU inside the kernel before it: a GroupNorm's, the conv's output store when
 * a frozen BN runs in the conv or is folded into it, or the BN's shift otherwise.
 */
export function convNormRelu(conv: Conv2d, norm: NormLayer, x: Tensor): Tensor {
  return convNormWith(conv, norm, x, true);
}

function convNormWith(conv: Conv2d, norm: NormLayer, x: Tensor, relu: boolean): Tensor {
  const separate = () => {
    const y = conv.forward(x);
    return relu ? norm.forwardRelu(y) : norm.forward(y);
  };
  if (!(norm instanceof FrozenBatchNorm2d)) return separate();
  if (norm.channels !== conv.outChannels) throw new Error(`convNorm: a conv with ${conv.outChannels} outputs cannot feed a BN of ${norm.channels} channels`);
  const { scale, shift } = norm.affine();
  if (scale.requiresGrad && !foldPays(conv, x)) return separate();
  const bias = conv.bias ? add(mul(conv.bias.tensor, scale), shift) : shift;
  if (!scale.requiresGrad) return conv.withWeights(x, conv.weight.tensor, bias, { scale, relu });
  return conv.withWeights(x, mul(conv.weight.tensor, reshape(scale, [conv.outChannels, 1, 1, 1])), bias, { relu });
}

/**
 * Whether a trained affine is folded into the weights: where the output outweighs them, 3·P ≥ 2·Cin·k², P the
 * conv's output pixels over the batch. Unfolded, the output is written three times and its gradient passed over
 * once more for ×s, about three passes over Cout·P numbers; folded, W·s is a pass over Cout·Cin·k² weights, and
 * another for the gradient of W through it.
 */
function foldPays(conv: Conv2d, x: Tensor): boolean {
  const [kh, kw] = conv.weight.shape.slice(2) as [number, number];
  const outH = conv2dOutputSize(x.shape[2]!, kh, conv.stride[0], conv.padding[0], conv.dilation[0]);
  const outW = conv2dOutputSize(x.shape[3]!, kw, conv.stride[1], conv.padding[1], conv.dilation[1]);
  return 3 * x.shape[0]! * outH * outW >= 2 * (conv.inChannels / conv.groups) * kh * kw;
}

/** torchvision's ResNet init (and mmcv's kaiming_init): convs N(0, √2/√fan_out); BN at identity (weight 1, bias 0, mean 0, var 1). */
const convInit = kaimingNormal({ mode: 'fan_out', nonlinearity: 'relu' });

/** A bias-free conv with "same" padding, as every conv of the ResNet and HRNet backbones. */
export const conv = (cin: number, cout: number, k: number, stride: number, init: InitOptions): Conv2d =>
  new Conv2d(cin, cout, k, { stride, padding: (k - 1) / 2, bias: false, weightInit: convInit, ...init });

/**
 * conv → norm under torch's Sequential positions 0 and 1: the 1×1 conv + BN that brings a block's identity path
 * to its output shape, and HRNet's transitions and fuse steps.
 */
export class ConvNorm extends Module implements Layer {
  protected readonly conv: Conv2d;
  protected readonly norm: NormLayer;

  constructor(cin: number, cout: number, k: number, stride: number, init: BlockOptions) {
    super();
    this.conv = this.addModule('0', conv(cin, cout, k, stride, init));
    this.norm = this.addModule('1', normLayer(cout, init));
  }

  forward(x: Tensor): Tensor {
    return convNorm(this.conv, this.norm, x);
  }
}

export class BasicBlock extends Module implements Layer {
  static readonly expansion = 1;
  private readonly conv1: Conv2d;
  private readonly bn1: NormLayer;
  private readonly conv2: Conv2d;
  private readonly bn2: NormLayer;
  private readonly downsample: ConvNorm | null;

  // `_style` is unused (a basic block has one place for its stride); it is here so that ResNet can build either block with one `new Block(...)`.
  constructor(inplanes: number, planes: number, stride: number, _style: ResNetStyle, init: BlockOptions) {
    super();
    this.conv1 = this.addModule('conv1', conv(inplanes, planes, 3, stride, init));
    this.bn1 = this.addModule('bn1', normLayer(planes, init));
    this.conv2 = this.addModule('conv2', conv(planes, planes, 3, 1, init));
    this.bn2 = this.addModule('bn2', normLayer(planes, init));
    this.downsample = stride !== 1 || inplanes !== planes ? this.addModule('downsample', new ConvNorm(inplanes, planes, 1, stride, init)) : null;
  }

  forward(x: Tensor): Tensor {
    const y = convNorm(this.conv2, this.bn2, convNormRelu(this.conv1, this.bn1, x));
    return addRelu(y, this.downsample ? this.downsample.forward(x) : x);
  }
}

export class Bottleneck extends Module implements Layer {
  static readonly expansion = 4;
  private readonly conv1: Conv2d;
  private readonly bn1: NormLayer;
  private readonly conv2: Conv2d;
  private readonly bn2: NormLayer;
  private readonly conv3: Conv2d;
  private readonly bn3: NormLayer;
  private readonly downsample: ConvNorm | null;

  constructor(inplanes: number, planes: number, stride: number, style: ResNetStyle, init: BlockOptions) {
    super();
    const out = planes * Bottleneck.expansion;
    const [stride1, stride2] = style === 'caffe' ? [stride, 1] : [1, stride];
    this.conv1 = this.addModule('conv1', conv(inplanes, planes, 1, stride1, init));
    this.bn1 = this.addModule('bn1', normLayer(planes, init));
    this.conv2 = this.addModule('conv2', conv(planes, planes, 3, stride2, init));
    this.bn2 = this.addModule('bn2', normLayer(planes, init));
    this.conv3 = this.addModule('conv3', conv(planes, out, 1, 1, init));
    this.bn3 = this.addModule('bn3', normLayer(out, init));
    this.downsample = stride !== 1 || inplanes !== out ? this.addModule('downsample', new ConvNorm(inplanes, out, 1, stride, init)) : null;
  }

  forward(x: Tensor): Tensor {
    let y = convNormRelu(this.conv1, this.bn1, x);
    y = convNormRelu(this.conv2, this.bn2, y);
    y = convNorm(this.conv3, this.bn3, y);
    return addRelu(y, this.downsample ? this.downsample.forward(x) : x);
  }
}

export class ResNet extends Module {
  /** Channels of C3, C4, C5. */
  readonly outChannels: [number, number, number];
  private readonly conv1: Conv2d;
  private readonly bn1: NormLayer;
  private readonly stages: Sequential[];

  constructor(options: ResNetOptions) {
    super();
    const arch = ARCHITECTURES[options.depth];
    if (!arch) throw new Error(`ResNet: depth must be one of ${Object.keys(ARCHITECTURES).join(', ')}, got ${options.depth}`);
    const layers = options.layers ?? arch.layers;
    if (layers.length !== 4 || layers.some((n) => !Number.isInteger(n) || n < 1)) {
      throw new Error(`ResNet: layers must be 4 positive block counts, got [${layers.join(', ')}]`);
    }
    const frozen = options.frozenStages ?? -1;
    if (!Number.isInteger(frozen) || frozen < -1 || frozen > 4) throw new Error(`ResNet: frozenStages must be an integer in [−1, 4], got ${frozen}`);
    const base = options.baseChannels ?? 64;
    const style = options.style ?? 'pytorch';
    const { device, dtype, random } = options;
    const init: BlockOptions = { device, dtype, random, norm: options.norm ?? 'frozen-bn', normGroups: options.normGroups ?? 32 };
    const Block = arch.block === 'basic' ? BasicBlock : Bottleneck;

    this.conv1 = this.addModule('conv1', new Conv2d(3, base, 7, { stride: 2, padding: 3, bias: false, weightInit: convInit, ...init }));
    this.bn1 = this.addModule('bn1', normLayer(base, init));
    let inplanes = base;
    this.stages = layers.map((blocks, i) => {
      const planes = base * 2 ** i;
      const stage = Array.from({ length: blocks }, (_, b) => {
        const block = new Block(inplanes, planes, b === 0 && i > 0 ? 2 : 1, style, init);
        inplanes = planes * Block.expansion;
        return block;
      });
      return this.addModule(`layer${i + 1}`, new Sequential(stage));
    });
    const width = (i: number) => base * 2 ** i * Block.expansion;
    this.outChannels = [width(1), width(2), width(3)];

    if (frozen >= 0) {
      this.conv1.freeze();
      this.bn1.freeze(); // a frozen BN already; an affine BN's or GroupNorm's scale and shift (mmdet's norm1)
      this.stages.slice(0, frozen).forEach((s) => s.freeze());
    }
  }

  /** [C3, C4, C5] for an input [N, 3, H, W]. */
  forward(x: Tensor): [Tensor, Tensor, Tensor] {
    const stem = maxPool2d(convNormRelu(this.conv1, this.bn1, x), { kernelSize: 3, stride: 2, padding: 1 });
    const c2 = this.stages[0].forward(stem);
    const c3 = this.stages[1].forward(c2);
    const c4 = this.stages[2].forward(c3);
    return [c3, c4, this.stages[3].forward(c4)];
  }
}
