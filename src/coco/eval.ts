/**
 * COCO keypoint evaluation, reproducing pycocotools `COCOeval(cocoGt, cocoDt, iouType='keypoints')` followed by
 * `evaluate()`, `accumulate()` and `summarize()` (cocodataset/cocoapi 8c9bcc3) to the last bit wherever the
 * arithmetic allows (only `Math.exp` vs numpy's `exp` can differ, in the last ulp of an OKS).
 *
 * Every rule that changes a number is listed in shared/docs/coco-keypoint-eval.md; the comments below name the
 * pycocotools function each step copies. The pipeline:
 *
 * 1. `loadRes`: give detections ids 1..N and an area (from the first result's `bbox` if it has one, else from the
 *    extent of all keypoints).
 * 2. `_prepare`: ground truth is ignored when `iscrowd` or `num_keypoints == 0`.
 * 3. `computeOks`: per image, an OKS matrix between the top-20 detections (stable score sort) and all ground truth.
 * 4. `evaluateImg`: per category × area range × image, greedy matching at each of 10 OKS thresholds.
 * 5. `accumulate`: per category × area range, a precision/recall curve sampled at 101 recall thresholds.
 * 6. `summarize`: the 10 summary numbers, -1 where undefined.
 */
import { COCO_SIGMAS } from './keypoints.js';
import { hasNonEmptyBox, validateCocoKeypoints, validateCocoResults, type CocoBox, type CocoKeypointAnnotation, type CocoKeypointDataset, type CocoKeypointResult } from './format.js';
import { oks, pairwiseSum } from './oks.js';

// ---------------------------------------------------------------------------------------------------------------
// Input and output types
// ---------------------------------------------------------------------------------------------------------------

export interface CocoEvalOptions {
  /** Per-keypoint OKS constants; the number of keypoints is `sigmas.length`. Default: COCO's 17. */
  sigmas?: readonly number[];
}

/** What `evaluateImg` returns for one (category, area range, image); `null` when the image has neither gt nor dt. */
export interface ImageEvaluation {
  imageId: number;
  categoryId: number;
  areaRange: readonly [number, number];
  /** Detection ids (1-based positions in the results list) in score order, at most 20. */
  dtIds: number[];
  /** Ground-truth ids, non-ignored first. */
  gtIds: number[];
  dtScores: number[];
  /** `dtMatches[t][i]`: id of the gt that detection i matched at threshold t, 0 if none (or if that gt's id is 0). */
  dtMatches: number[][];
  /** `dtIgnore[t][i]`: detection i does not count at threshold t. */
  dtIgnore: boolean[][];
  gtIgnore: boolean[];
}

export interface CocoKeypointEvalResult {
  /** [AP, AP50, AP75, APm, APl, AR, AR50, AR75, ARm, ARl]; -1 where undefined. */
  stats: number[];
  imgIds: number[];
  catIds: number[];
  /**
   * `precision[t][r][k][a]`: interpolated precision at `OKS_THRESHOLDS[t]`, `RECALL_THRESHOLDS[r]`, category
   * `catIds[k]` and area range `AREA_RANGE_LABELS[a]`; -1 if undefined.
   */
  precision: number[][][][];
  /** `recall[t][k][a]`: the final recall with up to 20 detections per image; -1 if undefined. */
  recall: number[][][];
  /** Per-image matching, in pycocotools' order: category, then area range, then image. */
  evalImgs: (ImageEvaluation | null)[];
}

// ---------------------------------------------------------------------------------------------------------------
// Fixed parameters (`Params.setKpParams`)
// ---------------------------------------------------------------------------------------------------------------

/** `np.linspace(.5, .95, 10)`: i·step + 0.5 with the last element set to exactly 0.95 (so index 8 is 0.8999999999999999). */
export const OKS_THRESHOLDS: readonly number[] = linspace(0.5, 0.95, 10);

/** `np.linspace(0, 1, 101)`: i·0.01, last exactly 1. Not i/100: ten entries differ, e.g. 35·0.01 > 0.35. */
export const RECALL_THRESHOLDS: readonly number[] = linspace(0, 1, 101);

/** Detections evaluated per image and category. */
export const MAX_DETECTIONS = 20;

/** Area ranges, both bounds inclusive; keypoint evaluation has no "small" range. */
export const AREA_RANGES: readonly (readonly [number, number])[] = [
  [0 ** 2, 1e5 ** 2],
  [32 ** 2, 96 ** 2],
  [96 ** 2, 1e5 ** 2],
];
export const AREA_RANGE_LABELS = ['all', 'medium', 'large'] as const;

