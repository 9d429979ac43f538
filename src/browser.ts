/**
 * The isomorphic core: everything of the package that runs in a browser as well as in Node — the engine, autograd,
 * the ops, `nn`, SMPR (model, targets, loss, decoding, NMS, evaluation), the COCO format, the synthetic people,
 * drawing, the optimizers, and the safetensors and checkpoint formats on bytes in memory.
 *
 * Nothing here imports a Node module or an npm package: the browser loads these files as plain ES modules
 * (dist/src/browser.js and what it imports), with no bundler. test/browser-imports.test.ts walks this import graph
 * and fails on any `node:` or package import. The device comes from `navigator.gpu` in a browser and from Dawn in
 * Node (backend/webgpu-device.ts picks); files, PNG/JPEG decoding, the worker pool and the command line are in the
 * Node entry, the package root (src/index.ts), which re-exports this one's API beside them.
 */
export { Tensor } from './tensor/tensor.js';
export type { GradFn } from './tensor/tensor.js';
export type { DType, TypedArray } from './tensor/dtype.js';
export type { Device } from './tensor/storage.js';
export { Random, manualSeed } from './tensor/random.js';
export { initWebGPU, webgpu, setNanCheck } from './tensor/engine.js';
export type { WebGPURuntime } from './backend/webgpu-runtime.js';
export { tidy, keep, dispose, memory } from './tensor/scope.js';
export { noGrad, detach, grad } from './autograd/index.js';
export * from './ops/creation.js';
export * from './ops/elementwise.js';
export * from './ops/reduce.js';
export * from './ops/shape.js';
export { matmul } from './ops/matmul.js';
export { to, toSync } from './ops/device.js';

export { conv2d, conv2dRelu, conv2dFused, conv2dOutputSize } from './ops/conv2d.js';
export type { Conv2dOptions, Conv2dFusion } from './ops/conv2d.js';
export { deformConv2d } from './ops/deform-conv2d.js';
export { groupNorm, groupNormRelu } from './ops/group-norm.js';
export { maxPool2d, avgPool2d } from './ops/pool.js';
export type { Pool2dOptions } from './ops/pool.js';
export { upsampleNearest2d } from './ops/upsample.js';
export { upsampleBilinear2d } from './ops/upsample-bilinear.js';
export type { UpsampleBilinearOptions } from './ops/upsample-bilinear.js';
export { sigmoidFocalLoss, bceWithLogits, l1Loss } from './ops/losses.js';
export { pairwiseOks } from './ops/pairwise-oks.js';
export { clipScale, sgdUpdate_, adamwUpdate_ } from './ops/multi-tensor.js';

export * as nn from './nn/index.js';

export { PRESETS, gradClipOf, smprConfig, validateConfig } from './smpr/config.js';
export type { SmprConfig, PresetName } from './smpr/config.js';
export { SmprModel } from './smpr/model.js';
export { buildBatchTargets } from './smpr/targets.js';
export { smprLoss, SMPR_LOSS_WEIGHTS } from './smpr/loss.js';
export { decodeLevels, postprocess } from './smpr/decode.js';
export { softNmsLinear, oksNms, hardNms } from './smpr/nms.js';
export { predictImage } from './smpr/predict.js';
export type { PredictOptions } from './smpr/predict.js';
export { COCO_KEYPOINTS, COCO_KEYPOINT_NAMES, COCO_SIGMAS, COCO_SKELETON } from './coco/keypoints.js';
export { oks } from './coco/oks.js';
export { cocoKeypointEval, formatCocoKeypointSummary, STAT_NAMES } from './coco/eval.js';
export type { CocoKeypointEvalResult } from './coco/eval.js';

export { personCategory, validateCocoKeypoints, validateCocoResults } from './coco/format.js';
export type { CocoAnnotation, CocoImage, CocoKeypointResult, CocoKeypointsJson } from './coco/format.js';
export { toTrainingPeople } from './coco/person.js';
export type { Person } from './coco/person.js';
export type { Sample } from './data/sample.js';
export { generateSynthDataset, SYNTH_DEFAULTS } from './data/synth/dataset.js';
export type { SynthDataset, SynthOptions } from './data/synth/dataset.js';
export { createImage, cloneImage, imageFromRgba } from './data/image.js';
export type { Image, Rgb } from './data/image.js';
export { drawPoses, limbColor } from './data/draw.js';
export { makeBatch, testTransform, trainTransform, REFERENCE_TRAIN } from './data/augment.js';

export { parseSafetensors, encodeSafetensors } from './io/safetensors-format.js';
export type { SafetensorsFile, TensorData } from './io/safetensors-format.js';
export { parseCheckpoint, CHECKPOINT_FORMAT } from './train/checkpoint-format.js';
export type { CheckpointInfo, SavedModel } from './train/checkpoint-format.js';
export { SGD } from './train/optimizer.js';
export { AdamW } from './train/adamw.js';
export { clipGradNorm } from './train/clip.js';
export { trainStep } from './train/step.js';
export { trainTransformOptions } from './train/transform.js';
export type { StepContext, StepStats } from './train/step.js';
export { UserError } from './errors.js';
