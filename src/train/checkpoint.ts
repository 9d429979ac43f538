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
import { tensor } from '../ops/creation.js';
import type { Tensor } from '../tensor/tensor.js';
import { PRESETS, validateConfig, type PresetName, type SmprConfig } from '../smpr/config.js';
import type { Optimizer } from './optimizer.js';
import type { SmprModel } from '../smpr/model.js';

const OPTIMIZER_PREFIX = 'optimizer.';
export const CHECKPOINT_FORMAT = 'smpr-checkpoint-v1';

export interface CheckpointInfo {
  /** Iterations completed. */
  step: number;
  seed: number;
  config: SmprConfig;
  /** The optimizer whose state the file holds ('SGD', 'AdamW'); absent in weights-only files. */
  optimizer?: string;
}

async function tensorData(t: Tensor): Promise<TensorData> {
  return { dtype: t.dtype, shape: t.shape, data: await t.toArray() };
}

/** The first tensor holding NaN or ±Inf, as "name (n of m values)", or null. */
function firstNonFinite(tensors: Iterable<[string, { data: ArrayLike<number> }]>): string | null {
  for (const [name, { data }] of tensors) {
    let bad = 0;
    for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i]!)) bad++;
    if (bad) return `'${name}' (${bad} of ${data.length} values)`;
  }
  return null;
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
  });
}

/** A config read from a file has every field of a preset, of the preset's types, and passes `validateConfig`. */
function checkConfig(path: string, config: unknown): asserts config is SmprConfig {
  if (typeof config !== 'object' || config === null || Array.isArray(config)) throw new UserError(`${path}: the checkpoint's config is not an object`);
  const record = config as Record<string, unknown>;
  const template = (PRESETS[record.name as PresetName] ?? PRESETS.tiny) as unknown as Record<string, unknown>;
  const wrong = Object.keys(template).filter((key) => typeof record[key] !== typeof template[key] || Array.isArray(record[key]) !== Array.isArray(template[key]));
  if (wrong.length) {
    throw new UserError(`${path}: the checkpoint's config is incomplete or malformed (${wrong.slice(0, 5).join(', ')}${wrong.length > 5 ? `, and ${wrong.length - 5} more` : ''}); was it written by smpr?`);
  }
  try {
    validateConfig(config as SmprConfig);
  } catch (error) {
    throw new UserError(`${path}: ${(error as Error).message}`);
  }
}

export interface SavedModel {
  info: CheckpointInfo;
  model: Map<string, Tensor>;
  optimizer: Record<string, Tensor>;
}

/** Reads a checkpoint's metadata and tensors (on the CPU). */
export function readCheckpoint(path: string): SavedModel {
  if (!existsSync(path)) throw new UserError(`${path}: no such checkpoint`);
  return checkpointOf(path, loadSafetensors(path));
}

function checkpointOf(path: string, file: { tensors: Record<string, TensorData>; metadata: Record<string, string> }): SavedModel {
  const meta = file.metadata;
  if (meta.format !== CHECKPOINT_FORMAT || !meta.config) {
    throw new UserError(`${path}: not an SMPR checkpoint (metadata format is '${meta.format ?? 'missing'}', expected '${CHECKPOINT_FORMAT}')`);
  }
  let config: SmprConfig;
  try {
    config = JSON.parse(meta.config) as SmprConfig;
  } catch {
    throw new UserError(`${path}: the checkpoint's config metadata is not valid JSON`);
  }
  checkConfig(path, config);
  const { model, optimizer } = splitTensors(path, file.tensors);
  // Files written before the optimizer was recorded hold SGD momentum.
  const optimizerName = meta.optimizer ?? (Object.keys(optimizer).length ? 'SGD' : undefined);
  return { info: { step: Number(meta.step ?? 0), seed: Number(meta.seed ?? 0), config, optimizer: optimizerName }, model, optimizer };
}

/** The model's tensors and the optimizer's (`optimizer.*`), as CPU tensors, once every value is known finite. */
function splitTensors(path: string, tensors: Record<string, TensorData>): { model: Map<string, Tensor>; optimizer: Record<string, Tensor> } {
  const bad = firstNonFinite(Object.entries(tensors));
  if (bad) throw new UserError(`${path}: tensor ${bad} is not finite; the checkpoint cannot be used`);
  const model = new Map<string, Tensor>();
  const optimizer: Record<string, Tensor> = {};
  for (const [name, t] of Object.entries(tensors)) {
    const value = tensor(t.data, [...t.shape], { dtype: t.dtype, device: 'cpu' });
    if (name.startsWith(OPTIMIZER_PREFIX)) optimizer[name.slice(OPTIMIZER_PREFIX.length)] = value;
    else model.set(name, value);
  }
  return { model, optimizer };
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
