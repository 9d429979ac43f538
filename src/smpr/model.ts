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
import { SIZE_DIVISOR, validateConfig, type SmprConfig } from './config.js';
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

/**
 * The authors' SMPR-R50-PAFPN parameter count, worked out from their architecture (mmdet ResNet-50 caffe,
 * the fork's PAFPN, the SMPR head: reference 1.1, 1.2, 2.1) by plain arithmetic, independently of the modules
 * above. It counts what PyTorch's `model.parameters()` counts: every conv weight and bias, the GroupNorm
 * affines, the Scales, and the frozen BN affines (mmdet keeps them as parameters with requires_grad=False);
 * not the BN running statistics, which are buffers. The backbone has no fc layer.
 */
export function authorsR50PafpnParameters(): ParameterBreakdown {
  const conv = (cin: number, cout: number, k: number, bias: boolean) => cin * cout * k * k + (bias ? cout : 0);
  const affine = (c: number) => 2 * c; // BN or GN weight + bias
  const k = 17;
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

  const towers = 2 * 4 * (conv(width, width, 3, false) + affine(width));
  const heatmap = conv(width, 128, 3, false) + affine(128) + conv(128, 128, 3, false) + affine(128) + conv(128, k, 3, true);
  const outputs = conv(width, 1, 3, true) + conv(width, 2 * k, 3, true) + conv(width, 1, 3, true) + conv(width, 2 * k, 3, true);
  const adaption = conv(2 * k, 4 * 18, 1, false) + 2 * conv(width, width, 3, false);
  const scales = 2 * 5;
  const head = towers + heatmap + outputs + adaption + scales;

  return { backbone, neck, head, total: backbone + neck + head };
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
