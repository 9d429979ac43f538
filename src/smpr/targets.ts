/**
 * The ground-truth half of SMPR's target assignment (reference sections 3.1, 3.2 and 3.4): everything that depends
 * on the annotations alone, computed on the CPU once per batch. Nothing here may look at network outputs.
 *
 * The OKS half (max-OKS assigner on the detached initial poses, P_ref, pose-score targets) runs on the GPU from
 * what is built here: the per-location FCOS targets and, per image, a padded table of its people.
 *
 * Where the authors' code and the paper disagree, the code is the default and `PAPER_ASSIGNMENT` gives the paper's
 * reading; each switch is one field of `AssignOptions`.
 */
import type { CocoBox } from '../coco/format.js';
import type { KeypointSpec } from '../coco/keypoints.js';
import { dropReason, isLabelled, pseudoBox, type Corners, type KeypointLabels } from '../coco/person.js';
import { featureSize, locationGrid, type LevelSpec, type LocationGrid } from './levels.js';
import { roundHalfToEven } from '../kernels/elementwise-ops.js';

/**
 * A person that takes part in assignment: it passed the loading rules where it stands now (after augmentation) and
 * carries the pseudo box of its keypoints there.
 */
export interface GtPerson extends KeypointLabels {
  readonly pseudoBox: CocoBox;
}

/**
 * The people the loading rules keep, in their original order, each with its pseudo box. The loader applied the
 * rules once in the original image; they are applied again here because resizing and a crop that clamps keypoints
 * to its border can collapse a pseudo box below 1 px.
 */
export function filterPeople(people: readonly KeypointLabels[]): GtPerson[] {
  const kept: GtPerson[] = [];
  for (const person of people) {
    if (dropReason(person) === null) kept.push({ ...person, pseudoBox: pseudoBox(person.keypoints)! });
  }
  return kept;
}

/**
 * How a pseudo box [x, y, w, h] becomes the corners that assignment measures to.
 * - 'mmdet' (code): [x, y, x+w−1, y+h−1]; mmdet v1 reads COCO's w as a pixel count, so the box ends 1 px short on the
 *   right and bottom. The reference subtracts that pixel in original-image pixels before resizing; here it is one
 *   pixel of the network input.
 * - 'tight' (paper, "the minimal bounding box of the keypoints"): [x, y, x+w, y+h].
 */
export type BoxConvention = 'mmdet' | 'tight';

/** The corners of a pseudo box under `convention`. */
export function assignmentBox(box: CocoBox, convention: BoxConvention): Corners {
  const [x, y, w, h] = box;
  const shortfall = convention === 'mmdet' ? 1 : 0;
  return [x, y, x + w - shortfall, y + h - shortfall];
}

export interface AssignOptions {
  /** Half-width of the center-sampling square in strides. Code: 1.5 (a square 3s wide). Paper: side 1.5s, i.e. 0.75. Infinity: the whole pseudo box (the paper's "baseline"). */
  readonly centerRadius?: number;
  /** Box that distances are measured to. Code: 'mmdet' (1 px short right and bottom). Paper: 'tight'. */
  readonly box?: BoxConvention;
}

/** The authors' code (the default). */
export const CODE_ASSIGNMENT: Required<AssignOptions> = { centerRadius: 1.5, box: 'mmdet' };

/** The paper's text where it differs from the code. */
export const PAPER_ASSIGNMENT: Required<AssignOptions> = { centerRadius: 0.75, box: 'tight' };

/**
 * Per-person data that the OKS step needs, one row per person. For a batch, rows are padded to the largest
 * image and `valid` marks the real ones.
 */
export interface PersonTable {
  /** Rows per image. */
  readonly rows: number;
  /** 1 for a real person, 0 for padding. */
  readonly valid: Uint8Array;
  /** rows×2K pixel coordinates [x0, y0, x1, y1, …], as annotated (also where v = 0: mask with `visible`). */
  readonly keypoints: Float32Array;
  /** rows×K: 1 where v > 0, the keypoints that OKS averages over. A real person has at least two. */
  readonly visible: Float32Array;
  /** rows: segmentation area. Padding rows hold 1 so that OKS against them stays finite; mask them with `valid`. */
  readonly area: Float32Array;
}

