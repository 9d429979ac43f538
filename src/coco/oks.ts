/**
 * Object Keypoint Similarity (OKS): COCO's keypoint analogue of box IoU.
 *
 * For a ground-truth person g with scale s² (its annotation `area`) and a detection d,
 *
 *     OKS = mean over g's labelled keypoints k of exp(−d_k² / (2 · s² · (2σ_k)²))
 *
 * where d_k is the distance between the two k-th keypoints and σ_k is the keypoint's falloff constant.
 *
 * Two variants live here, because the project needs both and they differ in corner cases:
 * - `oks`: exactly pycocotools' `COCOeval.computeOks`, used for evaluation.
 * - `smprTrainingOks`: the formula in the SMPR authors' training code (`geometry.py` `kpt_oks`). Training
 *   computes it as a tensor expression (`smpr/loss.ts`); this scalar form is the definition the tests hold
 *   that expression to.
 *
 * Keypoints are flat `[x0, y0, v0, x1, y1, v1, …]` arrays. A detection's third value is never read.
 */
import { checkNonNegative } from '../errors.js';
import type { CocoBox } from './format.js';
import { COCO_SIGMAS } from './keypoints.js';

/** numpy's `np.spacing(1)`, the eps that pycocotools adds to the area; equal to `Number.EPSILON`. */
const NUMPY_EPS = Number.EPSILON;

/**
 * OKS as pycocotools computes it (`COCOeval.computeOks`, cocoapi 8c9bcc3), bit for bit up to `Math.exp`.
 *
 * - Labelled keypoints are those with v > 0 (v = 1, "labelled but occluded", counts like v = 2).
 * - The scale is the `area` argument plus eps; eps only prevents 0/0, so with area 0 the OKS is 1 for exact
 *   keypoints and 0 otherwise.
 * - If the ground truth has no labelled keypoint (a crowd region, or a `num_keypoints == 0` person), COCO
 *   measures each of the detection's keypoints against the ground-truth box grown to 3× its width and height
 *   about its centre (the upstream comment says "double", the code triples): the distance is 0 inside that
 *   region. All keypoints then count. `gtBox` is required only in that case.
 * - The squared terms use `x * x` and the division order `(dx² + dy²) / var / (area + eps) / 2`, and the sum is
 *   numpy's pairwise sum, so that the result has the same bits as numpy's.
 *
 * @param gt ground-truth keypoints, `[x, y, v]` per keypoint
 * @param dt detected keypoints, `[x, y, v]` per keypoint (v ignored)
 * @param area the ground truth's annotation `area` (the segmentation area in COCO, not the box area)
 * @param sigmas per-keypoint falloff constants (COCO's by default)
 * @param gtBox the ground truth's `[x, y, w, h]` box, used only when it has no labelled keypoint
 */
export function oks(
  gt: ArrayLike<number>,
  dt: ArrayLike<number>,
  area: number,
  sigmas: readonly number[] = COCO_SIGMAS,
  gtBox?: CocoBox,
): number {
  const numKeypoints = checkKeypointLengths('oks', gt, dt, sigmas);
  // A negative area gave an OKS above 1 (Infinity for −1), a NaN one NaN.
  checkNonNegative('oks', 'area', area);
  const labelled = labelledKeypoints(gt, numKeypoints);
  const scale = area + NUMPY_EPS;

  const exponents: number[] = [];
  if (labelled.length > 0) {
    for (const k of labelled) {
      const dx = dt[3 * k] - gt[3 * k];
      const dy = dt[3 * k + 1] - gt[3 * k + 1];
      exponents.push((dx * dx + dy * dy) / keypointVariance(sigmas[k]) / scale / 2);
    }
  } else {
    if (gtBox === undefined) {
      throw new Error('oks: the ground truth has no labelled keypoint (all v = 0), so COCO measures against its box; pass gtBox');
    }
    const [bx, by, bw, bh] = gtBox;
    const x0 = bx - bw, x1 = bx + bw * 2;
    const y0 = by - bh, y1 = by + bh * 2;
    for (let k = 0; k < numKeypoints; k++) {
      const dx = distanceOutside(dt[3 * k], x0, x1);
      const dy = distanceOutside(dt[3 * k + 1], y0, y1);
      exponents.push((dx * dx + dy * dy) / keypointVariance(sigmas[k]) / scale / 2);
    }
  }
  return pairwiseSum(exponents.map((e) => Math.exp(-e))) / exponents.length;
}

