/**
 * Turning SMPR's per-level network outputs into people (reference §5, the authors' `get_bboxes_single`,
 * `multiclass_nms_kpt` and `aug_test`), on plain arrays read back from the GPU:
 *
 * 1. `decodeLevels`: per level, sigmoid the two heads, keep the 1000 best locations by cls·pose-score, add the
 *    refined offsets (in stride units) to each location, clamp to the unpadded image.
 * 2. `toOriginalImage`: undo the test-time resize (and horizontal flip).
 * 3. `postprocess`: threshold on cls alone, score = cls × pose score, NMS, keep 20, emit COCO results.
 *
 * `mergeTta` runs 2-3 for several augmented passes at once: their candidates are pooled *before* the threshold and
 * NMS, and nothing is averaged.
 */
import type { CocoKeypointResult } from '../coco/format.js';
import { COCO_FLIP_INDEX } from '../coco/keypoints.js';
import { sigmoid } from '../kernels/elementwise-ops.js';
import { cellCenter } from './levels.js';
import { oksNms, softNmsLinear, type KeptPose, type ScoredPose } from './nms.js';

/** One FPN level's outputs for one image, each channel-major (`[channel][row][column]`) as read back from the GPU. */
export interface LevelOutputs {
  /** Person classification logits, H·W. */
  clsLogits: ArrayLike<number>;
  /** Pose-score (predicted OKS) logits, H·W. */
  scoreLogits: ArrayLike<number>;
  /** Refined keypoint offsets, 2K·H·W: channels `[dx0, dy0, dx1, dy1, …]` in units of the stride. */
  refine: ArrayLike<number>;
  stride: number;
  height: number;
  width: number;
}

/** One predicted person before thresholding and NMS. */
export interface PoseCandidate {
  /** `[x, y]` per keypoint, in pixels. */
  keypoints: Float64Array;
  /** sigmoid(cls logit): the person probability. */
  cls: number;
  /** sigmoid(score logit): the predicted OKS of this pose. */
  poseScore: number;
}

export interface DecodeOptions {
  /** Height and width of the resized image *before* padding: keypoints are clamped to it. */
  imageHeight: number;
  imageWidth: number;
  /** Per level, keep at most this many locations, the best by cls·pose score. Default 1000. */
  nmsPre?: number;
}

export interface PostprocessOptions {
  imageId: number;
  /** Candidates need cls > this; the pose score plays no part. Default 0.05. */
  scoreThr?: number;
  /** 'soft': linear soft-NMS on pseudo boxes (the authors' code, default); 'oks': OKS-NMS (the paper's wording). */
  nms?: 'soft' | 'oks';
  /** The IoU threshold of soft-NMS, or the OKS threshold of OKS-NMS. Default 0.3. */
  iouThr?: number;
  /** Default 20, COCO's maxDets. */
  maxPerImg?: number;
  /** true (default): final score = cls × pose score. false: cls alone, for the "without PSM" ablation. */
  usePoseScore?: boolean;
  /** OKS constants for OKS-NMS, one per keypoint. Default: COCO's. */
  sigmas?: readonly number[];
}

/** How one test-time pass relates to the original image. */
export interface PassTransform {
  /** Resize factor of the pass (resized = original × scaleFactor). */
  scaleFactor: number;
  /** Whether the pass ran on the horizontally flipped image. */
  flipped?: boolean;
  /** Width of the pass's resized, unpadded image; needed when `flipped`. */
  imageWidth?: number;
  /** Keypoint index a keypoint becomes under a flip (left ↔ right). Default: COCO's. */
  flipIndex?: readonly number[];
}

export interface TtaPass extends PassTransform {
  /** The pass's candidates from `decodeLevels`, in that pass's image. */
  candidates: readonly PoseCandidate[];
}

/**
 * The pixel each location of one level stands for (levels.ts lays out all levels of a padded input for the
 * targets; decoding needs one level at a time, in float64): column j, row i ↦ (j·s + ⌊s/2⌋, i·s + ⌊s/2⌋), i.e. the centre
 * of its stride × stride cell. Returned as interleaved `[x, y]` in row-major location order.
 */
export function cellCenters(height: number, width: number, stride: number): Float64Array {
  const grid = new Float64Array(2 * height * width);
  for (let i = 0; i < height; i++) {
    for (let j = 0; j < width; j++) {
      grid[2 * (i * width + j)] = cellCenter(j, stride);
      grid[2 * (i * width + j) + 1] = cellCenter(i, stride);
    }
  }
  return grid;
}

/**
 * Decodes one level: pose = location + refine · stride for each kept location, clamped to
 * x ∈ [0, imageWidth − 1], y ∈ [0, imageHeight − 1].
 *
 * When the level has more than `nmsPre` locations, only the `nmsPre` best by cls·pose score are kept, best first
 * (ties by location); otherwise all are kept in location order, as the authors' code does.
 */
