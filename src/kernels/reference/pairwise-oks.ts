/**
 * Reference pairwise OKS: every predicted pose of an image against every person of that image, with the SMPR
 * authors' training formula (`kpt_oks`; `smprTrainingOks` in coco/oks.ts is the one-pair version):
 *
 *   OKS(l, p) = Σ_k v_pk · exp(−d²_lpk / (A_p · κ_k)) / max(Σ_k v_pk, 1),   κ_k = 2 · (2σ_k)²
 *
 * d_lpk the distance between pose l's and person p's keypoint k, v_pk ∈ {0, 1} whether person p's keypoint k is
 * labelled, A_p the person's area. A row that is not a person (`valid` 0: padding of a batch's person table) gets
 * −1, below every real OKS, so that a max over people never picks it.
 */
import { typedArrayFor, type DType, type TypedArray } from '../../tensor/dtype.js';

export interface PairwiseOksDims {
  batch: number;
  /** Poses per image (L). */
  poses: number;
  /** People rows per image (P). */
  people: number;
  keypoints: number;
}

/** κ_k = 2·(2σ_k)², the per-keypoint factor of the area in the exponent's denominator. */
export const oksKappa = (sigmas: readonly number[]): number[] => sigmas.map((s) => 2 * (2 * s) ** 2);

/**
 * poses [N, L, K, 2], people [N, P, K, 2], visible [N, P, K], area [N, P], valid [N, P], kappa [K] → [N, L, P].
 * Summation runs over k in order, as the WGSL kernel does.
 */
export function pairwiseOks(
  poses: ArrayLike<number>, people: ArrayLike<number>, visible: ArrayLike<number>, area: ArrayLike<number>, valid: ArrayLike<number>,
  kappa: ArrayLike<number>, { batch: N, poses: L, people: P, keypoints: K }: PairwiseOksDims, dtype: DType,
): TypedArray {
  const out = typedArrayFor(dtype, N * L * P);
  for (let n = 0; n < N; n++) {
    for (let l = 0; l < L; l++) {
      const pose = (n * L + l) * K * 2;
      for (let p = 0; p < P; p++) {
        const row = n * P + p;
        if (valid[row] === 0) {
          out[(n * L + l) * P + p] = -1;
          continue;
        }
        let similarity = 0;
        let labelled = 0;
        for (let k = 0; k < K; k++) {
          const dx = poses[pose + 2 * k] - people[(row * K + k) * 2];
          const dy = poses[pose + 2 * k + 1] - people[(row * K + k) * 2 + 1];
          similarity += visible[row * K + k] * Math.exp(-((dx * dx + dy * dy) / (area[row] * kappa[k])));
          labelled += visible[row * K + k];
        }
        out[(n * L + l) * P + p] = similarity / Math.max(labelled, 1);
      }
    }
  }
  return out;
}
