import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { COCO_KEYPOINTS } from '../src/coco/keypoints.js';
import { SMPR_LEVELS, featureSize, locationGrid, type LevelSpec, type LocationGrid } from '../src/smpr/levels.js';
import {
  CODE_ASSIGNMENT,
  PAPER_ASSIGNMENT,
  assignInitialTargets,
  assignmentBox,
  buildBatchTargets,
  filterPeople,
  heatmapTargets,
  type AssignOptions,
  type ImageTargets,
} from '../src/smpr/targets.js';
import { dropReason, pseudoBox, type KeypointLabels as Person } from '../src/coco/person.js';

const spec = COCO_KEYPOINTS;
const K = spec.names.length;

/** A COCO-17 person whose first keypoints are `points` ([x, y, v], v defaulting to 2) and the rest unlabelled. */
function person(points: readonly (readonly number[])[], extra: Partial<Person> = {}): Person {
  const keypoints = new Array<number>(3 * K).fill(0);
  points.forEach(([x, y, v = 2], k) => keypoints.splice(3 * k, 3, x, y, v));
  return { keypoints, area: 1000, ...extra };
}

/** The positives of one image as [level, x, y, person], in location order. */
function positives(targets: ImageTargets, grid: LocationGrid): [number, number, number, number][] {
  const found: [number, number, number, number][] = [];
  grid.levels.forEach((level, l) => {
    for (let p = level.start; p < level.start + level.height * level.width; p++) {
      if (targets.initPos[p]) found.push([l, grid.x[p], grid.y[p], targets.gtIndex[p]]);
    }
  });
  return found;
}

/** One level that takes every size, for examples about one stride only. */
const ONE_LEVEL: LevelSpec[] = [{ stride: 8, range: [-1, 1e8] }];
/** A two-level configuration such as a tiny model might use. */
const TINY_LEVELS: LevelSpec[] = [
  { stride: 8, range: [-1, 48] },
  { stride: 16, range: [48, 1e8] },
];

describe('feature sizes and the location grid', () => {
  /** PyTorch's conv/pool output size. */
  const convOut = (n: number, kernel: number, stride: number, pad: number) => Math.floor((n + 2 * pad - kernel) / stride) + 1;

  it('featureSize matches the stride-2 steps of ResNet-50 (caffe) + PAFPN for every input size up to 1400', () => {
    for (let n = 1; n <= 1400; n++) {
      const stem = convOut(n, 7, 2, 3); // stride 2
      const pooled = convOut(stem, 3, 2, 1); // stride 4: layer1 keeps it
      const c3 = convOut(pooled, 1, 2, 0); // stride 8: caffe style puts the stride on the first 1x1
      const c4 = convOut(c3, 1, 2, 0);
      const c5 = convOut(c4, 1, 2, 0);
      const p6 = convOut(c5, 3, 2, 1); // the neck's extra 3x3 stride-2 convs
      const p7 = convOut(p6, 3, 2, 1);
      expect([c3, c4, c5, p6, p7]).toEqual(SMPR_LEVELS.map((level) => featureSize(n, level.stride)));
      expect(convOut(c3, 3, 2, 1)).toBe(c4); // the bottom-up 3x3 stride-2 convs of PAFPN agree as well
    }
  });

  it('featureSize rejects strides that are not powers of two', () => {
    expect(() => featureSize(100, 12)).toThrow(/power of two/);
  });

  it('puts the stride-8 locations at j·8 + 4, row-major, with ceil-sized maps', () => {
    const grid = locationGrid(20, 17, ONE_LEVEL); // ceil(20/8) = 3 rows, ceil(17/8) = 3 columns
    expect(grid.levels[0]).toMatchObject({ height: 3, width: 3, start: 0 });
    expect(Array.from(grid.x)).toEqual([4, 12, 20, 4, 12, 20, 4, 12, 20]);
    expect(Array.from(grid.y)).toEqual([4, 4, 4, 12, 12, 12, 20, 20, 20]);
    expect(Array.from(grid.stride)).toEqual(new Array(9).fill(8));
  });

  it('concatenates the levels in order', () => {
    // 256×384: 32×48, 16×24, 8×12, 4×6 and 2×3 cells.
    const grid = locationGrid(256, 384);
    expect(grid.levels.map((l) => [l.height, l.width, l.start])).toEqual([
      [32, 48, 0],
      [16, 24, 1536],
      [8, 12, 1920],
      [4, 6, 2016],
      [2, 3, 2040],
    ]);
    expect(grid.count).toBe(2046);
    const p = 1920 + 1 * 12 + 7; // stride 32, row 1, column 7
    expect([grid.x[p], grid.y[p], grid.stride[p]]).toEqual([7 * 32 + 16, 32 + 16, 32]);
    expect([grid.x[2045], grid.y[2045]]).toEqual([2 * 128 + 64, 128 + 64]);
  });
});

