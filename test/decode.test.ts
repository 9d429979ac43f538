import { describe, expect, test } from 'vitest';
import {
  decodeLevel,
  decodeLevels,
  cellCenters,
  mergeTta,
  postprocess,
  toOriginalImage,
  type LevelOutputs,
  type PoseCandidate,
} from '../src/smpr/decode.js';
import { COCO_FLIP_INDEX } from '../src/coco/keypoints.js';

/** Scores pass through a sigmoid and back; 1e-12 covers that rounding. Keypoints built from exact offsets are compared exactly. */
const SCORE_TOLERANCE = 1e-12;

function expectClose(actual: number, expected: number, tolerance: number): void {
  expect(Math.abs(actual - expected), `${actual} vs ${expected}`).toBeLessThanOrEqual(tolerance);
}

const NEVER = -10; // a logit whose sigmoid (4.5e-5) is far below any threshold

/**
 * A 2 × 3 level at stride 8 with K = 2 keypoints. Locations (row-major) sit at x ∈ {4, 12, 20}, y ∈ {4, 12}.
 * Two locations fire:
 * - location 4 (row 1, column 1, at (12, 12)): cls = sigmoid(ln 3) = 0.75, pose score = sigmoid(ln 4) = 0.8,
 *   offsets (0.5, −1) and (−1.5, 0.25) strides → keypoints (16, 4) and (0, 14);
 * - location 2 (row 0, column 2, at (20, 4)): cls = pose score = 0.5, offsets (1, −1) and (0, 0)
 *   → (28, −4), clamped to the 24 × 16 image as (23, 0), and (20, 4).
 */
const tinyLevel: LevelOutputs = {
  clsLogits: [NEVER, NEVER, 0, NEVER, Math.log(3), NEVER], // float64: ln 3 would lose 4e-9 of sigmoid in float32
  scoreLogits: [0, 0, 0, 0, Math.log(4), 0],
  refine: Float32Array.from([
    0, 0, 1, 0, 0.5, 0, //   dx0
    0, 0, -1, 0, -1, 0, //   dy0
    0, 0, 0, 0, -1.5, 0, //  dx1
    0, 0, 0, 0, 0.25, 0, //  dy1
  ]),
  stride: 8,
  height: 2,
  width: 3,
};
const tinyImage = { imageHeight: 16, imageWidth: 24 };

/** A candidate from plain numbers. */
function candidate(keypoints: number[], cls: number, poseScore: number): PoseCandidate {
  return { keypoints: Float64Array.from(keypoints), cls, poseScore };
}

describe('location grid', () => {
  test('location (row i, column j) stands for (j·s + ⌊s/2⌋, i·s + ⌊s/2⌋), row-major', () => {
    expect(Array.from(cellCenters(2, 3, 8))).toEqual([4, 4, 12, 4, 20, 4, 4, 12, 12, 12, 20, 12]);
    expect(Array.from(cellCenters(1, 2, 5))).toEqual([2, 2, 7, 2]); // ⌊5/2⌋ = 2
  });
});

