/**
 * The training batches, in order, ready before the step asks for them.
 *
 * Order: epoch e visits the images in a permutation seeded by (seed, e); slot i of iteration t takes the image at
 * position t·B + i of its epoch's order. A sample whose people all fall outside its crop is replaced by the next
 * image in the order (the reference re-samples too); attempt a of slot i of iteration t is augmented with the seed
 * (seed, t, i, a). So every batch is a function of (seed, t) alone: a run resumed at iteration t sees exactly the
 * batches an uninterrupted run would have, whatever the number of workers.
 *
 * Work: each sample is a `SampleJob` (read, decode, augment). With `workers: 0` jobs run on the calling thread —
 * JPEG decoding still happens in libuv's thread pool, augmentation does not. With `workers: N` they run on N worker
 * threads, and the loader keeps `prefetch` batches in flight beyond the one asked for, so that the training step
 * (which records GPU work on the main thread) does not wait on images.
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { UserError } from '../errors.js';
import { toTrainingPeople } from '../coco/person.js';
import { cocoImagePath, type CocoDataset } from '../data/coco.js';
import type { TrainingInput, TrainTransformOptions } from '../data/augment.js';
import { Random } from '../tensor/random.js';
import { runSampleJob, type SampleJob } from './sample-job.js';

export interface BatchLoaderOptions {
  data: CocoDataset;
  batchSize: number;
  seed: number;
  transform: TrainTransformOptions;
  /** Worker threads for reading and augmenting; 0 runs the jobs on the calling thread. */
  workers: number;
  /** Batches prepared ahead of the one asked for (default 2 with workers, 0 without). */
  prefetch?: number;
  /** No batch at or after this iteration is prefetched. */
  endIter: number;
}

/** Workers by default: one per core beyond the main thread's, at most 4 (beyond that, decoding outruns the step). */
export const defaultWorkers = (): number => Math.max(1, Math.min(4, availableParallelism() - 1));

/**
 * The most workers `smpr train` starts. Each is a thread with its own heap and its own copy of the modules (about
 * 10 MB resident on Linux), all started before the first step: a thousand would hold some 10 GB for no faster a
 * run, since a few already decode faster than the step consumes.
 */
export const MAX_WORKERS = 64;

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

type JobResult = TrainingInput | undefined;

/**
 * A worker runs the compiled sibling module, as the command line and the package do (from dist/). Run from the
 * TypeScript sources (the test suite) there is none, and the jobs run on the calling thread: the batches are the
 * same either way; the spawned-CLI test in test/coco-jpeg.test.ts checks that.
 */
const WORKER_ENTRY = new URL('./sample-worker.js', import.meta.url);
const workersAvailable = existsSync(fileURLToPath(WORKER_ENTRY));

/** A fixed set of worker threads taking sample jobs first come, first served. */
class WorkerPool {
  private readonly idle: Worker[] = [];
  private readonly queue: { job: SampleJob; resolve: (r: JobResult) => void; reject: (e: Error) => void }[] = [];
  private readonly pending = new Map<number, { resolve: (r: JobResult) => void; reject: (e: Error) => void }>();
  private readonly workers: Worker[] = [];
  private nextId = 0;

  constructor(count: number, transform: TrainTransformOptions) {
    for (let n = 0; n < count; n++) {
      const worker = new Worker(WORKER_ENTRY, { workerData: { transform } });
      worker.on('message', (message: { id: number; input?: TrainingInput; error?: { message: string; stack?: string; user: boolean } }) => {
        const waiter = this.pending.get(message.id)!;
        this.pending.delete(message.id);
        this.release(worker);
        if (message.error) {
          const error = message.error.user ? new UserError(message.error.message) : Object.assign(new Error(message.error.message), { stack: message.error.stack });
          waiter.reject(error);
        } else waiter.resolve(message.input);
      });
      worker.on('error', (error) => this.failAll(error));
      this.workers.push(worker);
      this.idle.push(worker);
    }
  }

