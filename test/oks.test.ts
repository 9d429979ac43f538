import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { COCO_SIGMAS } from '../src/coco/keypoints.js';
import { keypointVariance, oks, pairwiseSum, smprTrainingOks } from '../src/coco/oks.js';

const K = COCO_SIGMAS.length;
const NOSE = 0;
const LEFT_HIP = 11;

/** 17 keypoints, all at (x, y), with flag v. */
function uniformPose(x: number, y: number, v: number): number[] {
  return Array.from({ length: K }, () => [x, y, v]).flat();
}

/** A copy of `pose` with keypoint k moved to (x, y) and given flag v. */
function withKeypoint(pose: readonly number[], k: number, x: number, y: number, v = pose[3 * k + 2]): number[] {
  const copy = [...pose];
  copy.splice(3 * k, 3, x, y, v);
  return copy;
}

/** |actual − expected| ≤ tolerance, with the tolerance stated at each use. */
function expectClose(actual: number, expected: number, tolerance: number): void {
  expect(Math.abs(actual - expected)).toBeLessThanOrEqual(tolerance);
}

/** A 17-keypoint pose with integer coordinates in [0, 500] and at least one labelled (v > 0) keypoint. */
const labelledPose = fc
  .array(fc.tuple(fc.integer({ min: 0, max: 500 }), fc.integer({ min: 0, max: 500 }), fc.constantFrom(0, 1, 2)), { minLength: K, maxLength: K })
  .filter((keypoints) => keypoints.some(([, , v]) => v > 0))
  .map((keypoints) => keypoints.flat());

const detectedPose = fc
  .array(fc.tuple(fc.integer({ min: 0, max: 500 }), fc.integer({ min: 0, max: 500 }), fc.double({ min: 0, max: 1, noNaN: true })), { minLength: K, maxLength: K })
  .map((keypoints) => keypoints.flat());

const area = fc.double({ min: 1, max: 1e6, noNaN: true });

