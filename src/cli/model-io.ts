/** Shared by the commands: opening datasets and checkpoints with user-facing errors, and the GPU. */
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadCocoDataset, type CocoDataset } from '../data/coco.js';
import { initWebGPU } from '../tensor/engine.js';
import { SmprModel } from '../smpr/model.js';
import { readCheckpoint, type CheckpointInfo } from '../train/checkpoint.js';
import type { WebGPURuntime } from '../backend/webgpu-runtime.js';
import { UserError } from '../errors.js';

/**
 * A dataset folder (annotations.json + images/), or an annotation file whose images are in `imageDir` (COCO as
 * distributed: `person_keypoints_val2017.json` and `val2017/`) or, by default, in images/ beside it.
 */
export function openDataset(path: string, imageDir?: string, flag = '--images'): CocoDataset {
  if (!existsSync(path)) throw new UserError(`${path}: no such dataset (expected a folder with annotations.json and images/, or an annotation file)`);
  if (imageDir !== undefined && !statSync(imageDir, { throwIfNoEntry: false })?.isDirectory()) throw new UserError(`${flag} ${imageDir}: no such folder`);
  try {
    return loadCocoDataset(path, imageDir !== undefined ? { imageDir } : {});
  } catch (error) {
    throw new UserError(error instanceof Error ? error.message.split('\n').slice(0, 3).join('; ') : String(error));
  }
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

/** The folder holding package.json, found upwards from this module (src/cli from source, dist/src/cli when built). */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) return process.cwd();
    dir = parent;
  }
  return dir;
}

/** A model with a checkpoint's weights, on the GPU, in inference mode; and the checkpoint's metadata. */
export async function loadCheckpointModel(path: string): Promise<{ model: SmprModel; info: CheckpointInfo }> {
  const saved = readCheckpoint(path);
  await openGpu();
  const model = new SmprModel(saved.info.config, { device: 'webgpu' });
  try {
    await model.loadStateDict(saved.model);
  } catch (error) {
    model.dispose();
    throw new UserError(`${path}: the weights do not fit the '${saved.info.config.name}' model of its config (${(error as Error).message.replace(/^loadStateDict \([^)]*\): /, '')})`);
  }
  for (const t of saved.model.values()) t.dispose();
  for (const t of Object.values(saved.optimizer)) t.dispose();
  model.train(false);
  return { model, info: saved.info };
}

export const loadModel = async (path: string): Promise<SmprModel> => (await loadCheckpointModel(path)).model;
