/**
 * The reference's training and test transforms (smpr-reference.md section 6), on (image, people) samples:
 * resize keeping the aspect ratio, random horizontal flip, random crop, normalisation to a float CHW tensor, and
 * padding to a multiple of 32; then batching. Randomness comes only from the `Random` passed in, so a seed fixes the
 * whole pipeline.
 */
import { COCO_KEYPOINTS, type KeypointSpec } from '../coco/keypoints.js';
import type { Person } from '../coco/person.js';
import type { Sample } from './sample.js';
import type { Image } from './image.js';
import type { Random } from '../tensor/random.js';

/**
 * Bilinear resampling with pixel centres mapped onto each other (OpenCV's INTER_LINEAR, no antialiasing). The
 * source columns and weights of each output column are computed once, not once per row: this runs on every
 * training image (a 640×480 → 1067×800 resize went from 62 to 16 ms of CPU time).
 */
export function resizeImage(image: Image, width: number, height: number): Image {
  const { width: sourceWidth, height: sourceHeight, data: source } = image;
  const data = new Uint8Array(width * height * 3);
  const sourceCoordinate = (target: number, ratio: number, limit: number) => Math.min(limit - 1, Math.max(0, (target + 0.5) * ratio - 0.5));
  const left = new Int32Array(width);
  const right = new Int32Array(width);
  const weight = new Float64Array(width);
  for (let x = 0; x < width; x++) {
    const sx = sourceCoordinate(x, sourceWidth / width, sourceWidth);
    left[x] = Math.floor(sx) * 3;
    right[x] = Math.min(Math.floor(sx) + 1, sourceWidth - 1) * 3;
    weight[x] = sx - Math.floor(sx);
  }
  for (let y = 0; y < height; y++) {
    const sy = sourceCoordinate(y, sourceHeight / height, sourceHeight);
    const y0 = Math.floor(sy);
    const top = y0 * sourceWidth * 3;
    const bottom = Math.min(y0 + 1, sourceHeight - 1) * sourceWidth * 3;
    const fy = sy - y0;
    let out = y * width * 3;
    for (let x = 0; x < width; x++) {
      const fx = weight[x]!;
      for (let a = top + left[x]!, b = top + right[x]!, c = bottom + left[x]!, d = bottom + right[x]!, end = a + 3; a < end; a++, b++, c++, d++) {
        const upper = source[a]! + (source[b]! - source[a]!) * fx;
        const lower = source[c]! + (source[d]! - source[c]!) * fx;
        // Math.round for the non-negative values here
        data[out++] = Math.floor(upper + (lower - upper) * fy + 0.5);
      }
    }
  }
  return { width, height, data };
}

/** A resize target in mmdet's (long, short) form: the short side becomes `short` unless the long side would pass `long`. */
export interface ScaleTarget {
  long: number;
  short: number;
}

/** The keep-ratio scale factor for an image (mmcv's rescale_size) and the resulting size, rounded half up. */
export function keepRatioSize(width: number, height: number, target: ScaleTarget): { scale: number; width: number; height: number } {
  const scale = Math.min(target.long / Math.max(width, height), target.short / Math.min(width, height));
  // At least one pixel a side: a 1×4000 strip would otherwise round to a side of 0.
  return { scale, width: Math.max(1, Math.floor(width * scale + 0.5)), height: Math.max(1, Math.floor(height * scale + 0.5)) };
}

const clamp = (value: number, low: number, high: number) => Math.min(high, Math.max(low, value));

/**
 * Resizes keeping the aspect ratio. Keypoints and boxes are multiplied by the scale factor (x·s, as the reference
 * does, not the pixel-centre-exact (x + 0.5)·s − 0.5) and clipped to the image; areas by its square.
 */
export function resize(sample: Sample, target: ScaleTarget): { sample: Sample; scale: number } {
  const { scale, width, height } = keepRatioSize(sample.image.width, sample.image.height, target);
  const people = sample.people.map((person): Person => {
    const keypoints = person.keypoints.map((value, i) => {
      if (i % 3 === 2) return value;
      return clamp(value * scale, 0, (i % 3 === 0 ? width : height) - 1);
    });
    const [x1, y1, x2, y2] = person.box.map((value, i) => clamp(value * scale, 0, (i % 2 === 0 ? width : height) - 1));
    return { keypoints, box: [x1!, y1!, x2!, y2!], area: person.area * scale * scale };
  });
  return { sample: { image: resizeImage(sample.image, width, height), people }, scale };
}

/**
 * Mirrors left and right: x' = W − 1 − x, and keypoint k takes the place of its mirror image flipIndex[k].
 * Unlabelled keypoints move too; their coordinates mean nothing.
 */
