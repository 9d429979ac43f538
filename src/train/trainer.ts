/**
 * The SMPR training loop. One iteration: load and augment a batch on the CPU, build the ground-truth targets,
 * then — all on the device, inside one tidy scope, with no readback — forward, the five losses, backward,
 * gradient clipping and the SGD step. Loss values are read back only every `logEvery` iterations.
 *
 * Determinism: the data order of epoch e is a permutation seeded by (seed, e) and sample i of iteration t is
 * augmented with an RNG seeded by (seed, t, i), so a run resumed from a checkpoint at iteration t sees exactly the
 * batches an uninterrupted run would have seen.
 */
import { appendFileSync, mkdirSync, readFileSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadCocoSample, type CocoDataset } from '../data/coco.js';
import { makeBatch, trainTransform, type TrainingInput } from '../data/augment.js';
import { plotLines } from '../data/plot.js';
import { ProgressBar } from '../cli/progress.js';
import { tensor } from '../ops/creation.js';
import { Random } from '../tensor/random.js';
import { keep, tidy } from '../tensor/scope.js';
import { webgpu } from '../tensor/engine.js';
import type { Tensor } from '../tensor/tensor.js';
import { add } from '../ops/elementwise.js';
import { clipScale } from '../ops/multi-tensor.js';
import { narrow, reshape } from '../ops/shape.js';
import type { SmprConfig } from '../smpr/config.js';
import { smprLoss, type LossOptions, type SmprLoss } from '../smpr/loss.js';
import { SmprModel } from '../smpr/model.js';
import { buildBatchTargets } from '../smpr/targets.js';
import { loadBackboneWeights } from './pretrained.js';
import { readCheckpoint, saveCheckpoint } from './checkpoint.js';
import { SGD, type Optimizer } from './optimizer.js';
import { AdamW } from './adamw.js';
import { lrAt, type StepSchedule } from './schedule.js';

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
  /** Pretrained backbone weights (safetensors, torchvision ResNet names), loaded before training starts. */
  backboneWeights?: string;
  /** Continue from `outDir/last.safetensors` if it exists. */
  resume?: boolean;
  /** Stop after this many iterations in total (for tests and quick runs). */
  maxIters?: number;
  logEvery?: number;
  loss?: LossOptions;
  /** Show a progress bar on stderr. */
  progress?: boolean;
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