/** The FCOS half of the targets of one image, over all L locations of its `LocationGrid`. */
export interface ImageTargets {
  /** L: 1 on the initial positives P_init. */
  readonly initPos: Uint8Array;
  /** L: the row in `people` that each positive was assigned to; −1 on negatives. */
  readonly gtIndex: Int32Array;
  /** L×2K: (keypoint − p) / s in stride units, [dx0, dy0, dx1, dy1, …]; 0 on negatives and where v = 0. */
  readonly t: Float32Array;
  /** L×2K: 1 where the assigned person's keypoint is labelled, for x and y alike; 0 on negatives. */
  readonly vis: Float32Array;
  /** The image's people, in `gtIndex` order; an image with nobody gets one padding row. */
  readonly people: PersonTable;
}

/**
 * Assigns the initial-pose positives P_init of one image (reference 3.2). A location p at stride s goes to person g
 * when both hold:
 * 1. p lies strictly inside (all four distances > 0) the center region [cx − r·s, cy − r·s, cx + r·s, cy + r·s] ∩ B_g,
 *    (cx, cy) being the center of g's box B_g;
 * 2. lo ≤ max(l, t, r, b) ≤ hi for the level's range, with l, t, r, b the distances from p to the edges of B_g.
 * Among the people that pass both, the one with the smallest pseudo box w·h wins (the reference's (x2−x1+1)(y2−y1+1)
 * on its mmdet box); on equal areas, the earliest person.
 *
 * `people` must have passed `filterPeople`; the keypoint layout is `spec`'s.
 */
export function assignInitialTargets(
  people: readonly GtPerson[],
  grid: LocationGrid,
  spec: KeypointSpec,
  options: AssignOptions = {},
): ImageTargets {
  const K = spec.names.length;
  const L = grid.count;
  const targets: ImageTargets = {
    initPos: new Uint8Array(L),
    gtIndex: new Int32Array(L),
    t: new Float32Array(L * 2 * K),
    vis: new Float32Array(L * 2 * K),
    people: allocatePersonTable(1, Math.max(people.length, 1), K),
  };
  writeInitialTargets(people, grid, K, options, targets);
  writePersonRows(people, K, targets.people, 0);
  return targets;
}

/** Writes one image's FCOS targets into `out`, whose arrays are that image's L-location slices. */
function writeInitialTargets(
  people: readonly GtPerson[],
  grid: LocationGrid,
  K: number,
  options: AssignOptions,
  out: Omit<ImageTargets, 'people'>,
): void {
  const radius = options.centerRadius ?? CODE_ASSIGNMENT.centerRadius;
  const boxes = people.map((person) => {
    if (person.keypoints.length !== 3 * K) {
      throw new Error(`assignInitialTargets: a person has ${person.keypoints.length} keypoint values, expected ${3 * K}`);
    }
    return assignmentBox(person.pseudoBox, options.box ?? CODE_ASSIGNMENT.box);
  });
  const areas = people.map((person) => person.pseudoBox[2] * person.pseudoBox[3]);
  out.gtIndex.fill(-1);

  for (const level of grid.levels) {
    const s = level.stride;
    const [lo, hi] = level.range;
    const centerRegions = boxes.map((box) => centerRegion(box, radius * s));
    const end = level.start + level.height * level.width;
    for (let p = level.start; p < end; p++) {
      const px = grid.x[p];
      const py = grid.y[p];
      let best = -1;
      for (let g = 0; g < people.length; g++) {
        if (!strictlyInside(px, py, centerRegions[g])) continue;
        const [x1, y1, x2, y2] = boxes[g];
        const reach = Math.max(px - x1, py - y1, x2 - px, y2 - py);
        if (reach < lo || reach > hi) continue;
        if (best < 0 || areas[g] < areas[best]) best = g;
      }
      if (best >= 0) writePositive(out, p, px, py, s, people[best].keypoints, K, best);
    }
  }
}