describe('decodeLevel', () => {
  test('hand-worked tiny level: keypoints = location + offset·stride, sigmoid scores, location order', () => {
    const candidates = decodeLevel(tinyLevel, tinyImage);
    expect(candidates).toHaveLength(6);
    expect(Array.from(candidates[4].keypoints)).toEqual([16, 4, 0, 14]);
    expectClose(candidates[4].cls, 0.75, SCORE_TOLERANCE);
    expectClose(candidates[4].poseScore, 0.8, SCORE_TOLERANCE);
    expect(Array.from(candidates[2].keypoints)).toEqual([23, 0, 20, 4]); // (28, −4) clamped
    expectClose(candidates[2].cls, 0.5, SCORE_TOLERANCE);
    expect(Array.from(candidates[0].keypoints)).toEqual([4, 4, 4, 4]); // zero offsets: the location itself
  });

  test('clamps x to [0, W−1] and y to [0, H−1] of the unpadded image', () => {
    const level: LevelOutputs = { clsLogits: [0], scoreLogits: [0], refine: [-3, 9, 7, -2], stride: 8, height: 1, width: 1 };
    // Location (4, 4): (4 − 24, 4 + 72) → (0, 9) and (4 + 56, 4 − 16) → (19, 0) in a 20 × 10 image.
    expect(Array.from(decodeLevel(level, { imageHeight: 10, imageWidth: 20 })[0].keypoints)).toEqual([0, 9, 19, 0]);
  });

  test('more locations than nmsPre: keeps the best by cls × pose score (not cls alone), best first', () => {
    const level: LevelOutputs = {
      // cls ≈ .881, .5, .731 with pose scores ≈ .047, .953, .5: products ≈ .042, .476, .366.
      clsLogits: [2, 0, 1, -5, -5, -5],
      scoreLogits: [-3, 3, 0, -5, -5, -5],
      refine: new Float32Array(4 * 6),
      stride: 8,
      height: 2,
      width: 3,
    };
    const kept = decodeLevel(level, { ...tinyImage, nmsPre: 2 });
    expect(kept.map((c) => Array.from(c.keypoints.slice(0, 2)))).toEqual([[12, 4], [20, 4]]); // locations 1, 2
  });

  test('exactly nmsPre locations: all kept in location order, unsorted (the authors sort only when there are more)', () => {
    // A 2 × 2 level whose scores rise and fall out of location order: sorting would give 1, 3, 0, 2.
    const level: LevelOutputs = { clsLogits: [0, 2, -1, 1], scoreLogits: [0, 0, 0, 0], refine: new Float32Array(4 * 4), stride: 8, height: 2, width: 2 };
    const kept = decodeLevel(level, { ...tinyImage, nmsPre: 4 });
    expect(kept.map((c) => Array.from(c.keypoints.slice(0, 2)))).toEqual([[4, 4], [12, 4], [4, 12], [12, 12]]); // locations 0, 1, 2, 3
  });

  test('one location more than nmsPre: already sorted and cut, the worst dropped', () => {
    const level: LevelOutputs = { clsLogits: [0, 2, -1, 1], scoreLogits: [0, 0, 0, 0], refine: new Float32Array(4 * 4), stride: 8, height: 2, width: 2 };
    const kept = decodeLevel(level, { ...tinyImage, nmsPre: 3 });
    expect(kept.map((c) => Array.from(c.keypoints.slice(0, 2)))).toEqual([[12, 4], [12, 12], [4, 4]]); // locations 1, 3, 0
  });

  test('decodeLevels concatenates levels in order', () => {
    const coarse: LevelOutputs = { clsLogits: [0, 0], scoreLogits: [0, 0], refine: new Float32Array(4 * 2), stride: 16, height: 1, width: 2 };
    const candidates = decodeLevels([tinyLevel, coarse], { imageHeight: 100, imageWidth: 100 });
    expect(candidates).toHaveLength(8);
    expect(Array.from(candidates[7].keypoints.slice(0, 2))).toEqual([24, 8]);
  });

  test('inconsistent array sizes are rejected', () => {
    expect(() => decodeLevel({ ...tinyLevel, clsLogits: [0] }, tinyImage)).toThrow(/height·width = 6/);
    expect(() => decodeLevel({ ...tinyLevel, refine: new Float32Array(5) }, tinyImage)).toThrow(/2K·height·width/);
  });
});

