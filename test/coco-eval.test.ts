import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { cocoKeypointEval, formatCocoKeypointSummary } from '../src/coco/eval.js';
import type { CocoKeypointAnnotation, CocoKeypointDataset, CocoKeypointResult } from '../src/coco/format.js';
import { oks } from '../src/coco/oks.js';
import { loadGolden } from './golden.js';

// Stat positions in the returned `stats`.
const AP = 0, AP50 = 1, AP75 = 2, APm = 3, APl = 4, AR = 5, AR50 = 6, ARm = 8, ARl = 9;

/**
 * Tolerance for hand-worked expectations: 1e-12. It is far below any effect a quirk has (≥ 1e-3 in every test),
 * and above pycocotools' own eps artefact (a lone leading true positive has precision 1/(1+eps), 2.2e-16 below 1).
 */
const HAND = 1e-12;

function expectClose(actual: number, expected: number, tolerance: number): void {
  expect(Math.abs(actual - expected), `${actual} vs ${expected}`).toBeLessThanOrEqual(tolerance);
}

/** Where a person's 17 keypoints sit inside its box, as fractions of width and height. */
const BODY: [number, number][] = [
  [0.5, 0.05], [0.45, 0], [0.55, 0], [0.4, 0.05], [0.6, 0.05], [0.3, 0.2], [0.7, 0.2], [0.2, 0.35], [0.8, 0.35],
  [0.15, 0.5], [0.85, 0.5], [0.35, 0.55], [0.65, 0.55], [0.35, 0.75], [0.65, 0.75], [0.35, 1], [0.65, 1],
];

/** A person in the box at (x, y) of size w × h: keypoints span [x + 0.15w, x + 0.85w] × [y, y + h]. */
function person(x: number, y: number, w = 40, h = 100, v = 2): number[] {
  return BODY.flatMap(([u, t]) => [x + u * w, y + t * h, v]);
}

/** 17 unlabelled keypoints at the origin, as COCO writes crowd regions and people without keypoints. */
const NO_KEYPOINTS = person(0, 0, 0, 0, 0);

function shifted(keypoints: readonly number[], dx: number, dy: number): number[] {
  return keypoints.map((value, i) => (i % 3 === 0 ? value + dx : i % 3 === 1 ? value + dy : value));
}

type AnnotationFields = Partial<CocoKeypointAnnotation> & { id: number; keypoints: number[] } & Record<string, unknown>;

/** A ground-truth person; by default on image 1, area 5000 (medium), not a crowd, box = keypoint extent. */
function gt(fields: AnnotationFields): CocoKeypointAnnotation {
  const xs = fields.keypoints.filter((_, i) => i % 3 === 0);
  const ys = fields.keypoints.filter((_, i) => i % 3 === 1);
  const [x0, y0] = [Math.min(...xs), Math.min(...ys)];
  return {
    image_id: 1,
    category_id: 1,
    area: 5000,
    bbox: [x0, y0, Math.max(...xs) - x0, Math.max(...ys) - y0],
    iscrowd: 0,
    num_keypoints: fields.keypoints.filter((v, i) => i % 3 === 2 && v > 0).length,
    ...fields,
  };
}

function dataset(annotations: CocoKeypointAnnotation[], imageIds: number[] = [1]): CocoKeypointDataset {
  return { images: imageIds.map((id) => ({ id })), annotations, categories: [{ id: 1 }] };
}

/** A detection (with the third keypoint values as scores, which must not matter). */
function det(keypoints: readonly number[], score: number, extra: Partial<CocoKeypointResult> & Record<string, unknown> = {}): CocoKeypointResult {
  return { image_id: 1, category_id: 1, keypoints: keypoints.map((value, i) => (i % 3 === 2 ? 0.3 : value)), score, ...extra };
}

function stats(gtSet: CocoKeypointDataset, results: CocoKeypointResult[]): number[] {
  return cocoKeypointEval(gtSet, results).stats;
}

