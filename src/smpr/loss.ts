/**
 * SMPR's training objective (reference sections 3.3 and 4), computed entirely with tensor ops on the model's
 * device — no readback inside a step.
 *
 * The ground-truth half of the assignment (FCOS positives P_init, their regression targets, the heatmap labels)
 * comes precomputed from `buildBatchTargets` on the CPU. The half that depends on the network happens here:
 *   1. decode the detached initial poses of all L locations to pixels: p + init·s;
 *   2. OKS of every location against every person of its image: [N, L, P], one fused op (`pairwiseOks`);
 *   3. q(p) = max over people; OKS-positive when q ≥ 0.5 or p is some person's best location in the image;
 *   4. P_ref = P_init ∩ OKS-positive — the classification positives, the refinement's support, the PSM's.
 * Then the five losses with the reference's normalisers and fallbacks, written arithmetically so that an empty
 * P_ref or P_init needs no branch on the host (and so no readback).
 */
import { detach, noGrad } from '../autograd/index.js';
import { bceWithLogits, sigmoidFocalLoss } from '../ops/losses.js';
import { tensor } from '../ops/creation.js';
import { abs, add, div, eq, ge, gt, maximum, mul, sub, where } from '../ops/elementwise.js';
import { pairwiseOks } from '../ops/pairwise-oks.js';
import { max, sum } from '../ops/reduce.js';
import { concat, permute, reshape } from '../ops/shape.js';
import type { Device } from '../tensor/storage.js';
import type { Tensor } from '../tensor/tensor.js';
import type { HeadOutput } from './head.js';
import type { KeypointSpec } from '../coco/keypoints.js';
import type { BatchTargets } from './targets.js';

/** λ of each term (reference 4 and the paper agree: 1, 4, 0.05, 0.1, 1). */
export interface LossWeights {
  cls: number;
  heatmap: number;
  init: number;
  refine: number;
  score: number;
}

export const SMPR_LOSS_WEIGHTS: LossWeights = { cls: 1, heatmap: 4, init: 0.05, refine: 0.1, score: 1 };

export interface LossOptions {
  weights?: LossWeights;
  /**
   * 'oks' (the method): classification and refinement positives are P_init ∩ OKS-positive.
   * 'init' (the Table I baseline): classification positives are P_init, and no refinement or pose-score loss.
   */
  positives?: 'oks' | 'init';
  /**
   * How L_init and L_ref weight their positives. 'oks' (the reference): by q, the OKS of the location's own
   * initial pose, normalised by Σq. 'uniform': every positive alike, normalised by their count. From a random
   * start q is ~0 almost everywhere and differs by orders of magnitude between locations, so 'oks' trains only the
   * few least-bad locations at first; yet from scratch 'uniform' scored no better (README, "The recipe"), so both
   * recipes keep 'oks'.
   */
  poseWeights?: 'oks' | 'uniform';
}

export interface SmprLoss {
  total: Tensor;
  cls: Tensor;
  heatmap: Tensor;
  init: Tensor;
  refine: Tensor;
  score: Tensor;
  /** |P_init| and |P_ref| over the batch (scalars on the device; read them when logging anyway). */
  initPositives: Tensor;
  refinePositives: Tensor;
}

/**
 * [N, C, H, W] per level → [N, L, C], levels in order and row-major within a level (the targets' layout). The
 * levels are joined along their locations first and transposed once, not each one transposed (for C = 1 the
 * transpose is a view).
 */
function flattenLevels(maps: Tensor[]): Tensor {
  return permute(concat(maps.map((m) => reshape(m, [m.shape[0], m.shape[1], m.shape[2] * m.shape[3]])), 2), [0, 2, 1]);
}

/** Guarded division: 0 where the denominator is 0 (then the numerator is a sum of zero-weighted terms too). */
const safeDiv = (num: Tensor, den: Tensor): Tensor => div(num, maximum(den, 1e-12));

/** OKS of each location's pose against each person of its image: [N, L, P], −1 against padding rows. */
export function oksMatrix(posePixels: Tensor, targets: BatchTargets, spec: KeypointSpec, device: Device): Tensor {
  const [N, L] = posePixels.shape;
  const K = targets.keypointCount;
  const P = targets.people.rows;
  const upload = (data: Float32Array | Uint8Array, shape: number[]) => tensor(Float32Array.from(data), shape, { device });
  return pairwiseOks(
    reshape(posePixels, [N, L, K, 2]),
    upload(targets.people.keypoints, [N, P, K, 2]),
    upload(targets.people.visible, [N, P, K]),
    upload(targets.people.area, [N, P]),
    upload(targets.people.valid, [N, P]),
    spec.sigmas,
  );
}

