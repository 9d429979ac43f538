/**
 * The checkpoint format, on parsed bytes: what an smpr checkpoint's metadata and tensor names mean (see
 * checkpoint.ts for the layout). Nothing here reads a file, so the browser build loads the shipped weights with
 * `parseCheckpoint` on fetched bytes; checkpoint.ts reads and writes files with the same rules.
 */
import { parseSafetensors, type TensorData } from '../io/safetensors-format.js';
import { UserError } from '../errors.js';
import { tensor } from '../ops/creation.js';
import type { Tensor } from '../tensor/tensor.js';
import { PRESETS, validateConfig, type PresetName, type SmprConfig } from '../smpr/config.js';

export const OPTIMIZER_PREFIX = 'optimizer.';
export const CHECKPOINT_FORMAT = 'smpr-checkpoint-v1';

export interface CheckpointInfo {
  /** Iterations completed. */
  step: number;
  seed: number;
  config: SmprConfig;
  /** The optimizer whose state the file holds ('SGD', 'AdamW'); absent in weights-only files. */
  optimizer?: string;
  /** How the run that wrote it trains (the settings a resumed run must share); absent in weights-only files. */
  run?: RunSettings;
}

/** What a run's batches and loss depend on besides the config, by the flag that sets each (train/start-run.ts). */
export type RunSettings = Record<string, string | number | boolean>;

/** The first tensor holding NaN or ±Inf, as "name (n of m values)", or null. */
export function firstNonFinite(tensors: Iterable<[string, { data: ArrayLike<number> }]>): string | null {
  for (const [name, { data }] of tensors) {
    let bad = 0;
    for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i]!)) bad++;
    if (bad) return `'${name}' (${bad} of ${data.length} values)`;
  }
  return null;
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

/** Reads a checkpoint held in memory (the bytes of a safetensors file); `source` names it in errors. */
export function parseCheckpoint(bytes: Uint8Array, source: string): SavedModel {
  return checkpointOf(source, parseSafetensors(bytes, source));
}

/** The checkpoint in a parsed safetensors file; `path` names it in errors. */
export function checkpointOf(path: string, file: { tensors: Record<string, TensorData>; metadata: Record<string, string> }): SavedModel {
  const meta = file.metadata;
  if (meta.format !== CHECKPOINT_FORMAT) {
    throw new UserError(`${path}: not an SMPR checkpoint (metadata format is '${meta.format ?? 'missing'}', expected '${CHECKPOINT_FORMAT}')`);
  }
  if (!meta.config) throw new UserError(`${path}: an SMPR checkpoint without its config in the metadata; was it written by smpr?`);
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
  const integer = (text: string | undefined) => (text === undefined ? 0 : /^-?\d+$/.test(text) ? Number(text) : NaN);
  const step = integer(meta.step);
  const seed = integer(meta.seed);
  if (!Number.isSafeInteger(step) || step < 0) throw new UserError(`${path}: the checkpoint's step '${meta.step}' is not a count of iterations`);
  if (!Number.isSafeInteger(seed)) throw new UserError(`${path}: the checkpoint's seed '${meta.seed}' is not an integer`);
  return { info: { step, seed, config, optimizer: optimizerName, ...(meta.run !== undefined ? { run: parseRunSettings(path, meta.run) } : {}) }, model, optimizer };
}

function parseRunSettings(path: string, text: string): RunSettings {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = null;
  }
  const ok = typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)
    && Object.values(parsed).every((v) => ['string', 'number', 'boolean'].includes(typeof v));
  if (!ok) throw new UserError(`${path}: the checkpoint's run settings are not an object of flags and values`);
  return parsed as RunSettings;
}

/** The model's tensors and the optimizer's (`optimizer.*`), as CPU tensors, once every value is known finite. */
export function splitTensors(path: string, tensors: Record<string, TensorData>): { model: Map<string, Tensor>; optimizer: Record<string, Tensor> } {
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
