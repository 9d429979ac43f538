/**
 * The SMPR network: ResNet backbone → FPN/PAFPN neck, or HRNet → HRFPN, → shared SMPR head. Forward only;
 * losses, targets and decoding live elsewhere. Top-level names are mmdet's (`backbone.`, `neck.`, `bbox_head.`), so a state dict of
 * the authors' detector maps key for key.
 */
import type { Tensor } from '../tensor/tensor.js';
import { shapeStr } from '../tensor/shape.js';
import { Fpn } from '../nn/fpn.js';
import { HrFpn } from '../nn/hrfpn.js';
import { HrNet, type HrNetWidths } from '../nn/hrnet.js';
import type { InitOptions } from '../nn/init.js';
import { Module } from '../nn/module.js';
import { ResNet } from '../nn/resnet.js';
import { PRESETS, SIZE_DIVISOR, validateConfig, type PresetName, type SmprConfig } from './config.js';
import { SmprHead, type HeadOutput } from './head.js';

export class SmprModel extends Module {
  readonly backbone: ResNet | HrNet;
  readonly neck: Fpn | HrFpn;
  readonly head: SmprHead;

  constructor(readonly config: SmprConfig, init: InitOptions = {}) {
    super();
    validateConfig(config);
    const { device, dtype, random } = init;
    if (config.depth === 'hrnet') {
      const backbone = new HrNet({ widths: config.hrnetWidths as HrNetWidths, norm: config.backboneNorm, normGroups: config.gnGroups, device, dtype, random });
      this.backbone = this.addModule('backbone', backbone);
      // HRFPN's output convs take the stride-4 map to the first level's stride (P3: stride 2).
      this.neck = this.addModule('neck', new HrFpn({ inChannels: backbone.outChannels, outChannels: config.width, numOuts: config.levels.length, stride: config.levels[0].stride / 4, device, dtype, random }));
    } else {
      const tiny = config.depth === 'tiny';
      const backbone = new ResNet({
        depth: tiny ? 18 : config.depth,
        layers: tiny ? [1, 1, 1, 1] : undefined,
        baseChannels: config.baseChannels,
        style: config.style,
        frozenStages: config.frozenStages,
        norm: config.backboneNorm,
        normGroups: config.gnGroups,
        device,
        dtype,
        random,
      });
      this.backbone = this.addModule('backbone', backbone);
      this.neck = this.addModule(
        'neck',
        new Fpn({
          inChannels: backbone.outChannels,
          outChannels: config.width,
          numOuts: config.levels.length,
          pathAggregation: config.neck === 'pafpn',
          // The fork's PAFPN passes activation='relu' to every conv; its plain FPN has none (reference 1.2).
          relu: config.neck === 'pafpn',
          device,
          dtype,
          random,
        }),
      );
    }
    this.head = this.addModule(
      'bbox_head',
      new SmprHead({
        width: config.width,
        towerConvs: config.towerConvs,
        gnGroups: config.gnGroups,
        deformGroups: config.deformGroups,
        heatmapChannels: config.heatmapChannels,
        numKeypoints: config.keypoints.names.length,
        numLevels: config.levels.length,
        priorProb: config.priorProb,
        device,
        dtype,
        random,
      }),
    );
  }

  /**
   * Per-level predictions (finest first, in stride units) for normalised images [N, 3, H, W] with H and W
   * multiples of 32; the heatmap logits in training mode or when `options.heatmap` is set.
   */
  forward(images: Tensor, options: { heatmap?: boolean } = {}): HeadOutput {
    const [, c, h, w] = images.shape;
    if (images.rank !== 4 || c !== 3 || h % SIZE_DIVISOR !== 0 || w % SIZE_DIVISOR !== 0) {
      throw new Error(`SmprModel: images ${shapeStr(images.shape)} should be [N, 3, H, W] with H and W multiples of ${SIZE_DIVISOR} (pad them)`);
    }
    return this.head.forward(this.neck.forward(this.backbone.forward(images)), options);
  }
}