export function smprLoss(output: HeadOutput, targets: BatchTargets, spec: KeypointSpec, options: LossOptions = {}): SmprLoss {
  const w = options.weights ?? SMPR_LOSS_WEIGHTS;
  const device = output.levels[0].clsLogits.device;
  const N = targets.images;
  const K = targets.keypointCount;
  const L = targets.grid.count;

  const cls = reshape(flattenLevels(output.levels.map((l) => l.clsLogits)), [N, L]);
  const score = reshape(flattenLevels(output.levels.map((l) => l.scoreLogits)), [N, L]);
  const init = flattenLevels(output.levels.map((l) => l.initPose));
  const refine = flattenLevels(output.levels.map((l) => l.refinePose));

  const initPos = tensor(Float32Array.from(targets.initPos), [N, L], { device });
  const t = tensor(targets.t, [N, L, 2 * K], { device });
  const vis = tensor(targets.vis, [N, L, 2 * K], { device });

  // Steps 1–4: the OKS assigner, on detached predictions.
  const { q, refPos } = noGrad(() => {
    const xy = new Float32Array(L * 2 * K);
    const stride = new Float32Array(L);
    for (let l = 0; l < L; l++) {
      stride[l] = targets.grid.stride[l];
      for (let k = 0; k < K; k++) {
        xy[l * 2 * K + 2 * k] = targets.grid.x[l];
        xy[l * 2 * K + 2 * k + 1] = targets.grid.y[l];
      }
    }
    const pose = add(mul(detach(init), tensor(stride, [L, 1], { device })), tensor(xy, [L, 2 * K], { device }));
    const oks = oksMatrix(pose, targets, spec, device);
    const q = max(oks, 2);
    // Real people have OKS in [0, 1] and padding rows −1, so ge(oks, 0) is the validity mask oksMatrix applied.
    const bestOfPerson = max(mul(eq(oks, max(oks, 1, { keepdims: true })), ge(oks, 0)), 2);
    const oksPos = maximum(ge(q, 0.5), bestOfPerson);
    return { q: maximum(q, 0), refPos: options.positives === 'init' ? initPos : mul(initPos, oksPos) };
  });

  const initPositives = sum(initPos);
  const refinePositives = sum(refPos);

  const clsLoss = div(sigmoidFocalLoss(cls, refPos, { reduction: 'sum' }), add(refinePositives, N));

  let heatmapLoss = tensor([0], [], { device });
  if (output.heatmapLogits) {
    const labels = tensor(targets.heatmap, output.heatmapLogits.shape, { device });
    heatmapLoss = div(sigmoidFocalLoss(output.heatmapLogits, labels, { reduction: 'sum' }), targets.heatmapPositives + N);
  }

  // Weighted L1 (weights q, or 1 with poseWeights 'uniform'), summed over the 2K coordinates, normalised by the sum of the weights.
  const weightedL1 = (pred: Tensor, weights: Tensor) =>
    safeDiv(sum(mul(weights, sum(mul(vis, abs(sub(pred, t))), 2))), sum(weights));
  const poseWeight = options.poseWeights === 'uniform' ? tensor([1], [], { device }) : q;
  const initLoss = weightedL1(init, mul(initPos, poseWeight));

  let refineLoss = tensor([0], [], { device });
  let scoreLoss = tensor([0], [], { device });
  if (options.positives !== 'init') {
    refineLoss = weightedL1(refine, mul(refPos, poseWeight));
    // With no refined positive in the batch, the pose score is trained on P_init instead (reference H:397-402).
    const scoreMask = where(gt(refinePositives, 0), refPos, initPos);
    scoreLoss = safeDiv(sum(bceWithLogits(score, q, { reduction: 'none', weight: scoreMask })), sum(scoreMask));
  }

  const terms = [mul(clsLoss, w.cls), mul(heatmapLoss, w.heatmap), mul(initLoss, w.init), mul(refineLoss, w.refine), mul(scoreLoss, w.score)];
  return {
    total: terms.reduce((a, b) => add(a, b)),
    cls: clsLoss,
    heatmap: heatmapLoss,
    init: initLoss,
    refine: refineLoss,
    score: scoreLoss,
    initPositives,
    refinePositives,
  };
}