describe('pseudo boxes and the loading rules', () => {
  it('the pseudo box is the tight box of the keypoints with v > 0, v = 1 included', () => {
    expect(pseudoBox(person([[10, 20, 2], [50, 5, 1], [500, 500, 0]]).keypoints)).toEqual([10, 5, 40, 15]);
    expect(pseudoBox(person([]).keypoints)).toBeNull();
  });

  it('drops a person with one labelled keypoint: its box is 0×0', () => {
    expect(dropReason(person([[30, 40]]))).toBe('box-under-1px');
  });

  it('drops keypoints on a horizontal or vertical line, and boxes under 1 px', () => {
    expect(dropReason(person([[10, 50], [90, 50], [40, 50]]))).toBe('box-under-1px');
    expect(dropReason(person([[10, 50], [10, 90]]))).toBe('box-under-1px');
    expect(dropReason(person([[10, 50], [90, 50.5]]))).toBe('box-under-1px');
    expect(dropReason(person([[10, 50], [90, 51]]))).toBeNull(); // exactly 1 px high is kept
    expect(dropReason(person([[10, 10], [11, 20]]))).toBeNull(); // and exactly 1 px wide
    expect(dropReason(person([[10, 10], [50, 50]]))).toBeNull(); // a diagonal line spans both axes
  });

  it('counts v = 1 as labelled, v = 0 not', () => {
    expect(dropReason(person([[10, 10, 2], [50, 50, 1]]))).toBeNull();
    expect(dropReason(person([[10, 10, 2], [50, 50, 0]]))).toBe('box-under-1px');
  });

  it('drops ignored, crowd, area-less and unlabelled people', () => {
    const ok = [[10, 10], [50, 50]];
    expect(dropReason(person(ok, { ignore: true }))).toBe('ignore');
    expect(dropReason(person(ok, { iscrowd: true }))).toBe('crowd');
    expect(dropReason(person(ok, { area: 0 }))).toBe('no-area');
    expect(dropReason(person([], { bbox: [0, 0, 100, 100] }))).toBe('no-labelled-keypoint');
  });

  it('filterPeople keeps the survivors in order, each with its pseudo box', () => {
    const a = person([[0, 0], [10, 20]]);
    const b = person([[5, 5]]);
    const c = person([[1, 2], [3, 4, 1]]);
    const kept = filterPeople([a, b, c]);
    expect(kept.map((p) => p.keypoints)).toEqual([a.keypoints, c.keypoints]);
    expect(kept.map((p) => p.pseudoBox)).toEqual([
      [0, 0, 10, 20],
      [1, 2, 2, 2],
    ]);
  });

  it('the mmdet box ends 1 px short on the right and bottom; the tight box does not', () => {
    expect(assignmentBox([10, 20, 40, 30], 'mmdet')).toEqual([10, 20, 49, 49]);
    expect(assignmentBox([10, 20, 40, 30], 'tight')).toEqual([10, 20, 50, 50]);
  });
});

