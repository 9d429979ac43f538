import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { COCO_SIGMAS } from '../src/coco/keypoints.js';
import { boxIou, hardNms, oksNms, poseBox, softNmsLinear, type KeptPose, type ScoredPose } from '../src/smpr/nms.js';
import { oks } from '../src/coco/oks.js';

const K = COCO_SIGMAS.length;

/** A two-keypoint "pose" whose pseudo box is exactly [x1, y1, x2, y2]: handy for hand-worked IoUs. */
function corners(x1: number, y1: number, x2: number, y2: number, score: number): ScoredPose {
  return { keypoints: [x1, y1, x2, y2], score };
}

/** `[x, y, 1]` per keypoint, as `oks` wants a ground truth with every keypoint labelled. */
function labelled(keypoints: ArrayLike<number>): number[] {
  return Array.from({ length: keypoints.length / 2 }, (_, k) => [keypoints[2 * k], keypoints[2 * k + 1], 1]).flat();
}

function boxAreaOf(keypoints: ArrayLike<number>): number {
  const [x1, y1, x2, y2] = poseBox(keypoints);
  return (x2 - x1) * (y2 - y1);
}

/** 17-keypoint poses scattered inside random person boxes on a 300 × 300 field, so that many overlap. */
const poses = fc.array(
  fc
    .record({
      x: fc.integer({ min: 0, max: 300 }),
      y: fc.integer({ min: 0, max: 300 }),
      w: fc.integer({ min: 5, max: 120 }),
      h: fc.integer({ min: 5, max: 120 }),
      spots: fc.array(fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true })), { minLength: K, maxLength: K }),
      score: fc.double({ min: 0, max: 1, noNaN: true }),
    })
    .map(({ x, y, w, h, spots, score }): ScoredPose => ({ keypoints: Float32Array.from(spots.flatMap(([u, v]) => [x + u * w, y + v * h])), score })),
  { maxLength: 30 },
);

function expectSubsetSortedByScore(kept: KeptPose[], input: readonly ScoredPose[]): void {
  expect(new Set(kept.map((k) => k.index)).size).toBe(kept.length);
  for (const { index } of kept) expect(index >= 0 && index < input.length && Number.isInteger(index)).toBe(true);
  for (let i = 1; i < kept.length; i++) expect(kept[i].score).toBeLessThanOrEqual(kept[i - 1].score);
}

describe('pseudo boxes and IoU', () => {
  test('the pseudo box is the min/max of the keypoints; with [x, y, v] the v values are skipped', () => {
    expect(poseBox([5, 7, 1, 9, 3, 4])).toEqual([1, 4, 5, 9]);
    expect(poseBox([5, 7, 100, 1, 9, -50], 3)).toEqual([1, 7, 5, 9]);
  });

  test('IoU uses the +1 pixel convention: [0,0,9,9] vs [5,0,14,9] is 50/150, not 36/126', () => {
    expect(boxIou([0, 0, 9, 9], [5, 0, 14, 9])).toBeCloseTo(1 / 3, 15);
    expect(boxIou([3, 3, 3, 3], [3, 3, 3, 3])).toBe(1); // a single point is a 1-pixel box, not 0/0
    expect(boxIou([0, 0, 9, 9], [10, 0, 19, 9])).toBe(0);
  });
});