describe('golden cases (pycocotools output)', () => {
  const golden = loadGolden<{ stat_names: string[]; cases: { name: string; gt: CocoKeypointDataset; dt: CocoKeypointResult[]; stats: number[] }[] }>(
    'coco_keypoint_eval.json',
  );

  test('the golden file has cases', () => {
    expect(golden.cases.length).toBeGreaterThan(0);
  });

  test.each(golden.cases.map((c) => [c.name, c] as const))('%s: every stat agrees to 1e-9', (_, goldenCase) => {
    const result = cocoKeypointEval(goldenCase.gt, goldenCase.dt).stats;
    expect(result).toHaveLength(10);
    result.forEach((value, i) => {
      expect(Math.abs(value - goldenCase.stats[i]), `${golden.stat_names[i]}: ${value} vs ${goldenCase.stats[i]}`).toBeLessThanOrEqual(1e-9);
    });
  });
});

describe('pycocotools quirks', () => {
  test('recall thresholds are numpy linspace values i·0.01, so a recall of exactly 7/20 misses the 0.35 threshold (Params.recThrs)', () => {
    // 20 people; ranked 7 TPs, 1 FP, 1 TP. recThrs[35] = 35·0.01 = 0.35000000000000003 > 7/20, so it samples the
    // precision at the 9th detection (8/9), not 1: AP = (35·1 + 6·8/9)/101 at every threshold. With i/100 it would
    // be (36·1 + 5·8/9)/101.
    const people = Array.from({ length: 20 }, (_, i) => person((i % 5) * 150, Math.floor(i / 5) * 200));
    const annotations = people.map((keypoints, i) => gt({ id: i + 1, keypoints }));
    const results = [
      ...people.slice(0, 7).map((keypoints, i) => det(keypoints, 0.99 - i * 0.01)),
      det(person(2000, 2000), 0.92),
      det(people[7], 0.91),
    ];
    const s = stats(dataset(annotations), results);
    expectClose(s[AP50], (35 + (6 * 8) / 9) / 101, HAND);
    expectClose(s[AP], (35 + (6 * 8) / 9) / 101, HAND);
    expect(Math.abs(s[AP50] - (36 + (5 * 8) / 9) / 101)).toBeGreaterThan(1e-3);
  });

  test('detection areas come from bbox for every result if the *first* result has one, else from the keypoint extent (loadRes)', () => {
    // One large person. A false positive (score .95) is large by its keypoints (98×200) but has a 10×10 bbox.
    const annotations = [gt({ id: 1, keypoints: person(0, 0, 140, 200), area: 10000 })];
    const falsePositive = det(person(1000, 1000, 140, 200), 0.95, { bbox: [1000, 1000, 10, 10] });
    const truePositive = person(0, 0, 140, 200);

    // bbox branch: the FP's area is 100, outside "large", so it is ignored there (but counts in "all").
    const boxFirst = stats(dataset(annotations), [falsePositive, det(truePositive, 0.9, { bbox: [0, 0, 140, 200] })]);
    expectClose(boxFirst[APl], 1, HAND);
    expectClose(boxFirst[AP], 0.5, HAND);

    // keypoint branch because results[0] has no bbox: the FP's area is 19600, so it counts in "large".
    const keypointsFirst = stats(dataset(annotations), [det(truePositive, 0.9), falsePositive]);
    expectClose(keypointsFirst[APl], 0.5, HAND);
  });

  test('a detection area from keypoints spans all 17 joints, so a joint written 0,0,0 stretches it to the origin (loadRes)', () => {
    const annotations = [gt({ id: 1, keypoints: person(0, 0, 40, 100), area: 2000 })];
    const compact = person(500, 500, 40, 100); // extent 28 × 100 = 2800: medium
    const withMissingNose = [0, 0, 0, ...compact.slice(3)]; // extent ~528 × 600: large
    const truePositive = det(person(0, 0, 40, 100), 0.9);

    // The stretched false positive is outside "medium" and is ignored there; the compact one is a medium FP.
    expectClose(stats(dataset(annotations), [det(withMissingNose, 0.95), truePositive])[APm], 1, HAND);
    expectClose(stats(dataset(annotations), [det(compact, 0.95), truePositive])[APm], 0.5, HAND);
  });

  test('the OKS scale is the annotation area field, not the bbox area (computeOks)', () => {
    const keypoints = person(100, 100);
    const detection = shifted(keypoints, 6, 6);
    expect(oks(keypoints, detection, 1500)).toBeLessThan(0.5);
    expect(oks(keypoints, detection, 200 * 200)).toBeGreaterThan(0.5); // what the bbox area would give
    const s = stats(dataset([gt({ id: 1, keypoints, area: 1500, bbox: [0, 0, 200, 200] })]), [det(detection, 0.9)]);
    expect(s[AP50]).toBe(0);
    expect(s[AR50]).toBe(0);
  });

  test('a gt without labelled keypoints absorbs detections inside its box grown 3× about its centre (computeOks)', () => {
    // The ignored gt's box [100, 100, 50, 100] grows to x ∈ [50, 200], y ∈ [0, 300]. The higher-scoring detection
    // lies at x ∈ [54, 68]: inside the 3× box (OKS 1, so it is absorbed and ignored), but ≥ 7 px outside the 2× box
    // the upstream comment describes, where at area 100 its OKS would be ≈ 0 and it would be a false positive.
    const ignoredBox = [100, 100, 50, 100] as const;
    const inside3x = person(51, 60, 20, 100);
    expect(oks(NO_KEYPOINTS, inside3x, 100, undefined, ignoredBox)).toBe(1);
    const annotations = [
      gt({ id: 1, keypoints: person(300, 300) }),
      gt({ id: 2, keypoints: NO_KEYPOINTS, num_keypoints: 0, area: 100, bbox: ignoredBox }),
    ];
    expectClose(stats(dataset(annotations), [det(inside3x, 0.9), det(person(300, 300), 0.5)])[AP], 1, HAND);
  });

  test('"ignored" comes from the num_keypoints field, the OKS branch from the v flags (_prepare vs computeOks)', () => {
    // num_keypoints 3 but no v > 0: not ignored, matched through its box; a detection inside the 3× box is a TP.
    const flaggedNone = gt({ id: 1, keypoints: NO_KEYPOINTS, num_keypoints: 3, area: 3000, bbox: [100, 100, 40, 100] });
    const s = stats(dataset([flaggedNone]), [det(person(100, 100), 0.9)]);
    expectClose(s[AP], 1, HAND);
    expect(s[AR]).toBe(1);

    // num_keypoints 0 but every v = 2: ignored, so there is nothing to find.
    const countedNone = gt({ id: 1, keypoints: person(100, 100), num_keypoints: 0 });
    const t = stats(dataset([countedNone]), [det(person(100, 100), 0.9)]);
    expect(t[AP]).toBe(-1);
    expect(t[AR]).toBe(-1);
  });

  test('an ignore field in the ground truth is overwritten and has no effect (_prepare)', () => {
    const s = stats(dataset([gt({ id: 1, keypoints: person(0, 0), ignore: 1 })]), [det(person(0, 0), 0.9)]);
    expectClose(s[AP], 1, HAND);
    expect(s[AR]).toBe(1);
  });

  test('area range bounds are inclusive: area 9216 is medium and large, 1024 is medium (evaluateImg)', () => {
    const at9216 = stats(dataset([gt({ id: 1, keypoints: person(0, 0), area: 96 ** 2 })]), [det(person(0, 0), 0.9)]);
    expectClose(at9216[APm], 1, HAND);
    expectClose(at9216[APl], 1, HAND);
    expect([at9216[ARm], at9216[ARl]]).toEqual([1, 1]);

    const at1024 = stats(dataset([gt({ id: 1, keypoints: person(0, 0), area: 32 ** 2 })]), [det(person(0, 0), 0.9)]);
    expectClose(at1024[APm], 1, HAND);
    expect(at1024[APl]).toBe(-1);
  });

  test('only the top 20 detections of an image count, and tied scores keep file order at the cut (computeOks, evaluateImg)', () => {
    const annotations = [gt({ id: 1, keypoints: person(0, 0) })];
    const misses = Array.from({ length: 20 }, (_, i) => det(person(1000 + 100 * i, 1000), 0.5));
    const hit = det(person(0, 0), 0.5);

    const hit21st = stats(dataset(annotations), [...misses, hit]);
    expect(hit21st[AR]).toBe(0);
    expect(hit21st[AP]).toBe(0);

    const hit20th = stats(dataset(annotations), [...misses.slice(0, 19), hit, misses[19]]);
    expect(hit20th[AR]).toBe(1);
    expectClose(hit20th[AP], 1 / 20, HAND); // 19 tied misses rank first, in file order
  });

  test('score ties rank in file order within an image and by ascending image id across images (stable mergesort)', () => {
    const annotations = [gt({ id: 1, keypoints: person(0, 0) })];
    const miss = det(person(500, 500), 0.5);
    const hit = det(person(0, 0), 0.5);
    expectClose(stats(dataset(annotations), [miss, hit])[AP], 0.5, HAND);
    expectClose(stats(dataset(annotations), [hit, miss])[AP], 1, HAND);

    // Images 5 and 3, one person each; the hit is on image 5 and listed first, the tied miss on image 3.
    // Image 3 ranks first: FP, TP → precision 1/2 up to recall 1/2 → AP = 51·0.5/101.
    const twoImages = (missImage: number) =>
      stats(
        dataset([gt({ id: 1, image_id: 5, keypoints: person(0, 0) }), gt({ id: 2, image_id: missImage, keypoints: person(0, 0) })], [5, missImage]),
        [det(person(0, 0), 0.5, { image_id: 5 }), det(person(500, 500), 0.5, { image_id: missImage })],
      );
    expectClose(twoImages(3)[AP], (51 * 0.5) / 101, HAND);
    expectClose(twoImages(7)[AP], 51 / 101, HAND); // the miss now on image 7, after image 5
  });

  test('a detection takes an available non-ignored gt with OKS ≥ t before an ignored one with higher OKS (evaluateImg)', () => {
    // OKS to the real person is ≈0.62, to the crowd region 1. It is a TP at t = .5, .55, .6; above that, it falls
    // to the crowd and is ignored: AP = AR = 3/10. Taking the highest OKS regardless would give 0.
    const real = person(100, 100);
    const detection = shifted(real, 7.5, 0);
    const similarity = oks(real, detection, 5000);
    expect(similarity).toBeGreaterThan(0.6);
    expect(similarity).toBeLessThan(0.65);
    const annotations = [gt({ id: 1, keypoints: real }), gt({ id: 2, keypoints: detection, iscrowd: 1 })];
    const s = stats(dataset(annotations), [det(detection, 0.9)]);
    expectClose(s[AP], 0.3, HAND);
    expectClose(s[AR], 0.3, HAND);
  });

  test('only crowd gts absorb several detections; an ignored non-crowd gt is used up by the first (evaluateImg)', () => {
    // Two detections inside the 3× box of an ignored gt, ranked above the one true positive.
    const region = { keypoints: NO_KEYPOINTS, num_keypoints: 0, area: 100, bbox: [100, 100, 50, 100] as const };
    const results = [det(person(120, 120, 20), 0.9), det(person(130, 110, 20), 0.8), det(person(300, 300), 0.5)];
    const real = gt({ id: 1, keypoints: person(300, 300) });

    // Not a crowd: the second detection finds it taken and is a false positive → precision 1/2 at the TP.
    expectClose(stats(dataset([real, gt({ id: 2, ...region, iscrowd: 0 })]), results)[AP], 0.5, HAND);
    // A crowd absorbs both.
    expectClose(stats(dataset([real, gt({ id: 2, ...region, iscrowd: 1 })]), results)[AP], 1, HAND);
  });

  test('OKS ties go to the later gt, which decides which single-use ignored gt is consumed (evaluateImg `>=`)', () => {
    // Grown boxes: first x ∈ [50, 200], second x ∈ [110, 260]. The top detection is inside both (OKS 1 to each),
    // the next only inside the first. Ties to the later gt leave the first for the second detection.
    const ignored = (id: number, x: number) => gt({ id, keypoints: NO_KEYPOINTS, num_keypoints: 0, area: 100, bbox: [x, 100, 50, 100] });
    const real = gt({ id: 1, keypoints: person(300, 300) });
    const results = [det(person(120, 120, 20), 0.9), det(person(55, 120, 20), 0.8), det(person(300, 300), 0.5)];
    expectClose(stats(dataset([real, ignored(2, 100), ignored(3, 160)]), results)[AP], 1, HAND);
    // In the other file order the top detection takes the box the second one needs, which becomes an FP.
    expectClose(stats(dataset([real, ignored(3, 160), ignored(2, 100)]), results)[AP], 0.5, HAND);
  });

  test('a detection matched to a real gt is never area-ignored; one matched to an ignored gt is ignored (evaluateImg)', () => {
    // Area field 2000 (medium), keypoints 98 × 200 (a large detection area).
    const s = stats(dataset([gt({ id: 1, keypoints: person(0, 0, 140, 200), area: 2000 })]), [det(person(0, 0, 140, 200), 0.9)]);
    expectClose(s[APm], 1, HAND);
    expect(s[ARm]).toBe(1);
    expect(s[APl]).toBe(-1); // in "large" the gt is out of range, so its detection is ignored and nothing counts
  });

  test('a gt with id 0 can never be a true positive: matches are stored as gt ids and 0 means unmatched (evaluateImg)', () => {
    const withId = (id: number) => stats(dataset([gt({ id, keypoints: person(0, 0) })]), [det(person(0, 0), 0.9)]);
    expect(withId(0)[AP]).toBe(0);
    expect(withId(0)[AR]).toBe(0);
    expectClose(withId(7)[AP], 1, HAND);
  });

  test('detection ids are reassigned 1..N, so ids given in the results do not matter (loadRes)', () => {
    // Were the given id 0 kept, the gt would look unmatched after the first hit and both copies would count (AR 2).
    const s = stats(dataset([gt({ id: 1, keypoints: person(0, 0) })]), [det(person(0, 0), 0.9, { id: 0 }), det(person(0, 0), 0.8, { id: 0 })]);
    expect(s[AR]).toBe(1);
    expectClose(s[AP], 1, HAND);
  });

  test('empty results give 0 wherever there is ground truth and -1 elsewhere (pycocotools itself crashes)', () => {
    expect(stats(dataset([gt({ id: 1, keypoints: person(0, 0) })]), [])).toEqual([0, 0, 0, 0, -1, 0, 0, 0, 0, -1]);
  });

  test('precision is tp / (tp + fp + eps): a lone perfect detection scores 1/(1+eps), not 1 (accumulate)', () => {
    // Every sampled precision is 1/(1+eps) = 0.9999999999999998; numpy's pairwise mean of the 1010 copies gives
    // that value back, and of the 101 copies for AP50, 0.9999999999999999.
    const lone = stats(dataset([gt({ id: 1, keypoints: person(0, 0) })]), [det(person(0, 0), 0.9)]);
    expect(lone[AP]).toBe(0.9999999999999998);
    expect(lone[AP50]).toBe(0.9999999999999999);

    // The doc's hand-checked case: 2 people, ranked TP, FP, TP: (51/(1+eps) + 50·2/3)/101, printed by pycocotools
    // as 0.8349834983498348.
    const annotations = [gt({ id: 1, keypoints: person(0, 0) }), gt({ id: 2, keypoints: person(300, 0) })];
    const tpFpTp = stats(dataset(annotations), [det(person(0, 0), 0.9), det(person(600, 600), 0.8), det(person(300, 0), 0.7)]);
    expect(tpFpTp[AP]).toBe(0.8349834983498348);
  });

  test('a range without non-ignored gt is -1 even when it has detections (accumulate, summarize)', () => {
    const s = stats(dataset([gt({ id: 1, keypoints: person(0, 0, 140, 200), area: 20000 })]), [det(person(500, 500), 0.9), det(person(0, 0, 140, 200), 0.8)]);
    expect(s[APm]).toBe(-1);
    expect(s[ARm]).toBe(-1);
    expectClose(s[APl], 1, HAND);
  });

  test('results on unknown images are an error; results of unknown categories are dropped (loadRes, getAnnIds)', () => {
    const annotations = [gt({ id: 1, keypoints: person(0, 0) })];
    expect(() => stats(dataset(annotations), [det(person(0, 0), 0.9, { image_id: 99 })])).toThrow(/dt: \[0\]\.image_id: 99 is not the id of an image in the ground truth/);
    const base = stats(dataset(annotations), [det(person(0, 0), 0.5)]);
    expect(stats(dataset(annotations), [det(person(900, 900), 0.9, { category_id: 2 }), det(person(0, 0), 0.5)])).toEqual(base);
  });

  test('ground truth on images missing from `images` is dropped; listed images without annotations take part (getAnnIds)', () => {
    const annotations = [gt({ id: 1, keypoints: person(0, 0) }), gt({ id: 2, image_id: 9, keypoints: person(0, 0) })];
    const s = stats(dataset(annotations, [1, 2]), [det(person(0, 0), 0.5), det(person(0, 0), 0.9, { image_id: 2 })]);
    expect(s[AR]).toBe(1); // the person on unlisted image 9 is not counted
    expectClose(s[AP], 0.5, HAND); // the detection on annotation-free image 2 is a false positive
  });
});

