/**
 * The package's public API, for Node. The part of it that runs in a browser too is src/browser.ts (the isomorphic
 * core); this entry adds files, PNG/JPEG decoding, the worker pool and Dawn.
 */
export { Tensor } from './tensor/tensor.js';
export type { GradFn } from './tensor/tensor.js';
export type { DType, TypedArray } from './tensor/dtype.js';
export type { Device } from './tensor/storage.js';
export { Random, manualSeed } from './tensor/random.js';
export { initWebGPU, webgpu, setNanCheck } from './tensor/engine.js';
export { tidy, keep, dispose, memory } from './tensor/scope.js';
export { noGrad, detach, grad } from './autograd/index.js';
export * from './ops/creation.js';
export * from './ops/elementwise.js';
export * from './ops/reduce.js';
export * from './ops/shape.js';
export { matmul } from './ops/matmul.js';
export { to, toSync } from './ops/device.js';

// Fused neural-network ops, each with its gradient.
export { conv2d, conv2dOutputSize } from './ops/conv2d.js';
export type { Conv2dOptions } from './ops/conv2d.js';
export { deformConv2d } from './ops/deform-conv2d.js';
export { groupNorm } from './ops/group-norm.js';
export { maxPool2d, avgPool2d } from './ops/pool.js';
export type { Pool2dOptions } from './ops/pool.js';
export { upsampleNearest2d } from './ops/upsample.js';
export { upsampleBilinear2d } from './ops/upsample-bilinear.js';
export type { UpsampleBilinearOptions } from './ops/upsample-bilinear.js';
export { sigmoidFocalLoss, bceWithLogits, l1Loss } from './ops/losses.js';
export { clipScale, sgdUpdate_, adamwUpdate_ } from './ops/multi-tensor.js';

// Modules: `nn.Conv2d`, `nn.ResNet`, `nn.Fpn`, …
export * as nn from './nn/index.js';

// SMPR: config, model, targets, loss, decoding, NMS, prediction, evaluation.
export { PRESETS, smprConfig, validateConfig } from './smpr/config.js';
export type { SmprConfig, PresetName } from './smpr/config.js';
export { SmprModel, authorsParameters } from './smpr/model.js';
export { modelSummary, formatModelSummary } from './smpr/summary.js';
export type { ModelSummary } from './smpr/summary.js';
export { buildBatchTargets } from './smpr/targets.js';
export { smprLoss, SMPR_LOSS_WEIGHTS } from './smpr/loss.js';
export { decodeLevels, postprocess } from './smpr/decode.js';
export { softNmsLinear, oksNms, hardNms } from './smpr/nms.js';
export { predictImage } from './smpr/predict.js';
export { evaluateDataset } from './smpr/evaluate.js';
export { COCO_KEYPOINTS, COCO_KEYPOINT_NAMES, COCO_SIGMAS, COCO_SKELETON } from './coco/keypoints.js';
export { oks } from './coco/oks.js';
export { cocoKeypointEval, formatCocoKeypointSummary, STAT_NAMES } from './coco/eval.js';
export type { CocoKeypointResult, CocoKeypointEvalResult } from './coco/eval.js';

// Data, checkpoints and training.
export { loadCocoDataset, writeCocoDataset } from './data/coco.js';
export { generateSynthDataset, SYNTH_DEFAULTS } from './data/synth/dataset.js';
export { writeSynthDataset } from './data/synth/write.js';
export { decodeImage, readImage, readImageSize } from './data/image-file.js';
export { decodePng, encodePng, writePng } from './data/png.js';
export { imageFromRgba } from './data/image.js';
export { loadSafetensors, saveSafetensors } from './io/safetensors.js';
export { loadPth, parsePth, stateDictOf, PthTensor } from './io/pth.js';
export type { PthCheckpoint } from './io/pth.js';
export { loadTensorFile } from './io/tensor-file.js';
export { unpickle } from './io/pickle.js';
export { readCheckpoint, readModelWeights, saveCheckpoint, parseCheckpoint } from './train/checkpoint.js';
export { SGD, REFERENCE_SGD } from './train/optimizer.js';
export { AdamW } from './train/adamw.js';
export { clipGradNorm } from './train/clip.js';
export { train } from './train/trainer.js';
export { RECIPES } from './train/recipes.js';
export { UserError } from './errors.js';
