/**
 * One training step, on the device, inside one tidy scope and with no readback: forward, the five losses,
 * backward, the gradient norm and clipping scale, and the optimizer's fused update. What it returns stays on the
 * device: the log window (log-window.ts) sums it there and reads it once per window.
 */
import { backward } from '../autograd/backward.js';
import type { Batch } from '../data/augment.js';
import type { NamedParameter } from '../nn/module.js';
import { tensor } from '../ops/creation.js';
import { clipScale } from '../ops/multi-tensor.js';
import { narrow, reshape } from '../ops/shape.js';
import type { SmprConfig } from '../smpr/config.js';
import { smprLoss, type LossOptions, type SmprLoss } from '../smpr/loss.js';
import type { SmprModel } from '../smpr/model.js';
import type { BatchTargets } from '../smpr/targets.js';
import { tidy } from '../tensor/scope.js';
import type { Device } from '../tensor/storage.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Optimizer } from './optimizer.js';

/** One step's scalars, on the device: the loss terms and positive counts, and the gradient norm. */
export type StepStats = SmprLoss & { gradNorm: Tensor };

export interface StepContext {
  config: SmprConfig;
  model: SmprModel;
  params: readonly NamedParameter[];
  optimizer: Optimizer;
  device: Device;
  /** Max global gradient norm; 0 disables clipping. */
  clipNorm: number;
  loss?: LossOptions;
}

export function trainStep(step: StepContext, batch: Batch, targets: BatchTargets): StepStats {
  const { model, params, optimizer, clipNorm } = step;
  return tidy(() => {
    const images = tensor(batch.data, [batch.batch, batch.channels, batch.height, batch.width], { device: step.device });
    const output = model.forward(images, { heatmap: true });
    const loss = smprLoss(output, targets, step.config.keypoints, step.loss);
    backward(loss.total);
    // [‖g‖, s]: the norm is logged, the scale applied inside the optimizer's fused update (s = 1 for --clip 0).
    const clip = clipScale(params.flatMap((p) => p.tensor.grad ?? []), clipNorm);
    optimizer.step(clipNorm > 0 ? clip : null);
    optimizer.zeroGrad();
    const { total, cls, heatmap, init, refine, score, initPositives, refinePositives } = loss;
    return { total, cls, heatmap, init, refine, score, initPositives, refinePositives, gradNorm: reshape(narrow(clip, 0, 0, 1), []) };
  });
}