describe('input validation', () => {
  const valid = dataset([gt({ id: 1, keypoints: person(0, 0) })]);

  test.each([
    ['a keypoint list of the wrong length', { ...valid, annotations: [{ ...valid.annotations[0], keypoints: [1, 2, 2] }] }, /gt: annotations\[0\]\.keypoints: expected 51 numbers \(17 keypoints × 3\), got 3/],
    ['a missing num_keypoints', { ...valid, annotations: [{ ...valid.annotations[0], num_keypoints: undefined }] }, /gt: annotations\[0\]\.num_keypoints: expected a number, got nothing/],
    ['a missing iscrowd', { ...valid, annotations: [{ ...valid.annotations[0], iscrowd: undefined }] }, /gt: annotations\[0\]\.iscrowd/],
    ['a bad bbox', { ...valid, annotations: [{ ...valid.annotations[0], bbox: [0, 0, 1] }] }, /gt: annotations\[0\]\.bbox: expected 4 numbers \[x, y, width, height\], got 3/],
    ['duplicate annotation ids', { ...valid, annotations: [valid.annotations[0], valid.annotations[0]] }, /gt: annotations\[1\]\.id: duplicate annotation id 1/],
    ['no images list', { ...valid, images: undefined }, /gt: images: expected an array, got nothing/],
    ['an image without id', { ...valid, images: [{}] }, /gt: images\[0\]\.id: missing/],
  ])('ground truth with %s is rejected, naming the field', (_, badGt, message) => {
    expect(() => cocoKeypointEval(badGt as unknown as CocoKeypointDataset, [])).toThrow(message);
  });

  test.each([
    ['a score given as a string', [{ ...det(person(0, 0), 0.5), score: '0.5' }], /dt: \[0\]\.score: expected a number, got the string "0\.5"/],
    ['a NaN keypoint', [det([NaN, ...person(0, 0).slice(1)], 0.5)], /dt: \[0\]\.keypoints\[0\]: expected a number, got number NaN/],
    ['a later result without bbox when the first has one', [det(person(0, 0), 0.5, { bbox: [0, 0, 1, 1] }), det(person(0, 0), 0.4)], /dt: \[1\]\.bbox: missing/],
    ['a segmentation in the first result', [det(person(0, 0), 0.5, { segmentation: [[0, 0, 1, 1]] })], /dt: \[0\]\.segmentation/],
    ['not a list', { image_id: 1 }, /dt: \(root\): expected an array, got object/],
  ])('results with %s are rejected, naming the field', (_, badDt, message) => {
    expect(() => cocoKeypointEval(valid, badDt as unknown as CocoKeypointResult[])).toThrow(message);
  });
});

