/**
 * The SMPR training loop. One iteration: load and augment a batch on the CPU, build the ground-truth targets,
 * then — all on the device, inside one tidy scope, with no readback — forward, the five losses, backward,
 * gradient clipping and the SGD step. Loss values are read back only every `logEvery` iterations.
 *
 * Determinism: every batch is a function of (seed, iteration) alone (batch-loader.ts), so a run resumed from a
 * checkpoint at iteration t sees exactly the batches an uninterrupted run would have seen.
 */
import { appendFileSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { toTrainingPeople } from '../coco/person.js';
import { checkDatasetImages, type CocoDataset } from '../data/coco.js';
import { Interrupted, UserError } from '../errors.js';
import { makeBatch, type TrainTransformOptions } from '../data/augment.js';
import { plotLines } from '../data/plot.js';
import type { Progress } from '../progress.js';
import { tensor } from '../ops/creation.js';
import { Random } from '../tensor/random.js';
import { keep, tidy } from '../tensor/scope.js';
import { webgpu } from '../tensor/engine.js';
import type { Tensor } from '../tensor/tensor.js';
import { backward } from '../autograd/backward.js';
import { add } from '../ops/elementwise.js';
import { clipScale } from '../ops/multi-tensor.js';
import { narrow, reshape } from '../ops/shape.js';
import type { SmprConfig } from '../smpr/config.js';
import { smprLoss, type LossOptions, type SmprLoss } from '../smpr/loss.js';
import { SmprModel } from '../smpr/model.js';
import { buildBatchTargets } from '../smpr/targets.js';
import { loadBackboneWeights } from './pretrained.js';
import { readCheckpoint, readModelWeights, saveCheckpoint } from './checkpoint.js';
import { SGD, type Optimizer } from './optimizer.js';
import { AdamW } from './adamw.js';
import { lrAt, type StepSchedule } from './schedule.js';
import { lockRunFolder, readLogBefore } from './run-folder.js';
import { BatchLoader } from './batch-loader.js';

export interface TrainOptions {
  config: SmprConfig;
  data: CocoDataset;
  epochs: number;
  batchSize: number;
  seed: number;
  /** Base learning rate (the reference's 0.02 is for 32 images per batch). */
  lr: number;
  warmupIters: number;
  /** 0-based epochs at which the learning rate drops ×0.1. */
  decayEpochs: number[];
  /** 'sgd' (the reference: momentum 0.9, weight decay 1e-4) or 'adamw'. */
  optimizer?: OptimizerName;
  /** Replaces the optimizer's default weight decay on weights. */
  weightDecay?: number;
  /** Max global gradient norm (35 in the reference); 0 disables clipping. */
  clipNorm: number;
  /** Where checkpoints (`last.safetensors`), the JSONL log and the loss curve go. */
  outDir: string;
  /** Pretrained backbone weights (safetensors or .pth, torchvision ResNet names), loaded before training starts. */
  backboneWeights?: string;
  /**
   * A whole model to start from (an smpr checkpoint or exported weights of the same config, or a .pth of the
   * authors' mmdet SMPR taken as `config`'s model): fine-tuning, or a second stage of training. The optimizer
   * starts afresh and the step count at 0. Ignored when resuming.
   */
  initWeights?: string;
  /** Continue from `outDir/last.safetensors` if it exists. */
  resume?: boolean;
  /** Also save a checkpoint every this many iterations (besides every epoch's end). */
  saveEvery?: number;
  /** Worker threads reading and augmenting images ahead of the step (batch-loader.ts); 0 (the default) uses none. */
  workers?: number;
  /** Stop after this many iterations in total (for tests and quick runs). */
  maxIters?: number;
  logEvery?: number;
  loss?: LossOptions;
  /**
   * Aborting it stops the run after the current iteration, with a checkpoint saved; `train` then throws an
   * `Interrupted` whose exit code is `stop.reason` when that is a number (the command line passes 130 for SIGINT).
   */
  stop?: AbortSignal;
  /** Reports iterations done and the latest log window's loss and images/s (the command line draws a bar). */
  progress?: Progress;
}

/** One line of log.jsonl: the losses, gradient norm and positive counts are means over the iterations since the previous line. */
export interface LogRecord {
  iter: number;
  epoch: number;
  lr: number;
  loss: number;
  cls: number;
  heatmap: number;
  init: number;
  refine: number;
  score: number;
  gradNorm: number;
  initPositives: number;
  refinePositives: number;
  imagesPerSecond: number;
}

export const OPTIMIZERS = { sgd: SGD, adamw: AdamW } as const;
export type OptimizerName = keyof typeof OPTIMIZERS;

export const CHECKPOINT_FILE = 'last.safetensors';
export const LOG_FILE = 'log.jsonl';
export const CURVE_FILE = 'loss.png';

/** The reference's training augmentation at the config's input size: its (1333, 800) resize scaled, flip, square crop. */
function trainingTransform(config: SmprConfig): TrainTransformOptions {
  return {
    scale: { long: Math.round((config.inputSize * 1333) / 800), short: config.inputSize },
    crop: { height: config.inputSize, width: config.inputSize },
    flipProbability: 0.5,
    clampOutside: true,
    normalization: config.normalization,
    spec: config.keypoints,
  };
}

/** One iteration's scalars, on the device: the loss terms and positive counts, and the gradient norm. */
type Stats = SmprLoss & { gradNorm: Tensor };

const mapStats = (stats: Stats, f: (t: Tensor, key: keyof Stats) => Tensor): Stats =>
  Object.fromEntries(Object.entries(stats).map(([k, t]) => [k, f(t, k as keyof Stats)])) as unknown as Stats;

const disposeStats = (stats: Stats): void => Object.values(stats).forEach((t) => t.dispose());

export interface TrainResult {
  model: SmprModel;
  records: LogRecord[];
  iterations: number;
}

/** The people of an image that training can use (see `toTrainingPeople`). */
const trainablePeople = (data: CocoDataset, imageId: number): number => toTrainingPeople(data.annotationsByImage.get(imageId) ?? []).length;

/** Everything that can be checked before the first step, so that a mistake costs seconds, not a run. */
function checkInputs(options: TrainOptions): void {
  const { data, batchSize } = options;
  const images = data.json.images.length;
  if (batchSize > images) throw new UserError(`train: --batch ${batchSize} is larger than the ${images} images of ${data.annotationsPath}`);
  if (!data.json.images.some((image) => trainablePeople(data, image.id) > 0)) {
    throw new UserError(`train: no image of ${data.annotationsPath} has a trainable person (one with at least two labelled keypoints, not a crowd)`);
  }
  checkDatasetImages(data);
}

/** The loss terms of a log record that are not finite, e.g. "loss NaN, init NaN". */
const nonFinite = (record: LogRecord): string =>
  (['loss', 'cls', 'heatmap', 'init', 'refine', 'score', 'gradNorm'] as const).filter((k) => !Number.isFinite(record[k])).map((k) => `${k} ${record[k]}`).join(', ');

export async function train(options: TrainOptions): Promise<TrainResult> {
  checkInputs(options);
  const release = lockRunFolder(options.outDir);
  try {
    return await trainLocked(options);
  } finally {
    release();
  }
}

async function trainLocked(options: TrainOptions): Promise<TrainResult> {
  const { config, outDir, stop } = options;
  const itersPerEpoch = Math.floor(options.data.json.images.length / options.batchSize);
  const totalIters = Math.min(options.epochs * itersPerEpoch, options.maxIters ?? Infinity);
  const schedule: StepSchedule = {
    baseLr: options.lr, warmupIters: options.warmupIters, warmupRatio: 1 / 3, decayEpochs: options.decayEpochs, gamma: 0.1, itersPerEpoch,
  };

  const checkpointPath = join(outDir, CHECKPOINT_FILE);
  const logPath = join(outDir, LOG_FILE);
  const OptimizerClass = OPTIMIZERS[options.optimizer ?? 'sgd'];
  // Checked before anything is built: a mismatch costs a second.
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

  const model = new SmprModel(config, { device: 'webgpu', random: new Random(options.seed) });
  model.train();
  const params = model.trainableParameters();
  const optimizer: Optimizer = new OptimizerClass(params, {
    lr: options.lr,
    ...(options.weightDecay !== undefined ? { weightDecay: options.weightDecay } : {}),
  });

  let startIter = 0;
  if (saved) {
    await model.loadStateDict(saved.model);
    optimizer.loadStateDict(saved.optimizer);
    for (const t of [...saved.model.values(), ...Object.values(saved.optimizer)]) t.dispose();
    startIter = saved.info.step;
    // Keep the log consistent with the checkpoint: drop records of iterations after it (and a torn last line).
    const kept = readLogBefore<LogRecord>(logPath, startIter);
    writeFileSync(logPath, kept.map((r) => JSON.stringify(r) + '\n').join(''));
  } else {
    if (options.backboneWeights) await loadBackboneWeights(model, options.backboneWeights);
    if (init) {
      await model.loadStateDict(init.model);
      for (const t of [...init.model.values(), ...Object.values(init.optimizer)]) t.dispose();
    }
    writeFileSync(logPath, '');
  }

  const logEvery = options.logEvery ?? 10;
  const progress = options.progress?.(totalIters, startIter) ?? null;
  const loader = new BatchLoader({
    data: options.data, batchSize: options.batchSize, seed: options.seed, transform: trainingTransform(config), workers: options.workers ?? 0, endIter: totalIters,
  });

  const records: LogRecord[] = [];
  let windowStart = performance.now();
  let windowImages = 0;
  let windowIters = 0;
  let windowSums: Stats | null = null;
  let savedStep = startIter;

  /** Reads the window's means, appends them to the log, and stops the run if they are not finite. */
  async function closeWindow(iter: number, epoch: number): Promise<void> {
    const sums = windowSums!;
    const mean = async (k: keyof Stats) => (await sums[k].toArray())[0] / windowIters;
    const values = {
      loss: await mean('total'), cls: await mean('cls'), heatmap: await mean('heatmap'), init: await mean('init'),
      refine: await mean('refine'), score: await mean('score'), gradNorm: await mean('gradNorm'),
      initPositives: await mean('initPositives'), refinePositives: await mean('refinePositives'),
    };
    // After the reads: the GPU runs behind the recording, and the window is done only when its work is.
    const seconds = (performance.now() - windowStart) / 1000;
    const record: LogRecord = { iter, epoch, lr: optimizer.lr, ...values, imagesPerSecond: windowImages / seconds };
    const first = iter - windowIters + 2; // 1-based, as the progress bar counts
    disposeStats(sums);
    windowSums = null;
    windowIters = 0;
    windowStart = performance.now();
    windowImages = 0;
    if (!Number.isFinite(record.loss) || !Number.isFinite(record.gradNorm)) {
      const kept = savedStep > 0 ? `the checkpoint of iteration ${savedStep} in ${checkpointPath} is kept` : 'nothing was saved';
      throw new UserError(`train: diverged in iterations ${first}–${iter + 1} (${nonFinite(record)}): lower --lr or keep --clip on; ${kept}`);
    }
    records.push(record);
    appendFileSync(logPath, JSON.stringify(record) + '\n');
    progress?.update(iter + 1, { loss: record.loss, 'img/s': record.imagesPerSecond });
  }

  try {
    for (let iter = startIter; iter < totalIters; iter++) {
      const epoch = Math.floor(iter / itersPerEpoch);
      const inputs = await loader.batch(iter);
      const batch = makeBatch(inputs.map((i) => i.image));
      const targets = buildBatchTargets(inputs.map((i) => i.people), batch.height, batch.width, config.levels, config.keypoints);
      optimizer.lr = lrAt(schedule, iter);

      const stats: Stats = tidy(() => {
        const images = tensor(batch.data, [batch.batch, batch.channels, batch.height, batch.width], { device: 'webgpu' });
        const output = model.forward(images, { heatmap: true });
        const loss = smprLoss(output, targets, config.keypoints, options.loss);
        backward(loss.total);
        // [‖g‖, s]: the norm is logged, the scale applied inside the optimizer's fused update (s = 1 for --clip 0).
        const clip = clipScale(params.flatMap((p) => p.tensor.grad ?? []), options.clipNorm);
        optimizer.step(options.clipNorm > 0 ? clip : null);
        optimizer.zeroGrad();
        const { total, cls, heatmap, init, refine, score, initPositives, refinePositives } = loss;
        return { total, cls, heatmap, init, refine, score, initPositives, refinePositives, gradNorm: reshape(narrow(clip, 0, 0, 1), []) };
      });
      windowImages += batch.batch;
      // Sums over the log window stay on the device; the log reads their means once per window.
      const previous: Stats | null = windowSums;
      windowSums = previous ? tidy(() => mapStats(stats, (t, k) => keep(add(previous[k], t)))) : stats;
      if (previous) {
        disposeStats(previous);
        disposeStats(stats);
      }
      windowIters += 1;
      await webgpu().throttle();

      const last = iter === totalIters - 1;
      const save = last || (iter + 1) % itersPerEpoch === 0 || (options.saveEvery !== undefined && (iter + 1) % options.saveEvery === 0) || !!stop?.aborted;
      // Windows end at every checkpoint, so that a resumed run's log has no gap and the same windows as an uninterrupted one.
      if (windowIters === logEvery || save) await closeWindow(iter, epoch);
      if (save) {
        await saveCheckpoint(checkpointPath, model, optimizer, { step: iter + 1, seed: options.seed, config });
        savedStep = iter + 1;
      }
      if (stop?.aborted && !last) {
        const code = typeof stop.reason === 'number' ? stop.reason : 1;
        throw new Interrupted(`train: stopped after iteration ${iter + 1}; saved ${checkpointPath} (continue with --resume)`, code);
      }
    }
  } finally {
    await loader.close();
    if (windowSums) disposeStats(windowSums);
    progress?.finish();
    optimizer.dispose();
    writeLossCurve(outDir);
  }
  return { model, records, iterations: totalIters };
}

/** Draws every loss term of the run's log as a PNG line chart. */
export function writeLossCurve(outDir: string): void {
  const records = readLogBefore<LogRecord>(join(outDir, LOG_FILE), Infinity);
  if (records.length < 2) return;
  const keys = ['loss', 'cls', 'heatmap', 'init', 'refine', 'score'] as const;
  const series = keys.map((k) => ({ name: k, points: records.map((r) => [r.iter + 1, r[k]] as [number, number]) }));
  writeFileSync(join(outDir, CURVE_FILE), plotLines(series, { title: 'SMPR training loss', logY: true, width: 640, height: 400 }));
}

