/**
 * SMPR model configurations: the backbone, neck and head hyper-parameters, the pyramid levels, the keypoint
 * layout, the training input size and the input normalisation, with these presets:
 *
 *  - `r50`: the authors' SMPR-R50-PAFPN (configs/SMPR/ResNet_50.py): caffe-style ResNet-50 with stage 1 frozen,
 *    PAFPN with a ReLU after every conv, 256 wide, 4-conv towers, P3–P7, caffe BGR normalisation.
 *  - `r18`: the same neck and head on a torchvision ResNet-18 (RGB, ImageNet mean/std).
 *  - `tiny`: small enough to train on lavapipe at 128×128 in seconds per step — a ResNet with one basic block per
 *    stage at base width 16, a 32-wide PAFPN on P3–P5, 2-conv towers. It trains from scratch, so nothing is
 *    frozen and the backbone normalises with trainable GroupNorm instead of frozen (pretrained) batch norm.
 *  - `hrnet_w32`, `hrnet_w48`: the authors' HRNet_w32.py / HRNet_w48.py (reference 1.3): HRNetV2 with branch widths
 *    (32, 64, 128, 256) or (48, 96, 192, 384), BN affines trained and statistics frozen, no frozen stage; HRFPN
 *    (256 wide, stride-2 output convs, P3–P7); the same head; caffe BGR normalisation; no gradient clipping.
 *    (W48's 4 images per GPU and multi-scale training are recipe settings, not the model's.)
 */
import { HRFPN_LEVELS, SMPR_LEVELS, levelSize, type LevelSpec } from './levels.js';
import { COCO_KEYPOINTS, validateKeypointSpec, type KeypointSpec } from '../coco/keypoints.js';
import type { ResNetNorm } from '../nn/resnet.js';
import { CAFFE_BGR, TORCHVISION_RGB, type Normalization, type ScaleTarget } from '../data/augment.js';

/** A ResNet depth, 'tiny' (a ResNet of one block per stage), or 'hrnet' (HRNetV2 of `hrnetWidths`). */
export type BackboneDepth = 18 | 34 | 50 | 'tiny' | 'hrnet';

export interface SmprConfig {
  readonly name: string;
  readonly depth: BackboneDepth;
  /** Backbone stem width and layer1 planes; 64 for the real ResNets. */
  readonly baseChannels: number;
  readonly style: 'pytorch' | 'caffe';
  /** 'frozen-bn' for pretrained backbones (the reference); 'group' (GroupNorm, gnGroups groups) for training from scratch. */
  readonly backboneNorm: ResNetNorm;
  /** mmdet's frozen_stages: −1 none, 0 the stem, k the stem and layer1..layerk. */
  readonly frozenStages: number;
  /** 'hrfpn' goes with the HRNet backbone, the others with ResNets. */
  readonly neck: 'fpn' | 'pafpn' | 'hrfpn';
  /** Width of the neck's outputs and of the head (towers, DCNs). */
  readonly width: number;
  readonly towerConvs: number;
  readonly gnGroups: number;
  readonly deformGroups: number;
  readonly heatmapChannels: number;
  /** Prior probability of the cls and heatmap logits at initialisation. */
  readonly priorProb: number;
  /** Pyramid levels, finest first: strides 8, 16, 32, ... (at least P3–P5, which the neck builds from C3–C5). */
  readonly levels: readonly LevelSpec[];
  readonly keypoints: KeypointSpec;
  /** Side of the square training crop (the paper's 800). */
  readonly inputSize: number;
  readonly normalization: Normalization;
  /** HRNet only: the four branch widths, finest first. */
  readonly hrnetWidths?: readonly number[];
  /** The config's max gradient norm, `smpr train`'s --clip default; 0: none (HRNet). Absent: 35, the ResNet configs'. */
  readonly gradClip?: number;
}

/** The ResNet configs' grad_clip max_norm, for configs that do not set gradClip. */
export const DEFAULT_GRAD_CLIP = 35;

/** The max gradient norm a config trains with (0: no clipping): its own, else the ResNet configs'. */
export const gradClipOf = (config: SmprConfig): number => config.gradClip ?? DEFAULT_GRAD_CLIP;

/** Input sides must be multiples of this (the deepest backbone stride), so the neck's top-down path lines up. */
export const SIZE_DIVISOR = 32;

