/**
 * How a run starts: afresh (optionally from a pretrained backbone or a whole model), or resumed from its last
 * checkpoint, whose log is cut back to the checkpoint so that log and weights agree. Every file is checked
 * against the config before anything is built: a mismatch costs a second, not a model.
 */
import { existsSync } from 'node:fs';
import { UserError } from '../errors.js';
import { writeFileAtomic } from '../io/atomic.js';
import type { NamedParameter } from '../nn/module.js';
import type { SmprConfig } from '../smpr/config.js';
import { SMPR_LOSS_WEIGHTS } from '../smpr/loss.js';
import { SmprModel } from '../smpr/model.js';
import { Random } from '../tensor/random.js';
import type { Device } from '../tensor/storage.js';
import { readCheckpoint, readModelWeights, type RunSettings } from './checkpoint.js';
import type { LogRecord } from './log-window.js';
import type { Optimizer } from './optimizer.js';
import { OPTIMIZERS, type TrainOptions } from './options.js';
import { loadBackboneWeights } from './pretrained.js';
import { readLogBefore } from './run-folder.js';

export interface RunStart {
  model: SmprModel;
  params: NamedParameter[];
  optimizer: Optimizer;
  /** The first iteration to run: the checkpoint's step when resuming, else 0. */
  startIter: number;
  /** The run's settings (`runSettings`), for its checkpoints. */
  settings: RunSettings;
}

/**
 * What the run's batches and its loss depend on besides the config, by the flag that sets each: a resumed run must
 * agree, or its log would join two runs. (The schedule and the optimizer's knobs may change on resume — a lower
 * --lr after a divergence — since the log records the lr of every step.) The dataset is known by its counts and
 * a hash of its annotation file's content: a moved folder is the same data, another dataset of the same size not.
 */
function runSettings(options: TrainOptions): RunSettings {
  const loss = options.loss ?? {};
  const { images, annotations } = options.data.json;
  return {
    '--data': `${images.length} images, ${annotations.length} annotations, content ${contentHash([...images, ...annotations])}`,
    '--seed': options.seed,
    '--batch': options.batchSize,
    '--positives': loss.positives ?? 'oks',
    '--pose-weights': loss.poseWeights ?? 'oks',
    'loss weights (--heatmap)': JSON.stringify(loss.weights ?? SMPR_LOSS_WEIGHTS),
  };
}

/** FNV-1a over the entries' JSON, one entry at a time (a whole COCO file as one string would be 250 MB). */
function contentHash(entries: readonly object[]): string {
  let hash = 0x811c9dc5;
  for (const entry of entries) {
    const text = JSON.stringify(entry);
    for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  }
  return (hash >>> 0).toString(16).padStart(8, '0');
}

/** "inputSize 32 here, 128 in the file; …" for the fields in which two configs differ. */
function configDifference(ours: SmprConfig, theirs: SmprConfig): string {
  const a = ours as unknown as Record<string, unknown>;
  const b = theirs as unknown as Record<string, unknown>;
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]));
  const shown = keys.slice(0, 3).map((k) => `${k} ${JSON.stringify(b[k])} there, ${JSON.stringify(a[k])} here`);
  return shown.join('; ') + (keys.length > 3 ? `; and ${keys.length - 3} more` : '');
}

/** Loads a file's tensors into the model or optimizer; a file that does not fit is the user's, named in one line. */
async function loadFrom(flag: string, file: string, load: () => unknown): Promise<void> {
  try {
    await load();
  } catch (error) {
    if (error instanceof UserError) throw error;
    const first = (error as Error).message.split('\n')[0];
    throw new UserError(`train ${flag}: ${file} does not fit the model: ${first}`);
  }
}

