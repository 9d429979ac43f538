/**
 * A deterministic synthetic multi-person keypoint dataset, in COCO format, for training and testing SMPR without
 * COCO itself.
 *
 * Each person is a 3-D stick figure with human proportions (fractions of standing height, after anthropometric
 * tables), posed by joint angles (standing, walking, arms raised, star jump, sitting, bending, squatting), turned
 * to a random heading, projected orthographically and drawn back to front as capsule limbs, a torso polygon and a
 * head disc with a face. Several people per image, of sizes spread so that they fall on
 * different FPN levels, overlapping each other and cut by the border.
 *
 * Labels come from what was drawn: a per-pixel owner mask records which person, and which body part, painted each
 * pixel last. A keypoint is v = 1 when something drawn later covers its pixel (another person, another of its own
 * limbs) or it faces away (the far ear of a profile), v = 0 with x = y = 0 when it lies outside the image, and
 * v = 2 otherwise: normally its pixel is its own part's, but the ear of a head a few pixels wide may fall on
 * background, which counts as visible (nothing hides it). area, bbox and the RLE segmentation are those of the person's pixels
 * in the mask.
 *
 * The parts, one concept a file: vec3.ts, body.ts (proportions, poses, the figure), camera.ts (the view),
 * drawing.ts (parts and palettes), background.ts, scene.ts (placement and labels). Generation is pure computation
 * (it runs in the browser too); write.ts writes a dataset folder.
 */
import { personCategory, type CocoAnnotation, type CocoImage, type CocoKeypointsJson } from '../../coco/format.js';
import { COCO_KEYPOINTS } from '../../coco/keypoints.js';
import { Random } from '../../tensor/random.js';
import type { Image } from '../image.js';
import { renderScene } from './scene.js';

export interface SynthOptions {
  /** Number of images. */
  images: number;
  width?: number;
  height?: number;
  seed?: number;
  /** People per image are drawn uniformly from 1..maxPeople. */
  maxPeople?: number;
  /** Range of a person's standing height as a fraction of the image height (log-uniform). */
  personScale?: readonly [number, number];
}

/** How a synthetic dataset's annotations begin `info.description` (the demo replaces only such datasets). */
export const SYNTH_DESCRIPTION = 'SMPR synthetic people';

/**
 * The benchmark: 128² images with 1–3 people 0.4–1.1 of the image height, sized with the tiny preset's level ranges
 * so that all three levels get positives (`bench/synth-design.ts` measures it; README, "The synthetic benchmark").
 */
export const SYNTH_DEFAULTS = { width: 128, height: 128, seed: 1, maxPeople: 3, personScale: [0.4, 1.1] as const } as const;

export interface SynthDataset {
  /** Pixels of `coco.images[i]`. */
  images: Image[];
  coco: CocoKeypointsJson;
}

/**
 * Generates the dataset. Image i depends only on the seed and i (each image draws from its own forked generator),
 * so a longer dataset with the same seed starts with the same images.
 */
export function generateSynthDataset(options: SynthOptions): SynthDataset {
  const { width, height, seed, maxPeople, personScale } = { ...SYNTH_DEFAULTS, ...options };
  const rng = new Random(seed);
  const images: Image[] = [];
  const entries: CocoImage[] = [];
  const annotations: CocoAnnotation[] = [];
  for (let i = 0; i < options.images; i++) {
    const id = i + 1;
    const scene = renderScene(rng.fork(), width, height, maxPeople, personScale);
    images.push(scene.image);
    entries.push({ id, file_name: `${String(id).padStart(6, '0')}.png`, width, height });
    for (const label of scene.labels) annotations.push({ ...label, id: annotations.length + 1, image_id: id });
  }
  const coco: CocoKeypointsJson = {
    info: { description: `${SYNTH_DESCRIPTION}, seed ${seed}`, version: '1' },
    images: entries,
    annotations,
    categories: [personCategory(COCO_KEYPOINTS)],
  };
  return { images, coco };
}
