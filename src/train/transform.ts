/** The training augmentation of a config, shared by the trainer and the page's fine-tuning. */
import type { TrainTransformOptions } from '../data/augment.js';
import type { SmprConfig } from '../smpr/config.js';

/** The reference's training augmentation at the config's input size: its (1333, 800) resize scaled, flip, square crop. */
export function trainingTransform(config: SmprConfig): TrainTransformOptions {
  return {
    scale: { long: Math.round((config.inputSize * 1333) / 800), short: config.inputSize },
    crop: { height: config.inputSize, width: config.inputSize },
    flipProbability: 0.5,
    clampOutside: true,
    normalization: config.normalization,
    spec: config.keypoints,
  };
}