/**
 * OKS as the SMPR authors' training code computes it (`mmdet/core/bbox/geometry.py` `kpt_oks`): the mean over the
 * ground truth's labelled keypoints (v > 0) of exp(−d² / (A · (2σ)² · 2)). Unlike `oks` it adds no eps to the area
 * and has no box fallback: a ground truth without labelled keypoints gives 0/0 = NaN, as in the authors' code
 * (their data loader drops such people before this is ever reached).
 *
 * @param gt ground-truth keypoints, `[x, y, v]` per keypoint
 * @param dt predicted keypoints, `[x, y, v]` per keypoint (v ignored)
 * @param area the ground truth's (rescaled) segmentation area
 */
export function smprTrainingOks(
  gt: ArrayLike<number>,
  dt: ArrayLike<number>,
  area: number,
  sigmas: readonly number[] = COCO_SIGMAS,
): number {
  const numKeypoints = checkKeypointLengths('smprTrainingOks', gt, dt, sigmas);
  const labelled = labelledKeypoints(gt, numKeypoints);
  let sum = 0;
  for (const k of labelled) {
    const dx = dt[3 * k] - gt[3 * k];
    const dy = dt[3 * k + 1] - gt[3 * k + 1];
    sum += Math.exp(-(dx * dx + dy * dy) / (area * keypointVariance(sigmas[k]) * 2));
  }
  return sum / labelled.length;
}

/** The OKS variance (2σ)², computed as numpy's `(sigmas * 2) ** 2` does: a plain product. */
export function keypointVariance(sigma: number): number {
  const twoSigma = sigma * 2;
  return twoSigma * twoSigma;
}

/**
 * numpy's summation order for a contiguous float64 array (`np.sum`, and so `np.mean`): fewer than 8 values are
 * added left to right from 0; up to 128 values go into 8 interleaved partial sums combined as a balanced tree, the
 * remainder added after; longer arrays are split in two halves (the first a multiple of 8 long) recursively.
 * Matching it makes sums bit-identical to pycocotools' instead of merely close.
 */
export function pairwiseSum(values: ArrayLike<number>, start = 0, count = values.length - start): number {
  if (count < 8) {
    let sum = 0;
    for (let i = 0; i < count; i++) sum += values[start + i];
    return sum;
  }
  if (count <= 128) {
    const partial = Array.from({ length: 8 }, (_, j) => values[start + j]);
    let i = 8;
    for (; i < count - (count % 8); i += 8) {
      for (let j = 0; j < 8; j++) partial[j] += values[start + i + j];
    }
    let sum = ((partial[0] + partial[1]) + (partial[2] + partial[3])) + ((partial[4] + partial[5]) + (partial[6] + partial[7]));
    for (; i < count; i++) sum += values[start + i];
    return sum;
  }
  let firstHalf = Math.floor(count / 2);
  firstHalf -= firstHalf % 8;
  return pairwiseSum(values, start, firstHalf) + pairwiseSum(values, start + firstHalf, count - firstHalf);
}

/** Indices of the keypoints with v > 0. */
function labelledKeypoints(keypoints: ArrayLike<number>, numKeypoints: number): number[] {
  const labelled: number[] = [];
  for (let k = 0; k < numKeypoints; k++) if (keypoints[3 * k + 2] > 0) labelled.push(k);
  return labelled;
}

/** How far `value` lies outside `[lo, hi]` (0 inside), written as COCO writes it: max(0, lo − v) + max(0, v − hi). */
function distanceOutside(value: number, lo: number, hi: number): number {
  return Math.max(0, lo - value) + Math.max(0, value - hi);
}

function checkKeypointLengths(caller: string, gt: ArrayLike<number>, dt: ArrayLike<number>, sigmas: readonly number[]): number {
  const expected = 3 * sigmas.length;
  if (gt.length !== expected || dt.length !== expected) {
    throw new Error(
      `${caller}: expected ${expected} values ([x, y, v] for each of ${sigmas.length} keypoints) in both poses; got gt ${gt.length}, dt ${dt.length}`,
    );
  }
  return sigmas.length;
}