export const STAT_NAMES = ['AP', 'AP50', 'AP75', 'APm', 'APl', 'AR', 'AR50', 'AR75', 'ARm', 'ARl'] as const;

/** numpy's `np.spacing(1)`, added to tp + fp in the precision. */
const NUMPY_EPS = Number.EPSILON;

/** numpy's linspace: `start + i * step`, with the last element exactly `stop`. */
function linspace(start: number, stop: number, num: number): number[] {
  const step = (stop - start) / (num - 1);
  return Array.from({ length: num }, (_, i) => (i === num - 1 ? stop : i * step + start));
}

// ---------------------------------------------------------------------------------------------------------------
// Evaluation
// ---------------------------------------------------------------------------------------------------------------

/** A ground-truth person after `_prepare`. */
interface PreparedGt {
  id: number;
  imageId: number;
  categoryId: number;
  keypoints: readonly number[];
  area: number;
  bbox: CocoBox;
  isCrowd: boolean;
  /** Crowd, or `num_keypoints == 0`; the area range adds its own ignores on top. */
  ignore: boolean;
}

/** A detection after `loadRes`. */
interface PreparedDt {
  /** Position in the results list + 1; never 0. */
  id: number;
  imageId: number;
  categoryId: number;
  keypoints: readonly number[];
  score: number;
  /** Used only to ignore unmatched detections outside an area range. */
  area: number;
}

/** The ground truth and detections of one (image, category), with their OKS matrix. */
interface ImageCategory {
  /** In file order. */
  gts: PreparedGt[];
  /** Stable-sorted by descending score and cut to the first `MAX_DETECTIONS`. */
  dts: PreparedDt[];
  /** `ious[i][j]` = OKS(dts[i], gts[j]); empty when there is no gt or no dt (then nothing is matched). */
  ious: number[][];
}

/**
 * Evaluates keypoint detections against COCO ground truth exactly as pycocotools does.
 *
 * @param gt a COCO annotations object (`images`, `annotations`, `categories`)
 * @param dt a COCO results list; may be empty (pycocotools crashes on that; here it means "no detections")
 * @throws CocoFormatError naming every offending field when an input is malformed, or when a result's image is not in `gt`
 */
export function cocoKeypointEval(
  gt: CocoKeypointDataset,
  dt: readonly CocoKeypointResult[],
  options: CocoEvalOptions = {},
): CocoKeypointEvalResult {
  const sigmas = options.sigmas ?? COCO_SIGMAS;
  validateCocoKeypoints(gt, 'cocoKeypointEval: gt', { keypoints: sigmas.length, rules: 'pycocotools' });
  // Every listed image and category takes part, including images without annotations.
  const imgIds = uniqueSorted(gt.images.map((image) => image.id));
  validateCocoResults(dt, 'cocoKeypointEval: dt', sigmas.length, new Set(imgIds));

  const catIds = uniqueSorted(gt.categories.map((category) => category.id));
  const groups = groupByImageAndCategory(gt.annotations.map(prepareGt), loadResults(dt), imgIds, catIds, sigmas);

  const evalImgs: (ImageEvaluation | null)[] = [];
  for (const catId of catIds) {
    for (const areaRange of AREA_RANGES) {
      for (const imgId of imgIds) {
        const group = groups.get(groupKey(imgId, catId));
        evalImgs.push(group ? evaluateImage(group, imgId, catId, areaRange) : null);
      }
    }
  }

  const { precision, recall } = accumulate(evalImgs, imgIds.length, catIds.length);
  return { stats: summarize(precision, recall), imgIds, catIds, precision, recall, evalImgs };
}

/**
 * `COCO.loadRes`: detection ids become 1..N (any `id` given is overwritten) and each detection gets an area. The
 * first result alone picks how: if it has a non-empty `bbox`, every area is `bbox[2] * bbox[3]`; otherwise every
 * area is the extent of *all* keypoints, whatever their v (a keypoint written as 0,0,0 stretches it to the origin).
 */
function loadResults(results: readonly CocoKeypointResult[]): PreparedDt[] {
  const areaFromBox = results.length > 0 && hasNonEmptyBox(results[0]);
  return results.map((result, i) => ({
    id: i + 1,
    imageId: result.image_id,
    categoryId: result.category_id,
    keypoints: result.keypoints,
    score: result.score,
    area: areaFromBox ? boxArea(result) : keypointExtentArea(result.keypoints),
  }));
}

/** Validated: when the first result has a bbox, every result has four numbers there. */
function boxArea(result: CocoKeypointResult): number {
  const box = result.bbox!;
  return box[2] * box[3];
}