describe('oks (pycocotools computeOks)', () => {
  test('hand-worked: one labelled nose 1 px off at area 100 gives exp(−1 / (2·100·(2·0.026)²)) = exp(−1/0.5408)', () => {
    const gt = withKeypoint(uniformPose(0, 0, 0), NOSE, 10, 10, 2);
    const dt = withKeypoint(uniformPose(0, 0, 0), NOSE, 10, 11);
    // exp(-1.849112426…) worked out by hand; tolerance 1e-15 covers Math.exp vs the libm that produced the digits.
    expectClose(oks(gt, dt, 100), 0.157376787881767, 1e-15);
  });

  test('averages over labelled keypoints only: one exact, one hopeless → exactly 1/2', () => {
    const gt = withKeypoint(withKeypoint(uniformPose(0, 0, 0), NOSE, 10, 10, 2), LEFT_HIP, 50, 50, 2);
    const dt = withKeypoint(withKeypoint(uniformPose(900, 900, 0), NOSE, 10, 10), LEFT_HIP, 5000, 50);
    expect(oks(gt, dt, 100)).toBe(0.5);
  });

  test('v = 1 (labelled but occluded) counts like v = 2', () => {
    const occluded = withKeypoint(withKeypoint(uniformPose(0, 0, 0), NOSE, 10, 10, 1), LEFT_HIP, 50, 50, 2);
    const dt = withKeypoint(withKeypoint(uniformPose(0, 0, 0), NOSE, 10, 10), LEFT_HIP, 5000, 50);
    expect(oks(occluded, dt, 100)).toBe(0.5);
  });

  test("the detection's third value is never read", () => {
    const gt = uniformPose(20, 30, 2);
    const dt = withKeypoint(uniformPose(21, 30, 0), NOSE, 25, 30, 0);
    const sameWithScores = dt.map((value, i) => (i % 3 === 2 ? 0.7 : value));
    expect(oks(gt, sameWithScores, 400)).toBe(oks(gt, dt, 400));
  });

  test('area 0: eps keeps 0/0 away, so exact keypoints give 1 and any offset gives 0', () => {
    const gt = uniformPose(20, 30, 2);
    expect(oks(gt, gt, 0)).toBe(1);
    expect(oks(gt, uniformPose(20, 31, 0), 0)).toBe(0);
  });

  test('no labelled keypoint: distance to the gt box grown to 3× (not 2×) about its centre, all keypoints counting', () => {
    const unlabelled = [0, 0, 0];
    const sigmas = [0.1]; // one keypoint, variance (0.2)² = 0.04
    const box = [100, 100, 50, 100] as const; // grown to x ∈ [50, 200], y ∈ [0, 300]
    expect(oks(unlabelled, [50, 0, 0], 100, sigmas, box)).toBe(1); // on the corner of the 3× box
    expect(oks(unlabelled, [199, 299, 0], 100, sigmas, box)).toBe(1);
    // 10 px left of the 3× box: exp(−10² / 0.04 / 100 / 2) = exp(−12.5) (the 2× box, x ≥ 75, would put it 35 px away).
    expectClose(oks(unlabelled, [40, 150, 0], 100, sigmas, box), Math.exp(-12.5), 1e-18);
  });

  test('no labelled keypoint and no box: a clear error instead of a silent number', () => {
    expect(() => oks(uniformPose(0, 0, 0), uniformPose(0, 0, 0), 100)).toThrow(/no labelled keypoint.*gtBox/);
  });

  test('poses of the wrong length are rejected', () => {
    expect(() => oks([1, 2, 2], uniformPose(0, 0, 0), 100)).toThrow(/expected 51 values/);
  });

  test('an area that is negative or NaN is refused (−1 gave Infinity)', () => {
    const [gt, dt] = [uniformPose(10, 10, 2), uniformPose(15, 10, 2)];
    expect(() => oks(gt, dt, -1)).toThrow('oks: area must be a finite number ≥ 0, got -1');
    expect(() => oks(gt, dt, Number.NaN)).toThrow('oks: area must be a finite number ≥ 0, got NaN');
    expect(oks(gt, dt, 0)).toBeGreaterThanOrEqual(0);
  });

  test('the variance is (2σ)² as numpy forms it: 0.026 → 0.0027040000000000007', () => {
    expect(keypointVariance(COCO_SIGMAS[NOSE])).toBe(0.0027040000000000007);
  });

  describe('properties', () => {
    test('identical poses have OKS exactly 1', () => {
      fc.assert(fc.property(labelledPose, area, (pose, a) => oks(pose, pose, a) === 1));
    });

    test('OKS lies in [0, 1], and is > 0 when every keypoint is within 10 px at area ≥ 1000', () => {
      fc.assert(
        fc.property(labelledPose, detectedPose, area, (gt, dt, a) => {
          const value = oks(gt, dt, a);
          return value >= 0 && value <= 1;
        }),
      );
      const offset = fc.array(fc.integer({ min: -7, max: 7 }), { minLength: 2 * K, maxLength: 2 * K });
      fc.assert(
        fc.property(labelledPose, offset, fc.double({ min: 1000, max: 1e6, noNaN: true }), (gt, shifts, a) => {
          const dt = gt.map((value, i) => (i % 3 === 2 ? 0 : value + shifts[2 * Math.floor(i / 3) + (i % 3)]));
          const value = oks(gt, dt, a);
          return value > 0 && value <= 1;
        }),
      );
    });

    test('translating both poses by the same integer vector leaves OKS unchanged (exactly, integer coordinates)', () => {
      fc.assert(
        fc.property(labelledPose, detectedPose, area, fc.integer({ min: -1000, max: 1000 }), fc.integer({ min: -1000, max: 1000 }), (gt, dt, a, tx, ty) => {
          const shift = (pose: number[]) => pose.map((value, i) => (i % 3 === 0 ? value + tx : i % 3 === 1 ? value + ty : value));
          expect(oks(shift(gt), shift(dt), a)).toBe(oks(gt, dt, a));
        }),
      );
    });

    test('moving one labelled keypoint further away never raises OKS', () => {
      fc.assert(
        fc.property(
          labelledPose, detectedPose, area, fc.nat(K - 1), fc.double({ min: 0, max: 300, noNaN: true }), fc.double({ min: 0, max: 300, noNaN: true }),
          (gt, dt, a, k, near, extra) => {
            const labelledKeypoints = Array.from({ length: K }, (_, j) => j).filter((j) => gt[3 * j + 2] > 0);
            const labelled = labelledKeypoints[k % labelledKeypoints.length];
            const [gx, gy] = [gt[3 * labelled], gt[3 * labelled + 1]];
            const closer = withKeypoint(dt, labelled, gx + near, gy);
            const further = withKeypoint(dt, labelled, gx + near + extra, gy);
            expect(oks(gt, further, a)).toBeLessThanOrEqual(oks(gt, closer, a));
          },
        ),
      );
    });

    test('with a single labelled keypoint, OKS strictly decreases with its distance (while exp does not underflow)', () => {
      // Distances ≤ 40 px at area ≥ 1000 keep the exponent ≤ 40² / 0.0025 / 1000 / 2 = 320, far from exp's underflow near 745.
      fc.assert(
        fc.property(fc.nat(K - 1), fc.integer({ min: 0, max: 20 }), fc.integer({ min: 1, max: 20 }), fc.double({ min: 1000, max: 1e4, noNaN: true }), (k, near, extra, a) => {
          const gt = withKeypoint(uniformPose(0, 0, 0), k, 100, 100, 2);
          const closer = withKeypoint(uniformPose(0, 0, 0), k, 100 + near, 100);
          const further = withKeypoint(uniformPose(0, 0, 0), k, 100 + near + extra, 100);
          expect(oks(gt, further, a)).toBeLessThan(oks(gt, closer, a));
        }),
      );
    });

    test('unlabelled gt keypoints are ignored: moving them (in gt or dt) changes nothing', () => {
      fc.assert(
        fc.property(labelledPose, detectedPose, area, fc.integer({ min: -5000, max: 5000 }), (gt, dt, a, move) => {
          const moveUnlabelled = (pose: number[]) => pose.map((value, i) => (i % 3 !== 2 && gt[3 * Math.floor(i / 3) + 2] === 0 ? value + move : value));
          expect(oks(moveUnlabelled(gt), moveUnlabelled(dt), a)).toBe(oks(gt, dt, a));
        }),
      );
    });
  });
});