describe('initial positives: center sampling, level ranges, ties', () => {
  // Keypoints (100, 60) and (300, 200): pseudo box x 100..300, y 60..200, w = 200, h = 140.
  // mmdet box [100, 60, 299, 199], center (199.5, 129.5). Input 256×384.
  const handPerson = person([[100, 60], [300, 200]]);
  const grid = locationGrid(256, 384);

  it('assigns the hand-worked locations of levels 1 and 2, and none elsewhere', () => {
    // Level 0 (s = 8): region ±12 around the center; any location there is ≥ 88 px from the left edge > 64.
    // Level 1 (s = 16, range [64, 128]): region x (175.5, 223.5), y (105.5, 153.5) → x ∈ {184, 200, 216}, y ∈ {120, 136, 152}.
    //   max(l, r) = max(x − 100, 299 − x) = 115, 100, 116 and max(t, b) = max(y − 60, 199 − y) = 79, 76, 92:
    //   max(l, t, r, b) ∈ {100, 115, 116} ⊂ [64, 128], so all 9 are positive.
    // Level 2 (s = 32, range [128, 256]): region x (151.5, 247.5), y (81.5, 177.5) → x ∈ {176, 208, 240}, y ∈ {112, 144, 176}.
    //   max(l, r) = 123, 108, 140 and max(t, b) = 87, 84, 116: only x = 240 reaches 128, so 3 positives.
    // Level 3 (s = 64, range [256, 512]): no location is 256 px from an edge of a 200×140 box.
    const targets = assignInitialTargets(filterPeople([handPerson]), grid, spec);
    const level1 = [120, 136, 152].flatMap((y) => [184, 200, 216].map((x) => [1, x, y, 0]));
    const level2 = [112, 144, 176].map((y) => [2, 240, y, 0]);
    expect(positives(targets, grid)).toEqual([...level1, ...level2]);
  });

  it('regresses (keypoint − p) / s on the labelled keypoints only', () => {
    const targets = assignInitialTargets(filterPeople([handPerson]), grid, spec);
    const p = grid.levels[1].start + 8 * 24 + 12; // (200, 136) on level 1
    expect([grid.x[p], grid.y[p]]).toEqual([200, 136]);
    const t = Array.from(targets.t.subarray(p * 2 * K, (p + 1) * 2 * K));
    const vis = Array.from(targets.vis.subarray(p * 2 * K, (p + 1) * 2 * K));
    // (100 − 200)/16, (60 − 136)/16, (300 − 200)/16, (200 − 136)/16
    expect(t).toEqual([-6.25, -4.75, 6.25, 4, ...new Array(2 * K - 4).fill(0)]);
    expect(vis).toEqual([1, 1, 1, 1, ...new Array(2 * K - 4).fill(0)]);
  });

  it("the paper's reading samples a square of side 1.5s around the tight box's center", () => {
    // Tight box [100, 60, 300, 200], center (200, 130). Level 1: region x (188, 212), y (118, 142) → (200, 120), (200, 136),
    // both with max(l, t, r, b) = 100. Level 2: region x (176, 224), y (106, 154) → x = 208 only, whose reach is 108 < 128.
    const targets = assignInitialTargets(filterPeople([handPerson]), grid, spec, PAPER_ASSIGNMENT);
    expect(positives(targets, grid)).toEqual([
      [1, 200, 120, 0],
      [1, 200, 136, 0],
    ]);
  });

  it('level ranges are closed at both ends: a reach of exactly 64 qualifies for level 0 too', () => {
    // Keypoints (4, 4) and (132, 132): mmdet box [4, 4, 131, 131], center 67.5.
    // Level 0: region (55.5, 79.5)² → x, y ∈ {60, 68, 76}; max(l, t, r, b) is 71, 64, 72 per axis, so only (68, 68),
    //   at exactly 64, is in [−1, 64]. Level 1: region (43.5, 91.5)² → {56, 72, 88}, reaches 75, 68, 84: all 9 in [64, 128].
    const grid = locationGrid(256, 256);
    const found = positives(assignInitialTargets(filterPeople([person([[4, 4], [132, 132]])]), grid, spec), grid);
    const level1 = [56, 72, 88].flatMap((y) => [56, 72, 88].map((x) => [1, x, y, 0]));
    expect(found).toEqual([[0, 68, 68, 0], ...level1]);
  });

  it('level ranges are closed at the lower end too: a reach of exactly 64 qualifies for level 1', () => {
    // Keypoints (8, 8) and (137, 137): mmdet box [8, 8, 136, 136], center 72.
    // Level 1 (s = 16): region (48, 96)² → x, y ∈ {56, 72, 88}, reaches 80, 64, 80 per axis: (72, 72) has
    //   max(l, t, r, b) = 64 exactly, level 1's lower bound, and the other 8 reach 80; all 9 in [64, 128].
    // Level 0: region (60, 84)² → {68, 76}, reach 68 > 64. Level 2: reaches 88, 72, 104 < 128. Levels 3, 4: too small.
    const grid = locationGrid(256, 256);
    const found = positives(assignInitialTargets(filterPeople([person([[8, 8], [137, 137]])]), grid, spec), grid);
    expect(found).toEqual([56, 72, 88].flatMap((y) => [56, 72, 88].map((x) => [1, x, y, 0])));
  });

  it('positives lie strictly inside both the center region and the box', () => {
    const oneLevel = locationGrid(64, 64, ONE_LEVEL);
    const xs = (people: Person[]) => [
      ...new Set(positives(assignInitialTargets(filterPeople(people), oneLevel, spec), oneLevel).map(([, x]) => x)),
    ];
    // Box [0, 0, 48, 48], center 24: the region (12, 36) has locations 12 and 36 on its edges, which do not count.
    expect(xs([person([[0, 0], [49, 49]])])).toEqual([20, 28]);
    // Box [4, 4, 20, 20], center 12: the region (0, 24) is clipped to the box, and 4 and 20 lie on the box's edges.
    expect(xs([person([[4, 4], [21, 21]])])).toEqual([12]);
  });

  it('a location in two people goes to the smaller pseudo box, whatever their order', () => {
    // small: box [20, 20, 59, 59] (area 40·40), large: [10, 10, 69, 69] (60·60); both centered at 39.5, so both
    // regions are (27.5, 51.5)² at s = 8 and share the locations x, y ∈ {28, 36, 44}.
    const small = person([[20, 20], [60, 60]]);
    const large = person([[10, 10], [70, 70]]);
    const oneLevel = locationGrid(128, 128, ONE_LEVEL);
    const shared = [28, 36, 44].flatMap((y) => [28, 36, 44].map((x) => [x, y]));
    for (const [people, smallIndex] of [[[small, large], 0], [[large, small], 1]] as const) {
      const found = positives(assignInitialTargets(filterPeople(people), oneLevel, spec), oneLevel);
      expect(found.map(([, x, y]) => [x, y])).toEqual(shared);
      expect(found.every(([, , , g]) => g === smallIndex)).toBe(true);
    }
  });

  it('between equal areas the earlier person wins', () => {
    // a: box [20, 20, 59, 59], region (27.5, 51.5)²; b: box [24, 24, 63, 63], region (31.5, 55.5)². Both 40×40.
    const a = person([[20, 20], [60, 60]]);
    const b = person([[24, 24], [64, 64]]);
    const oneLevel = locationGrid(128, 128, ONE_LEVEL);
    const shared = 4 * 16 + 4; // row 4, column 4 of the 16×16 map: (36, 36), inside both regions
    expect([oneLevel.x[shared], oneLevel.y[shared]]).toEqual([36, 36]);
    expect(assignInitialTargets(filterPeople([a, b]), oneLevel, spec).gtIndex[shared]).toBe(0);
    expect(assignInitialTargets(filterPeople([b, a]), oneLevel, spec).gtIndex[shared]).toBe(0);
  });

  it("the mmdet box's missing pixel breaks mirror symmetry: flipping about W+1 restores it", () => {
    // Keypoints x 20 and 60: mmdet box x [20, 59], center 39.5, region (27.5, 51.5) → columns x ∈ {28, 36, 44}.
    // Mirrored about W = 128 those are {84, 92, 100}. Flipping the keypoints about W (x → 68, 108) gives the box
    // [68, 107], center 87.5, region (75.5, 99.5) → {76, 84, 92}: one column off. About W + 1 (x → 69, 109) the box is
    // [69, 108], center 88.5, region (76.5, 100.5) → {84, 92, 100}, the mirror image.
    const oneLevel = locationGrid(128, 128, ONE_LEVEL);
    const columns = (people: Person[]) =>
      [...new Set(positives(assignInitialTargets(filterPeople(people), oneLevel, spec), oneLevel).map(([, x]) => x))];
    expect(columns([person([[20, 40], [60, 80]])])).toEqual([28, 36, 44]);
    expect(columns([person([[128 - 20, 40], [128 - 60, 80]])])).toEqual([76, 84, 92]);
    expect(columns([person([[129 - 20, 40], [129 - 60, 80]])])).toEqual([84, 92, 100]);
  });
});