function keypointExtentArea(keypoints: readonly number[]): number {
  let minX = Infinity, maxX = -Infinity, minY = Infinity, maxY = -Infinity;
  for (let i = 0; i < keypoints.length; i += 3) {
    minX = Math.min(minX, keypoints[i]);
    maxX = Math.max(maxX, keypoints[i]);
    minY = Math.min(minY, keypoints[i + 1]);
    maxY = Math.max(maxY, keypoints[i + 1]);
  }
  return (maxX - minX) * (maxY - minY);
}

/**
 * `COCOeval._prepare`: a person is ignored when it is a crowd or its `num_keypoints` *field* is 0 (not the count of
 * v > 0 flags, which decides the OKS branch instead). An `ignore` field in the file is overwritten, so it has no effect.
 */
function prepareGt(annotation: CocoKeypointAnnotation): PreparedGt {
  const isCrowd = annotation.iscrowd !== 0 && annotation.iscrowd !== false;
  return {
    id: annotation.id,
    imageId: annotation.image_id,
    categoryId: annotation.category_id,
    keypoints: annotation.keypoints,
    area: annotation.area,
    bbox: annotation.bbox,
    isCrowd,
    ignore: isCrowd || annotation.num_keypoints === 0,
  };
}

function groupKey(imgId: number, catId: number): string {
  return `${imgId}/${catId}`;
}

/**
 * Groups ground truth and detections by (image, category), keeping file order, then sorts and cuts each group's
 * detections and computes its OKS matrix (`COCOeval.computeOks`). Anything whose category is not in
 * `categories`, and ground truth whose image is not in `images`, is dropped (pycocotools selects with
 * `getAnnIds(imgIds, catIds)`).
 */
function groupByImageAndCategory(
  gts: readonly PreparedGt[],
  dts: readonly PreparedDt[],
  imgIds: readonly number[],
  catIds: readonly number[],
  sigmas: readonly number[],
): Map<string, ImageCategory> {
  const images = new Set(imgIds);
  const categories = new Set(catIds);
  const groups = new Map<string, { gts: PreparedGt[]; dts: PreparedDt[] }>();
  const add = (imageId: number, categoryId: number): { gts: PreparedGt[]; dts: PreparedDt[] } => {
    const key = groupKey(imageId, categoryId);
    let group = groups.get(key);
    if (group === undefined) {
      group = { gts: [], dts: [] };
      groups.set(key, group);
    }
    return group;
  };
  for (const gt of gts) {
    if (images.has(gt.imageId) && categories.has(gt.categoryId)) add(gt.imageId, gt.categoryId).gts.push(gt);
  }
  for (const dt of dts) {
    if (categories.has(dt.categoryId)) add(dt.imageId, dt.categoryId).dts.push(dt);
  }

  const prepared = new Map<string, ImageCategory>();
  for (const [key, group] of groups) {
    const topDts = sortByScoreDescending(group.dts).slice(0, MAX_DETECTIONS);
    prepared.set(key, { gts: group.gts, dts: topDts, ious: computeOks(group.gts, topDts, sigmas) });
  }
  return prepared;
}

/**
 * numpy's `argsort(-score, kind='mergesort')` on one image's detections: descending and *stable*, so tied scores
 * keep file order, also at the top-20 cut. `Array.prototype.sort` is stable.
 */
function sortByScoreDescending<T extends { score: number }>(items: readonly T[]): T[] {
  return [...items].sort((a, b) => b.score - a.score);
}

/** `COCOeval.computeOks`: OKS of every (detection, ground truth) pair, crowd and ignored ground truth included. */
function computeOks(gts: readonly PreparedGt[], dts: readonly PreparedDt[], sigmas: readonly number[]): number[][] {
  if (gts.length === 0 || dts.length === 0) return [];
  return dts.map((dt) => gts.map((gt) => oks(gt.keypoints, dt.keypoints, gt.area, sigmas, gt.bbox)));
}

/**
 * `COCOeval.evaluateImg` for one (image, category, area range): greedy matching, separately at each threshold.
 *
 * Ground truth is reordered non-ignored first (stable). Each detection, in score order, takes the available
 * ground truth with the highest OKS ≥ t, where:
 * - a taken ground truth is unavailable unless it is a crowd (only crowds absorb several detections);
 * - once a non-ignored match is found the search stops at the first ignored one (never trade a real match for
 *   an ignored one);
 * - ties go to the *later* ground truth (`>=`).
 * A detection matched to an ignored ground truth is ignored; an unmatched one is ignored when its own area is
 * outside the range. Matches are recorded as the ground truth's *id*, and 0 means "unmatched" afterwards, so a
 * detection matched to a ground truth whose id is 0 counts as unmatched (while that ground truth is taken).
 */