describe('smprTrainingOks (the authors\' training formula)', () => {
  test('hand-worked: the same nose example as above, exp(−1/0.5408)', () => {
    const gt = withKeypoint(uniformPose(0, 0, 0), NOSE, 10, 10, 2);
    const dt = withKeypoint(uniformPose(0, 0, 0), NOSE, 10, 11);
    expectClose(smprTrainingOks(gt, dt, 100), 0.157376787881767, 1e-15);
  });

  test('no eps: at area 0 exact keypoints give 0/0 = NaN where COCO gives 1', () => {
    const gt = uniformPose(20, 30, 2);
    expect(smprTrainingOks(gt, gt, 0)).toBeNaN();
    expect(oks(gt, gt, 0)).toBe(1);
  });

  test('no box fallback: a gt without labelled keypoints gives NaN', () => {
    expect(smprTrainingOks(uniformPose(20, 30, 0), uniformPose(20, 30, 0), 100)).toBeNaN();
  });

  test('agrees with COCO OKS to 1e-12 whenever the gt has a labelled keypoint and a positive area', () => {
    fc.assert(
      fc.property(labelledPose, detectedPose, area, (gt, dt, a) => {
        expectClose(smprTrainingOks(gt, dt, a), oks(gt, dt, a), 1e-12);
      }),
    );
  });
});

describe('pairwiseSum (numpy summation order)', () => {
  test('reproduces numpy: np.sum([1e16] + [1]*8) = 1.0000000000000008e16, where a left-to-right sum loses every 1', () => {
    const values = [1e16, 1, 1, 1, 1, 1, 1, 1, 1];
    expect(values.reduce((a, b) => a + b, 0)).toBe(1e16);
    expect(pairwiseSum(values)).toBe(1.0000000000000008e16);
  });

  test('8 values are already one block of 8 partial sums (numpy: np.sum([1e16] + [1]*7) = 1.0000000000000006e16), 7 a plain loop', () => {
    const values = (n: number) => [1e16, ...Array.from({ length: n - 1 }, () => 1)];
    expect(pairwiseSum(values(8))).toBe(1.0000000000000006e16);
    expect(pairwiseSum(values(7))).toBe(1e16);
  });

  test('is an ordinary sum for exactly representable totals, at every length through the recursive split', () => {
    for (const length of [0, 1, 7, 8, 9, 16, 17, 128, 129, 1010]) {
      const values = Array.from({ length }, (_, i) => i % 5);
      expect(pairwiseSum(values)).toBe(values.reduce((a, b) => a + b, 0));
    }
  });

  // Catches the block boundary off by one (`count < 128`): 128 values are one block of 8 partial sums, 129 two halves.
  test('128 values are one block of 8 interleaved partial sums, 129 are split into halves of 64 and 65', () => {
    const values = (n: number) => [1e16, ...Array.from({ length: n - 1 }, () => 1)];
    /**
     * numpy's block of 8·m of these values: 8 partial sums of m values each (the first is 1e16 with m − 1 ones added
     * one at a time, each addition rounding: doubles at 1e16 are 2 apart; the others are m), combined as a balanced tree.
     */
    const block = (m: number) => {
      let first = 1e16;
      for (let i = 1; i < m; i++) first += 1;
      return ((first + m) + (m + m)) + ((m + m) + (m + m));
    };
    const oneBlock = block(16);
    const twoHalves = block(8) + 64;
    expect(oneBlock).not.toBe(twoHalves); // the two orders round differently, so the order is what is tested
    expect(pairwiseSum(values(128))).toBe(oneBlock);
    // Halves of 64 (one block, with 1e16) and 65 (one block of 64 ones, then the last one added), not one block and 1.
    expect(block(8) + 65).not.toBe(oneBlock + 1);
    expect(pairwiseSum(values(129))).toBe(block(8) + 65);
  });
});
