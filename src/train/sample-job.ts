/**
 * One training sample's CPU work, as a message a worker thread can take: read the image (PNG or JPEG), check its
 * size against the annotations, and run the training augmentation with an RNG of its own seed. Everything in a job
 * and in its result is plain data (strings, numbers, typed arrays), so it crosses threads by structured clone, and
 * the result depends on the job alone — not on which thread ran it, or when.
 */
import type { Person } from '../coco/person.js';
import { readAnnotatedImage } from '../data/coco.js';
import { trainTransform, type TrainingInput, type TrainTransformOptions } from '../data/augment.js';
import { Random } from '../tensor/random.js';

export interface SampleJob {
  path: string;
  /** The size the annotations give; a file of another size is an error. */
  width: number;
  height: number;
  people: Person[];
  /** Seeds the augmentation (scale, flip, crop). */
  seed: number;
}

/** The augmented sample, or undefined when no person survives its crop (the caller then draws another image). */
export async function runSampleJob(job: SampleJob, transform: TrainTransformOptions): Promise<TrainingInput | undefined> {
  const image = await readAnnotatedImage(job.path, job);
  return trainTransform({ image, people: job.people }, transform, new Random(job.seed));
}