describe('heatmap targets', () => {
  it('labels round((x − 4)/8), round((y − 4)/8), ties to even, later writes win, off-map cells skipped', () => {
    const first = person([
      [12, 20], // k0: (row, col) = (round(2), round(1)) = (2, 1)
      [8, 8, 1], // k1: (0.5, 0.5) rounds to the even 0: cell (0, 0), v = 1 counts
      [24, 4], // k2: column 2.5 → 2: cell (0, 2)
      [28, 28, 0], // k3: unlabelled, no label
    ]);
    const second = person([
      [40, 4], // k0: column round(4.5) = 4 is off the 4-wide map
      [-10, 12], // k1: column round(−1.75) = −2 is off the map
      [13, 19], // k2: (round(1.875), round(1.125)) = (2, 1): overwrites the first person's k0
    ]);
    const { height, width, onehot, positives: count } = heatmapTargets(filterPeople([first, second]), 32, 32, K);
    expect([height, width]).toEqual([4, 4]);
    const labelled: [number, number, number][] = [];
    onehot.forEach((one, i) => {
      if (one) labelled.push([Math.floor(i / 16), Math.floor((i % 16) / 4), i % 4]);
    });
    expect(labelled).toEqual([
      [1, 0, 0],
      [2, 0, 2],
      [2, 2, 1],
    ]);
    expect(count).toBe(3);
  });

  it('sizes the map like the P3 feature map of the padded input', () => {
    expect(heatmapTargets([], 100, 60, K)).toMatchObject({ height: 13, width: 8, positives: 0 });
  });
});

