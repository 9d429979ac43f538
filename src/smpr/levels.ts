/**
 * The FPN levels of the SMPR head and the grid of locations they predict from (reference sections 2.3 and 3.2).
 *
 * Every part that needs a feature-map size or a location's pixel position (the model, target assignment, decoding)
 * takes it from here, so that they cannot drift apart.
 */

/** One pyramid level: its stride and the FCOS range of max(l, t, r, b) that it is responsible for. */
export interface LevelSpec {
  /** Pixels per feature cell; a power of two. */
  readonly stride: number;
  /** A location on this level may take a person only when lo ≤ max(l, t, r, b) ≤ hi (distances to the pseudo box). */
  readonly range: readonly [lo: number, hi: number];
  /**
   * HRFPN levels only: the level is the stride-4 map average-pooled by `pool` (floor mode) and then convolved
   * with stride 2, which rounds differently from repeated stride-2 steps (see levelSize).
   */
  readonly pool?: number;
}

/** P3–P7 with mmdet's FCOS default ranges, which the SMPR config does not override. */
export const SMPR_LEVELS: readonly LevelSpec[] = [
  { stride: 8, range: [-1, 64] },
  { stride: 16, range: [64, 128] },
  { stride: 32, range: [128, 256] },
  { stride: 64, range: [256, 512] },
  { stride: 128, range: [512, 1e8] },
];

/** The same levels built by HRFPN: the stride-4 map pooled by 1, 2, 4, 8, 16, each then convolved with stride 2. */
export const HRFPN_LEVELS: readonly LevelSpec[] = SMPR_LEVELS.map((level, i) => ({ ...level, pool: 2 ** i }));

/**
 * The side of a feature map at `stride` for an input side of `inputSize` pixels: ceil(inputSize / stride).
 *
 * Why ceil: every stride-2 step of the network (the 7×7 pad-3 stem, the 3×3 pad-1 max-pool, caffe-style 1×1 pad-0
 * convs, the 3×3 pad-1 convs of the neck) outputs floor((n − 1) / 2) + 1 = ceil(n / 2), and ceil(ceil(n / a) / b) =
 * ceil(n / (a·b)). This holds for power-of-two strides reached by stride-2 steps only, hence the check.
 */
export function featureSize(inputSize: number, stride: number): number {
  if (!Number.isInteger(stride) || stride < 1 || (stride & (stride - 1)) !== 0) {
    throw new Error(`featureSize: stride must be a power of two, got ${stride}`);
  }
  if (!Number.isInteger(inputSize) || inputSize < 1) throw new Error(`featureSize: input size must be a positive integer, got ${inputSize}`);
  return Math.ceil(inputSize / stride);
}

/**
 * The side of one level's map for an input side of `inputSize` pixels. A pyramid of stride-2 steps gives
 * featureSize; an HRFPN level, ⌈⌊⌈n/4⌉ / pool⌋ / 2⌉ (stem, floor-mode pooling, stride-2 conv), which is smaller
 * when the pooling drops a ragged edge: 800 px gives P7 6×6 where stride-2 steps give 7×7. The authors' head
 * takes its location grid from the maps themselves, so the targets here follow the same rounding.
 */
export function levelSize(inputSize: number, level: LevelSpec): number {
  if (level.pool === undefined) return featureSize(inputSize, level.stride);
  return Math.ceil(Math.floor(featureSize(inputSize, 4) / level.pool) / 2);
}

/** The pixel coordinate of feature cell `cell` at `stride`: the centre of its stride × stride cell, cell·s + ⌊s/2⌋. */
export const cellCenter = (cell: number, stride: number): number => cell * stride + Math.floor(stride / 2);

/** Where one level's locations sit in the flat list of all locations. */
export interface LevelLayout extends LevelSpec {
  readonly height: number;
  readonly width: number;
  /** Flat index of this level's first location, (i, j) being at start + i·width + j. */
  readonly start: number;
}

/**
 * All locations of all levels of one padded input, flattened: levels in order, row-major within a level.
 * This is the order in which every per-location target and prediction array is laid out.
 */
export interface LocationGrid {
  readonly paddedHeight: number;
  readonly paddedWidth: number;
  readonly levels: readonly LevelLayout[];
  /** Number of locations L over all levels. */
  readonly count: number;
  /** Pixel x of each location: j·s + ⌊s/2⌋. */
  readonly x: Float32Array;
  /** Pixel y of each location: i·s + ⌊s/2⌋. */
  readonly y: Float32Array;
  /** Stride s of each location's level, to turn stride-unit offsets into pixels (keypoint = p + offset·s). */
  readonly stride: Float32Array;
}

/**
 * Lays out the locations of a padded input. Location (i, j) of a level with stride s sits at pixel
 * (j·s + ⌊s/2⌋, i·s + ⌊s/2⌋), as in the reference's get_points: 4, 12, 20, … for s = 8.
 */
export function locationGrid(paddedHeight: number, paddedWidth: number, levels: readonly LevelSpec[] = SMPR_LEVELS): LocationGrid {
  const layouts: LevelLayout[] = [];
  let count = 0;
  for (const level of levels) {
    const height = levelSize(paddedHeight, level);
    const width = levelSize(paddedWidth, level);
    layouts.push({ ...level, height, width, start: count });
    count += height * width;
  }
  const x = new Float32Array(count);
  const y = new Float32Array(count);
  const stride = new Float32Array(count);
  for (const level of layouts) {
    const s = level.stride;
    for (let i = 0; i < level.height; i++) {
      for (let j = 0; j < level.width; j++) {
        const p = level.start + i * level.width + j;
        x[p] = cellCenter(j, s);
        y[p] = cellCenter(i, s);
        stride[p] = s;
      }
    }
  }
  return { paddedHeight, paddedWidth, levels: layouts, count, x, y, stride };
}
