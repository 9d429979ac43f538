/**
 * A person of a COCO keypoints annotation, and the reference loader's rules for which annotations training
 * learns from (smpr-reference.md section 3.1; the authors' coco_kpt.py, _parse_ann_info).
 *
 * Boxes come in two layouts and each has one name: a `CocoBox` is [x, y, w, h] (the file's `bbox`, and the pseudo
 * box below); `Corners` are [x1, y1, x2, y2] (a `Person`'s box).
 */
import type { CocoAnnotation, CocoBox } from './format.js';

/** A box by its corners [x1, y1, x2, y2]. */
export type Corners = readonly [x1: number, y1: number, x2: number, y2: number];

/** What the loading rules read of an annotation: its keypoints, its area and its flags. */
export interface KeypointLabels {
  /** Flat [x, y, v] per keypoint: v = 0 unlabelled, 1 labelled but occluded, 2 labelled and visible. */
  readonly keypoints: ArrayLike<number>;
  /** COCO segmentation area, the OKS scale. Not the pseudo box's area. */
  readonly area: number;
  /** The annotation's own box; no rule reads it, since a kept person's box is its keypoints' box. */
  readonly bbox?: CocoBox;
  /** Crowd annotations go to mmdet's gt_bboxes_ignore, which SMPR never reads: they take part in nothing. */
  readonly iscrowd?: boolean | number;
  readonly ignore?: boolean | number;
}

/** A person that training learns from, in the pixels of its image (moved with it by resizing, flipping, cropping). */
export interface Person {
  /** K × 3 values x, y, v; v as in COCO. */
  readonly keypoints: Float32Array;
  /**
   * mmdet's ground-truth box as corners: the pseudo box with the reference's inclusive end x2 = x + w − 1, so 1 px
   * short of the keypoints on the right and bottom. Augmentation moves and clips it and drops the people whose box
   * collapses; target assignment measures to the keypoints' own pseudo box instead.
   */
  readonly box: Corners;
  /** The COCO segmentation area, in pixels²: the scale in OKS. */
  readonly area: number;
}

/** A keypoint counts as labelled when v > 0 (the reference tests v ≥ 1 in one place; the same for COCO's 0/1/2). */
export function isLabelled(v: number): boolean {
  return v > 0;
}

/**
 * The tight box of the labelled keypoints (v = 1 counts), as [x, y, w, h], or null when none is labelled.
 * This is what the authors' offline script writes over each annotation's bbox.
 */
export function pseudoBox(keypoints: ArrayLike<number>): CocoBox | null {
  let x1 = Infinity, y1 = Infinity, x2 = -Infinity, y2 = -Infinity;
  for (let i = 0; i + 2 < keypoints.length; i += 3) {
    if (!isLabelled(keypoints[i + 2])) continue;
    x1 = Math.min(x1, keypoints[i]);
    y1 = Math.min(y1, keypoints[i + 1]);
    x2 = Math.max(x2, keypoints[i]);
    y2 = Math.max(y2, keypoints[i + 1]);
  }
  return x1 === Infinity ? null : [x1, y1, x2 - x1, y2 - y1];
}

export type DropReason = 'ignore' | 'crowd' | 'no-labelled-keypoint' | 'no-area' | 'box-under-1px';

/**
 * Why the reference loader drops this person, or null when it keeps it. A dropped person is not an ignore region:
 * it simply becomes background. Since the box is the keypoints' box, a kept person has at least two labelled
 * keypoints spanning 1 px or more in both x and y: one keypoint, or keypoints on a horizontal or vertical line, give
 * a box under 1 px wide or high. (The reference measures the box in original-image pixels, before resizing; the
 * targets measure it again in the pixels the person is given in, see `filterPeople`.)
 */
export function dropReason(person: KeypointLabels): DropReason | null {
  if (person.ignore) return 'ignore';
  const box = pseudoBox(person.keypoints);
  if (box === null) return 'no-labelled-keypoint';
  if (!(person.area > 0)) return 'no-area';
  if (box[2] < 1 || box[3] < 1) return 'box-under-1px';
  if (person.iscrowd) return 'crowd';
  return null;
}

/** The annotations the reference trains on, as people: those `dropReason` keeps, each boxed by its keypoints. */
export function toTrainingPeople(annotations: readonly CocoAnnotation[]): Person[] {
  const people: Person[] = [];
  for (const annotation of annotations) {
    if (dropReason(annotation) !== null) continue;
    const [x, y, w, h] = pseudoBox(annotation.keypoints)!;
    people.push({ keypoints: Float32Array.from(annotation.keypoints), box: [x, y, x + w - 1, y + h - 1], area: annotation.area });
  }
  return people;
}