export function flipHorizontal(sample: Sample, spec: KeypointSpec = COCO_KEYPOINTS): Sample {
  const { width, height, data } = sample.image;
  const flipped = new Uint8Array(data.length);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      flipped.set(data.subarray((y * width + x) * 3, (y * width + x) * 3 + 3), (y * width + (width - 1 - x)) * 3);
    }
  }
  const people = sample.people.map((person): Person => {
    const keypoints = new Float32Array(person.keypoints.length);
    spec.flipIndex.forEach((source, k) => {
      keypoints[k * 3] = width - 1 - person.keypoints[source * 3]!;
      keypoints[k * 3 + 1] = person.keypoints[source * 3 + 1]!;
      keypoints[k * 3 + 2] = person.keypoints[source * 3 + 2]!;
    });
    const [x1, y1, x2, y2] = person.box;
    return { keypoints, box: [width - 1 - x2, y1, width - 1 - x1, y2], area: person.area };
  });
  return { image: { width, height, data: flipped }, people };
}

export interface CropOptions {
  /**
   * true (the reference): keypoints outside the window are moved to its border and keep their flag.
   * false: they become unlabelled (0, 0, 0), and people left with no labelled keypoint are removed.
   */
  clampOutside?: boolean;
}

/**
 * Cuts the window of `height` × `width` at (left, top); a dimension larger than the image is left whole. Boxes are
 * clipped and people whose box collapses are removed; areas shrink in proportion to the box area that was cut off.
 */
export function crop(sample: Sample, window: { top: number; left: number; height: number; width: number }, options: CropOptions = {}): Sample {
  const clampOutside = options.clampOutside ?? true;
  const { image } = sample;
  const width = Math.min(window.width, image.width - window.left);
  const height = Math.min(window.height, image.height - window.top);
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const start = ((window.top + y) * image.width + window.left) * 3;
    data.set(image.data.subarray(start, start + width * 3), y * width * 3);
  }

  const people: Person[] = [];
  for (const person of sample.people) {
    const [bx1, by1, bx2, by2] = person.box;
    const x1 = clamp(bx1 - window.left, 0, width - 1);
    const y1 = clamp(by1 - window.top, 0, height - 1);
    const x2 = clamp(bx2 - window.left, 0, width - 1);
    const y2 = clamp(by2 - window.top, 0, height - 1);
    if (!(x2 > x1 && y2 > y1)) continue;
    const keypoints = new Float32Array(person.keypoints.length);
    for (let k = 0; k < keypoints.length; k += 3) {
      const x = person.keypoints[k]! - window.left;
      const y = person.keypoints[k + 1]! - window.top;
      const inside = x >= 0 && x <= width - 1 && y >= 0 && y <= height - 1;
      if (inside || clampOutside) keypoints.set([clamp(x, 0, width - 1), clamp(y, 0, height - 1), person.keypoints[k + 2]!], k);
    }
    if (!clampOutside && !keypoints.some((v, i) => i % 3 === 2 && v > 0)) continue;
    // Clipping only shrinks, so both denominators are at least the (positive) clipped sides. Taking the ratio per
    // side keeps it exact for tiny boxes, whose area product would underflow to 0/0.
    const keptFraction = ((x2 - x1) / (bx2 - bx1)) * ((y2 - y1) / (by2 - by1));
    people.push({ keypoints, box: [x1, y1, x2, y2], area: person.area * keptFraction });
  }
  return { image: { width, height, data }, people };
}

/** A uniformly placed `size` window (mmdet's RandomCrop): offsets drawn from 0..max(0, image − window). */
export function randomCrop(sample: Sample, size: { height: number; width: number }, rng: Random, options: CropOptions = {}): Sample {
  const top = rng.int(0, Math.max(0, sample.image.height - size.height));
  const left = rng.int(0, Math.max(0, sample.image.width - size.width));
  return crop(sample, { top, left, ...size }, options);
}

/** A float image in CHW order: data[(c × height + y) × width + x]. */
export interface ChwImage {
  data: Float32Array;
  channels: number;
  height: number;
  width: number;
}

/** Per-channel (value − mean) / std on the 0..255 scale, in the given channel order. */
export interface Normalization {
  mean: readonly [number, number, number];
  std: readonly [number, number, number];
  /** The order of the output channels; mean and std are in this order too. */
  channels: 'rgb' | 'bgr';
}

/** mmdet's caffe-style preset, the reference's (BGR, mean subtracted, not scaled). */
export const CAFFE_BGR: Normalization = { mean: [102.9801, 115.9465, 122.7717], std: [1, 1, 1], channels: 'bgr' };

/** torchvision's ImageNet preset, for backbones trained the PyTorch way. */
export const TORCHVISION_RGB: Normalization = { mean: [123.675, 116.28, 103.53], std: [58.395, 57.12, 57.375], channels: 'rgb' };

export function normalize(image: Image, normalization: Normalization): ChwImage {
  const { width, height, data } = image;
  const plane = width * height;
  const out = new Float32Array(3 * plane);
  for (let c = 0; c < 3; c++) {
    const source = normalization.channels === 'rgb' ? c : 2 - c;
    const mean = normalization.mean[c];
    const std = normalization.std[c];
    const offset = c * plane;
    for (let p = 0, q = source; p < plane; p++, q += 3) out[offset + p] = (data[q]! - mean) / std;
  }
  return { data: out, channels: 3, height, width };
}

