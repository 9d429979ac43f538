/**
 * Training checkpoints as one safetensors file: the model's state dict under its PyTorch-style keys, the optimizer's
 * state under `optimizer.<key>` (SGD: `optimizer.momentum.<parameter>`; AdamW: `optimizer.exp_avg.<parameter>`, …),
 * and in the metadata the step, the seed, the optimizer's name and the model config. `readModelWeights` also takes
 * a model's weights without a config: a PyTorch checkpoint of the authors' mmdetection SMPR, given the preset.
 * Written atomically (src/io/atomic.ts), so an interrupted save leaves the previous checkpoint intact.
 */
import { existsSync } from 'node:fs';
import { loadSafetensors, saveSafetensors, type TensorData } from '../io/safetensors.js';
import { loadTensorFile } from '../io/tensor-file.js';
import { UserError } from '../errors.js';
import type { Tensor } from '../tensor/tensor.js';
import { PRESETS, type SmprConfig } from '../smpr/config.js';
import type { Optimizer } from './optimizer.js';
import type { SmprModel } from '../smpr/model.js';
import { CHECKPOINT_FORMAT, OPTIMIZER_PREFIX, checkpointOf, firstNonFinite, splitTensors, type CheckpointInfo, type SavedModel } from './checkpoint-format.js';

export { CHECKPOINT_FORMAT, parseCheckpoint } from './checkpoint-format.js';
export type { CheckpointInfo, RunSettings, SavedModel } from './checkpoint-format.js';

async function tensorData(t: Tensor): Promise<TensorData> {
  return { dtype: t.dtype, shape: t.shape, data: await t.toArray() };
}

/**
 * Writes the checkpoint, unless a tensor is not finite: then nothing is written (the previous checkpoint stays)
 * and a UserError names the tensor.
 */
export async function saveCheckpoint(path: string, model: SmprModel, optimizer: Optimizer | null, info: CheckpointInfo): Promise<void> {
  const tensors: Record<string, TensorData> = {};
  for (const [name, t] of model.stateDict()) tensors[name] = await tensorData(t);
  if (optimizer) for (const [name, t] of Object.entries(optimizer.stateDict())) tensors[OPTIMIZER_PREFIX + name] = await tensorData(t);
  const bad = firstNonFinite(Object.entries(tensors));
  if (bad) throw new UserError(`${path}: not saved at step ${info.step}: ${bad} is not finite (training diverged; lower --lr or keep --clip on)`);
  saveSafetensors(path, tensors, {
    format: CHECKPOINT_FORMAT,
    step: String(info.step),
    seed: String(info.seed),
    config: JSON.stringify(info.config),
    ...(optimizer ? { optimizer: optimizer.name } : {}),
    ...(info.run ? { run: JSON.stringify(info.run) } : {}),
  });
}

/** Reads a checkpoint's metadata and tensors (on the CPU). */
export function readCheckpoint(path: string): SavedModel {
  if (!existsSync(path)) throw new UserError(`${path}: no such checkpoint`);
  return checkpointOf(path, loadSafetensors(path));
}

/**
 * A whole model's weights: an smpr checkpoint, which names its config, or a bare state dict under our
 * PyTorch-style names, which does not — a `.pth` of the authors' mmdetection SMPR (`{'meta', 'state_dict'}`: our
 * names are theirs, src/smpr/model.ts), or a safetensors file `smpr convert` made of one. For those, `config`
 * says which model the tensors are; without it they are refused, naming the presets. The config of an smpr
 * checkpoint is its own, whatever `config` says: the caller compares them if it cares.
 */
export function readModelWeights(path: string, config?: SmprConfig): SavedModel {
  if (!existsSync(path)) throw new UserError(`${path}: no such checkpoint`);
  const file = loadTensorFile(path);
  if (file.metadata.format === CHECKPOINT_FORMAT) return checkpointOf(path, file);
  const what = file.format === 'pth' ? 'a PyTorch checkpoint' : 'a safetensors file of weights';
  if (!config) {
    throw new UserError(`${path}: ${what} that does not say which model it holds; pass --config (${Object.keys(PRESETS).join(', ')})`);
  }
  // mmdetection records its iteration count in meta.
  const iter = (() => {
    try {
      return (JSON.parse(file.metadata.meta ?? '{}') as { iter?: unknown } | null)?.iter;
    } catch {
      return undefined;
    }
  })();
  const { model } = splitTensors(path, file.tensors);
  return { info: { step: Number.isSafeInteger(iter) ? (iter as number) : 0, seed: 0, config }, model, optimizer: {} };
}
