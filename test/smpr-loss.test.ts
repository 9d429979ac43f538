// SMPR's loss: the device-side OKS assigner and the five terms, on hand-built network outputs.
import { describe, expect, test } from 'vitest';
import * as T from '../src/index.js';
import { sigmoidFocalLoss } from '../src/ops/losses.js';
import type { HeadOutput } from '../src/smpr/head.js';
import { COCO_KEYPOINTS } from '../src/coco/keypoints.js';
import type { LevelSpec } from '../src/smpr/levels.js';
import { oksMatrix, smprLoss } from '../src/smpr/loss.js';
import { smprTrainingOks } from '../src/coco/oks.js';
import type { KeypointLabels } from '../src/coco/person.js';
import { buildBatchTargets, type BatchTargets } from '../src/smpr/targets.js';
import { valuesFor } from './arbitraries.js';
import { expectClose } from './util.js';

const LEVELS: LevelSpec[] = [{ stride: 8, range: [-1, 64] }, { stride: 16, range: [64, 128] }, { stride: 32, range: [128, 1e8] }];
const K = 17;
const SIZE = 64;

/** A standing person inside [18, 42] × [8, 56]: every keypoint labelled. */
function person(dx = 0): KeypointLabels {
  const keypoints: number[] = [];
  for (let k = 0; k < K; k++) keypoints.push(18 + dx + ((k * 7) % 24), 8 + (k * 48) / (K - 1), 2);
  return { keypoints, area: 600 };
}

/** Per-level head outputs whose flattened [N, L, C] values come from `fill(channel-group, n, l)`. */
function outputs(targets: BatchTargets, device: T.Device, values: { cls?: number[]; score?: number[]; init: Float32Array; refine: Float32Array }): HeadOutput {
  const N = targets.images;
  const L = targets.grid.count;
  const levels = targets.grid.levels.map((level) => {
    const hw = level.height * level.width;
    const map = (source: ArrayLike<number> | undefined, channels: number) => {
      const data = new Float32Array(N * channels * hw);
      for (let n = 0; n < N; n++)
        for (let c = 0; c < channels; c++)
          for (let p = 0; p < hw; p++) data[(n * channels + c) * hw + p] = source ? source[(n * L + level.start + p) * channels + c] : 0;
      return T.tensor(data, [N, channels, level.height, level.width], { device, requiresGrad: true });
    };
    return { clsLogits: map(values.cls, 1), scoreLogits: map(values.score, 1), initPose: map(values.init, 2 * K), refinePose: map(values.refine, 2 * K) };
  });
  const hm = targets.grid.levels[0];
  return { levels, heatmapLogits: T.zeros([N, K, hm.height, hm.width], { device, requiresGrad: true }) };
}

const scalar = async (t: T.Tensor) => (await t.toArray())[0];

test('oksMatrix agrees with the scalar training OKS for every location and person, and is −1 on padding rows', async () => {
  const people = [[person(), person(8)], [person(-6)]];
  const targets = buildBatchTargets(people, SIZE, SIZE, LEVELS, COCO_KEYPOINTS);
  const L = targets.grid.count;
  const poses = valuesFor([2 * L * 2 * K], 11, 0, SIZE);
  const oks = await oksMatrix(T.tensor(poses, [2, L, 2 * K], { device: 'webgpu' }), targets, COCO_KEYPOINTS, 'webgpu').toArray();
  const P = targets.people.rows;
  for (let n = 0; n < 2; n++) {
    for (let l = 0; l < L; l += 7) {
      const dt = Array.from({ length: K }, (_, k) => [poses[(n * L + l) * 2 * K + 2 * k], poses[(n * L + l) * 2 * K + 2 * k + 1], 1]).flat();
      for (let g = 0; g < P; g++) {
        const got = oks[(n * L + l) * P + g];
        const kept = targets.kept[n][g];
        if (!kept) expect(got).toBe(-1);
        else expectClose([got], [smprTrainingOks(Array.from(kept.keypoints), dt, kept.area)], { atol: 1e-6, rtol: 1e-4 });
      }
    }
  }
});