describe('summary text', () => {
  test("matches pycocotools' summarize() lines, including Python's round-half-even and -1", () => {
    // 0.5625 = 9/16 is an exact tie at the 4th decimal: Python prints 0.562 where toFixed would print 0.563.
    // 0.9995 is not a tie: its double lies just above it, so both print 1.000.
    const text = formatCocoKeypointSummary([0.5625, 0.0625, 0.75, 0.1234567, -1, 0.9995, 1, 0.4375, 0.44, -1]);
    expect(text.split('\n')).toEqual([
      ' Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets= 20 ] = 0.562',
      ' Average Precision  (AP) @[ IoU=0.50      | area=   all | maxDets= 20 ] = 0.062',
      ' Average Precision  (AP) @[ IoU=0.75      | area=   all | maxDets= 20 ] = 0.750',
      ' Average Precision  (AP) @[ IoU=0.50:0.95 | area=medium | maxDets= 20 ] = 0.123',
      ' Average Precision  (AP) @[ IoU=0.50:0.95 | area= large | maxDets= 20 ] = -1.000',
      ' Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets= 20 ] = 1.000',
      ' Average Recall     (AR) @[ IoU=0.50      | area=   all | maxDets= 20 ] = 1.000',
      ' Average Recall     (AR) @[ IoU=0.75      | area=   all | maxDets= 20 ] = 0.438',
      ' Average Recall     (AR) @[ IoU=0.50:0.95 | area=medium | maxDets= 20 ] = 0.440',
      ' Average Recall     (AR) @[ IoU=0.50:0.95 | area= large | maxDets= 20 ] = -1.000',
    ]);
  });

  test('needs exactly 10 numbers', () => {
    expect(() => formatCocoKeypointSummary([0.5])).toThrow(/expected 10 stats, got 1/);
  });
});