const r50: SmprConfig = {
  name: 'r50',
  depth: 50,
  baseChannels: 64,
  style: 'caffe',
  backboneNorm: 'frozen-bn',
  frozenStages: 1,
  neck: 'pafpn',
  width: 256,
  towerConvs: 4,
  gnGroups: 32,
  deformGroups: 4,
  heatmapChannels: 128,
  priorProb: 0.01,
  levels: SMPR_LEVELS,
  keypoints: COCO_KEYPOINTS,
  inputSize: 800,
  normalization: CAFFE_BGR,
};

const hrnetW32: SmprConfig = {
  ...r50,
  name: 'hrnet_w32',
  depth: 'hrnet',
  hrnetWidths: [32, 64, 128, 256],
  baseChannels: 64,
  style: 'pytorch',
  backboneNorm: 'affine-bn',
  frozenStages: -1,
  neck: 'hrfpn',
  levels: HRFPN_LEVELS,
  gradClip: 0,
};

export const PRESETS = {
  r50,
  r18: { ...r50, name: 'r18', depth: 18, style: 'pytorch', normalization: TORCHVISION_RGB },
  tiny: {
    ...r50,
    name: 'tiny',
    depth: 'tiny',
    baseChannels: 16,
    style: 'pytorch',
    backboneNorm: 'group',
    frozenStages: -1,
    width: 32,
    towerConvs: 2,
    gnGroups: 8,
    heatmapChannels: 16,
    // The 800-px ranges halved for 128-px images (P5 takes every larger person: there is no P6/P7), so that each
    // level gets people on the synthetic benchmark (bench/synth-design.ts: P3/P4/P5 1260/1967/289 positives
    // over 256 images, against 3824/205/0 with the 800-px ranges).
    levels: [{ stride: 8, range: [-1, 32] }, { stride: 16, range: [32, 64] }, { stride: 32, range: [64, 1e8] }],
    inputSize: 128,
    normalization: TORCHVISION_RGB,
  },
  hrnet_w32: hrnetW32,
  hrnet_w48: { ...hrnetW32, name: 'hrnet_w48', hrnetWidths: [48, 96, 192, 384] },
} satisfies Record<string, SmprConfig>;

export type PresetName = keyof typeof PRESETS;

export function smprConfig(preset: PresetName, overrides: Partial<SmprConfig> = {}): SmprConfig {
  const base: SmprConfig | undefined = PRESETS[preset];
  if (!base) throw new Error(`smprConfig: unknown preset '${preset}' (known: ${Object.keys(PRESETS).join(', ')})`);
  // A field of no preset (a typo: inputSiz) would be kept and read by nothing, its value silently not in effect.
  const fields = new Set(Object.values(PRESETS).flatMap((p) => Object.keys(p)));
  const unknown = Object.keys(overrides).filter((key) => !fields.has(key));
  if (unknown.length) throw new Error(`smprConfig: unknown field${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `'${k}'`).join(', ')} (a config has ${[...fields].join(', ')})`);
  const config = { ...base, ...overrides };
  validateConfig(config);
  return config;
}

/**
 * The reference's image scale at the config's input size: its (1333, 800) resize scaled, the short side to the
 * input size and the long side capped at the same ratio. Training resizes to it before cropping; testing, alone.
 */
export function referenceScale(config: SmprConfig): ScaleTarget {
  return { short: config.inputSize, long: Math.round((config.inputSize * 1333) / 800) };
}

/** The largest square crop a config may train at: past it a batch's tensors outgrow any GPU's bindings. */
const MAX_INPUT_SIZE = 4096;