/** A padded image and the size of its real content at the top left. */
export interface PaddedImage extends ChwImage {
  validHeight: number;
  validWidth: number;
}

const roundUp = (value: number, multiple: number) => Math.ceil(value / multiple) * multiple;

/** Zero-pads each channel to (height, width) at the bottom and right. */
function padTo(image: ChwImage, height: number, width: number, out = new Float32Array(image.channels * height * width)): Float32Array {
  for (let c = 0; c < image.channels; c++) {
    for (let y = 0; y < image.height; y++) {
      const start = (c * image.height + y) * image.width;
      out.set(image.data.subarray(start, start + image.width), (c * height + y) * width);
    }
  }
  return out;
}

/** Zero-pads bottom and right up to a multiple of `multiple` (32: the largest FPN stride used). */
export function padToMultiple(image: ChwImage, multiple = 32): PaddedImage {
  const height = roundUp(image.height, multiple);
  const width = roundUp(image.width, multiple);
  return { data: padTo(image, height, width), channels: image.channels, height, width, ...validSize(image) };
}

function validSize(image: ChwImage | PaddedImage): { validHeight: number; validWidth: number } {
  return 'validHeight' in image
    ? { validHeight: image.validHeight, validWidth: image.validWidth }
    : { validHeight: image.height, validWidth: image.width };
}

/** Images stacked as NCHW, all padded to the same size. */
export interface Batch {
  data: Float32Array;
  batch: number;
  channels: number;
  height: number;
  width: number;
  /** Each image's real content size (before any padding). */
  validSizes: { validHeight: number; validWidth: number }[];
}

/** Pads every image to the largest height and width in the list, rounded up to `multiple`, and stacks them. */
export function makeBatch(images: readonly (ChwImage | PaddedImage)[], multiple = 32): Batch {
  if (images.length === 0) throw new Error('makeBatch: no images');
  const channels = images[0]!.channels;
  if (images.some((image) => image.channels !== channels)) throw new Error('makeBatch: images have different channel counts');
  const height = roundUp(Math.max(...images.map((image) => image.height)), multiple);
  const width = roundUp(Math.max(...images.map((image) => image.width)), multiple);
  const itemSize = channels * height * width;
  const data = new Float32Array(images.length * itemSize);
  images.forEach((image, n) => padTo(image, height, width, data.subarray(n * itemSize, (n + 1) * itemSize)));
  return { data, batch: images.length, channels, height, width, validSizes: images.map(validSize) };
}

export interface TrainTransformOptions {
  /** Resize target; a [low, high] short side picks a random integer in that range (mmdet's 'range' mode). */
  scale: { long: number; short: number | readonly [number, number] };
  /** Random crop window; none when absent. */
  crop?: { height: number; width: number };
  flipProbability?: number;
  clampOutside?: boolean;
  normalization?: Normalization;
  spec?: KeypointSpec;
}

/** The reference's training pipeline settings (ResNet_50.py): (1333, 800), flip 0.5, 800 × 800 crop, caffe BGR. */
export const REFERENCE_TRAIN: TrainTransformOptions = {
  scale: { long: 1333, short: 800 },
  crop: { height: 800, width: 800 },
  flipProbability: 0.5,
  clampOutside: true,
  normalization: CAFFE_BGR,
};

export interface TrainingInput {
  image: PaddedImage;
  people: Person[];
  /** The resize factor applied to the original image. */
  scale: number;
  flipped: boolean;
}

/**
 * Resize, flip, crop, normalise and pad one sample. Returns undefined when no person survives the crop; the caller
 * then draws another sample, as the reference does.
 */
export function trainTransform(sample: Sample, options: TrainTransformOptions, rng: Random): TrainingInput | undefined {
  const short = typeof options.scale.short === 'number' ? options.scale.short : rng.int(options.scale.short[0], options.scale.short[1]);
  const resized = resize(sample, { long: options.scale.long, short });
  const flipped = rng.chance(options.flipProbability ?? 0.5);
  let current = flipped ? flipHorizontal(resized.sample, options.spec) : resized.sample;
  if (options.crop) current = randomCrop(current, options.crop, rng, { clampOutside: options.clampOutside ?? true });
  if (current.people.length === 0) return undefined;
  const image = padToMultiple(normalize(current.image, options.normalization ?? CAFFE_BGR));
  return { image, people: current.people, scale: resized.scale, flipped };
}

/** The test pipeline: resize keeping the ratio, normalise, pad. Predictions are divided by `scale` to map back. */
export function testTransform(image: Image, scale: ScaleTarget, normalization: Normalization = CAFFE_BGR): { image: PaddedImage; scale: number } {
  const resized = resize({ image, people: [] }, scale);
  return { image: padToMultiple(normalize(resized.sample.image, normalization)), scale: resized.scale };
}
