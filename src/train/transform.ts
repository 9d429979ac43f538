/** The training augmentation of a config, shared by the trainer and the page's fine-tuning. */
import type { TrainTransformOptions } from '../data/augment.js';
import { referenceScale, type SmprConfig } from '../smpr/config.js';

/** The reference's training augmentation at the config's input size: its resize (`referenceScale`), flip, square crop. */
export function trainTransformOptions(config: SmprConfig): TrainTransformOptions {
  return {
    scale: referenceScale(config),
    crop: { height: config.inputSize, width: config.inputSize },
    flipProbability: 0.5,
    clampOutside: true,
    normalization: config.normalization,
    spec: config.keypoints,
  };
}