export function decodeLevel(level: LevelOutputs, options: DecodeOptions): PoseCandidate[] {
  const numLocations = level.height * level.width;
  const numKeypoints = checkLevel(level);
  const cls = Array.from(level.clsLogits, sigmoid);
  const poseScore = Array.from(level.scoreLogits, sigmoid);

  let locations = Array.from({ length: numLocations }, (_, l) => l);
  const nmsPre = options.nmsPre ?? 1000;
  if (numLocations > nmsPre) {
    locations = locations.sort((a, b) => cls[b] * poseScore[b] - cls[a] * poseScore[a]).slice(0, nmsPre);
  }

  const grid = cellCenters(level.height, level.width, level.stride);
  return locations.map((l) => {
    const keypoints = new Float64Array(2 * numKeypoints);
    for (let k = 0; k < numKeypoints; k++) {
      const x = grid[2 * l] + level.refine[(2 * k) * numLocations + l] * level.stride;
      const y = grid[2 * l + 1] + level.refine[(2 * k + 1) * numLocations + l] * level.stride;
      keypoints[2 * k] = clamp(x, 0, options.imageWidth - 1);
      keypoints[2 * k + 1] = clamp(y, 0, options.imageHeight - 1);
    }
    return { keypoints, cls: cls[l], poseScore: poseScore[l] };
  });
}

/** Decodes every level and concatenates the candidates, level by level. */
export function decodeLevels(levels: readonly LevelOutputs[], options: DecodeOptions): PoseCandidate[] {
  return levels.flatMap((level) => decodeLevel(level, options));
}

/**
 * Maps candidates from a test pass's image back to the original image: un-flip first, in the pass's own frame
 * (x' = W − 1 − x, and keypoint k takes the place of its mirror `flipIndex[k]`), then divide by the scale factor.
 */
export function toOriginalImage(candidates: readonly PoseCandidate[], transform: PassTransform): PoseCandidate[] {
  const { scaleFactor, flipped = false, imageWidth } = transform;
  const flipIndex = transform.flipIndex ?? COCO_FLIP_INDEX;
  if (flipped && imageWidth === undefined) {
    throw new Error('toOriginalImage: a flipped pass needs imageWidth, the width of its resized image, to un-flip x');
  }
  const unflipX = (x: number): number => (flipped ? imageWidth! - 1 - x : x);
  return candidates.map((candidate) => {
    const numKeypoints = candidate.keypoints.length / 2;
    if (flipped && flipIndex.length !== numKeypoints) {
      throw new Error(`toOriginalImage: flipIndex has ${flipIndex.length} entries but the poses have ${numKeypoints} keypoints`);
    }
    const keypoints = new Float64Array(candidate.keypoints.length);
    for (let k = 0; k < numKeypoints; k++) {
      const source = flipped ? flipIndex[k] : k;
      keypoints[2 * k] = unflipX(candidate.keypoints[2 * source]) / scaleFactor;
      keypoints[2 * k + 1] = candidate.keypoints[2 * source + 1] / scaleFactor;
    }
    return { ...candidate, keypoints };
  });
}

/**
 * From candidates (in original image coordinates) to COCO results: keep cls > `scoreThr` (the class probability
 * alone, before the pose score is applied), score each as cls × pose score, run NMS, keep the best `maxPerImg`.
 * Each result has v = 1 for every keypoint and the score after NMS (decayed, for soft-NMS).
 */
export function postprocess(candidates: readonly PoseCandidate[], options: PostprocessOptions): CocoKeypointResult[] {
  const { imageId, scoreThr = 0.05, nms = 'soft', iouThr = 0.3, maxPerImg = 20, usePoseScore = true } = options;
  const passing = candidates.filter((candidate) => candidate.cls > scoreThr);
  const scored: ScoredPose[] = passing.map((candidate) => ({
    keypoints: candidate.keypoints,
    score: usePoseScore ? candidate.cls * candidate.poseScore : candidate.cls,
  }));
  const kept: KeptPose[] =
    nms === 'soft'
      ? softNmsLinear(scored, { iouThr, maxDets: maxPerImg })
      : oksNms(scored, { oksThr: iouThr, maxDets: maxPerImg, sigmas: options.sigmas });
  return kept.map(({ index, score }) => ({
    image_id: imageId,
    category_id: 1,
    keypoints: withVisibility(passing[index].keypoints),
    score,
  }));
}

/** Multi-scale and flip test: map every pass's candidates to the original image, pool them, post-process once. */
export function mergeTta(passes: readonly TtaPass[], options: PostprocessOptions): CocoKeypointResult[] {
  return postprocess(
    passes.flatMap((pass) => toOriginalImage(pass.candidates, pass)),
    options,
  );
}

/** `[x, y]` per keypoint → COCO's `[x, y, 1]` per keypoint. */
function withVisibility(keypoints: Float64Array): number[] {
  const triples: number[] = [];
  for (let k = 0; k < keypoints.length; k += 2) triples.push(keypoints[k], keypoints[k + 1], 1);
  return triples;
}

function clamp(value: number, lo: number, hi: number): number {
  return Math.min(Math.max(value, lo), hi);
}

/** Checks the array sizes of a level and returns its number of keypoints K. */
function checkLevel(level: LevelOutputs): number {
  const numLocations = level.height * level.width;
  if (level.clsLogits.length !== numLocations || level.scoreLogits.length !== numLocations) {
    throw new Error(
      `decodeLevel: clsLogits and scoreLogits must have height·width = ${numLocations} values; got ${level.clsLogits.length} and ${level.scoreLogits.length}`,
    );
  }
  const numKeypoints = level.refine.length / (2 * numLocations);
  if (!Number.isInteger(numKeypoints) || numKeypoints < 1) {
    throw new Error(`decodeLevel: refine must have 2K·height·width values (K keypoints); got ${level.refine.length} for ${numLocations} locations`);
  }
  return numKeypoints;
}