function evaluateImage(group: ImageCategory, imageId: number, categoryId: number, areaRange: readonly [number, number]): ImageEvaluation {
  const [lo, hi] = areaRange;
  const outsideRange = (area: number): boolean => area < lo || area > hi;

  const ignoredInRange = group.gts.map((gt) => gt.ignore || outsideRange(gt.area));
  const gtOrder = group.gts.map((_, j) => j).sort((a, b) => Number(ignoredInRange[a]) - Number(ignoredInRange[b]));
  const gts = gtOrder.map((j) => group.gts[j]);
  const gtIgnore = gtOrder.map((j) => ignoredInRange[j]);
  const dts = group.dts;

  const dtMatches = OKS_THRESHOLDS.map(() => dts.map(() => 0));
  const dtIgnore = OKS_THRESHOLDS.map(() => dts.map(() => false));
  if (group.ious.length > 0) {
    OKS_THRESHOLDS.forEach((threshold, t) => {
      const gtMatches = gts.map(() => 0);
      dts.forEach((dt, i) => {
        let best = Math.min(threshold, 1 - 1e-10); // the cap only matters for a threshold of 1
        let match = -1;
        for (let j = 0; j < gts.length; j++) {
          if (gtMatches[j] !== 0 && !gts[j].isCrowd) continue;
          if (match > -1 && !gtIgnore[match] && gtIgnore[j]) break;
          const similarity = group.ious[i][gtOrder[j]];
          if (similarity < best) continue;
          best = similarity;
          match = j;
        }
        if (match === -1) return;
        dtIgnore[t][i] = gtIgnore[match];
        dtMatches[t][i] = gts[match].id;
        gtMatches[match] = dt.id;
      });
    });
  }
  dts.forEach((dt, i) => {
    OKS_THRESHOLDS.forEach((_, t) => {
      if (dtMatches[t][i] === 0 && outsideRange(dt.area)) dtIgnore[t][i] = true;
    });
  });

  return {
    imageId,
    categoryId,
    areaRange,
    dtIds: dts.map((dt) => dt.id),
    gtIds: gts.map((gt) => gt.id),
    dtScores: dts.map((dt) => dt.score),
    dtMatches,
    dtIgnore,
    gtIgnore,
  };
}

/**
 * `COCOeval.accumulate`: for each (category, area range), pool the evaluated images in ascending image id order,
 * stable-sort all their detections by score, and at each threshold turn the running TP/FP counts into a
 * precision/recall curve. Precision is made non-increasing from the right, then sampled at the 101 recall
 * thresholds (`searchsorted` left; 0 beyond the last recall reached). Ignored detections keep their places but
 * count as neither TP nor FP. With no non-ignored ground truth the entries stay -1.
 */
function accumulate(evalImgs: readonly (ImageEvaluation | null)[], numImages: number, numCategories: number) {
  const T = OKS_THRESHOLDS.length, R = RECALL_THRESHOLDS.length, K = numCategories, A = AREA_RANGES.length;
  const precision = filled(T, () => filled(R, () => filled(K, () => filled(A, () => -1))));
  const recall = filled(T, () => filled(K, () => filled(A, () => -1)));

  for (let k = 0; k < K; k++) {
    for (let a = 0; a < A; a++) {
      const offset = (k * A + a) * numImages;
      const evaluated = evalImgs.slice(offset, offset + numImages).filter((e): e is ImageEvaluation => e !== null);
      if (evaluated.length === 0) continue;
      const npig = evaluated.reduce((n, e) => n + e.gtIgnore.filter((ignored) => !ignored).length, 0);
      if (npig === 0) continue;

      const scores = evaluated.flatMap((e) => e.dtScores);
      // Stable: tied scores stay in image-id order, then in each image's own (file) order.
      const order = scores.map((_, i) => i).sort((i, j) => scores[j] - scores[i]);
      for (let t = 0; t < T; t++) {
        const matches = evaluated.flatMap((e) => e.dtMatches[t]);
        const ignored = evaluated.flatMap((e) => e.dtIgnore[t]);
        const recalls: number[] = [];
        const precisions: number[] = [];
        let tp = 0, fp = 0;
        for (const i of order) {
          if (!ignored[i]) {
            if (matches[i] !== 0) tp++;
            else fp++;
          }
          recalls.push(tp / npig);
          precisions.push(tp / (fp + tp + NUMPY_EPS));
        }
        const nd = order.length;
        recall[t][k][a] = nd > 0 ? recalls[nd - 1] : 0;

        for (let i = nd - 1; i > 0; i--) {
          if (precisions[i] > precisions[i - 1]) precisions[i - 1] = precisions[i];
        }
        let index = 0;
        for (let r = 0; r < R; r++) {
          while (index < nd && recalls[index] < RECALL_THRESHOLDS[r]) index++;
          precision[t][r][k][a] = index < nd ? precisions[index] : 0;
        }
      }
    }
  }
  return { precision, recall };
}

