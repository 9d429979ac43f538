/**
 * Non-maximum suppression for poses: the dense head predicts many near-copies of each person, and NMS keeps one.
 *
 * - `hardNms` and `softNmsLinear` follow the SMPR authors' code (mmdetection v1 `nms_cpu.cpp`), on each pose's
 *   *pseudo box* (the min/max of its keypoints) with the "+1 pixel" area convention: a box from x1 to x2 is
 *   x2 − x1 + 1 wide. SMPR's test config uses linear soft-NMS at IoU 0.3.
 * - `oksNms` follows the paper's wording: suppress a pose whose OKS to an already kept pose exceeds the threshold.
 *
 * All three are pure: they return which candidates survive (`index` into the input) with their final scores,
 * highest first. They compute in float64 where the authors' code used float32.
 */
import { COCO_SIGMAS } from '../coco/keypoints.js';
import { oks } from '../coco/oks.js';

/** A pose to suppress or keep: keypoints as `[x, y]` or `[x, y, v]` per keypoint (see `valuesPerKeypoint`). */
export interface ScoredPose {
  keypoints: ArrayLike<number>;
  score: number;
}

/** A surviving pose: its position in the input and its (for soft-NMS, decayed) score. */
export interface KeptPose {
  index: number;
  score: number;
}

/** `[x1, y1, x2, y2]`, corners inclusive. */
export type Box = readonly [number, number, number, number];

export interface PoseLayoutOptions {
  /** 2 for `[x, y]` per keypoint (default, what `decode` produces), 3 for `[x, y, v]` (v is not read). */
  valuesPerKeypoint?: 2 | 3;
  /** Keep at most this many poses, the highest scoring. Default: no limit. */
  maxDets?: number;
}

export interface HardNmsOptions extends PoseLayoutOptions {
  /** A pose whose IoU with a kept pose is ≥ this is removed (the authors' code compares with `>=`). */
  iouThr: number;
}

export interface SoftNmsOptions extends PoseLayoutOptions {
  /** Overlaps above this decay the score. Default 0.3, SMPR's test config. */
  iouThr?: number;
  /** A pose whose decayed score falls below this is removed. Default 1e-3 (mmdetection's default). */
  minScore?: number;
}

export interface OksNmsOptions extends PoseLayoutOptions {
  /** A pose whose OKS to a kept pose is > this is removed. */
  oksThr: number;
  /** Per-keypoint OKS constants, one per keypoint. Default: COCO's. */
  sigmas?: readonly number[];
}

/** The tight box around all keypoints of a pose (its "pseudo box"): SMPR has no box branch. */
export function poseBox(keypoints: ArrayLike<number>, valuesPerKeypoint: 2 | 3 = 2): Box {
  let x1 = Infinity, y1 = Infinity, x2 = -Infinity, y2 = -Infinity;
  for (let i = 0; i < keypoints.length; i += valuesPerKeypoint) {
    x1 = Math.min(x1, keypoints[i]);
    y1 = Math.min(y1, keypoints[i + 1]);
    x2 = Math.max(x2, keypoints[i]);
    y2 = Math.max(y2, keypoints[i + 1]);
  }
  return [x1, y1, x2, y2];
}

/**
 * IoU with the "+1 pixel" convention of mmdetection v1 (and Detectron before it): corners are inclusive pixel
 * indices, so a box spans x2 − x1 + 1 pixels. A degenerate box (all keypoints on one point) thus has area 1.
 */
export function boxIou(a: Box, b: Box): number {
  const width = Math.max(0, Math.min(a[2], b[2]) - Math.max(a[0], b[0]) + 1);
  const height = Math.max(0, Math.min(a[3], b[3]) - Math.max(a[1], b[1]) + 1);
  const intersection = width * height;
  return intersection / (boxArea(a) + boxArea(b) - intersection);
}

function boxArea(box: Box): number {
  return (box[2] - box[0] + 1) * (box[3] - box[1] + 1);
}

/**
 * Classic NMS: visit poses by descending score (ties in input order) and remove every later pose whose pseudo-box
 * IoU with a kept one is ≥ `iouThr`.
 */
export function hardNms(poses: readonly ScoredPose[], options: HardNmsOptions): KeptPose[] {
  checkNms('hardNms', poses, options, { iouThr: options?.iouThr });
  const boxes = poses.map((pose) => poseBox(pose.keypoints, options.valuesPerKeypoint));
  return greedySuppression(poses, (kept, candidate) => boxIou(boxes[kept], boxes[candidate]) >= options.iouThr, options.maxDets);
}

/**
 * OKS-NMS as the SMPR paper describes NMS: visit poses by descending score (ties in input order) and remove every
 * later pose whose OKS to a kept pose is > `oksThr`. The kept pose plays the ground truth, with all its keypoints
 * labelled, and its scale is the area of its pseudo box, (x2 − x1)·(y2 − y1).
 */
export function oksNms(poses: readonly ScoredPose[], options: OksNmsOptions): KeptPose[] {
  checkNms('oksNms', poses, options, { oksThr: options?.oksThr });
  const sigmas = options.sigmas ?? COCO_SIGMAS;
  const layout = options.valuesPerKeypoint ?? 2;
  const asLabelled = poses.map((pose, i) => toLabelledTriples(pose.keypoints, layout, sigmas.length, i));
  const areas = poses.map((pose) => {
    const [x1, y1, x2, y2] = poseBox(pose.keypoints, layout);
    return (x2 - x1) * (y2 - y1);
  });
  return greedySuppression(
    poses,
    (kept, candidate) => oks(asLabelled[kept], asLabelled[candidate], areas[kept], sigmas) > options.oksThr,
    options.maxDets,
  );
}

