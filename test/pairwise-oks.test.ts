// pairwiseOks: the float64 reference against the one-pair training OKS (coco/oks.ts) to rounding; the WGSL kernel
// and the float32 reference against the float64 one on random shapes (fast-check); −1 on padding rows;
// 0 for a person with no labelled keypoint on every device; refusals.
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { dispose, tensor, zeros, type Tensor } from '../src/index.js';
import { noGrad } from '../src/autograd/index.js';
import { COCO_SIGMAS } from '../src/coco/keypoints.js';
import { smprTrainingOks } from '../src/coco/oks.js';
import { pairwiseOks } from '../src/ops/pairwise-oks.js';
import { valuesFor } from './arbitraries.js';
import { expectClose } from './util.js';

interface Case {
  N: number; L: number; P: number; K: number; seed: number;
  poses: Float32Array; people: Float32Array; visible: Float32Array; area: Float32Array; valid: Float32Array; sigmas: number[];
}

/** Poses scattered around the people (so OKS spans [0, 1]), some keypoints unlabelled, some rows padding. */
function makeCase(N: number, L: number, P: number, K: number, seed: number): Case {
  const people = valuesFor([N, P, K, 2], seed, 0, 64);
  const poses = valuesFor([N, L, K, 2], seed + 1, -4, 4);
  for (let n = 0; n < N; n++) for (let l = 0; l < L; l++) for (let j = 0; j < K * 2; j++) poses[(n * L + l) * K * 2 + j] += people[(n * P + (l % P)) * K * 2 + j];
  const visible = valuesFor([N, P, K], seed + 2).map((v) => (v > -1.5 ? 1 : 0));
  const area = valuesFor([N, P], seed + 3, 20, 900);
  const valid = valuesFor([N, P], seed + 4).map((v) => (v > -2 ? 1 : 0));
  const sigmas = Array.from(valuesFor([K], seed + 5, 0.025, 0.107));
  return { N, L, P, K, seed, poses, people, visible, area, valid, sigmas };
}

function run(c: Case, device: 'cpu' | 'webgpu', dtype: 'float32' | 'float64'): Tensor {
  const t = (data: Float32Array, shape: number[]) => tensor(dtype === 'float64' ? Float64Array.from(data) : data, shape, { device, dtype });
  const inputs = [t(c.poses, [c.N, c.L, c.K, 2]), t(c.people, [c.N, c.P, c.K, 2]), t(c.visible, [c.N, c.P, c.K]), t(c.area, [c.N, c.P]), t(c.valid, [c.N, c.P])] as const;
  const out = pairwiseOks(...inputs, c.sigmas);
  dispose([...inputs]);
  return out;
}

test('float64: every pair equals the one-pair training OKS (smprTrainingOks) to rounding, −1 on padding rows', () => {
  const c = makeCase(2, 9, 4, 17, 7);
  c.sigmas = [...COCO_SIGMAS];
  const got = Array.from(run(c, 'cpu', 'float64').toArraySync());
  let real = 0;
  for (let n = 0; n < c.N; n++) {
    for (let l = 0; l < c.L; l++) {
      for (let p = 0; p < c.P; p++) {
        const row = n * c.P + p;
        const value = got[(n * c.L + l) * c.P + p];
        if (c.valid[row] === 0) {
          expect(value).toBe(-1);
          continue;
        }
        const gt = Array.from({ length: c.K }, (_, k) => [c.people[(row * c.K + k) * 2], c.people[(row * c.K + k) * 2 + 1], c.visible[row * c.K + k] ? 2 : 0]).flat();
        const dt = Array.from({ length: c.K }, (_, k) => [c.poses[((n * c.L + l) * c.K + k) * 2], c.poses[((n * c.L + l) * c.K + k) * 2 + 1], 1]).flat();
        expectClose([value], [smprTrainingOks(gt, dt, c.area[row])], { atol: 1e-15, rtol: 1e-13 });
        real++;
      }
    }
  }
  expect(real).toBeGreaterThan(c.N * c.L * 2);
  expect(Math.max(...got)).toBeGreaterThan(0.5);
  expect(Math.min(...got.filter((v) => v >= 0))).toBeLessThan(0.2);
});