/**
 * `COCOeval._summarizeKps`: each stat is the mean of the selected entries that are > -1, or -1 if there are none.
 * Entries are taken in numpy's C order and summed in numpy's pairwise order, so the means match to the bit.
 */
function summarize(precision: number[][][][], recall: number[][][]): number[] {
  const all = OKS_THRESHOLDS.map((_, t) => t);
  const at = (threshold: number): number[] => all.filter((t) => OKS_THRESHOLDS[t] === threshold);
  const averagePrecision = (thresholds: number[], a: number): number =>
    meanOfDefined(thresholds.flatMap((t) => precision[t].flatMap((byCategory) => byCategory.map((byArea) => byArea[a]))));
  const averageRecall = (thresholds: number[], a: number): number =>
    meanOfDefined(thresholds.flatMap((t) => recall[t].map((byArea) => byArea[a])));
  const [ALL, MEDIUM, LARGE] = [0, 1, 2];
  return [
    averagePrecision(all, ALL),
    averagePrecision(at(0.5), ALL),
    averagePrecision(at(0.75), ALL),
    averagePrecision(all, MEDIUM),
    averagePrecision(all, LARGE),
    averageRecall(all, ALL),
    averageRecall(at(0.5), ALL),
    averageRecall(at(0.75), ALL),
    averageRecall(all, MEDIUM),
    averageRecall(all, LARGE),
  ];
}

function meanOfDefined(values: number[]): number {
  const defined = values.filter((v) => v > -1);
  return defined.length === 0 ? -1 : pairwiseSum(defined) / defined.length;
}

function filled<T>(length: number, make: () => T): T[] {
  return Array.from({ length }, make);
}

function uniqueSorted(ids: readonly number[]): number[] {
  return [...new Set(ids)].sort((a, b) => a - b);
}

// ---------------------------------------------------------------------------------------------------------------
// Summary text
// ---------------------------------------------------------------------------------------------------------------

/**
 * The 10 stats as `COCOeval.summarize()` prints them for keypoints, one line each, e.g.
 * ` Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets= 20 ] = 0.440`.
 */
export function formatCocoKeypointSummary(stats: readonly number[]): string {
  if (stats.length !== STAT_NAMES.length) {
    throw new Error(`formatCocoKeypointSummary: expected ${STAT_NAMES.length} stats, got ${stats.length}`);
  }
  const rows: [string, string, string][] = [
    ['0.50:0.95', 'all', 'AP'], ['0.50', 'all', 'AP'], ['0.75', 'all', 'AP'], ['0.50:0.95', 'medium', 'AP'], ['0.50:0.95', 'large', 'AP'],
    ['0.50:0.95', 'all', 'AR'], ['0.50', 'all', 'AR'], ['0.75', 'all', 'AR'], ['0.50:0.95', 'medium', 'AR'], ['0.50:0.95', 'large', 'AR'],
  ];
  return rows
    .map(([iou, area, kind], i) => {
      const title = kind === 'AP' ? 'Average Precision' : 'Average Recall';
      return ` ${title.padEnd(18)} (${kind}) @[ IoU=${iou.padEnd(9)} | area=${area.padStart(6)} | maxDets=${String(MAX_DETECTIONS).padStart(3)} ] = ${formatThreeDecimals(stats[i])}`;
    })
    .join('\n');
}

/**
 * Python's `'{:0.3f}'.format(x)`: correctly rounded, ties to even. `toFixed` is also correctly rounded but breaks
 * exact ties upwards. An exact tie at the 4th decimal needs x = m/10000 exactly in binary, i.e. x = j/16 with j odd
 * (e.g. 0.5625 → "0.562", where toFixed gives "0.563").
 */
function formatThreeDecimals(x: number): string {
  const sixteenths = x * 16;
  if (Number.isInteger(sixteenths) && sixteenths % 2 !== 0) {
    const thousandths = (sixteenths * 625) / 10; // exactly n + 0.5 for an integer n
    const lower = Math.floor(thousandths);
    const even = lower % 2 === 0 ? lower : lower + 1;
    return (even / 1000).toFixed(3);
  }
  return x.toFixed(3);
}