/** A 32-bit hash of a few integers, to seed independent RNG streams. */
function mix(...values: number[]): number {
  let h = 0x9e3779b9;
  for (const v of values) {
    h = Math.imul(h ^ (v >>> 0), 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
  }
  return h >>> 0;
}

function epochOrder(count: number, seed: number, epoch: number): number[] {
  return new Random(mix(seed, epoch, 1)).shuffle([...Array(count).keys()]);
}

/**
 * Loads and augments the batch of iteration `iter`. A sample whose people all fall outside its crop is replaced by
 * the next image in the epoch's order, as the reference re-samples.
 */
function loadBatch(options: TrainOptions, order: number[], iter: number, itersPerEpoch: number): TrainingInput[] {
  const { data, batchSize, config } = options;
  const transform = {
    scale: { long: Math.round((config.inputSize * 1333) / 800), short: config.inputSize },
    crop: { height: config.inputSize, width: config.inputSize },
    flipProbability: 0.5,
    clampOutside: true,
    normalization: config.normalization,
    spec: config.keypoints,
  };
  const inputs: TrainingInput[] = [];
  const first = (iter % itersPerEpoch) * batchSize;
  for (let i = 0; i < batchSize; i++) {
    const rng = new Random(mix(options.seed, iter, i));
    for (let attempt = 0; ; attempt++) {
      if (attempt === order.length) throw new Error(`train: no image of ${data.annotationsPath} has a trainable person`);
      const image = data.json.images[order[(first + i + attempt) % order.length]];
      const input = trainTransform(loadCocoSample(data, image), transform, rng);
      if (input) {
        inputs.push(input);
        break;
      }
    }
  }
  return inputs;
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

export async function train(options: TrainOptions): Promise<TrainResult> {
  const { config, outDir } = options;
  mkdirSync(outDir, { recursive: true });
  const itersPerEpoch = Math.floor(options.data.json.images.length / options.batchSize);
  if (itersPerEpoch < 1) {
    throw new Error(`train: ${options.data.json.images.length} images do not fill one batch of ${options.batchSize}`);
  }
  const totalIters = Math.min(options.epochs * itersPerEpoch, options.maxIters ?? Infinity);
  const schedule: StepSchedule = {
    baseLr: options.lr, warmupIters: options.warmupIters, warmupRatio: 1 / 3, decayEpochs: options.decayEpochs, gamma: 0.1, itersPerEpoch,
  };

  const model = new SmprModel(config, { device: 'webgpu', random: new Random(options.seed) });
  model.train();
  const params = model.trainableParameters();
  const optimizer: Optimizer = new OPTIMIZERS[options.optimizer ?? 'sgd'](params, {
    lr: options.lr,
    ...(options.weightDecay !== undefined ? { weightDecay: options.weightDecay } : {}),
  });

  const checkpointPath = join(outDir, CHECKPOINT_FILE);
  const logPath = join(outDir, LOG_FILE);
  let startIter = 0;
  if (options.resume && existsSync(checkpointPath)) {
    const saved = readCheckpoint(checkpointPath);
    if (JSON.stringify(saved.info.config) !== JSON.stringify(config)) {
      throw new Error(`train --resume: ${checkpointPath} was trained with a different config (${saved.info.config.name})`);
    }
    if (saved.info.optimizer && saved.info.optimizer !== optimizer.name) {
      throw new Error(`train --resume: ${checkpointPath} was trained with ${saved.info.optimizer}, not ${optimizer.name}`);
    }
    await model.loadStateDict(saved.model);
    optimizer.loadStateDict(saved.optimizer);
    for (const t of [...saved.model.values(), ...Object.values(saved.optimizer)]) t.dispose();
    startIter = saved.info.step;
    // Keep the log consistent with the checkpoint: drop records of iterations after it.
    if (existsSync(logPath)) {
      const kept = readFileSync(logPath, 'utf8').split('\n').filter((line) => line && (JSON.parse(line) as LogRecord).iter < startIter);
      writeFileSync(logPath, kept.map((l) => l + '\n').join(''));
    }
  } else {
    if (options.backboneWeights) await loadBackboneWeights(model, options.backboneWeights);
    if (existsSync(logPath)) writeFileSync(logPath, '');
  }

  const logEvery = options.logEvery ?? 10;
  const progress = options.progress ? new ProgressBar('train', totalIters, 'it', process.stderr, startIter) : null;

  const records: LogRecord[] = [];
  let order: number[] = [];
  let orderEpoch = -1;
  let windowStart = performance.now();
  let windowImages = 0;
  let windowIters = 0;
  let windowSums: Stats | null = null;

  for (let iter = startIter; iter < totalIters; iter++) {
    const epoch = Math.floor(iter / itersPerEpoch);
    if (epoch !== orderEpoch) {
      order = epochOrder(options.data.json.images.length, options.seed, epoch);
      orderEpoch = epoch;
    }
    const inputs = loadBatch(options, order, iter, itersPerEpoch);
    const batch = makeBatch(inputs.map((i) => i.image));
    const targets = buildBatchTargets(inputs.map((i) => i.people), batch.height, batch.width, config.levels, config.keypoints);
    optimizer.lr = lrAt(schedule, iter);

    const stats: Stats = tidy(() => {
      const images = tensor(batch.data, [batch.batch, batch.channels, batch.height, batch.width], { device: 'webgpu' });
      const output = model.forward(images, { heatmap: true });
      const loss = smprLoss(output, targets, config.keypoints, options.loss);
      loss.total.backward();
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
    if ((iter + 1) % logEvery === 0 || last) {
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
      if (!Number.isFinite(record.loss)) throw new Error(`train: the loss became ${record.loss} at iteration ${iter} (${JSON.stringify(record)})`);
      records.push(record);
      appendFileSync(logPath, JSON.stringify(record) + '\n');
      disposeStats(sums);
      windowSums = null;
      windowIters = 0;
      windowStart = performance.now();
      windowImages = 0;
      progress?.update(iter + 1, { loss: record.loss, 'img/s': record.imagesPerSecond });
    }

    const epochEnd = (iter + 1) % itersPerEpoch === 0;
    if (epochEnd || last) await saveCheckpoint(checkpointPath, model, optimizer, { step: iter + 1, seed: options.seed, config });
  }
  progress?.finish();
  optimizer.dispose();
  writeLossCurve(outDir);
  return { model, records, iterations: totalIters };
}

/** Draws every loss term of the run's log as a PNG line chart. */
export function writeLossCurve(outDir: string): void {
  const path = join(outDir, LOG_FILE);
  if (!existsSync(path)) return;
  const records = readFileSync(path, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as LogRecord);
  if (records.length < 2) return;
  const keys = ['loss', 'cls', 'heatmap', 'init', 'refine', 'score'] as const;
  const series = keys.map((k) => ({ name: k, points: records.map((r) => [r.iter + 1, r[k]] as [number, number]) }));
  writeFileSync(join(outDir, CURVE_FILE), plotLines(series, { title: 'SMPR training loss', logY: true, width: 640, height: 400 }));
}

