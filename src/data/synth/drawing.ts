/** Drawing a figure: its parts, painted back to front into the image and the owner mask. */
import { COCO_KEYPOINT_NAMES } from '../../coco/keypoints.js';
import { rasterCapsule, rasterConvexPolygon, hsv, type PixelVisitor, type Point } from '../draw.js';
import type { Rgb } from '../image.js';
import type { Random } from '../../tensor/random.js';
import { type Figure, KP } from './body.js';
import { project, type View } from './camera.js';
import { normalize, plus, scale3, UP, type Vec3 } from './vec3.js';

/** Body parts, for ownership: a keypoint is visible where one of its own parts is on top. */
export enum Part { Head, Torso, LeftUpperArm, LeftForearm, RightUpperArm, RightForearm, LeftThigh, LeftShin, RightThigh, RightShin }
export const PART_COUNT = Object.keys(Part).length / 2; // a numeric enum maps names to numbers and back

export const KEYPOINT_PARTS: readonly (readonly Part[])[] = COCO_KEYPOINT_NAMES.map((name) => {
  const left = name.startsWith('left_');
  const byJoint: Record<string, Part[]> = {
    shoulder: [Part.Torso, left ? Part.LeftUpperArm : Part.RightUpperArm],
    elbow: left ? [Part.LeftUpperArm, Part.LeftForearm] : [Part.RightUpperArm, Part.RightForearm],
    wrist: [left ? Part.LeftForearm : Part.RightForearm],
    hip: [Part.Torso, left ? Part.LeftThigh : Part.RightThigh],
    knee: left ? [Part.LeftThigh, Part.LeftShin] : [Part.RightThigh, Part.RightShin],
    ankle: [left ? Part.LeftShin : Part.RightShin],
  };
  return byJoint[name.replace(/^(left|right)_/, '')] ?? [Part.Head];
});

type Outline =
  | { kind: 'capsule'; from: Point; to: Point; radius: number; color: Rgb }
  | { kind: 'polygon'; points: Point[]; color: Rgb };

interface DrawnPart {
  part: Part;
  depth: number;
  shapes: Outline[];
}

export interface Palette {
  skin: Rgb;
  hair: Rgb;
  shirt: Rgb;
  trousers: Rgb;
  shoes: Rgb;
  /** The shirt's front panel: a contrasting colour on the chest, drawn only on the side the person faces, so front and back differ. */
  chest: Rgb;
  /** Short sleeves show skin on the forearms; shorts show it on the shins. */
  shortSleeves: boolean;
  shorts: boolean;
}

const SKIN_TONES: readonly Rgb[] = [[255, 224, 196], [241, 194, 125], [224, 172, 105], [198, 134, 66], [141, 85, 36], [92, 56, 30]];
const HAIR_COLOURS: readonly Rgb[] = [[20, 15, 10], [60, 40, 25], [110, 75, 40], [200, 170, 110], [150, 150, 150], [140, 50, 20]];

export function samplePalette(rng: Random): Palette {
  const shirtHue = rng.next();
  const shirtValue = rng.uniform(0.35, 1);
  return {
    skin: rng.pick(SKIN_TONES),
    hair: rng.pick(HAIR_COLOURS),
    shirt: hsv(shirtHue, rng.uniform(0.2, 0.9), shirtValue),
    chest: hsv((shirtHue + rng.uniform(0.3, 0.7)) % 1, rng.uniform(0.3, 0.9), shirtValue > 0.65 ? rng.uniform(0.1, 0.35) : rng.uniform(0.8, 1)),
    trousers: hsv(rng.next(), rng.uniform(0.1, 0.7), rng.uniform(0.15, 0.7)),
    shoes: hsv(rng.next(), rng.uniform(0, 0.5), rng.uniform(0.05, 0.4)),
    shortSleeves: rng.chance(0.4),
    shorts: rng.chance(0.25),
  };
}

/** Limbs behind the torso are drawn a little darker, a depth cue; `depth` is relative to the torso. */
function shade(color: Rgb, depth: number): Rgb {
  const factor = depth < 0 ? 0.8 : 1;
  return [color[0] * factor, color[1] * factor, color[2] * factor];
}