describe('hardNms', () => {
  test('removes a pose at exactly the threshold (the authors compare with >=) and keeps one below it', () => {
    const poses = [corners(0, 0, 9, 9, 0.9), corners(0, 0, 9, 4, 0.8), corners(5, 0, 14, 9, 0.7)];
    // IoU(first, second) = 50/100 = 0.5 exactly; IoU(first, third) = 1/3; IoU(second, third) = 25/125.
    expect(hardNms(poses, { iouThr: 0.5 })).toEqual([{ index: 0, score: 0.9 }, { index: 2, score: 0.7 }]);
  });

  test('maxDets keeps the best', () => {
    const poses = [corners(0, 0, 1, 1, 0.2), corners(10, 10, 11, 11, 0.9), corners(20, 20, 21, 21, 0.5)];
    expect(hardNms(poses, { iouThr: 0.5, maxDets: 2 }).map((k) => k.index)).toEqual([1, 2]);
  });

  test('properties: a subset with unchanged scores, sorted, no kept pair at IoU ≥ thr, every removed pose covered, idempotent', () => {
    fc.assert(
      fc.property(poses, fc.double({ min: 0.05, max: 0.95, noNaN: true }), (input, iouThr) => {
        const kept = hardNms(input, { iouThr });
        expectSubsetSortedByScore(kept, input);
        for (const k of kept) expect(k.score).toBe(input[k.index].score);
        const boxes = input.map((pose) => poseBox(pose.keypoints));
        for (let i = 0; i < kept.length; i++) {
          for (let j = i + 1; j < kept.length; j++) expect(boxIou(boxes[kept[i].index], boxes[kept[j].index])).toBeLessThan(iouThr);
        }
        const keptIndices = new Set(kept.map((k) => k.index));
        input.forEach((pose, i) => {
          if (!keptIndices.has(i)) {
            expect(kept.some((k) => k.score >= pose.score && boxIou(boxes[k.index], boxes[i]) >= iouThr)).toBe(true);
          }
        });
        const again = hardNms(kept.map((k) => input[k.index]), { iouThr });
        expect(again.map((k) => kept[k.index].index)).toEqual(kept.map((k) => k.index));
      }),
    );
  });
});

describe('softNmsLinear', () => {
  test('hand-worked example of the linear rule, including a decayed pose dropped below min_score', () => {
    const poses = [
      corners(0, 0, 9, 9, 0.9), //    A
      corners(0, 0, 9, 4, 0.8), //    B: IoU(A) = 50/100 = 0.5 > 0.3 → 0.8 · 0.5 = 0.4
      corners(20, 20, 29, 29, 0.5), // C: no overlap → 0.5
      corners(5, 0, 14, 9, 0.6), //   D: IoU(A) = 1/3 > 0.3 → 0.6 · 2/3 = 0.4; IoU(B) = 25/125 = 0.2, no decay
      corners(0, 0, 8, 9, 0.0015), // E: IoU(A) = 90/100 → 0.0015 · 0.1 = 0.00015 < 1e-3 → dropped
      corners(50, 50, 51, 51, 0.0005), // F: overlaps nothing, but already below 1e-3 → dropped
    ];
    const kept = softNmsLinear(poses, { iouThr: 0.3 });
    // Order: A, then C (0.5), then the tie B = D = 0.4 goes to B, which sits first in the working order.
    expect(kept.map((k) => k.index)).toEqual([0, 2, 1, 3]);
    const expectedScores = [0.9, 0.5, 0.4, 0.4];
    kept.forEach((k, i) => expect(Math.abs(k.score - expectedScores[i])).toBeLessThanOrEqual(1e-15));

    expect(softNmsLinear(poses, { iouThr: 0.3, maxDets: 2 }).map((k) => k.index)).toEqual([0, 2]);
  });

  test('overlaps at or below the threshold leave scores untouched (strict >)', () => {
    const poses = [corners(0, 0, 9, 9, 0.9), corners(0, 0, 9, 4, 0.8)]; // IoU exactly 0.5
    expect(softNmsLinear(poses, { iouThr: 0.5 })).toEqual([{ index: 0, score: 0.9 }, { index: 1, score: 0.8 }]);
  });

  test('a pose decayed to exactly min_score is kept (removal is strictly below it)', () => {
    // [0,0,9,9] (area 10·10) and [0,0,9,19] (10·20) share 10·10: IoU 100/200 = 0.5 > 0.3, so 0.5 · (1 − 0.5) = 0.25
    // exactly, which is not < min_score 0.25.
    const poses = [corners(0, 0, 9, 9, 1), corners(0, 0, 9, 19, 0.5)];
    expect(softNmsLinear(poses, { iouThr: 0.3, minScore: 0.25 })).toEqual([{ index: 0, score: 1 }, { index: 1, score: 0.25 }]);
  });

  test("the best pose survives even below min_score: the authors' loop never checks the one it selects", () => {
    expect(softNmsLinear([corners(0, 0, 9, 9, 0.0002), corners(50, 50, 59, 59, 0.0001)])).toEqual([{ index: 0, score: 0.0002 }]);
  });

  test('properties: a subset, sorted, scores only decay, the best pose first, all others ≥ min_score, at most maxDets', () => {
    fc.assert(
      fc.property(poses, fc.double({ min: 0.05, max: 0.95, noNaN: true }), fc.integer({ min: 1, max: 40 }), (input, iouThr, maxDets) => {
        const kept = softNmsLinear(input, { iouThr, maxDets });
        expectSubsetSortedByScore(kept, input);
        expect(kept.length).toBeLessThanOrEqual(maxDets);
        for (const k of kept) expect(k.score).toBeLessThanOrEqual(input[k.index].score);
        if (input.length > 0) expect(kept[0].score).toBe(Math.max(...input.map((pose) => pose.score)));
        for (const k of kept.slice(1)) expect(k.score).toBeGreaterThanOrEqual(1e-3);
      }),
    );
  });

  test('property: without any overlap above the threshold it only sorts and drops scores below min_score', () => {
    fc.assert(
      fc.property(poses, (input) => {
        const kept = softNmsLinear(input, { iouThr: 1 }); // IoU never exceeds 1
        // Everything at or above min_score survives, and the best pose always does.
        const expectedCount = input.length === 0 ? 0 : Math.max(1, input.filter((pose) => pose.score >= 1e-3).length);
        expect(kept.length).toBe(expectedCount);
        for (const k of kept) expect(k.score).toBe(input[k.index].score);
      }),
    );
  });
});