/** Parameter elements per part of a network. */
export interface ParameterBreakdown {
  backbone: number;
  neck: number;
  head: number;
  total: number;
}

const conv = (cin: number, cout: number, k: number, bias: boolean) => cin * cout * k * k + (bias ? cout : 0);
const affine = (c: number) => 2 * c; // BN or GN weight + bias

/** The SMPR head of the authors' configs (reference 2.1), 256 wide, 4-conv towers, 5 levels, 17 keypoints. */
function authorsHeadParameters(): number {
  const k = 17;
  const width = 256;
  const towers = 2 * 4 * (conv(width, width, 3, false) + affine(width));
  const heatmap = conv(width, 128, 3, false) + affine(128) + conv(128, 128, 3, false) + affine(128) + conv(128, k, 3, true);
  const outputs = conv(width, 1, 3, true) + conv(width, 2 * k, 3, true) + conv(width, 1, 3, true) + conv(width, 2 * k, 3, true);
  const adaption = conv(2 * k, 4 * 18, 1, false) + 2 * conv(width, width, 3, false);
  const scales = 2 * 5;
  return towers + heatmap + outputs + adaption + scales;
}

/**
 * The authors' SMPR-R50-PAFPN parameter count, worked out from their architecture (mmdet ResNet-50 caffe,
 * the fork's PAFPN, the SMPR head: reference 1.1, 1.2, 2.1) by plain arithmetic, independently of the modules
 * above. It counts what PyTorch's `model.parameters()` counts: every conv weight and bias, the GroupNorm
 * affines, the Scales, and the frozen BN affines (mmdet keeps them as parameters with requires_grad=False);
 * not the BN running statistics, which are buffers. The backbone has no fc layer.
 */
export function authorsR50PafpnParameters(): ParameterBreakdown {
  const width = 256;
  let backbone = conv(3, 64, 7, false) + affine(64);
  let inplanes = 64;
  [3, 4, 6, 3].forEach((blocks, stage) => {
    const planes = 64 * 2 ** stage;
    for (let b = 0; b < blocks; b++) {
      backbone += conv(inplanes, planes, 1, false) + affine(planes) + conv(planes, planes, 3, false) + affine(planes);
      backbone += conv(planes, 4 * planes, 1, false) + affine(4 * planes);
      if (b === 0) backbone += conv(inplanes, 4 * planes, 1, false) + affine(4 * planes);
      inplanes = 4 * planes;
    }
  });

  const laterals = [512, 1024, 2048].reduce((n, c) => n + conv(c, width, 1, true), 0);
  const fpnConvs = 5 * conv(width, width, 3, true); // 3 level convs + 2 extra (P6, P7)
  const bottomUp = 2 * (conv(width, width, 3, true) + conv(width, width, 3, true)); // downsample + pafpn convs
  const neck = laterals + fpnConvs + bottomUp;
  const head = authorsHeadParameters();
  return { backbone, neck, head, total: backbone + neck + head };
}

/**
 * The authors' SMPR-HRNet parameter count for branch widths W (HRNet_w32.py: 32, 64, 128, 256), by arithmetic
 * from mmdet's HRNet and HRFPN (reference 1.3) as the R50 count above: every conv is bias-free and followed by
 * a BN (two affine parameters per channel) in the backbone; HRFPN's convs have biases and no norm.
 */
