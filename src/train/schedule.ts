/**
 * The learning-rate schedule of the reference (§6, mmcv's StepLrUpdaterHook with constant warmup): the base
 * rate times `gamma` for every decay epoch already reached, and during the first `warmupIters` iterations
 * that rate times `warmupRatio`. Iterations are counted globally from 0; epoch e covers iterations
 * [e·itersPerEpoch, (e+1)·itersPerEpoch), and a decay "at epoch 80" applies from the first iteration of the
 * 0-based epoch 80, as mmcv's `epoch >= step` does.
 */
import { RECIPES } from './recipes.js';

export interface StepSchedule {
  baseLr: number;
  warmupIters: number;
  warmupRatio: number;
  /** 0-based epochs at which the rate is multiplied by `gamma`. */
  decayEpochs: readonly number[];
  gamma: number;
  itersPerEpoch: number;
}

/** The reference's warm-up factor (warm-up at lr/3), which every run trains with. */
export const WARMUP_RATIO = 1 / 3;
/** The reference's decay factor (×0.1 at each decay epoch), which every run trains with. */
export const DECAY_GAMMA = 0.1;

/** The reference schedule: the rate, warm-up and decay epochs of `RECIPES.reference`. */
export function referenceSchedule(itersPerEpoch: number): StepSchedule {
  const { lr, warmupIters, decayEpochs } = RECIPES.reference;
  return { baseLr: lr, warmupIters, warmupRatio: WARMUP_RATIO, decayEpochs, gamma: DECAY_GAMMA, itersPerEpoch };
}

/** The learning rate at global iteration `iter` (0-based). */
export function lrAt(schedule: StepSchedule, iter: number): number {
  const { baseLr, warmupIters, warmupRatio, decayEpochs, gamma, itersPerEpoch } = schedule;
  if (!Number.isInteger(iter) || iter < 0) throw new Error(`lrAt: iteration must be an integer ≥ 0, got ${iter}`);
  if (!Number.isInteger(itersPerEpoch) || itersPerEpoch < 1) throw new Error(`lrAt: itersPerEpoch must be an integer ≥ 1, got ${itersPerEpoch}`);
  const epoch = Math.floor(iter / itersPerEpoch);
  const decays = decayEpochs.filter((e) => epoch >= e).length;
  const lr = baseLr * gamma ** decays;
  return iter < warmupIters ? lr * warmupRatio : lr;
}