describe('oksNms', () => {
  const pose = (dx: number, dy: number, scale = 1): Float64Array =>
    Float64Array.from(Array.from({ length: K }, (_, k) => [dx + scale * (10 + (k % 4) * 7), dy + scale * (5 + k * 6)]).flat());

  test('removes a near-duplicate, keeps a distant pose', () => {
    const kept = oksNms([{ keypoints: pose(0, 0), score: 0.9 }, { keypoints: pose(1, 1), score: 0.8 }, { keypoints: pose(500, 0), score: 0.7 }], { oksThr: 0.3 });
    expect(kept).toEqual([{ index: 0, score: 0.9 }, { index: 2, score: 0.7 }]);
  });

  test("the OKS scale is the kept pose's box area, not the candidate's", () => {
    // The candidate is the kept pose shifted by 3 px with one keypoint flung far away, which makes its own box
    // huge. At the kept pose's (small) area the OKS is below the threshold, so both stay.
    const small = pose(0, 0, 0.1);
    const candidate = Float64Array.from(small, (value, i) => (i === 0 ? value + 3000 : value + 3));
    expect(oks(labelled(small), labelled(candidate), boxAreaOf(small))).toBeLessThan(0.3);
    expect(oks(labelled(small), labelled(candidate), boxAreaOf(candidate))).toBeGreaterThan(0.3);
    expect(oksNms([{ keypoints: small, score: 0.9 }, { keypoints: candidate, score: 0.8 }], { oksThr: 0.3 }).length).toBe(2);
  });

  test('the OKS scale is the box area without the +1 pixel: (x2 − x1)·(y2 − y1)', () => {
    // Two keypoints with σ = 0.5, so (2σ)² = 1. Kept pose (0, 0), (10, 10): area 100. The candidate is shifted by
    // (10, 7), d² = 149 for both keypoints: OKS = exp(−149 / (2 · 100)) ≈ 0.475 ≤ 0.5, so it stays; with the +1
    // convention the area would be 121 and the OKS exp(−149 / 242) ≈ 0.540, suppressing it.
    const sigmas = [0.5, 0.5];
    const kept = [0, 0, 10, 10];
    const candidate = [10, 7, 20, 17];
    expect(oks(labelled(kept), labelled(candidate), 100, sigmas)).toBeLessThan(0.5);
    expect(oks(labelled(kept), labelled(candidate), 121, sigmas)).toBeGreaterThan(0.5);
    expect(oksNms([{ keypoints: kept, score: 0.9 }, { keypoints: candidate, score: 0.8 }], { oksThr: 0.5, sigmas }).map((k) => k.index)).toEqual([0, 1]);
  });

  test('accepts [x, y, v] poses and rejects poses that do not match the sigmas', () => {
    const triples = Array.from(labelled(pose(0, 0)));
    expect(oksNms([{ keypoints: triples, score: 0.9 }, { keypoints: triples, score: 0.8 }], { oksThr: 0.3, valuesPerKeypoint: 3 })).toEqual([{ index: 0, score: 0.9 }]);
    expect(() => oksNms([{ keypoints: [1, 2], score: 1 }], { oksThr: 0.3 })).toThrow(/pose 0 has 2 values; expected 34/);
  });

  test('[x, y, v] poses are read three values a keypoint: keypoints 12 to 16, past the first 34 values, count', () => {
    // The candidate matches the kept pose but for its last 5 keypoints, moved 1000 px: OKS ≈ 12/17 ≈ 0.71 < 0.8, so
    // both stay. Read two values a keypoint, the first 34 values alone would match and the candidate would go.
    const kept = Array.from(labelled(pose(0, 0)));
    const candidate = kept.map((value, i) => (i % 3 === 0 && i >= 36 ? value + 1000 : value));
    expect(oksNms([{ keypoints: kept, score: 0.9 }, { keypoints: candidate, score: 0.8 }], { oksThr: 0.8, valuesPerKeypoint: 3 }).map((k) => k.index)).toEqual([0, 1]);
  });

  test('properties: a subset with unchanged scores, sorted, no later kept pose above thr to an earlier one, idempotent', () => {
    fc.assert(
      fc.property(poses, fc.double({ min: 0.1, max: 0.9, noNaN: true }), (input, oksThr) => {
        const kept = oksNms(input, { oksThr });
        expectSubsetSortedByScore(kept, input);
        for (const k of kept) expect(k.score).toBe(input[k.index].score);
        for (let i = 0; i < kept.length; i++) {
          const earlier = input[kept[i].index].keypoints;
          for (let j = i + 1; j < kept.length; j++) {
            expect(oks(labelled(earlier), labelled(input[kept[j].index].keypoints), boxAreaOf(earlier))).toBeLessThanOrEqual(oksThr);
          }
        }
        const again = oksNms(kept.map((k) => input[k.index]), { oksThr });
        expect(again.map((k) => kept[k.index].index)).toEqual(kept.map((k) => k.index));
      }),
    );
  });
});