/** 2-D convex hull (Andrew's monotone chain), for the torso outline. */
function convexHull(points: Point[]): Point[] {
  const sorted = [...points].sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const cross = (o: Point, a: Point, b: Point) => (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]);
  const half = (list: Point[]) => {
    const hull: Point[] = [];
    for (const p of list) {
      while (hull.length >= 2 && cross(hull[hull.length - 2]!, hull[hull.length - 1]!, p) <= 0) hull.pop();
      hull.push(p);
    }
    hull.pop();
    return hull;
  };
  return [...half(sorted), ...half([...sorted].reverse())];
}

/** The figure as parts to draw, each with its depth; the caller sorts them. */
export function figureParts(figure: Figure, view: View, palette: Palette): DrawnPart[] {
  const p = figure.proportions;
  // At least 0.75 px: then the pixel nearest a joint is always more than half covered, so owned by the limb.
  const px = (length: number) => Math.max(0.75, length * view.pixelsPerUnit);
  const at = (point: Vec3): Point => {
    const q = project(point, view);
    return [q.x, q.y];
  };
  const depthOf = (...points: Vec3[]) => points.reduce((sum, q) => sum + project(q, view).depth, 0) / points.length;
  const kp = figure.keypoints;
  const parts: DrawnPart[] = [];

  // Torso: shirt above the waist, trousers below, each the hull of its corners pushed forward and back by the
  // torso's depth (so that it keeps a width in profile); the neck goes with it.
  const forward: Vec3 = [0, 0, p.torsoHalfDepth];
  const backward: Vec3 = [0, 0, -p.torsoHalfDepth];
  const outline = (a: Vec3, b: Vec3, c: Vec3, d: Vec3) =>
    convexHull([a, b, c, d].flatMap((q) => [at(plus(q, forward)), at(plus(q, backward))]));
  const widen = (point: Vec3, factor: number, centre: Vec3): Vec3 => plus(centre, scale3(plus(point, scale3(centre, -1)), factor));
  const neck = figure.neck;
  const pelvis: Vec3 = [0, 0, 0];
  const shoulderL = widen(kp[KP.left_shoulder]!, 1.1, neck);
  const shoulderR = widen(kp[KP.right_shoulder]!, 1.1, neck);
  const hipL = widen(kp[KP.left_hip]!, 1.3, pelvis);
  const hipR = widen(kp[KP.right_hip]!, 1.3, pelvis);
  const waist = (shoulder: Vec3, hip: Vec3) => plus(scale3(shoulder, 0.3), scale3(hip, 0.7));
  const waistL = waist(shoulderL, hipL);
  const waistR = waist(shoulderR, hipR);
  const torsoDepth = depthOf(neck, pelvis);
  parts.push({
    part: Part.Torso,
    depth: torsoDepth - 0.02 * view.pixelsPerUnit, // limbs level with the torso go in front of it
    shapes: [
      { kind: 'capsule', from: at(neck), to: at(figure.head), radius: px(p.neckRadius), color: palette.skin },
      { kind: 'polygon', points: outline(shoulderL, shoulderR, waistR, waistL), color: palette.shirt },
      { kind: 'polygon', points: outline(waistL, waistR, hipR, hipL), color: palette.trousers },
      ...chestPanel(shoulderL, shoulderR, waistR, waistL, figure, view, palette),
    ],
  });

  // Limbs: capsules from joint to joint, with a hand at the wrist and a foot at the ankle.
  for (const side of ['left', 'right'] as const) {
    const shoulder = kp[KP[`${side}_shoulder`]]!, elbow = kp[KP[`${side}_elbow`]]!, wrist = kp[KP[`${side}_wrist`]]!;
    const hip = kp[KP[`${side}_hip`]]!, knee = kp[KP[`${side}_knee`]]!, ankle = kp[KP[`${side}_ankle`]]!;
    const hand = plus(wrist, scale3(figure.handDirection[side], p.handRadius)); // centred just past the wrist
    const toe = plus(ankle, scale3(normalize([0, -0.3, 1]), p.foot));
    const limb = (part: Part, a: Vec3, b: Vec3, radius: number, color: Rgb, extra: Outline[] = []): DrawnPart => {
      const depth = depthOf(a, b);
      const shaded = shade(color, depth - torsoDepth);
      return { part, depth, shapes: [{ kind: 'capsule', from: at(a), to: at(b), radius: px(radius), color: shaded }, ...extra] };
    };
    const left = side === 'left';
    parts.push(
      limb(left ? Part.LeftUpperArm : Part.RightUpperArm, shoulder, elbow, p.upperArmRadius, palette.shirt),
      limb(left ? Part.LeftForearm : Part.RightForearm, elbow, wrist, p.forearmRadius, palette.shortSleeves ? palette.skin : palette.shirt, [
        { kind: 'capsule', from: at(hand), to: at(hand), radius: px(p.handRadius), color: palette.skin },
      ]),
      limb(left ? Part.LeftThigh : Part.RightThigh, hip, knee, p.thighRadius, palette.trousers),
      limb(left ? Part.LeftShin : Part.RightShin, knee, ankle, p.shinRadius, palette.shorts ? palette.skin : palette.trousers, [
        { kind: 'capsule', from: at(ankle), to: at(toe), radius: px(p.footRadius), color: palette.shoes },
      ]),
    );
  }

  // Head: a disc of hair, with the face (skin, eyes) on the side it turns to, when that side is towards the camera.
  const head = figure.head;
  const r = p.headRadius;
  const facing = project(plus(head, figure.headForward), view).depth - project(head, view).depth; // cosine × pixels
  const headShapes: Outline[] = [{ kind: 'capsule', from: at(head), to: at(head), radius: px(r), color: palette.hair }];
  if (facing > -0.3 * view.pixelsPerUnit) {
    const face = plus(head, plus(scale3(figure.headForward, 0.32 * r), scale3(UP, -0.12 * r)));
    headShapes.push({ kind: 'capsule', from: at(face), to: at(face), radius: px(0.7 * r), color: palette.skin });
    for (const eye of [kp[KP.left_eye]!, kp[KP.right_eye]!]) {
      if (faceVisible(eye, figure, view)) headShapes.push({ kind: 'capsule', from: at(eye), to: at(eye), radius: px(0.13 * r), color: [30, 25, 25] });
    }
  }
  // Biased forward so that the head covers its own neck and the top of the torso.
  parts.push({ part: Part.Head, depth: depthOf(head) + 0.05 * view.pixelsPerUnit, shapes: headShapes });
  return parts;
}