/**
 * Linear soft-NMS exactly as the authors' `soft_nms_cpu_kernel` (method 1) runs it. Repeatedly move the highest
 * scoring remaining pose to the front (the first one wins a tie); multiply every pose after it by (1 − IoU) when
 * their IoU is > `iouThr`; remove any pose whose score is now < `minScore`, by moving the last remaining pose into
 * its place. The output is the selection order, which is by non-increasing score, cut to `maxDets`.
 *
 * Two consequences of copying the loop: every pose but the very first selected one is checked against
 * `minScore` (so the best pose survives even if its score is below it), and the swaps decide the order of ties.
 */
export function softNmsLinear(poses: readonly ScoredPose[], options: SoftNmsOptions = {}): KeptPose[] {
  const iouThr = options.iouThr ?? 0.3;
  const minScore = options.minScore ?? 1e-3;
  checkNms('softNmsLinear', poses, options, { iouThr, minScore });
  const boxes = poses.map((pose) => poseBox(pose.keypoints, options.valuesPerKeypoint));
  const scores = poses.map((pose) => pose.score);
  const order = poses.map((_, i) => i);
  let remaining = order.length;

  for (let i = 0; i < remaining; i++) {
    let best = i;
    for (let p = i + 1; p < remaining; p++) {
      if (scores[order[p]] > scores[order[best]]) best = p;
    }
    [order[i], order[best]] = [order[best], order[i]];
    const selected = order[i];

    for (let p = i + 1; p < remaining; p++) {
      const other = order[p];
      const iou = boxIou(boxes[selected], boxes[other]);
      if (iou > iouThr) scores[other] *= 1 - iou;
      if (scores[other] < minScore) {
        order[p] = order[remaining - 1];
        remaining--;
        p--;
      }
    }
  }
  return order.slice(0, Math.min(remaining, options.maxDets ?? Infinity)).map((index) => ({ index, score: scores[index] }));
}

/**
 * Refuses what would make suppression silently wrong: a NaN score (sorting by it is undefined), a NaN threshold
 * (no overlap exceeds it, so nothing is suppressed), a maxDets that is negative or fractional (soft-NMS's slice
 * took −1 as "all but the last").
 */
function checkNms(op: string, poses: readonly ScoredPose[], options: PoseLayoutOptions | undefined, thresholds: Record<string, number | undefined>): void {
  if (!options) throw new Error(`${op}: options are required (${Object.keys(thresholds).join(', ')})`);
  for (const [name, value] of Object.entries(thresholds)) {
    if (!Number.isFinite(value)) throw new Error(`${op}: ${name} must be a finite number, got ${value}`);
  }
  const { maxDets = Infinity, valuesPerKeypoint = 2 } = options;
  if (maxDets !== Infinity && !(Number.isInteger(maxDets) && maxDets >= 0)) throw new Error(`${op}: maxDets must be an integer ≥ 0, got ${maxDets}`);
  if (valuesPerKeypoint !== 2 && valuesPerKeypoint !== 3) throw new Error(`${op}: valuesPerKeypoint must be 2 or 3, got ${valuesPerKeypoint}`);
  const bad = poses.findIndex((p) => Number.isNaN(p.score) || p.keypoints.length === 0 || p.keypoints.length % valuesPerKeypoint !== 0);
  if (bad >= 0) {
    throw new Error(`${op}: pose ${bad} has score ${poses[bad]!.score} and ${poses[bad]!.keypoints.length} keypoint values; scores must not be NaN, and keypoints come in ${valuesPerKeypoint}s`);
  }
}

/**
 * Greedy NMS: poses by descending score (stable), each kept unless `suppresses(kept, it)` for an already kept pose.
 */
function greedySuppression(
  poses: readonly ScoredPose[],
  suppresses: (kept: number, candidate: number) => boolean,
  maxDets = Infinity,
): KeptPose[] {
  const byScore = poses.map((_, i) => i).sort((a, b) => poses[b].score - poses[a].score);
  const kept: number[] = [];
  for (const candidate of byScore) {
    if (kept.length >= maxDets) break;
    if (!kept.some((k) => suppresses(k, candidate))) kept.push(candidate);
  }
  return kept.map((index) => ({ index, score: poses[index].score }));
}

/** `[x, y, 1]` per keypoint, so that `oks` treats every keypoint of the pose as labelled. */
function toLabelledTriples(keypoints: ArrayLike<number>, valuesPerKeypoint: 2 | 3, numKeypoints: number, index: number): number[] {
  if (keypoints.length !== numKeypoints * valuesPerKeypoint) {
    throw new Error(
      `oksNms: pose ${index} has ${keypoints.length} values; expected ${numKeypoints * valuesPerKeypoint} (${numKeypoints} keypoints × ${valuesPerKeypoint}, from sigmas and valuesPerKeypoint)`,
    );
  }
  const triples: number[] = [];
  for (let k = 0; k < numKeypoints; k++) {
    triples.push(keypoints[k * valuesPerKeypoint], keypoints[k * valuesPerKeypoint + 1], 1);
  }
  return triples;
}