/** Checks what the model relies on; throws naming the field. */
export function validateConfig(config: SmprConfig): void {
  const fail = (message: string) => {
    throw new Error(`SmprConfig '${config.name}': ${message}`);
  };
  if (config.levels.length < 3) fail(`needs at least 3 levels (P3–P5), got ${config.levels.length}`);
  config.levels.forEach((level, i) => {
    if (level.stride !== 8 * 2 ** i) fail(`level ${i} has stride ${level.stride}; levels must be strides 8, 16, 32, ... in order`);
    // The assigner gives each person to the level whose range holds its reach: ranges out of order, overlapping or
    // with a gap would train levels on the wrong sizes, or on none, without an error.
    const [lo, hi] = level.range ?? [];
    if (!(Number.isFinite(lo) && Number.isFinite(hi) && lo! < hi!)) fail(`level ${i}'s range must be [low, high] with low < high, got ${JSON.stringify(level.range)}`);
    const below = config.levels[i - 1]?.range[1];
    if (below !== undefined && lo !== below) fail(`level ${i}'s range starts at ${lo}, not where level ${i - 1}'s ends (${below}): the ranges must follow each other`);
  });
  if (config.inputSize % SIZE_DIVISOR !== 0) fail(`inputSize ${config.inputSize} is not a multiple of ${SIZE_DIVISOR}`);
  if (!(config.inputSize >= SIZE_DIVISOR && config.inputSize <= MAX_INPUT_SIZE)) fail(`inputSize ${config.inputSize} is outside [${SIZE_DIVISOR}, ${MAX_INPUT_SIZE}]`);
  if (!([18, 34, 50, 'tiny', 'hrnet'] as const).includes(config.depth)) fail(`unknown depth ${config.depth}`);
  for (const [name, channels] of [['width', config.width], ['heatmapChannels', config.heatmapChannels]] as const) {
    if (!Number.isInteger(config.gnGroups) || config.gnGroups < 1 || channels % config.gnGroups !== 0) {
      fail(`gnGroups ${config.gnGroups} must divide width ${config.width} and heatmapChannels ${config.heatmapChannels} (${name})`);
    }
  }
  const hrnet = config.depth === 'hrnet';
  if (hrnet !== (config.neck === 'hrfpn')) fail(`the HRNet backbone and the 'hrfpn' neck go together (depth ${config.depth}, neck ${config.neck})`);
  if (hrnet) validateHrnet(config, fail);
  else if (config.levels.some((l) => l.pool !== undefined)) fail('pooled (HRFPN) levels need the hrfpn neck');
  if (config.backboneNorm === 'group') {
    const expansion = config.depth === 50 ? 4 : 1;
    const widths = hrnet ? [64, 256, ...config.hrnetWidths!] : [1, 2, 4, 8].flatMap((m) => [config.baseChannels * m, config.baseChannels * m * expansion]);
    for (const width of widths) {
      if (width % Math.min(config.gnGroups, width) !== 0) fail(`gnGroups ${config.gnGroups} do not divide the backbone's ${width} channels`);
    }
  }
  if (!(['frozen-bn', 'affine-bn', 'group'] as const).includes(config.backboneNorm)) fail(`backboneNorm must be 'frozen-bn', 'affine-bn' or 'group', got ${config.backboneNorm}`);
  if (config.gradClip !== undefined && !(Number.isFinite(config.gradClip) && config.gradClip >= 0)) fail(`gradClip must be a number ≥ 0, got ${config.gradClip}`);
  if (!Number.isInteger(config.frozenStages) || config.frozenStages < -1 || config.frozenStages > 4) {
    fail(`frozenStages must be an integer in [−1, 4], got ${config.frozenStages}`);
  }
  validateKeypointSpec(config.keypoints);
}

function validateHrnet(config: SmprConfig, fail: (message: string) => never): void {
  const widths = config.hrnetWidths;
  if (!Array.isArray(widths) || widths.length !== 4 || widths.some((w) => !Number.isInteger(w) || w < 1)) {
    fail(`hrnetWidths must be 4 positive integers, got ${JSON.stringify(widths)}`);
  }
  config.levels.forEach((level, i) => {
    if (level.pool !== 2 ** i) fail(`HRFPN level ${i} must pool the stride-4 map by ${2 ** i}, got ${level.pool}`);
  });
  // The deepest level pools the stride-4 map by 2^(L−1): it needs at least that many pixels.
  const least = 4 * 2 ** (config.levels.length - 1);
  if (config.inputSize < least) fail(`inputSize ${config.inputSize} is below ${least}, the least that gives HRFPN's ${config.levels.length} levels a pixel each`);
}

/** [height, width] of each level's maps for a padded input, from the config alone (no model needed). */
export function levelShapes(config: SmprConfig, height: number, width: number): [number, number][] {
  return config.levels.map((l) => [levelSize(height, l), levelSize(width, l)]);
}
