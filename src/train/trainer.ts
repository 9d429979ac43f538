/**
 * The SMPR training loop, composed of small parts: the run's start (start-run.ts: afresh, from weights, or
 * resumed), a data iterator (batches loaded and augmented by batch-loader.ts, their ground-truth targets built on
 * the CPU), the step (step.ts: everything on the device, no readback), the log window (log-window.ts: losses read
 * back once per `logEvery` iterations) and checkpoints.
 *
 * Determinism: every batch is a function of (seed, iteration) alone (batch-loader.ts), so a run resumed from a
 * checkpoint at iteration t sees exactly the batches an uninterrupted run would have seen.
 */
import { appendOutputFile, writeOutputFile } from '../io/atomic.js';
import { join } from 'node:path';
import { dropReason, toTrainingPeople } from '../coco/person.js';
import { makeBatch, type Batch } from '../data/augment.js';
import { trainTransformOptions } from './transform.js';
import { checkDatasetImages, type CocoDataset } from '../data/coco.js';
import { plotLines } from '../data/plot.js';
import { Interrupted, UserError } from '../errors.js';
import type { SmprConfig } from '../smpr/config.js';
import type { SmprModel } from '../smpr/model.js';
import { buildBatchTargets, type BatchTargets } from '../smpr/targets.js';
import { webgpu } from '../tensor/engine.js';
import { BatchLoader } from './batch-loader.js';
import { saveCheckpoint } from './checkpoint.js';
import { LogWindow, type LogRecord } from './log-window.js';
import type { TrainOptions } from './options.js';
import { lockRunFolder, readLogBefore } from './run-folder.js';
import { DECAY_GAMMA, WARMUP_RATIO, lrAt, type StepSchedule } from './schedule.js';
import { startRun } from './start-run.js';
import { trainStep } from './step.js';

export const CHECKPOINT_FILE = 'last.safetensors';
export const LOG_FILE = 'log.jsonl';
const CURVE_FILE = 'loss.png';

export interface TrainResult {
  model: SmprModel;
  records: LogRecord[];
  iterations: number;
  /** The iteration this invocation started at: 0, or the checkpoint's step when resumed. */
  startIter: number;
  /** The loss curve's PNG, or null when the log has fewer than two records to draw. */
  curve: string | null;
}

const DROP_REASONS: Record<string, string> = {
  'ignore': 'marked ignore', 'crowd': 'crowds', 'no-labelled-keypoint': 'without a labelled keypoint', 'no-area': 'with area 0', 'box-under-1px': 'with keypoints under a pixel apart',
};

/** The people of an image that training can use (see `toTrainingPeople`). */
const trainablePeople = (data: CocoDataset, imageId: number): number => toTrainingPeople(data.annotationsByImage.get(imageId) ?? []).length;