describe('smprLoss', () => {
  test('a batch with nobody in it: only the classification and heatmap terms, and no NaN', async () => {
    const targets = buildBatchTargets([[]], SIZE, SIZE, LEVELS, COCO_KEYPOINTS);
    const L = targets.grid.count;
    const cls = Array.from(valuesFor([L], 1));
    const out = outputs(targets, 'webgpu', { cls, init: new Float32Array(L * 2 * K), refine: new Float32Array(L * 2 * K) });
    const loss = smprLoss(out, targets, COCO_KEYPOINTS);
    for (const key of ['init', 'refine', 'score'] as const) expect(await scalar(loss[key]), key).toBe(0);
    expect(await scalar(loss.refinePositives)).toBe(0);
    // L_cls = Σ focal(cls, 0) / (0 + N_img), the heatmap likewise with zero logits everywhere.
    const expected = T.sum(sigmoidFocalLoss(T.tensor(Float64Array.from(cls), [L], { dtype: 'float64' }), T.zeros([L], { dtype: 'float64' }))).toArraySync()[0];
    expectClose([await scalar(loss.cls)], [expected], { atol: 1e-6, rtol: 1e-5 });
    expect(Number.isFinite(await scalar(loss.total))).toBe(true);
  });

  test('L_cls and L_hm add the number of images to their positives: two empty images divide by 2', async () => {
    const targets = buildBatchTargets([[], []], SIZE, SIZE, LEVELS, COCO_KEYPOINTS);
    const L = targets.grid.count;
    const cls = Array.from(valuesFor([2 * L], 5));
    const out = outputs(targets, 'cpu', { cls, init: new Float32Array(2 * L * 2 * K), refine: new Float32Array(2 * L * 2 * K) });
    const loss = smprLoss(out, targets, COCO_KEYPOINTS);
    const focalSum = (logits: T.Tensor) => T.sum(sigmoidFocalLoss(logits, T.zeros(logits.shape, { dtype: 'float64' }))).toArraySync()[0];
    expectClose([await scalar(loss.cls)], [focalSum(T.tensor(Float64Array.from(cls), [2 * L], { dtype: 'float64' })) / 2], { atol: 1e-6, rtol: 1e-5 });
    expectClose([await scalar(loss.heatmap)], [focalSum(T.zeros(out.heatmapLogits!.shape, { dtype: 'float64' })) / 2], { atol: 1e-6, rtol: 1e-5 });
  });

  test('with positives too: L_cls divides by |P_ref| + N and L_hm by the heatmap positives + N', async () => {
    // The empty batch above has no positives, where P + N, N and max(P, N) agree: one person and an empty image here.
    const targets = buildBatchTargets([[person()], []], SIZE, SIZE, LEVELS, COCO_KEYPOINTS);
    const N = 2;
    const L = targets.grid.count;
    const perfect = Float32Array.from(targets.t);
    const out = outputs(targets, 'cpu', { init: perfect, refine: perfect });
    const loss = smprLoss(out, targets, COCO_KEYPOINTS);
    const P = await scalar(loss.refinePositives);
    expect(P).toBeGreaterThan(0);
    expect(targets.heatmapPositives).toBeGreaterThan(0);
    // Every logit is 0: BCE ln 2 and (1 − p_t)² = 1/4 at each location, times α_t = 1/4 for a positive, 3/4 for the rest.
    const clsSum = Math.LN2 * 0.25 * (0.25 * P + 0.75 * (N * L - P));
    expectClose([await scalar(loss.cls)], [clsSum / (P + N)], { atol: 1e-6, rtol: 1e-5 });
    const labels = T.tensor(Float64Array.from(targets.heatmap), out.heatmapLogits!.shape, { dtype: 'float64' });
    const hmSum = T.sum(sigmoidFocalLoss(T.zeros(labels.shape, { dtype: 'float64' }), labels)).toArraySync()[0]!;
    expectClose([await scalar(loss.heatmap)], [hmSum / (targets.heatmapPositives + N)], { atol: 1e-6, rtol: 1e-5 });
  });

  test("poseWeights 'uniform' weights every initial positive alike: L_init is the plain mean of their L1 errors", async () => {
    const targets = buildBatchTargets([[person()]], SIZE, SIZE, LEVELS, COCO_KEYPOINTS);
    const L = targets.grid.count;
    // Positive number j is off by 0.1·(j + 1) strides in every coordinate, so q (its OKS) falls with j.
    const init = Float32Array.from(targets.t);
    const errors: number[] = [];
    for (let l = 0; l < L; l++) {
      if (!targets.initPos[l]) continue;
      const d = 0.1 * (errors.length + 1);
      for (let c = 0; c < 2 * K; c++) init[l * 2 * K + c] += d;
      errors.push(2 * K * d);
    }
    expect(errors.length).toBeGreaterThan(1);
    const loss = smprLoss(outputs(targets, 'cpu', { init, refine: init }), targets, COCO_KEYPOINTS, { poseWeights: 'uniform' });
    const mean = errors.reduce((a, b) => a + b, 0) / errors.length;
    expectClose([await scalar(loss.init)], [mean], { atol: 1e-5, rtol: 1e-5 });
  });

  test('perfect initial poses: every initial positive is OKS-positive, L_init is 0 and L_ref is the hand-worked 0.5 per coordinate', async () => {
    const targets = buildBatchTargets([[person()]], SIZE, SIZE, LEVELS, COCO_KEYPOINTS);
    const positives = targets.initPos.reduce((a, b) => a + b, 0);
    expect(positives).toBeGreaterThan(0);
    const init = Float32Array.from(targets.t);
    const refine = Float32Array.from(targets.t, (v) => v + 0.5);
    const loss = smprLoss(outputs(targets, 'webgpu', { init, refine }), targets, COCO_KEYPOINTS);
    expect(await scalar(loss.initPositives)).toBe(positives);
    expect(await scalar(loss.refinePositives)).toBe(positives);
    expectClose([await scalar(loss.init)], [0], { atol: 1e-6, rtol: 0 });
    // Each positive: Σ over 34 visible coordinates of |0.5| = 17, weights q = 1, normalised by Σq.
    expectClose([await scalar(loss.refine)], [0.5 * 2 * K], { atol: 1e-4, rtol: 1e-5 });
    // PSM target q = 1 with logit 0: BCE = ln 2.
    expectClose([await scalar(loss.score)], [Math.LN2], { atol: 1e-6, rtol: 1e-5 });
  });

  test('no refined positive: L_ref is 0 and the pose score trains on P_init (the reference fallback)', async () => {
    const targets = buildBatchTargets([[person()]], SIZE, SIZE, LEVELS, COCO_KEYPOINTS);
    const L = targets.grid.count;
    // Initial positives predict poses 1000 strides away (OKS 0); one negative location predicts the person exactly,
    // so it is the person's best location and nothing in P_init is OKS-positive.
    const init = new Float32Array(L * 2 * K).fill(1000);
    const negative = targets.initPos.findIndex((v) => v === 0);
    const x = targets.grid.x[negative];
    const y = targets.grid.y[negative];
    const s = targets.grid.stride[negative];
    const kp = person().keypoints;
    for (let k = 0; k < K; k++) {
      init[negative * 2 * K + 2 * k] = (kp[3 * k] - x) / s;
      init[negative * 2 * K + 2 * k + 1] = (kp[3 * k + 1] - y) / s;
    }
    const loss = smprLoss(outputs(targets, 'webgpu', { init, refine: init }), targets, COCO_KEYPOINTS);
    expect(await scalar(loss.refinePositives)).toBe(0);
    expect(await scalar(loss.refine)).toBe(0);
    // q = 0 on P_init and score logits 0: BCE(0, 0) = ln 2 averaged over P_init.
    expectClose([await scalar(loss.score)], [Math.LN2], { atol: 1e-6, rtol: 1e-5 });
    // L_init's weights are q = 0 everywhere on P_init: guarded to 0, not NaN.
    expect(await scalar(loss.init)).toBe(0);
    // L_cls = Σ focal(cls, 0) / (|P_ref| + N_img) = Σ focal / 1 (reference §4): |P_ref|, not |P_init|, whatever the
    // size of P_init. The cls logits are all 0.
    expect(await scalar(loss.initPositives)).toBeGreaterThan(0);
    const focal = T.sum(sigmoidFocalLoss(T.zeros([L], { dtype: 'float64' }), T.zeros([L], { dtype: 'float64' }))).toArraySync()[0];
    expectClose([await scalar(loss.cls)], [focal / 1], { atol: 1e-6, rtol: 1e-5 });
  });

  test("a padding row is no one's best location: with 2 people and 1, P_ref is each real person's best location", async () => {
    // Image 1 has one person, so its second person row is padding, OKS −1 at every location. Every location
    // predicts a pose 1000 strides away (OKS 0) but one initial positive per person, which predicts its person 5 px
    // low: q < 0.5 everywhere, so the OKS-positives are only each person's best location. Were padding a person,
    // its −1 would be the maximum at every location of image 1, and all of image 1's P_init would be positive.
    const targets = buildBatchTargets([[person(), person(8)], [person(-6)]], SIZE, SIZE, LEVELS, COCO_KEYPOINTS);
    const L = targets.grid.count;
    const { x, y, stride } = targets.grid;
    const init = new Float32Array(2 * L * 2 * K).fill(1000);
    targets.kept.forEach((people, n) =>
      people.forEach((p, g) => {
        const l = targets.gtIndex.subarray(n * L, (n + 1) * L).indexOf(g); // the person's first initial positive
        for (let k = 0; k < K; k++) {
          init[(n * L + l) * 2 * K + 2 * k] = (p.keypoints[3 * k] - x[l]) / stride[l];
          init[(n * L + l) * 2 * K + 2 * k + 1] = (p.keypoints[3 * k + 1] + 5 - y[l]) / stride[l];
        }
      }),
    );
    // The assigner's rule on the CPU, in float64, over the real people only.
    let expected = 0;
    let maxQ = 0;
    for (let n = 0; n < 2; n++) {
      const oks = targets.kept[n].map((p) =>
        Array.from({ length: L }, (_, l) => {
          const dt = Array.from({ length: K }, (_, k) => [0, 1].map((c) => init[(n * L + l) * 2 * K + 2 * k + c] * stride[l] + (c ? y[l] : x[l])).concat(1)).flat();
          return smprTrainingOks(Array.from(p.keypoints), dt, p.area);
        }),
      );
      for (let l = 0; l < L; l++) {
        if (!targets.initPos[n * L + l]) continue;
        const q = Math.max(...oks.map((row) => row[l]));
        maxQ = Math.max(maxQ, q);
        if (q >= 0.5 || oks.some((row) => row[l] === Math.max(...row))) expected++;
      }
    }
    expect(maxQ).toBeLessThan(0.5);
    expect(expected).toBe(3); // one location per person
    const loss = smprLoss(outputs(targets, 'webgpu', { init, refine: init }), targets, COCO_KEYPOINTS);
    expect(await scalar(loss.refinePositives)).toBe(expected);
  });

  test('the same losses on webgpu and cpu, and gradients reach every output map', async () => {
    const people = [[person(), person(6)], [person(-4)]];
    const targets = buildBatchTargets(people, SIZE, SIZE, LEVELS, COCO_KEYPOINTS);
    const L = targets.grid.count;
    const noise = valuesFor([2 * L * 2 * K], 7, -0.3, 0.3);
    const values = {
      cls: Array.from(valuesFor([2 * L], 3)), score: Array.from(valuesFor([2 * L], 4)),
      init: Float32Array.from(targets.t, (v, i) => v + noise[i]), refine: Float32Array.from(targets.t, (v, i) => v - noise[i] / 2),
    };
    const results: number[][] = [];
    for (const device of ['webgpu', 'cpu'] as const) {
      const out = outputs(targets, device, values);
      const loss = smprLoss(out, targets, COCO_KEYPOINTS);
      loss.total.backward();
      results.push(await Promise.all([loss.total, loss.cls, loss.heatmap, loss.init, loss.refine, loss.score, loss.refinePositives].map(scalar)));
      for (const level of out.levels) for (const t of [level.clsLogits, level.scoreLogits, level.initPose, level.refinePose]) expect(t.grad, `${device} grad`).not.toBeNull();
      const gradMagnitude = T.sum(T.abs(out.levels[0].refinePose.grad!));
      expect(await scalar(gradMagnitude)).toBeGreaterThan(0);
    }
    expect(results[0][6]).toBeGreaterThan(0);
    expectClose(results[0], results[1], { atol: 1e-5, rtol: 1e-4 }, 'webgpu vs cpu');
  });

  test("the 'init' baseline trains classification on P_init and has no refinement or score term", async () => {
    const targets = buildBatchTargets([[person()]], SIZE, SIZE, LEVELS, COCO_KEYPOINTS);
    const L = targets.grid.count;
    const init = new Float32Array(L * 2 * K).fill(1000);
    const loss = smprLoss(outputs(targets, 'cpu', { init, refine: init }), targets, COCO_KEYPOINTS, { positives: 'init' });
    expect(await scalar(loss.refinePositives)).toBe(targets.initPos.reduce((a, b) => a + b, 0));
    expect(await scalar(loss.refine)).toBe(0);
    expect(await scalar(loss.score)).toBe(0);
  });
});

