// What a program that imports the package finds at its root: every op, module, SMPR piece and I/O function the
// README names.
import { expect, test } from 'vitest';
import * as smpr from '../src/index.js';

test('the package root exports the ops, modules, SMPR, evaluation, data and training API', () => {
  const functions = [
    'tensor', 'randn', 'matmul', 'tidy', 'memory', 'grad', 'initWebGPU',
    'conv2d', 'conv2dRelu', 'deformConv2d', 'groupNorm', 'groupNormRelu', 'maxPool2d', 'avgPool2d', 'upsampleNearest2d', 'upsampleBilinear2d', 'sigmoidFocalLoss', 'bceWithLogits', 'l1Loss',
    'clipScale', 'sgdUpdate_', 'adamwUpdate_',
    'smprConfig', 'SmprModel', 'authorsParameters', 'modelSummary', 'formatModelSummary', 'buildBatchTargets', 'smprLoss', 'decodeLevels', 'postprocess', 'softNmsLinear', 'oksNms',
    'predictImage', 'evaluateDataset', 'oks', 'cocoKeypointEval', 'formatCocoKeypointSummary',
    'loadCocoDataset', 'generateSynthDataset', 'writeSynthDataset', 'readImage', 'readImageSize', 'decodeImage', 'writePng',
    'loadSafetensors', 'saveSafetensors', 'loadPth', 'parsePth', 'loadTensorFile', 'unpickle', 'readCheckpoint', 'readModelWeights', 'saveCheckpoint', 'SGD', 'AdamW', 'clipGradNorm', 'train', 'UserError',
  ] as const;
  for (const name of functions) expect(typeof (smpr as Record<string, unknown>)[name], name).toBe('function');
  for (const name of ['Conv2d', 'DeformConv2d', 'GroupNorm', 'ResNet', 'Fpn', 'HrNet', 'HrFpn', 'Module']) expect(typeof (smpr.nn as Record<string, unknown>)[name], `nn.${name}`).toBe('function');
  expect(Object.keys(smpr.PRESETS)).toEqual(['r50', 'r18', 'tiny', 'hrnet_w32', 'hrnet_w48']);
  expect(smpr.COCO_KEYPOINTS.names).toHaveLength(17);
});