  run(job: SampleJob): Promise<JobResult> {
    return new Promise((resolve, reject) => {
      this.queue.push({ job, resolve, reject });
      this.dispatch();
    });
  }

  private release(worker: Worker): void {
    this.idle.push(worker);
    this.dispatch();
  }

  private dispatch(): void {
    while (this.idle.length && this.queue.length) {
      const worker = this.idle.pop()!;
      const { job, resolve, reject } = this.queue.shift()!;
      const id = this.nextId++;
      this.pending.set(id, { resolve, reject });
      worker.postMessage({ id, job });
    }
  }

  private failAll(error: Error): void {
    for (const waiter of [...this.pending.values(), ...this.queue]) waiter.reject(error);
    this.pending.clear();
    this.queue.length = 0;
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

export class BatchLoader {
  private readonly pool: WorkerPool | null;
  private readonly inFlight = new Map<number, Promise<TrainingInput[]>>();
  private readonly orders = new Map<number, number[]>();
  private readonly itersPerEpoch: number;
  private readonly prefetch: number;

  constructor(private readonly options: BatchLoaderOptions) {
    this.itersPerEpoch = Math.floor(options.data.json.images.length / options.batchSize);
    const workers = workersAvailable ? options.workers : 0;
    this.pool = workers > 0 ? new WorkerPool(workers, options.transform) : null;
    this.prefetch = options.prefetch ?? (workers > 0 ? 2 : 0);
  }

  /** The batch of iteration `iter`; also starts preparing the next `prefetch` ones. */
  batch(iter: number): Promise<TrainingInput[]> {
    const batch = this.start(iter);
    this.inFlight.delete(iter);
    for (let ahead = iter + 1; ahead <= iter + this.prefetch && ahead < this.options.endIter; ahead++) this.start(ahead);
    return batch;
  }

  async close(): Promise<void> {
    await this.pool?.close();
  }

  private start(iter: number): Promise<TrainingInput[]> {
    let batch = this.inFlight.get(iter);
    if (!batch) {
      batch = this.load(iter);
      // A prefetched batch that fails is reported when it is asked for, not as an unhandled rejection before.
      batch.catch(() => {});
      this.inFlight.set(iter, batch);
    }
    return batch;
  }

  private order(epoch: number): number[] {
    let order = this.orders.get(epoch);
    if (!order) {
      order = epochOrder(this.options.data.json.images.length, this.options.seed, epoch);
      this.orders.set(epoch, order);
      this.orders.delete(epoch - 2);
    }
    return order;
  }

  private load(iter: number): Promise<TrainingInput[]> {
    const { batchSize } = this.options;
    const order = this.order(Math.floor(iter / this.itersPerEpoch));
    const first = (iter % this.itersPerEpoch) * batchSize;
    return Promise.all([...Array(batchSize).keys()].map((i) => this.slot(order, first + i, mix(this.options.seed, iter, i))));
  }

  /** One slot of a batch: the image at `position` of the order, or the next ones while a crop loses everyone. */
  private async slot(order: number[], position: number, slotSeed: number): Promise<TrainingInput> {
    const { data, transform } = this.options;
    for (let attempt = 0; attempt < order.length; attempt++) {
      const image = data.json.images[order[(position + attempt) % order.length]!]!;
      const people = toTrainingPeople(data.annotationsByImage.get(image.id) ?? []);
      if (people.length === 0) continue; // nobody to learn from in any crop: skip the decode
      const job: SampleJob = { path: cocoImagePath(data, image), width: image.width, height: image.height, people, seed: mix(slotSeed, attempt) };
      const input = this.pool ? await this.pool.run(job) : await runSampleJob(job, transform);
      if (input) return input;
    }
    throw new UserError(`train: no image of ${data.annotationsPath} has a trainable person in its training crop`);
  }
}