export async function startRun(options: TrainOptions, device: Device, checkpointPath: string, logPath: string): Promise<RunStart> {
  const { config } = options;
  const OptimizerClass = OPTIMIZERS[options.optimizer ?? 'sgd'];
  const held = existsSync(checkpointPath);
  if (options.resume && !held) throw new UserError(`train --resume: ${checkpointPath} does not exist, so there is no run to continue (without --resume a new one starts)`);
  if (!options.resume && held) {
    throw new UserError(`train: ${options.outDir} already holds a run (${checkpointPath}); continue it with --resume, or start the new one in another --out`);
  }
  if (options.resume && (options.initWeights || options.backboneWeights)) {
    throw new UserError(`train --resume: ${options.initWeights ? '--weights' : '--backbone-weights'} only starts a new run; a resumed run continues from ${checkpointPath}`);
  }
  const saved = options.resume ? readCheckpoint(checkpointPath) : null;
  // Every checkpoint a run saves names its optimizer; a file without one (smpr export's) has no optimizer state to
  // continue, and resuming from it would restart the optimizer unnoticed.
  if (saved && !saved.info.optimizer) {
    throw new UserError(`train --resume: ${checkpointPath} holds weights only (no optimizer state, as smpr export writes), so there is no run to continue; start a new run from it with --weights ${checkpointPath} and another --out`);
  }
  // A .pth of the authors' mmdet SMPR names no config: it is taken to be --config's model.
  const init = !saved && options.initWeights ? readModelWeights(options.initWeights, config) : null;
  if (init && JSON.stringify(init.info.config) !== JSON.stringify(config)) {
    throw new UserError(`train --weights: ${options.initWeights} holds a '${init.info.config.name}' model other than --config ${config.name} makes (${configDifference(config, init.info.config)}); pass the flags it was trained with`);
  }
  if (saved && JSON.stringify(saved.info.config) !== JSON.stringify(config)) {
    throw new UserError(`train --resume: ${checkpointPath} was trained with another model config (${configDifference(config, saved.info.config)}); resume with its flags or choose another --out`);
  }
  if (saved?.info.optimizer && saved.info.optimizer !== OptimizerClass.name) {
    throw new UserError(`train --resume: ${checkpointPath} was trained with ${saved.info.optimizer}, not ${OptimizerClass.name}; pass --optimizer ${saved.info.optimizer.toLowerCase()}`);
  }
  const settings = runSettings(options);
  if (saved) {
    // Files written before run settings were recorded still name their seed.
    const theirs: RunSettings = saved.info.run ?? { '--seed': saved.info.seed };
    const changed = Object.keys(theirs).filter((k) => theirs[k] !== settings[k]);
    if (changed.length) {
      const listed = changed.map((k) => `${k} ${theirs[k]} there, ${settings[k]} here`).join('; ');
      throw new UserError(`train --resume: ${checkpointPath} was trained otherwise (${listed}); resume with the run's own settings, or start a new run in another --out`);
    }
  }

  const model = new SmprModel(config, { device, random: new Random(options.seed) });
  model.train();
  const params = model.trainableParameters();
  const optimizer: Optimizer = new OptimizerClass(params, {
    lr: options.lr,
    ...(options.weightDecay !== undefined ? { weightDecay: options.weightDecay } : {}),
  });

  if (saved) {
    await loadFrom('--resume', checkpointPath, () => model.loadStateDict(saved.model));
    await loadFrom('--resume', checkpointPath, () => optimizer.loadStateDict(saved.optimizer));
    for (const t of [...saved.model.values(), ...Object.values(saved.optimizer)]) t.dispose();
    // Keep the log consistent with the checkpoint: drop records of iterations after it (and a torn last line).
    // Atomically: a rewrite cut off by a full disk would lose the records it was to keep.
    const kept = readLogBefore<LogRecord>(logPath, saved.info.step);
    writeFileAtomic(logPath, kept.map((r) => Buffer.from(JSON.stringify(r) + '\n')));
    return { model, params, optimizer, startIter: saved.info.step, settings };
  }
  if (options.backboneWeights) await loadBackboneWeights(model, options.backboneWeights);
  if (init) {
    await loadFrom('--weights', options.initWeights!, () => model.loadStateDict(init.model));
    for (const t of [...init.model.values(), ...Object.values(init.optimizer)]) t.dispose();
  }
  writeFileAtomic(logPath, []);
  return { model, params, optimizer, startIter: 0, settings };
}
