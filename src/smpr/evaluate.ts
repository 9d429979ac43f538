/** Runs a model over a COCO dataset and scores it with the pycocotools-exact keypoint evaluation. */
import { checkDatasetImages, loadCocoSample, type CocoDataset } from '../data/coco.js';
import type { Progress } from '../progress.js';
import { cocoKeypointEval } from '../coco/eval.js';
import type { CocoKeypointResult } from '../coco/format.js';
import type { SmprModel } from './model.js';
import { predictImage, type PredictOptions } from './predict.js';

export interface DatasetEvaluation {
  /** [AP, AP50, AP75, APm, APl, AR, AR50, AR75, ARm, ARl]; −1 where undefined. */
  stats: number[];
  results: CocoKeypointResult[];
  seconds: number;
}

export async function evaluateDataset(model: SmprModel, dataset: CocoDataset, options: PredictOptions & { progress?: Progress } = {}): Promise<DatasetEvaluation> {
  const start = performance.now();
  checkDatasetImages(dataset); // a bad image stops the evaluation before its first prediction
  const images = dataset.json.images;
  const bar = options.progress?.(images.length, 0) ?? null;
  const results: CocoKeypointResult[] = [];
  model.train(false);
  // The next image decodes (in libuv's threads, for JPEG) while the model runs on this one. Its failure is
  // reported when it is awaited, in turn; until then it is marked handled, or Node would end the process on it.
  const load = (i: number) => {
    const sample = loadCocoSample(dataset, images[i]!);
    sample.catch(() => undefined);
    return sample;
  };
  let next = images.length ? load(0) : null;
  for (const [i, image] of images.entries()) {
    const sample = await next!;
    next = i + 1 < images.length ? load(i + 1) : null;
    results.push(...(await predictImage(model, sample.image, image.id, options)));
    bar?.update(i + 1);
  }
  bar?.finish();
  const { stats } = cocoKeypointEval(dataset.json, results, { sigmas: model.config.keypoints.sigmas });
  return { stats, results, seconds: (performance.now() - start) / 1000 };
}