/** The center-sampling square of half-width `halfWidth` around the box's center, clipped to the box. */
function centerRegion(box: Corners, halfWidth: number): Corners {
  const [x1, y1, x2, y2] = box;
  const cx = (x1 + x2) / 2;
  const cy = (y1 + y2) / 2;
  return [Math.max(cx - halfWidth, x1), Math.max(cy - halfWidth, y1), Math.min(cx + halfWidth, x2), Math.min(cy + halfWidth, y2)];
}

function strictlyInside(px: number, py: number, region: Corners): boolean {
  return px - region[0] > 0 && py - region[1] > 0 && region[2] - px > 0 && region[3] - py > 0;
}

function writePositive(
  out: Omit<ImageTargets, 'people'>,
  p: number,
  px: number,
  py: number,
  s: number,
  keypoints: ArrayLike<number>,
  K: number,
  person: number,
): void {
  out.initPos[p] = 1;
  out.gtIndex[p] = person;
  for (let k = 0; k < K; k++) {
    if (!isLabelled(keypoints[3 * k + 2])) continue;
    const c = p * 2 * K + 2 * k;
    out.t[c] = (keypoints[3 * k] - px) / s;
    out.t[c + 1] = (keypoints[3 * k + 1] - py) / s;
    out.vis[c] = 1;
    out.vis[c + 1] = 1;
  }
}

function allocatePersonTable(images: number, rows: number, K: number): PersonTable {
  return {
    rows,
    valid: new Uint8Array(images * rows),
    keypoints: new Float32Array(images * rows * 2 * K),
    visible: new Float32Array(images * rows * K),
    area: new Float32Array(images * rows).fill(1),
  };
}

/** Fills rows firstRow, firstRow+1, … of `table` with `people`. */
function writePersonRows(people: readonly GtPerson[], K: number, table: PersonTable, firstRow: number): void {
  people.forEach((person, g) => {
    const row = firstRow + g;
    table.valid[row] = 1;
    table.area[row] = person.area;
    for (let k = 0; k < K; k++) {
      table.keypoints[row * 2 * K + 2 * k] = person.keypoints[3 * k];
      table.keypoints[row * 2 * K + 2 * k + 1] = person.keypoints[3 * k + 1];
      table.visible[row * K + k] = isLabelled(person.keypoints[3 * k + 2]) ? 1 : 0;
    }
  });
}

/** The auxiliary heatmap's targets for one image (reference 3.4). */
export interface HeatmapTargets {
  readonly height: number;
  readonly width: number;
  /** K×height×width: channel k is 1 on the cell whose final label is keypoint k, for a per-channel focal loss. */
  readonly onehot: Float32Array;
  /** Labelled cells (each has exactly one channel set): the N_kptcells of L_hm's normalizer. */
  readonly positives: number;
}

/**
 * The heatmap label map at `stride` (8 in SMPR: the subnet sits on P3) for a padded input. Each labelled keypoint k
 * labels the cell (round((y − ⌊s/2⌋)/s), round((x − ⌊s/2⌋)/s)), the grid location nearest to it, as keypoint k; a
 * later write (a later keypoint, or a later person) overwrites an earlier one; cells off the map are skipped.
 * There is no Gaussian and no radius: the reference has none and the paper does not describe the targets.
 * Rounding is half to even, as torch.round does: a keypoint exactly between two locations (x = 8, 24, 40, … at
 * stride 8) goes to the even cell.
 */
export function heatmapTargets(
  people: readonly GtPerson[],
  paddedHeight: number,
  paddedWidth: number,
  keypointCount: number,
  stride = 8,
): HeatmapTargets {
  const height = featureSize(paddedHeight, stride);
  const width = featureSize(paddedWidth, stride);
  const onehot = new Float32Array(keypointCount * height * width);
  const positives = writeHeatmap(people, keypointCount, stride, height, width, onehot);
  return { height, width, onehot, positives };
}

