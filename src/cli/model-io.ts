/** Shared by the commands: opening datasets and checkpoints with user-facing errors, and the GPU. */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { loadCocoDataset, type CocoDataset } from '../data/coco.js';
import { initWebGPU } from '../tensor/engine.js';
import { packageRoot } from '../node/package-root.js';
import { SmprModel } from '../smpr/model.js';
import { readModelWeights, type CheckpointInfo } from '../train/checkpoint.js';
import { PRESETS, SIZE_DIVISOR, smprConfig, type PresetName, type SmprConfig } from '../smpr/config.js';
import { UsageError } from './errors.js';
import type { WebGPURuntime } from '../backend/webgpu-runtime.js';
import { UserError } from '../errors.js';

/** A preset, with `--size` as its input side and `--neck`; a size the model cannot take is a usage error of `command`. */
export function presetConfig(command: string, name: PresetName, size: number | undefined, neck?: 'fpn' | 'pafpn'): SmprConfig {
  if (size !== undefined && size % SIZE_DIVISOR !== 0) throw new UsageError(`${command}: --size must be a multiple of ${SIZE_DIVISOR}, got ${size}`);
  if (neck !== undefined && PRESETS[name].neck === 'hrfpn') throw new UsageError(`${command}: --neck ${neck} is for the ResNet presets; ${name} has HRNet's own neck (HRFPN)`);
  try {
    return smprConfig(name, { ...(size !== undefined && { inputSize: size }), ...(neck !== undefined && { neck }) });
  } catch (error) {
    throw new UsageError(`${command}: ${size !== undefined ? `--size ${size}: ` : ''}${(error as Error).message}`);
  }
}

/**
 * A dataset folder (annotations.json + images/), or an annotation file whose images are in `imageDir` (COCO as
 * distributed: `person_keypoints_val2017.json` and `val2017/`) or, by default, in images/ beside it.
 */
export function openDataset(path: string, imageDir?: string, flag = '--images'): CocoDataset {
  const expected = 'expected a folder with annotations.json and images/, or an annotation file';
  if (!existsSync(path)) throw new UserError(`${path}: no such dataset (${expected})`);
  if (imageDir !== undefined && !statSync(imageDir, { throwIfNoEntry: false })?.isDirectory()) {
    throw new UserError(`${flag} ${imageDir}: ${existsSync(imageDir) ? 'is a file, not a folder' : 'no such folder'}`);
  }
  // The images/ folder given for its dataset otherwise reads as "images/annotations.json: … ENOENT".
  if (statSync(path).isDirectory() && !existsSync(join(path, 'annotations.json'))) throw new UserError(`${path}: a folder without annotations.json (${expected})`);
  let dataset: CocoDataset;
  try {
    dataset = loadCocoDataset(path, imageDir !== undefined ? { imageDir } : {});
  } catch (error) {
    throw new UserError(error instanceof Error ? oneLine(error.message) : String(error));
  }
  // COCO as distributed keeps its images away from the annotation file (annotations/ beside train2017/), where
  // images/ is looked for when no folder is named: the flag that names it is the fix.
  if (imageDir === undefined && dataset.json.images.length > 0 && !existsSync(dataset.imageDir)) {
    throw new UserError(`${dataset.imageDir}: no such folder, where the images of ${dataset.annotationsPath} are looked for by default; ${flag} names their folder`);
  }
  return dataset;
}

/** One line for the user from a message of several (a CocoFormatError has a problem per line): three, and how many more. */
export function oneLine(message: string): string {
  const lines = message.split('\n');
  return lines.slice(0, 3).join('; ') + (lines.length > 3 ? `; … ${lines.length - 3} more` : '');
}

export async function openGpu(): Promise<WebGPURuntime> {
  try {
    return await initWebGPU();
  } catch (error) {
    throw new UserError(error instanceof Error ? error.message : String(error));
  }
}

/**
 * The checkpoint shipped in the repository (see README, "The shipped model"): the tiny preset trained on
 * synthetic people. `predict` and `eval` use it when no --weights is given.
 */
export const SHIPPED_WEIGHTS = join(packageRoot(), 'weights', 'smpr-tiny-synth.safetensors');

/** Said in the --weights help of the commands that default to it, so that no one takes it for a model of photographs. */
export const SHIPPED_WEIGHTS_NOTE = 'the default is the shipped tiny model, trained on the synthetic benchmark only (stick figures, not photographs)';

/**
 * A model with a checkpoint's weights, on the GPU, in inference mode; and the checkpoint's metadata. `preset`
 * (the command's --config) names the model of a file that does not say, such as an mmdetection `.pth`; an smpr
 * checkpoint of another preset is refused rather than silently preferred.
 */
export async function loadCheckpointModel(path: string, preset?: string): Promise<{ model: SmprModel; info: CheckpointInfo }> {
  const saved = readModelWeights(path, preset === undefined ? undefined : smprConfig(preset as PresetName));
  if (preset !== undefined && saved.info.config.name !== preset) {
    throw new UserError(`${path}: holds a '${saved.info.config.name}' model, not --config ${preset}; leave --config out for smpr checkpoints`);
  }
  await openGpu();
  const model = new SmprModel(saved.info.config, { device: 'webgpu' });
  try {
    await model.loadStateDict(saved.model);
  } catch (error) {
    model.dispose();
    const of = preset === undefined ? 'of its config' : `of --config ${preset}`;
    throw new UserError(`${path}: the weights do not fit the '${saved.info.config.name}' model ${of} (${(error as Error).message.replace(/^loadStateDict \([^)]*\): /, '')})`);
  } finally {
    for (const t of saved.model.values()) t.dispose();
    for (const t of Object.values(saved.optimizer)) t.dispose();
  }
  model.train(false);
  return { model, info: saved.info };
}

export const loadModel = async (path: string, preset?: string): Promise<SmprModel> => (await loadCheckpointModel(path, preset)).model;

/** The --config flag of the commands that read a model's weights: needed only for files that do not name one. */
export const CONFIG_FOR_WEIGHTS_FLAG = {
  type: 'string',
  choices: Object.keys(PRESETS),
  description: 'the model preset of a --weights file that names none (a PyTorch .pth of the authors\' mmdet SMPR); smpr checkpoints carry their own',
} as const;