describe('postprocess', () => {
  test('hand-worked tiny level end to end: COCO results, score = cls × pose score, v = 1', () => {
    const results = postprocess(decodeLevel(tinyLevel, tinyImage), { imageId: 7 });
    expect(results.map(({ image_id, category_id, keypoints }) => ({ image_id, category_id, keypoints }))).toEqual([
      { image_id: 7, category_id: 1, keypoints: [16, 4, 1, 0, 14, 1] },
      { image_id: 7, category_id: 1, keypoints: [23, 0, 1, 20, 4, 1] },
    ]);
    expectClose(results[0].score, 0.6, SCORE_TOLERANCE);
    expectClose(results[1].score, 0.25, SCORE_TOLERANCE);
  });

  test('the 0.05 threshold applies to cls alone (strictly), before the pose score', () => {
    const candidates = [
      candidate([0, 0, 10, 10], 0.06, 0.5), //      cls passes though cls × pose score = 0.03
      candidate([100, 0, 110, 10], 0.04, 1), //     cls fails though the product would be 0.04
      candidate([200, 0, 210, 10], 0.05, 1), //     exactly at the threshold: fails
    ];
    const results = postprocess(candidates, { imageId: 1 });
    expect(results.map((r) => r.keypoints[0])).toEqual([0]);
    expectClose(results[0].score, 0.03, SCORE_TOLERANCE);
    expectClose(postprocess(candidates, { imageId: 1, usePoseScore: false })[0].score, 0.06, SCORE_TOLERANCE);
  });

  test('soft-NMS decays an overlapping duplicate; maxPerImg caps the output', () => {
    const candidates = [candidate([0, 0, 9, 9], 0.9, 1), candidate([0, 0, 9, 4], 0.8, 1), candidate([50, 50, 59, 59], 0.7, 1)];
    const results = postprocess(candidates, { imageId: 1 });
    expect(results.map((r) => r.score)).toEqual([0.9, 0.7, 0.4]); // IoU 0.5 → 0.8 · 0.5
    expect(postprocess(candidates, { imageId: 1, maxPerImg: 2 })).toHaveLength(2);
  });

  test("nms: 'oks' removes a near-duplicate pose outright", () => {
    const body = Array.from({ length: 17 }, (_, k) => [10 + (k % 4) * 7, 5 + k * 6]).flat();
    const results = postprocess([candidate(body, 0.9, 1), candidate(body.map((v) => v + 1), 0.8, 1)], { imageId: 1, nms: 'oks' });
    expect(results).toHaveLength(1);
    expect(results[0].score).toBe(0.9);
  });
});

describe('test-time augmentation', () => {
  /** A 17-keypoint person in a 100-px-wide original image, with distinct left and right sides. */
  const original = Array.from({ length: 17 }, (_, k) => [20 + k * 3 + (k % 2) * 11, 10 + k * 4]).flat();
  const scale = 2;
  const passWidth = 200;

  /** What a perfect network sees in a flipped pass: mirrored x, and what looks like keypoint k is the original's flipIndex[k]. */
  function asFlippedPass(keypoints: number[]): number[] {
    return COCO_FLIP_INDEX.flatMap((source) => [passWidth - 1 - keypoints[2 * source] * scale, keypoints[2 * source + 1] * scale]);
  }

  test('un-flip and un-scale round trip: x\' = W−1−x, left/right swapped, divided by the scale', () => {
    const [back] = toOriginalImage([candidate(asFlippedPass(original), 0.9, 0.9)], { scaleFactor: scale, flipped: true, imageWidth: passWidth });
    Array.from(back.keypoints).forEach((value, i) => expectClose(value, original[i], 1e-12));
    expect(back.cls).toBe(0.9);
  });

  test('mergeTta pools passes before one threshold and one NMS: the flipped duplicate merges into the plain one', () => {
    const results = mergeTta(
      [
        { candidates: [candidate(original.map((v) => v * scale), 0.9, 0.9)], scaleFactor: scale },
        { candidates: [candidate(asFlippedPass(original), 0.8, 0.8)], scaleFactor: scale, flipped: true, imageWidth: passWidth },
        { candidates: [candidate(original.map((v) => v * 0.5), 0.04, 1)], scaleFactor: 0.5 }, // below the cls threshold
      ],
      { imageId: 3 },
    );
    expect(results).toHaveLength(1);
    expectClose(results[0].score, 0.81, SCORE_TOLERANCE);
    results[0].keypoints.forEach((value, i) => expectClose(value, i % 3 === 2 ? 1 : original[2 * Math.floor(i / 3) + (i % 3)], 1e-12));
  });

  test('a flipped pass without its image width is rejected', () => {
    expect(() => toOriginalImage([candidate(original, 1, 1)], { scaleFactor: 1, flipped: true })).toThrow(/imageWidth/);
  });
});