/** Everything that can be checked before the first step, so that a mistake costs seconds, not a run. */
function checkInputs(options: TrainOptions): void {
  const { data, batchSize } = options;
  const images = data.json.images.length;
  if (batchSize > images) throw new UserError(`train: --batch ${batchSize} is larger than the ${images} images of ${data.annotationsPath}`);
  if (!data.json.images.some((image) => trainablePeople(data, image.id) > 0)) {
    const reasons = new Map<string, number>();
    for (const annotation of data.json.annotations) {
      const reason = dropReason(annotation) ?? 'kept';
      reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
    }
    const counted = [...reasons].map(([reason, n]) => `${n} ${DROP_REASONS[reason] ?? reason}`).join(', ');
    throw new UserError(`train: no image of ${data.annotationsPath} has a trainable person (two labelled keypoints a pixel apart, an area > 0, not a crowd or ignored); its ${data.json.annotations.length} annotations: ${counted || 'none'}`);
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

/** The batches of iterations startIter, startIter + 1, … up to endIter, with their targets. */
async function* trainingBatches(loader: BatchLoader, config: SmprConfig, startIter: number, endIter: number): AsyncGenerator<{ iter: number; batch: Batch; targets: BatchTargets }> {
  for (let iter = startIter; iter < endIter; iter++) {
    const inputs = await loader.batch(iter);
    const batch = makeBatch(inputs.map((i) => i.image));
    yield { iter, batch, targets: buildBatchTargets(inputs.map((i) => i.people), batch.height, batch.width, config.levels, config.keypoints) };
  }
}

async function trainLocked(options: TrainOptions): Promise<TrainResult> {
  const { config, outDir, stop } = options;
  const device = options.device ?? 'webgpu';
  const itersPerEpoch = Math.floor(options.data.json.images.length / options.batchSize);
  const totalIters = Math.min(options.epochs * itersPerEpoch, options.maxIters ?? Infinity);
  const schedule: StepSchedule = {
    baseLr: options.lr, warmupIters: options.warmupIters, warmupRatio: WARMUP_RATIO, decayEpochs: options.decayEpochs, gamma: DECAY_GAMMA, itersPerEpoch,
  };
  const checkpointPath = join(outDir, CHECKPOINT_FILE);
  const logPath = join(outDir, LOG_FILE);
  const { model, params, optimizer, startIter, settings } = await startRun(options, device, checkpointPath, logPath);

  const logEvery = options.logEvery ?? 10;
  const progress = options.progress?.(totalIters, startIter) ?? null;
  const loader = new BatchLoader({
    data: options.data, batchSize: options.batchSize, seed: options.seed, transform: trainTransformOptions(config), workers: options.workers ?? 0, endIter: totalIters,
  });
  const step = { config, model, params, optimizer, device, clipNorm: options.clipNorm, loss: options.loss };
  const window = new LogWindow();
  const records: LogRecord[] = [];
  let savedStep = startIter;
  let failure: unknown = null;
  let curve: string | null = null;

  /** Ends the log window at `iter`: its record goes to the log, or the run stops if it is not finite. */
  async function log(iter: number, epoch: number): Promise<void> {
    const first = iter - window.iters + 2; // 1-based, as the progress bar counts
    const record = await window.close(iter, epoch, optimizer.lr);
    if (!Number.isFinite(record.loss) || !Number.isFinite(record.gradNorm)) {
      const kept = savedStep > 0 ? `the checkpoint of iteration ${savedStep} in ${checkpointPath} is kept` : 'nothing was saved';
      throw new UserError(`train: diverged in iterations ${first}–${iter + 1} (${nonFinite(record)}): lower --lr or keep --clip on; ${kept}`);
    }
    records.push(record);
    appendOutputFile(logPath, JSON.stringify(record) + '\n');
    progress?.update(iter + 1, { loss: record.loss, 'img/s': record.imagesPerSecond });
  }

  /**
   * A bad image is found only when its batch is read, hours into a run maybe (only headers are checked before the
   * first step): the iterations trained since the last checkpoint are saved, as Ctrl-C saves them, and the error
   * says so, so that the run continues with --resume once the image is fixed.
   */
  async function saveBeforeDataError(error: unknown, done: number): Promise<unknown> {
    if (!(error instanceof UserError) || done === savedStep) return error;
    try {
      if (window.iters > 0) await log(done - 1, Math.floor((done - 1) / itersPerEpoch)); // a diverged window is saved by no one
      await saveCheckpoint(checkpointPath, model, optimizer, { step: done, seed: options.seed, config, run: settings });
    } catch (saveError) {
      // The image is what stopped the run: its error leads, whatever kept the save from happening follows.
      if (!(saveError instanceof UserError)) throw saveError;
      return new UserError(`${error.message}; the iterations since the last checkpoint were not saved: ${saveError.message}`);
    }
    savedStep = done;
    return new UserError(`${error.message}; saved ${checkpointPath} after iteration ${done} (continue with --resume)`);
  }

  try {
    const batches = trainingBatches(loader, config, startIter, totalIters);
    let done = startIter;
    for (;;) {
      let next: IteratorResult<{ iter: number; batch: Batch; targets: BatchTargets }>;
      try {
        next = await batches.next();
      } catch (error) {
        throw await saveBeforeDataError(error, done);
      }
      if (next.done) break;
      const { iter, batch, targets } = next.value;
      const epoch = Math.floor(iter / itersPerEpoch);
      optimizer.lr = lrAt(schedule, iter);
      window.add(trainStep(step, batch, targets), batch.batch);
      done = iter + 1;
      // A step reads nothing back, so without this the CPU would record steps far ahead of the GPU.
      if (device === 'webgpu') await webgpu().throttle();

      const last = iter === totalIters - 1;
      const save = last || (iter + 1) % itersPerEpoch === 0 || (options.saveEvery !== undefined && (iter + 1) % options.saveEvery === 0) || !!stop?.aborted;
      // Windows end at every checkpoint, so that a resumed run's log has no gap and the same windows as an uninterrupted one.
      if (window.iters === logEvery || save) await log(iter, epoch);
      if (save) {
        await saveCheckpoint(checkpointPath, model, optimizer, { step: iter + 1, seed: options.seed, config, run: settings });
        savedStep = iter + 1;
      }
      if (stop?.aborted && !last) {
        const code = typeof stop.reason === 'number' ? stop.reason : 1;
        throw new Interrupted(`train: stopped after iteration ${iter + 1}; saved ${checkpointPath} (continue with --resume)`, code);
      }
    }
  } catch (error) {
    failure = error;
    throw error;
  } finally {
    await loader.close();
    window.dispose();
    progress?.finish();
    optimizer.dispose();
    // Drawn also when the run stops early; failing to draw it must not hide why the run stopped.
    try {
      curve = writeLossCurve(outDir);
    } catch (error) {
      if (failure === null) throw error;
    }
  }
  return { model, records, iterations: totalIters, startIter, curve };
}

/** Draws every loss term of the run's log as a PNG line chart; returns its path, or null when there are fewer than two records. */
function writeLossCurve(outDir: string): string | null {
  const records = readLogBefore<LogRecord>(join(outDir, LOG_FILE), Infinity);
  if (records.length < 2) return null;
  const keys = ['loss', 'cls', 'heatmap', 'init', 'refine', 'score'] as const;
  const series = keys.map((k) => ({ name: k, points: records.map((r) => [r.iter + 1, r[k]] as [number, number]) }));
  const path = join(outDir, CURVE_FILE);
  writeOutputFile(path, plotLines(series, { title: 'SMPR training loss', logY: true, width: 640, height: 400 }));
  return path;
}

