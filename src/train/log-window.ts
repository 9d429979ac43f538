/**
 * The log window: the steps since the last log line. Their stats are summed on the device, so a window costs one
 * readback however long it is; its means, and the images per second it took, become one line of log.jsonl.
 */
import { add } from '../ops/elementwise.js';
import { keep, tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import type { StepStats } from './step.js';

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

const mapStats = (stats: StepStats, f: (t: Tensor, key: keyof StepStats) => Tensor): StepStats =>
  Object.fromEntries(Object.entries(stats).map(([k, t]) => [k, f(t, k as keyof StepStats)])) as unknown as StepStats;

const disposeStats = (stats: StepStats): void => Object.values(stats).forEach((t) => t.dispose());

export class LogWindow {
  private sums: StepStats | null = null;
  private images = 0;
  private start = performance.now();
  /** Steps in the window. */
  iters = 0;

  /** Adds a step's stats (the window takes them over) and its image count. */
  add(stats: StepStats, images: number): void {
    const previous = this.sums;
    this.sums = previous ? tidy(() => mapStats(stats, (t, k) => keep(add(previous[k], t)))) : stats;
    if (previous) {
      disposeStats(previous);
      disposeStats(stats);
    }
    this.images += images;
    this.iters += 1;
  }

  /** Reads the window's means as the record of iteration `iter` and starts a new window. */
  async close(iter: number, epoch: number, lr: number): Promise<LogRecord> {
    const sums = this.sums!;
    const mean = async (k: keyof StepStats) => (await sums[k].toArray())[0] / this.iters;
    const values = {
      loss: await mean('total'), cls: await mean('cls'), heatmap: await mean('heatmap'), init: await mean('init'),
      refine: await mean('refine'), score: await mean('score'), gradNorm: await mean('gradNorm'),
      initPositives: await mean('initPositives'), refinePositives: await mean('refinePositives'),
    };
    // After the reads: the GPU runs behind the recording, and the window is done only when its work is.
    const seconds = (performance.now() - this.start) / 1000;
    const record: LogRecord = { iter, epoch, lr, ...values, imagesPerSecond: this.images / seconds };
    this.dispose();
    this.start = performance.now();
    return record;
  }

  dispose(): void {
    if (this.sums) disposeStats(this.sums);
    this.sums = null;
    this.iters = 0;
    this.images = 0;
  }
}