test('a training step of the tiny model: all five losses are finite and gradients reach every trainable parameter', async () => {
  const { SmprModel } = await import('../src/smpr/model.js');
  const { smprConfig } = await import('../src/smpr/config.js');
  const config = smprConfig('tiny', { inputSize: 64 });
  const model = new SmprModel(config, { device: 'webgpu', random: new T.Random(2) });
  const targets = buildBatchTargets([[person()], [person(-6), person(10)]], SIZE, SIZE, config.levels, config.keypoints);
  const images = T.randn([2, 3, SIZE, SIZE], { device: 'webgpu', random: new T.Random(2) });
  const output = model.forward(images, { heatmap: true });
  const loss = smprLoss(output, targets, config.keypoints);
  loss.total.backward();
  for (const key of ['cls', 'heatmap', 'init', 'score'] as const) {
    const value = await scalar(loss[key]);
    expect(Number.isFinite(value) && value > 0, `${key} = ${value}`).toBe(true);
  }
  expect(Number.isFinite(await scalar(loss.refine))).toBe(true);
  const missing: string[] = [];
  for (const p of model.trainableParameters()) {
    if (!p.tensor.grad) missing.push(p.name);
  }
  // Each person's best location is OKS-positive by the assigner's rule, so P_ref is not empty even for random
  // weights (for this seed it meets P_init) and the refinement branch trains too.
  expect(await scalar(loss.refinePositives)).toBeGreaterThan(0);
  expect(missing).toEqual([]);
  model.dispose();
});
