/** What a training run is given: the data, the model config, the recipe, where it writes, and how it reports. */
import type { CocoDataset } from '../data/coco.js';
import type { Progress } from '../progress.js';
import type { SmprConfig } from '../smpr/config.js';
import type { LossOptions } from '../smpr/loss.js';
import type { Device } from '../tensor/storage.js';
import { AdamW } from './adamw.js';
import { SGD } from './optimizer.js';

export const OPTIMIZERS = { sgd: SGD, adamw: AdamW } as const;
export type OptimizerName = keyof typeof OPTIMIZERS;

export interface TrainOptions {
  config: SmprConfig;
  data: CocoDataset;
  epochs: number;
  batchSize: number;
  seed: number;
  /** Base learning rate (the reference's 0.02 is for 32 images per batch). */
  lr: number;
  warmupIters: number;
  /** 0-based epochs at which the learning rate drops ×0.1. */
  decayEpochs: number[];
  /** 'sgd' (the reference: momentum 0.9, weight decay 1e-4) or 'adamw'. */
  optimizer?: OptimizerName;
  /** Replaces the optimizer's default weight decay on weights. */
  weightDecay?: number;
  /** Max global gradient norm (35 in the reference); 0 disables clipping. */
  clipNorm: number;
  /** Where checkpoints (`last.safetensors`), the JSONL log and the loss curve go. */
  outDir: string;
  /** Pretrained backbone weights (safetensors or .pth, torchvision ResNet names), loaded before training starts. */
  backboneWeights?: string;
  /**
   * A whole model to start from (an smpr checkpoint or exported weights of the same config, or a .pth of the
   * authors' mmdet SMPR taken as `config`'s model): fine-tuning, or a second stage of training. The optimizer
   * starts afresh and the step count at 0. Not with `resume`.
   */
  initWeights?: string;
  /**
   * Continue from `outDir/last.safetensors`, with the settings it was trained with (an error if there is none, if
   * it holds weights only, or if any setting differs); without it, `outDir` must not hold a run already.
   */
  resume?: boolean;
  /** Also save a checkpoint every this many iterations (besides every epoch's end). */
  saveEvery?: number;
  /** Worker threads reading and augmenting images ahead of the step (batch-loader.ts); 0 (the default) uses none. */
  workers?: number;
  /** Stop after this many iterations in total (for tests and quick runs). */
  maxIters?: number;
  logEvery?: number;
  loss?: LossOptions;
  /**
   * Aborting it stops the run after the current iteration, with a checkpoint saved; `train` then throws an
   * `Interrupted` whose exit code is `stop.reason` when that is a number (the command line passes 130 for SIGINT).
   */
  stop?: AbortSignal;
  /** Reports iterations done and the latest log window's loss and images/s (the command line draws a bar). */
  progress?: Progress;
  /** Where the model trains: 'webgpu' (the default), or 'cpu' with the reference kernels. */
  device?: Device;
}