// Person 0 has no labelled keypoint: its OKS is 0/0 unless the count is clamped to 1, as every implementation
// must (the reference and the WGSL kernel each do it themselves, so each is checked).
for (const [device, dtype] of [['cpu', 'float64'], ['cpu', 'float32'], ['webgpu', 'float32']] as const) {
  test(`a person without labelled keypoints scores 0, not NaN (${device} ${dtype})`, async () => {
    const c = makeCase(1, 3, 2, 5, 3);
    c.valid.fill(1);
    c.visible.fill(0, 0, 5);
    const out = run(c, device, dtype);
    const got = Array.from(await out.toArray());
    out.dispose();
    expect([got[0], got[2], got[4]]).toEqual([0, 0, 0]);
    // Pose 1 lies around person 1 (makeCase scatters pose l around person l % P), who is labelled: a real
    // score, so the zeros above are not a kernel that wrote nothing.
    expect(got[3]).toBeGreaterThan(0.1);
  });
}

describe('webgpu and cpu float32 against the float64 reference', () => {
  // float32 inputs; the exponent's rounding (≈1e-7 relative of an argument up to ~50) moves OKS by ≤ ~1e-5.
  const TOL = { atol: 2e-5, rtol: 1e-4 };
  test('on random shapes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 19 }), fc.integer({ min: 1, max: 1e6 }),
        async (N, L, P, K, seed) => {
          const c = makeCase(N, L, P, K, seed);
          const expected = Array.from(run(c, 'cpu', 'float64').toArraySync());
          for (const device of ['cpu', 'webgpu'] as const) {
            const out = run(c, device, 'float32');
            expectClose(await out.toArray(), expected, TOL, `${device} N=${N} L=${L} P=${P} K=${K}`);
            out.dispose();
          }
        }),
      { numRuns: 25, seed: 11 },
    );
  });
});

describe('refusals name the op and what was expected', () => {
  const ok = () => ({ poses: zeros([1, 2, 3, 2]), people: zeros([1, 4, 3, 2]), visible: zeros([1, 4, 3]), area: zeros([1, 4]), valid: zeros([1, 4]) });
  test('shapes', () => {
    const a = ok();
    expect(() => pairwiseOks(zeros([1, 2, 3]), a.people, a.visible, a.area, a.valid, [1, 1, 1])).toThrow('pairwiseOks: poses must be [N, L, K, 2], got [1, 2, 3]');
    expect(() => pairwiseOks(a.poses, zeros([1, 4, 2, 2]), a.visible, a.area, a.valid, [1, 1, 1])).toThrow('pairwiseOks: people must be [N, P, K, 2] = [1, P, 3, 2] for poses [1, 2, 3, 2], got [1, 4, 2, 2]');
    expect(() => pairwiseOks(a.poses, a.people, zeros([1, 4]), a.area, a.valid, [1, 1, 1])).toThrow('pairwiseOks: visible must be [1, 4, 3] for people [1, 4, 3, 2], got [1, 4]');
    expect(() => pairwiseOks(a.poses, a.people, a.visible, a.area, a.valid, [1, 1])).toThrow('pairwiseOks: expected 3 sigmas (one per keypoint), got 2');
  });
  test('a pose that requires a gradient, unless gradients are off', () => {
    const a = ok();
    const poses = zeros([1, 2, 3, 2], { requiresGrad: true });
    expect(() => pairwiseOks(poses, a.people, a.visible, a.area, a.valid, [1, 1, 1])).toThrow('pairwiseOks: has no gradient; pass detached poses (or call it under noGrad)');
    expect(noGrad(() => pairwiseOks(poses, a.people, a.visible, a.area, a.valid, [1, 1, 1])).shape).toEqual([1, 2, 4]);
  });
});