describe('properties', () => {
  /**
   * A scene: 1–3 images, each with 1–5 people on a 250-px grid (far apart, so a person only matches its own
   * detections), random sizes, areas and labelled flags (at least one labelled keypoint each), never crowds.
   */
  const scene = fc
    .array(
      fc.array(
        fc.record({
          w: fc.integer({ min: 20, max: 120 }),
          h: fc.integer({ min: 40, max: 180 }),
          area: fc.integer({ min: 500, max: 20000 }),
          flags: fc.array(fc.constantFrom(0, 1, 2), { minLength: 17, maxLength: 17 }).filter((flags) => flags.some((v) => v > 0)),
        }),
        { minLength: 1, maxLength: 5 },
      ),
      { minLength: 1, maxLength: 3 },
    )
    .map((images) => {
      let id = 0;
      const annotations = images.flatMap((people, image) =>
        people.map(({ w, h, area, flags }, slot) => {
          const keypoints = person(slot * 250, 0, w, h).map((value, i) => (i % 3 === 2 ? flags[Math.floor(i / 3)] : value));
          return gt({ id: ++id, image_id: image + 1, keypoints, area });
        }),
      );
      return dataset(annotations, images.map((_, i) => i + 1));
    });

  /** Noisy copies of the scene's people (0–2 each, up to 8 px off) and a few misses, with distinct scores. */
  const sceneWithDetections = scene.chain((gtSet) =>
    fc
      .tuple(
        fc.array(fc.tuple(fc.nat(gtSet.annotations.length - 1), fc.integer({ min: -8, max: 8 }), fc.integer({ min: -8, max: 8 })), { maxLength: 12 }),
        fc.array(fc.tuple(fc.nat(gtSet.images.length - 1), fc.integer({ min: 0, max: 1000 })), { maxLength: 4 }),
        fc.uniqueArray(fc.integer({ min: 1, max: 1_000_000 }), { minLength: 16, maxLength: 16 }),
      )
      .map(([copies, misses, scores]) => {
        const results = [
          ...copies.map(([j, dx, dy], i) => {
            const annotation = gtSet.annotations[j];
            return det(shifted(annotation.keypoints, dx, dy), scores[i] / 1_000_000, { image_id: annotation.image_id });
          }),
          ...misses.map(([image, x], i) => det(person(3000 + x, 3000), scores[12 + i] / 1_000_000, { image_id: gtSet.images[image].id })),
        ];
        return { gtSet, results };
      }),
  );

  test('perfect detections give AP 1 (within the 2.3e-16 eps artefact) and AR exactly 1', () => {
    fc.assert(
      fc.property(scene, fc.array(fc.double({ min: 0.01, max: 1, noNaN: true }), { minLength: 15, maxLength: 15 }), (gtSet, scores) => {
        const results = gtSet.annotations.map((annotation, i) => det(annotation.keypoints, scores[i], { image_id: annotation.image_id }));
        const s = stats(gtSet, results);
        expect(1 - s[AP]).toBeLessThanOrEqual(3e-16);
        expect(s[AR]).toBe(1);
        for (const i of [AP50, AP75, APm, APl]) expect(s[i] === -1 || 1 - s[i] <= 3e-16).toBe(true);
      }),
    );
  });

  test('with distinct scores, the order of the results list does not change any stat', () => {
    fc.assert(
      fc.property(sceneWithDetections, fc.array(fc.nat(), { minLength: 16, maxLength: 16 }), ({ gtSet, results }, keys) => {
        const shuffled = results.map((result, i) => ({ result, key: keys[i] })).sort((a, b) => a.key - b.key).map(({ result }) => result);
        expect(stats(gtSet, shuffled)).toEqual(stats(gtSet, results));
      }),
    );
  });

  test('adding a zero-score false positive anywhere in the list never raises any AP', () => {
    fc.assert(
      fc.property(sceneWithDetections, fc.nat(), fc.nat(), ({ gtSet, results }, imagePick, position) => {
        const imageId = gtSet.images[imagePick % gtSet.images.length].id;
        const withMiss = [...results];
        withMiss.splice(position % (results.length + 1), 0, det(person(5000, 5000), 0, { image_id: imageId }));
        const before = stats(gtSet, results);
        const after = stats(gtSet, withMiss);
        for (const i of [AP, AP50, AP75, APm, APl]) expect(after[i]).toBeLessThanOrEqual(before[i]);
      }),
    );
  });
});