/** Writes one image's one-hot heatmap into `onehot` (K×height×width) and returns its number of labelled cells. */
function writeHeatmap(
  people: readonly GtPerson[],
  K: number,
  stride: number,
  height: number,
  width: number,
  onehot: Float32Array,
): number {
  const half = Math.floor(stride / 2);
  const labels = new Int32Array(height * width).fill(-1);
  for (const person of people) {
    for (let k = 0; k < K; k++) {
      if (!isLabelled(person.keypoints[3 * k + 2])) continue;
      const col = roundHalfToEven((person.keypoints[3 * k] - half) / stride);
      const row = roundHalfToEven((person.keypoints[3 * k + 1] - half) / stride);
      if (row < 0 || row >= height || col < 0 || col >= width) continue;
      labels[row * width + col] = k;
    }
  }
  let positives = 0;
  labels.forEach((k, cell) => {
    if (k < 0) return;
    onehot[k * height * width + cell] = 1;
    positives++;
  });
  return positives;
}


/**
 * Everything ground-truth-only for one batch, ready to upload as tensors. All images share one padded size and so
 * one `LocationGrid` of L locations; image n's slice of a per-location array starts at n·L (times its row width).
 */
export interface BatchTargets {
  readonly images: number;
  /** K. */
  readonly keypointCount: number;
  readonly grid: LocationGrid;
  /** N×L. */
  readonly initPos: Uint8Array;
  /** N×L: the row within that image's people, −1 on negatives. */
  readonly gtIndex: Int32Array;
  /** N×L×2K. */
  readonly t: Float32Array;
  /** N×L×2K. */
  readonly vis: Float32Array;
  /** N×P person rows, P = max(1, most people in one image), so OKS of all locations against all people of their image is one batched op. */
  readonly people: PersonTable;
  /** N×K×Hh×Wh one-hot heatmaps at the finest level's stride. */
  readonly heatmap: Float32Array;
  readonly heatmapHeight: number;
  readonly heatmapWidth: number;
  /** Labelled heatmap cells over the whole batch (L_hm divides by this plus N). */
  readonly heatmapPositives: number;
  /** The people each image kept after `filterPeople`; row g of image n is kept[n][g]. */
  readonly kept: readonly (readonly GtPerson[])[];
}

/**
 * Filters each image's people and builds the batch's FCOS targets, person tables and heatmaps. The heatmap sits on
 * the finest level (P3, stride 8, for SMPR_LEVELS), where the heatmap subnet is.
 */
export function buildBatchTargets(
  imagesPeople: readonly (readonly KeypointLabels[])[],
  paddedHeight: number,
  paddedWidth: number,
  levels: readonly LevelSpec[],
  spec: KeypointSpec,
  options: AssignOptions = {},
): BatchTargets {
  const K = spec.names.length;
  const N = imagesPeople.length;
  const grid = locationGrid(paddedHeight, paddedWidth, levels);
  const L = grid.count;
  const kept = imagesPeople.map(filterPeople);
  const rows = Math.max(1, ...kept.map((people) => people.length));
  const heatmapLevel = grid.levels[0];
  const heatmapCells = heatmapLevel.height * heatmapLevel.width;

  const initPos = new Uint8Array(N * L);
  const gtIndex = new Int32Array(N * L);
  const t = new Float32Array(N * L * 2 * K);
  const vis = new Float32Array(N * L * 2 * K);
  const people = allocatePersonTable(N, rows, K);
  const heatmap = new Float32Array(N * K * heatmapCells);
  let heatmapPositives = 0;

  kept.forEach((imagePeople, n) => {
    writeInitialTargets(imagePeople, grid, K, options, {
      initPos: initPos.subarray(n * L, (n + 1) * L),
      gtIndex: gtIndex.subarray(n * L, (n + 1) * L),
      t: t.subarray(n * L * 2 * K, (n + 1) * L * 2 * K),
      vis: vis.subarray(n * L * 2 * K, (n + 1) * L * 2 * K),
    });
    writePersonRows(imagePeople, K, people, n * rows);
    heatmapPositives += writeHeatmap(
      imagePeople,
      K,
      heatmapLevel.stride,
      heatmapLevel.height,
      heatmapLevel.width,
      heatmap.subarray(n * K * heatmapCells, (n + 1) * K * heatmapCells),
    );
  });

  return {
    images: N,
    keypointCount: K,
    grid,
    initPos,
    gtIndex,
    t,
    vis,
    people,
    heatmap,
    heatmapHeight: heatmapLevel.height,
    heatmapWidth: heatmapLevel.width,
    heatmapPositives,
    kept,
  };
}