export function authorsHrnetHrfpnParameters(widths: readonly number[]): ParameterBreakdown {
  const convBn = (cin: number, cout: number, k: number) => conv(cin, cout, k, false) + affine(cout);
  let backbone = convBn(3, 64, 3) + convBn(64, 64, 3); // the stem
  for (let b = 0; b < 4; b++) {
    const inplanes = b === 0 ? 64 : 256; // layer1: Bottlenecks of 64 planes
    backbone += convBn(inplanes, 64, 1) + convBn(64, 64, 3) + convBn(64, 256, 1) + (b === 0 ? convBn(64, 256, 1) : 0);
  }
  backbone += convBn(256, widths[0], 3) + convBn(256, widths[1], 3); // transition1: re-widened branch 0, new branch 1
  backbone += convBn(widths[1], widths[2], 3) + convBn(widths[2], widths[3], 3); // transitions 2 and 3: one new branch each
  const hrModule = (n: number) => {
    let total = 0;
    for (let i = 0; i < n; i++) {
      total += 4 * (convBn(widths[i], widths[i], 3) + convBn(widths[i], widths[i], 3)); // 4 BasicBlocks
      for (let j = 0; j < n; j++) {
        if (j > i) total += convBn(widths[j], widths[i], 1);
        if (j < i) total += (i - j - 1) * convBn(widths[j], widths[j], 3) + convBn(widths[j], widths[i], 3);
      }
    }
    return total;
  };
  backbone += 1 * hrModule(2) + 4 * hrModule(3) + 3 * hrModule(4);

  const neck = conv(widths.reduce((a, b) => a + b, 0), 256, 1, true) + 5 * conv(256, 256, 3, true);
  const head = authorsHeadParameters();
  return { backbone, neck, head, total: backbone + neck + head };
}

/** Config fields that change the parameter count. */
const ARCHITECTURE_FIELDS = ['depth', 'baseChannels', 'neck', 'width', 'towerConvs', 'deformGroups', 'heatmapChannels', 'hrnetWidths'] as const;

/**
 * The authors' count for a config with the architecture of one of their models (the r50, hrnet_w32 and hrnet_w48
 * presets, overrides that keep the architecture allowed), or null.
 */
export function authorsParameters(config: SmprConfig): ParameterBreakdown | null {
  const counts: Partial<Record<PresetName, () => ParameterBreakdown>> = {
    r50: authorsR50PafpnParameters,
    hrnet_w32: () => authorsHrnetHrfpnParameters(PRESETS.hrnet_w32.hrnetWidths!),
    hrnet_w48: () => authorsHrnetHrfpnParameters(PRESETS.hrnet_w48.hrnetWidths!),
  };
  const count = counts[config.name as PresetName];
  const preset = PRESETS[config.name as PresetName] as SmprConfig | undefined;
  if (!count || !preset) return null;
  const same = ARCHITECTURE_FIELDS.every((f) => JSON.stringify(config[f]) === JSON.stringify(preset[f])) && config.levels.length === preset.levels.length;
  return same ? count() : null;
}

const count = (m: Module): number => m.parameterCount().parameters;

/** A model's parameter elements per part (frozen ones included, buffers not), comparable with the authors'. */
export function parameterBreakdown(model: SmprModel): ParameterBreakdown {
  return { backbone: count(model.backbone), neck: count(model.neck), head: count(model.head), total: count(model) };
}

/** A few lines setting a model's parameter counts beside the authors' SMPR-R50-PAFPN. */
export function parameterReport(model: SmprModel): string {
  const fmt = (n: number) => n.toLocaleString('en-US').padStart(11);
  const ours = parameterBreakdown(model);
  const theirs = authorsR50PafpnParameters();
  const { trainable, buffers } = model.parameterCount();
  const row = (label: string, b: ParameterBreakdown) => `${label.padEnd(28)}${fmt(b.backbone)}${fmt(b.neck)}${fmt(b.head)}${fmt(b.total)}`;
  return [
    `${''.padEnd(28)}${'backbone'.padStart(11)}${'neck'.padStart(11)}${'head'.padStart(11)}${'total'.padStart(11)}`,
    row(`SMPR ${model.config.name}`, ours),
    row("authors' SMPR-R50-PAFPN", theirs),
    `(parameters incl. frozen BN affines; ${model.config.name}: ${trainable.toLocaleString('en-US')} trainable, ` +
      `${buffers.toLocaleString('en-US')} buffer elements (BN running statistics) not counted)`,
  ].join('\n');
}
