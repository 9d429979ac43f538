/**
 * A keypoint layout: the names, the OKS falloff constants and the left/right flip pairs that every part of SMPR
 * (targets, losses, decoding, evaluation, augmentation, drawing) must agree on. COCO-17 is the default; a user
 * with another skeleton builds a `KeypointSpec` of their own.
 */
export interface KeypointSpec {
  /** Keypoint names in channel order. */
  readonly names: readonly string[];
  /** COCO's per-keypoint sigmas (the OKS variance is (2σ)²). */
  readonly sigmas: readonly number[];
  /** flipIndex[k] is the keypoint that k becomes under a horizontal flip. */
  readonly flipIndex: readonly number[];
  /** Limbs to draw, as pairs of keypoint indices. */
  readonly skeleton: readonly (readonly [number, number])[];
}

export const COCO_KEYPOINT_NAMES = [
  'nose', 'left_eye', 'right_eye', 'left_ear', 'right_ear',
  'left_shoulder', 'right_shoulder', 'left_elbow', 'right_elbow', 'left_wrist', 'right_wrist',
  'left_hip', 'right_hip', 'left_knee', 'right_knee', 'left_ankle', 'right_ankle',
] as const;

/** pycocotools' `kpt_oks_sigmas`. */
export const COCO_SIGMAS = [
  0.26, 0.25, 0.25, 0.35, 0.35, 0.79, 0.79, 0.72, 0.72, 0.62, 0.62, 1.07, 1.07, 0.87, 0.87, 0.89, 0.89,
].map((s) => s / 10);

export const COCO_FLIP_INDEX = [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15];

/** COCO's person skeleton, 0-based (the annotation file lists it 1-based). */
export const COCO_SKELETON: [number, number][] = [
  [15, 13], [13, 11], [16, 14], [14, 12], [11, 12], [5, 11], [6, 12], [5, 6], [5, 7], [6, 8],
  [7, 9], [8, 10], [1, 2], [0, 1], [0, 2], [1, 3], [2, 4], [3, 5], [4, 6],
];

export const COCO_KEYPOINTS: KeypointSpec = {
  names: COCO_KEYPOINT_NAMES,
  sigmas: COCO_SIGMAS,
  flipIndex: COCO_FLIP_INDEX,
  skeleton: COCO_SKELETON,
};

/** Checks that a spec is self-consistent: equal lengths, and the flip map is an involution. */
export function validateKeypointSpec(spec: KeypointSpec): void {
  const k = spec.names.length;
  if (spec.sigmas.length !== k || spec.flipIndex.length !== k) {
    throw new Error(
      `KeypointSpec: names, sigmas and flipIndex must have one entry per keypoint; got ${k}, ${spec.sigmas.length}, ${spec.flipIndex.length}`,
    );
  }
  spec.flipIndex.forEach((j, i) => {
    if (spec.flipIndex[j] !== i) throw new Error(`KeypointSpec: flipIndex is not an involution at keypoint ${i} (→ ${j} → ${spec.flipIndex[j]})`);
  });
}
