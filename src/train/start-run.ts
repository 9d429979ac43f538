/**
 * How a run starts: afresh (optionally from a pretrained backbone or a whole model), or resumed from its last
 * checkpoint, whose log is cut back to the checkpoint so that log and weights agree. Every file is checked
 * against the config before anything is built: a mismatch costs a second, not a model.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { UserError } from '../errors.js';
import type { NamedParameter } from '../nn/module.js';
import { SmprModel } from '../smpr/model.js';
import { Random } from '../tensor/random.js';
import type { Device } from '../tensor/storage.js';
import { readCheckpoint, readModelWeights } from './checkpoint.js';
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
}

export async function startRun(options: TrainOptions, device: Device, checkpointPath: string, logPath: string): Promise<RunStart> {
  const { config } = options;
  const OptimizerClass = OPTIMIZERS[options.optimizer ?? 'sgd'];
  const saved = options.resume && existsSync(checkpointPath) ? readCheckpoint(checkpointPath) : null;
  // A .pth of the authors' mmdet SMPR names no config: it is taken to be --config's model.
  const init = !saved && options.initWeights ? readModelWeights(options.initWeights, config) : null;
  if (init && JSON.stringify(init.info.config) !== JSON.stringify(config)) {
    throw new UserError(`train --weights: ${options.initWeights} holds a '${init.info.config.name}' model with other settings than --config ${config.name}; pass the config it was trained with`);
  }
  if (saved && JSON.stringify(saved.info.config) !== JSON.stringify(config)) {
    throw new UserError(`train --resume: ${checkpointPath} was trained with another model config ('${saved.info.config.name}' with different settings); resume with the same --config or choose another --out`);
  }
  if (saved?.info.optimizer && saved.info.optimizer !== OptimizerClass.name) {
    throw new UserError(`train --resume: ${checkpointPath} was trained with ${saved.info.optimizer}, not ${OptimizerClass.name}; pass --optimizer ${saved.info.optimizer.toLowerCase()}`);
  }

  const model = new SmprModel(config, { device, random: new Random(options.seed) });
  model.train();
  const params = model.trainableParameters();
  const optimizer: Optimizer = new OptimizerClass(params, {
    lr: options.lr,
    ...(options.weightDecay !== undefined ? { weightDecay: options.weightDecay } : {}),
  });

  if (saved) {
    await model.loadStateDict(saved.model);
    optimizer.loadStateDict(saved.optimizer);
    for (const t of [...saved.model.values(), ...Object.values(saved.optimizer)]) t.dispose();
    // Keep the log consistent with the checkpoint: drop records of iterations after it (and a torn last line).
    const kept = readLogBefore<LogRecord>(logPath, saved.info.step);
    writeFileSync(logPath, kept.map((r) => JSON.stringify(r) + '\n').join(''));
    return { model, params, optimizer, startIter: saved.info.step };
  }
  if (options.backboneWeights) await loadBackboneWeights(model, options.backboneWeights);
  if (init) {
    await model.loadStateDict(init.model);
    for (const t of [...init.model.values(), ...Object.values(init.optimizer)]) t.dispose();
  }
  writeFileSync(logPath, '');
  return { model, params, optimizer, startIter: 0 };
}
