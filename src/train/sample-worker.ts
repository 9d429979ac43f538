/**
 * The entry point of a data-loading worker thread (see batch-loader.ts): it runs sample jobs as they arrive and
 * posts each result back, handing over the image's buffer instead of copying it.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { UserError } from '../errors.js';
import type { TrainTransformOptions } from '../data/augment.js';
import { runSampleJob, type SampleJob } from './sample-job.js';

const transform = (workerData as { transform: TrainTransformOptions }).transform;
const port = parentPort!;

port.on('message', async ({ id, job }: { id: number; job: SampleJob }) => {
  try {
    const input = await runSampleJob(job, transform);
    port.postMessage({ id, input }, input ? [input.image.data.buffer as ArrayBuffer] : []);
  } catch (error) {
    const { message, stack } = error as Error;
    port.postMessage({ id, error: { message, stack, user: error instanceof UserError } });
  }
});