describe('bad input', () => {
  const two = [corners(0, 0, 10, 10, 0.9), corners(0, 0, 10, 9, 0.8), corners(50, 50, 60, 60, 0.7)];
  test('a NaN threshold is refused: no overlap exceeds it, so nothing was suppressed', () => {
    expect(() => hardNms(two, { iouThr: Number.NaN })).toThrow('hardNms: iouThr must be a finite number, got NaN');
    expect(() => softNmsLinear(two, { iouThr: Number.NaN })).toThrow('softNmsLinear: iouThr must be a finite number, got NaN');
    expect(() => oksNms(two, { oksThr: Number.NaN, sigmas: [0.1, 0.1] })).toThrow('oksNms: oksThr must be a finite number, got NaN');
  });
  test('maxDets that is negative or fractional is refused: soft-NMS kept all but the last pose for −1', () => {
    expect(softNmsLinear(two, { maxDets: 2 })).toHaveLength(2);
    expect(() => softNmsLinear(two, { maxDets: -1 })).toThrow('softNmsLinear: maxDets must be an integer ≥ 0, got -1');
    expect(() => hardNms(two, { iouThr: 0.5, maxDets: 1.5 })).toThrow('hardNms: maxDets must be an integer ≥ 0, got 1.5');
  });
  test('a NaN score, keypoints not in pairs and missing options are named', () => {
    expect(() => softNmsLinear([corners(0, 0, 1, 1, Number.NaN)])).toThrow('softNmsLinear: pose 0 has score NaN and 4 keypoint values; scores must not be NaN');
    expect(() => hardNms([{ keypoints: [1, 2, 3], score: 1 }], { iouThr: 0.5 })).toThrow('hardNms: pose 0 has score 1 and 3 keypoint values; scores must not be NaN, and keypoints come in 2s');
    expect(() => (hardNms as unknown as (p: ScoredPose[]) => KeptPose[])(two)).toThrow('hardNms: options are required (iouThr)');
  });
});