/**
 * The shirt's front panel: the middle of the chest, on the torso's front surface, when the chest turns towards the
 * camera. With the face, it is what tells a person seen from the front from one seen from the back, and so their
 * left from their right (COCO labels sides from the person's own view).
 */
function chestPanel(shoulderL: Vec3, shoulderR: Vec3, waistR: Vec3, waistL: Vec3, figure: Figure, view: View, palette: Palette): Outline[] {
  const p = figure.proportions;
  const facing = project([0, 0, 1], view).depth - project([0, 0, 0], view).depth; // cos(yaw) × pixels per unit
  if (facing < 0.25 * view.pixelsPerUnit) return [];
  const front: Vec3 = [0, 0, p.torsoHalfDepth];
  const inward = (a: Vec3, b: Vec3): Vec3 => plus(front, plus(scale3(a, 0.7), scale3(b, 0.3))); // 40 % of the width, centred
  const corners = [inward(shoulderL, shoulderR), inward(shoulderR, shoulderL), inward(waistR, waistL), inward(waistL, waistR)];
  const points = corners.map((q): Point => {
    const r = project(q, view);
    return [r.x, r.y];
  });
  return [{ kind: 'polygon', points: convexHull(points), color: palette.chest }];
}

/** Whether a point on the head is on the half facing the camera (give or take a little, so that frontal ears count). */
export function faceVisible(point: Vec3, figure: Figure, view: View): boolean {
  return project(point, view).depth - project(figure.head, view).depth > -0.25 * figure.proportions.headRadius * view.pixelsPerUnit;
}

export function drawOutline(shape: Outline, width: number, height: number, visit: PixelVisitor): void {
  if (shape.kind === 'capsule') rasterCapsule(shape.from[0], shape.from[1], shape.to[0], shape.to[1], shape.radius, width, height, visit);
  else rasterConvexPolygon(shape.points, width, height, visit);
}