describe('batch targets', () => {
  const height = 128;
  const width = 256;
  const images: Person[][] = [
    [person([[30, 40], [90, 120]]), person([[5, 5]])], // the second is dropped
    [],
    [person([[10, 10], [60, 70, 1]], { area: 2500 }), person([[150, 20], [220, 100]], { area: 4000 })],
  ];

  it('lays each image out at n·L and matches the per-image targets', () => {
    const batch = buildBatchTargets(images, height, width, SMPR_LEVELS, spec);
    const L = batch.grid.count;
    expect(L).toBe(locationGrid(height, width).count);
    expect(batch.kept.map((people) => people.length)).toEqual([1, 0, 2]);
    let heatmapPositives = 0;
    images.forEach((people, n) => {
      const kept = filterPeople(people);
      const one = assignInitialTargets(kept, batch.grid, spec);
      expect(batch.initPos.subarray(n * L, (n + 1) * L)).toEqual(one.initPos);
      expect(batch.gtIndex.subarray(n * L, (n + 1) * L)).toEqual(one.gtIndex);
      expect(batch.t.subarray(n * L * 2 * K, (n + 1) * L * 2 * K)).toEqual(one.t);
      expect(batch.vis.subarray(n * L * 2 * K, (n + 1) * L * 2 * K)).toEqual(one.vis);
      const heatmap = heatmapTargets(kept, height, width, K);
      const cells = heatmap.height * heatmap.width;
      expect(batch.heatmap.subarray(n * K * cells, (n + 1) * K * cells)).toEqual(heatmap.onehot);
      heatmapPositives += heatmap.positives;
    });
    expect(batch.heatmapPositives).toBe(heatmapPositives);
    expect(batch.initPos.reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
  });

  it('packs the people into rows padded to the largest image, with a validity mask', () => {
    const { people } = buildBatchTargets(images, height, width, SMPR_LEVELS, spec);
    expect(people.rows).toBe(2);
    expect(Array.from(people.valid)).toEqual([1, 0, 0, 0, 1, 1]);
    expect(Array.from(people.area)).toEqual([1000, 1, 1, 1, 2500, 4000]);
    const row = (r: number) => Array.from(people.keypoints.subarray(r * 2 * K, r * 2 * K + 4));
    expect([row(0), row(1), row(4), row(5)]).toEqual([
      [30, 40, 90, 120],
      [0, 0, 0, 0],
      [10, 10, 60, 70],
      [150, 20, 220, 100],
    ]);
    expect(Array.from(people.visible.subarray(4 * K, 4 * K + 3))).toEqual([1, 1, 0]);
  });

  it('keeps one padding row when no image has anyone', () => {
    const batch = buildBatchTargets([[], []], 64, 64, TINY_LEVELS, spec);
    expect(batch.people.rows).toBe(1);
    expect(Array.from(batch.people.valid)).toEqual([0, 0]);
    expect(batch.initPos.every((v) => v === 0)).toBe(true);
    expect(batch.gtIndex.every((g) => g === -1)).toBe(true);
  });
});

// ----- Properties -----
// Coordinates are multiples of 1/64 and strides powers of two, so every sum, halving and division by s below is exact
// in both float64 and float32: the properties can demand exact equality.

interface Scene {
  levels: readonly LevelSpec[];
  height: number;
  width: number;
  people: Person[];
}

const quarters = (max: number) => fc.integer({ min: 0, max: 4 * max }).map((q) => q / 4);

/** A person as an origin, an extent and each keypoint at a sixteenth of that extent; any visibility. */
const personArb = (width: number, height: number) =>
  fc
    .record({
      x0: quarters(width),
      y0: quarters(height),
      w: quarters(320),
      h: quarters(320),
      fx: fc.array(fc.integer({ min: 0, max: 16 }), { minLength: K, maxLength: K }),
      fy: fc.array(fc.integer({ min: 0, max: 16 }), { minLength: K, maxLength: K }),
      v: fc.array(fc.constantFrom(0, 1, 2), { minLength: K, maxLength: K }),
      area: fc.integer({ min: 1, max: 100000 }),
    })
    .map(({ x0, y0, w, h, fx, fy, v, area }): Person => ({
      keypoints: fx.flatMap((f, k) => [x0 + (f / 16) * w, y0 + (fy[k] / 16) * h, v[k]]),
      area,
    }));

/** Widths are multiples of the largest stride (128), the only widths whose grid is mirror-symmetric. */
const sceneArb: fc.Arbitrary<Scene> = fc
  .record({
    levels: fc.constantFrom<readonly LevelSpec[]>(SMPR_LEVELS, TINY_LEVELS),
    height: fc.integer({ min: 8, max: 400 }),
    width: fc.integer({ min: 1, max: 4 }).map((m) => 128 * m),
  })
  .chain((base) => fc.array(personArb(base.width, base.height), { maxLength: 6 }).map((people) => ({ ...base, people })));

const optionsArb = fc.constantFrom<AssignOptions>(CODE_ASSIGNMENT, PAPER_ASSIGNMENT, { centerRadius: 2.5, box: 'tight' });

describe('properties of the initial targets', () => {
  it('each positive is in its person center region at a level whose range holds it, and no eligible person is smaller', () => {
    // Restates the rule in another form: strictly inside the center region means |p − c| < r·s on each axis and
    // strictly inside the box.
    fc.assert(
      fc.property(sceneArb, optionsArb, ({ levels, height, width, people }, options) => {
        const kept = filterPeople(people);
        const grid = locationGrid(height, width, levels);
        const targets = assignInitialTargets(kept, grid, spec, options);
        const radius = options.centerRadius!;
        const boxes = kept.map((p) => assignmentBox(p.pseudoBox, options.box!));
        const mismatches: string[] = [];
        for (const level of grid.levels) {
          const s = level.stride;
          for (let p = level.start; p < level.start + level.height * level.width; p++) {
            const [px, py] = [grid.x[p], grid.y[p]];
            const eligible = boxes.flatMap(([x1, y1, x2, y2], g) => {
              const inside = x1 < px && px < x2 && y1 < py && py < y2;
              const central = Math.abs(px - (x1 + x2) / 2) < radius * s && Math.abs(py - (y1 + y2) / 2) < radius * s;
              const reach = Math.max(px - x1, py - y1, x2 - px, y2 - py);
              return inside && central && level.range[0] <= reach && reach <= level.range[1] ? [g] : [];
            });
            const g = targets.gtIndex[p];
            const area = (i: number) => kept[i].pseudoBox[2] * kept[i].pseudoBox[3];
            const smallest = eligible.every((other) => area(other) > area(g) || (area(other) === area(g) && other >= g));
            if (eligible.length === 0 ? g !== -1 : !eligible.includes(g) || !smallest) mismatches.push(`${p}: ${g} of [${eligible}]`);
          }
        }
        expect(mismatches).toEqual([]);
      }),
      { numRuns: 150 },
    );
  });

  it('gtIndex, initPos, t and vis agree: t·s + p gives back the assigned keypoints', () => {
    fc.assert(
      fc.property(sceneArb, optionsArb, ({ levels, height, width, people }, options) => {
        const kept = filterPeople(people);
        const grid = locationGrid(height, width, levels);
        const { initPos, gtIndex, t, vis, people: table } = assignInitialTargets(kept, grid, spec, options);
        const mismatches: string[] = []; // collected rather than expect()-ed one by one, which is slow over L×K values
        for (let p = 0; p < grid.count; p++) {
          const g = gtIndex[p];
          if (initPos[p] !== (g >= 0 ? 1 : 0)) mismatches.push(`initPos ${p}`);
          for (let k = 0; k < K; k++) {
            const c = p * 2 * K + 2 * k;
            const labelled = g >= 0 && kept[g].keypoints[3 * k + 2] > 0;
            const expected = labelled ? 1 : 0;
            if (vis[c] !== expected || vis[c + 1] !== expected) mismatches.push(`vis ${p}/${k}`);
            const [x, y] = labelled ? [kept[g].keypoints[3 * k], kept[g].keypoints[3 * k + 1]] : [grid.x[p], grid.y[p]];
            if (t[c] * grid.stride[p] + grid.x[p] !== x || t[c + 1] * grid.stride[p] + grid.y[p] !== y) mismatches.push(`t ${p}/${k}`);
          }
        }
        expect(mismatches).toEqual([]);
        expect(Array.from(table.valid.subarray(0, kept.length))).toEqual(kept.map(() => 1));
        kept.forEach((person, g) => {
          expect(table.area[g]).toBe(Math.fround(person.area));
          for (let k = 0; k < K; k++) expect(table.keypoints[g * 2 * K + 2 * k]).toBe(person.keypoints[3 * k]);
        });
      }),
      { numRuns: 100 },
    );
  });
});

describe('horizontal flips commute with target generation', () => {
  // For even strides the grid j·s + s/2 is symmetric under x → W − x exactly when W is a multiple of every stride
  // (then j ↔ Wl−1−j); otherwise ceil leaves a partial cell on the right and the ⌊s/2⌋ offset has no mirror partner.
  // (The pixel flip x → W−1−x of augmentation moves the grid by one pixel, so it is not a symmetry of it.)

  /** Flips people about x → axis − x and swaps left and right keypoints with the flip index. */
  function flipPeople(people: readonly Person[], axis: number): Person[] {
    return people.map((p) => ({
      ...p,
      keypoints: spec.flipIndex.flatMap((from) => [axis - p.keypoints[3 * from], p.keypoints[3 * from + 1], p.keypoints[3 * from + 2]]),
    }));
  }

  /** The location that p becomes when the image is mirrored: same row, column j → width−1−j. */
  function mirrorLocation(grid: LocationGrid, p: number): number {
    const level = grid.levels.find((l) => p < l.start + l.height * l.width)!;
    const j = (p - level.start) % level.width;
    return p - j + (level.width - 1 - j);
  }

  /**
   * Checks targets(flipped people) at mirror(p) against targets(people) at p: the same positive and person, keypoint k
   * taking keypoint flipIndex[k]'s targets with dx → shift/s − dx.
   */
  function expectMirrored(original: ImageTargets, flipped: ImageTargets, grid: LocationGrid, shift: number): void {
    const mismatches: string[] = [];
    for (let p = 0; p < grid.count; p++) {
      const q = mirrorLocation(grid, p);
      if (flipped.initPos[q] !== original.initPos[p] || flipped.gtIndex[q] !== original.gtIndex[p]) mismatches.push(`assignment ${p}`);
      if (!original.initPos[p]) continue;
      const s = grid.stride[p];
      spec.flipIndex.forEach((from, k) => {
        const a = p * 2 * K + 2 * from;
        const b = q * 2 * K + 2 * k;
        if (flipped.vis[b] !== original.vis[a] || flipped.vis[b + 1] !== original.vis[a + 1]) mismatches.push(`vis ${p}/${k}`);
        if (!original.vis[a]) return;
        if (flipped.t[b] !== Math.fround(shift / s - original.t[a]) || flipped.t[b + 1] !== original.t[a + 1]) mismatches.push(`t ${p}/${k}`);
      });
    }
    expect(mismatches).toEqual([]);
  }

  it('with the tight box, mirroring the people about W mirrors the targets exactly', () => {
    fc.assert(
      fc.property(sceneArb, fc.constantFrom<AssignOptions>(PAPER_ASSIGNMENT, { centerRadius: 1.5, box: 'tight' }), (scene, options) => {
        const grid = locationGrid(scene.height, scene.width, scene.levels);
        const original = assignInitialTargets(filterPeople(scene.people), grid, spec, options);
        const flipped = assignInitialTargets(filterPeople(flipPeople(scene.people, scene.width)), grid, spec, options);
        expectMirrored(original, flipped, grid, 0);
      }),
      { numRuns: 100 },
    );
  });

  it('with the mmdet box (1 px short on the right), it is flipping the people about W + 1 that mirrors the positives', () => {
    // x → W+1−x maps the mmdet box [x1, x2−1] to [W+1−x2, W−x1], the mirror about W of the original box; the
    // regression targets then pick up the extra pixel: dx' = 1/s − dx.
    fc.assert(
      fc.property(sceneArb, (scene) => {
        const grid = locationGrid(scene.height, scene.width, scene.levels);
        const original = assignInitialTargets(filterPeople(scene.people), grid, spec, CODE_ASSIGNMENT);
        const flipped = assignInitialTargets(filterPeople(flipPeople(scene.people, scene.width + 1)), grid, spec, CODE_ASSIGNMENT);
        expectMirrored(original, flipped, grid, 1);
      }),
      { numRuns: 100 },
    );
  });
});
