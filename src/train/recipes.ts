/**
 * Named training recipes: the hyper-parameters that `smpr train` fills in for every flag the user leaves out.
 *
 *  - `scratch` (the default): training the tiny preset from scratch on the synthetic benchmark. AdamW at lr 2e-3,
 *    batch 8, the reference's OKS-weighted keypoint L1: in budget-matched runs (5,120 images seen) AdamW reached
 *    2–3× the AP of the reference's SGD; the keypoint weighting made no difference beyond noise (README, "The recipe").
 *  - `reference`: the authors' recipe (configs/SMPR, reference §6): SGD lr 0.02 with momentum 0.9 and weight decay
 *    1e-4 for 32 images per batch, warm-up at lr/3 for 500 iterations, ×0.1 at epochs 80 and 90 of 100, and the
 *    keypoint L1 weighted by each positive's initial-pose OKS.
 */
import type { OptimizerName } from './options.js';

export interface Recipe {
  optimizer: OptimizerName;
  lr: number;
  batchSize: number;
  warmupIters: number;
  poseWeights: 'oks' | 'uniform';
  epochs: number;
  /** 0-based decay epochs; empty: at 7/9 and 8/9 of the run. */
  decayEpochs: readonly number[];
}

export const RECIPES = {
  scratch: { optimizer: 'adamw', lr: 2e-3, batchSize: 8, warmupIters: 100, poseWeights: 'oks', epochs: 9, decayEpochs: [] },
  reference: { optimizer: 'sgd', lr: 0.02, batchSize: 32, warmupIters: 500, poseWeights: 'oks', epochs: 100, decayEpochs: [80, 90] },
} as const satisfies Record<string, Recipe>;

export type RecipeName = keyof typeof RECIPES;

/** The default decay epochs of a run of `epochs`: ×0.1 at 7/9 and again at 8/9 (epochs 7 and 8 of 9). */
export function defaultDecayEpochs(epochs: number): number[] {
  return [...new Set([Math.round((epochs * 7) / 9), Math.round((epochs * 8) / 9)])].filter((e) => e > 0 && e < epochs);
}
