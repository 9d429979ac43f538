/**
 * Inference: an image in, COCO keypoint results out (reference section 5). The network runs on the device; the
 * per-level maps are read back together, once per pass (each wait for the GPU costs more than copying them
 * into one buffer), and decoded on the CPU, where top-k, NMS and the COCO output are cheap and simple.
 */
import { testTransform, type ScaleTarget } from '../data/augment.js';
import { checkImage, type Image } from '../data/image.js';
import { noGrad } from '../autograd/index.js';
import { tensor } from '../ops/creation.js';
import { concat, flatten } from '../ops/shape.js';
import { optionValue } from '../ops/window-options.js';
import { tidy } from '../tensor/scope.js';
import { UserError } from '../errors.js';
import type { CocoKeypointResult } from '../coco/format.js';
import { referenceScale } from './config.js';
import { decodeLevels, mergeTta, toOriginalImage, postprocess, type LevelOutputs, type PostprocessOptions, type TtaPass } from './decode.js';
import type { SmprModel } from './model.js';

export interface PredictOptions extends Omit<PostprocessOptions, 'imageId'> {
  /** Test scale(s) as mmdet (long, short) pairs; several = multi-scale test merged by one NMS. Default: the config's input size. */
  scales?: ScaleTarget[];
  /** Also run each scale on the flipped image (the reference's flip test). */
  flip?: boolean;
  /** Decode the initial poses instead of the refined ones (the Table I "initial pose only" row). */
  useInitialPose?: boolean;
  /**
   * Told how long each stage of each pass took, in milliseconds: 'preprocess' (resize, normalise, pad), 'network'
   * (the forward pass and the readback of its maps, the only wait for the GPU) and 'decode' (top-k, decoding, NMS). A stage may be told more than once (per pass, and NMS after the
   * passes): the sums are the times.
   */
  onStage?: (stage: PredictStage, ms: number) => void;
}

export type PredictStage = 'preprocess' | 'network' | 'decode';

function flipImage(image: Image): Image {
  const data = new Uint8Array(image.data.length);
  for (let y = 0; y < image.height; y++) {
    for (let x = 0; x < image.width; x++) {
      const from = (y * image.width + x) * 3;
      const to = (y * image.width + (image.width - 1 - x)) * 3;
      data[to] = image.data[from];
      data[to + 1] = image.data[from + 1];
      data[to + 2] = image.data[from + 2];
    }
  }
  return { width: image.width, height: image.height, data };
}

/** One pass of the network over one (resized) image: the decoded candidates in that pass's frame. */
async function runPass(model: SmprModel, image: Image, scale: ScaleTarget, options: PredictOptions) {
  const config = model.config;
  let mark = performance.now();
  const lap = (stage: PredictStage): void => {
    const now = performance.now();
    options.onStage?.(stage, now - mark);
    mark = now;
  };
  const prepared = testTransform(image, scale, config.normalization);
  lap('preprocess');
  const { image: padded } = prepared;
  // Every level's three maps in one buffer, so that the pass waits for the GPU once.
  const shapes: { cls: number; pose: number; height: number; width: number }[] = [];
  const flat = tidy(() =>
    noGrad(() => {
      const x = tensor(padded.data, [1, 3, padded.height, padded.width], { device: model.device });
      const maps = model.forward(x, { heatmap: false }).levels.flatMap((l) => {
        const pose = options.useInitialPose ? l.initPose : l.refinePose;
        shapes.push({ cls: l.clsLogits.size, pose: pose.size, height: l.clsLogits.shape[2]!, width: l.clsLogits.shape[3]! });
        return [l.clsLogits, l.scoreLogits, pose].map(flatten);
      });
      return concat(maps);
    }),
  );
  let values: Float32Array | Float64Array;
  try {
    values = (await flat.toArray()) as Float32Array | Float64Array;
  } finally {
    flat.dispose();
  }
  // Finite weights can still overflow (a run that saved just before diverging): say so rather than emit NaN poses.
  let nonFinite = 0;
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i]!)) nonFinite++;
  if (nonFinite) throw new UserError(`the network's output: ${nonFinite} of its ${values.length} values are NaN or infinite; these weights cannot be used`);
  const levels: LevelOutputs[] = [];
  let at = 0;
  const take = (n: number) => values.subarray(at, (at += n));
  for (const [i, { cls, pose, height, width }] of shapes.entries()) {
    levels.push({ clsLogits: take(cls), scoreLogits: take(cls), refine: take(pose), stride: config.levels[i]!.stride, height, width });
  }
  lap('network');
  const candidates = decodeLevels(levels, { imageHeight: padded.validHeight, imageWidth: padded.validWidth });
  lap('decode');
  return { candidates, scaleFactor: prepared.scale, imageWidth: padded.validWidth };
}

/** People in one image, in COCO results format, in the image's own pixel coordinates. */
export async function predictImage(model: SmprModel, image: Image, imageId: number, options: PredictOptions = {}): Promise<CocoKeypointResult[]> {
  // A short data array was read past its end as zeros and black bytes: no people, without a word.
  checkImage('predictImage', image);
  if (!Number.isInteger(imageId)) throw new Error(`predictImage: imageId must be an integer (COCO's image_id), got ${imageId}`);
  const scales = options.scales ?? [referenceScale(model.config)];
  if (!Array.isArray(scales) || scales.length === 0) throw new Error(`predictImage: options.scales must list at least one { long, short } scale, got ${optionValue(scales)}`);
  const bad = scales.findIndex((s) => ![s?.long, s?.short].every((v) => Number.isFinite(v) && v > 0));
  if (bad >= 0) throw new Error(`predictImage: a scale's long and short sides must be numbers > 0, got ${optionValue(scales[bad])}`);
  const post: PostprocessOptions = { ...options, imageId, sigmas: options.sigmas ?? model.config.keypoints.sigmas };
  if (scales.length === 1 && !options.flip) {
    const pass = await runPass(model, image, scales[0], options);
    return timed('decode', options, () => postprocess(toOriginalImage(pass.candidates, { scaleFactor: pass.scaleFactor }), post));
  }
  const passes: TtaPass[] = [];
  for (const scale of scales) {
    for (const flipped of options.flip ? [false, true] : [false]) {
      const pass = await runPass(model, flipped ? flipImage(image) : image, scale, options);
      passes.push({ ...pass, flipped, flipIndex: model.config.keypoints.flipIndex });
    }
  }
  return timed('decode', options, () => mergeTta(passes, post));
}

function timed<T>(stage: PredictStage, options: PredictOptions, fn: () => T): T {
  const start = performance.now();
  const result = fn();
  options.onStage?.(stage, performance.now() - start);
  return result;
}
