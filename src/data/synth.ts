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
 */
import { COCO_KEYPOINT_NAMES, COCO_KEYPOINTS } from '../coco/keypoints.js';
import { personCategory, type CocoAnnotation, type CocoImage, type CocoKeypointsJson } from '../coco/format.js';
import { writeCocoDataset } from './coco.js';
import { rasterCapsule, rasterConvexPolygon, painter, hsv, type PixelVisitor, type Point } from './draw.js';
import { createImage, type Image, type Rgb } from './image.js';
import { Random } from '../tensor/random.js';

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
    info: { description: `SMPR synthetic people, seed ${seed}`, version: '1' },
    images: entries,
    annotations,
    categories: [personCategory(COCO_KEYPOINTS)],
  };
  return { images, coco };
}

/** Generates the dataset and writes it as a COCO dataset folder: `images/*.png` and `annotations.json`. */
export function writeSynthDataset(outDir: string, options: SynthOptions): SynthDataset {
  const dataset = generateSynthDataset(options);
  writeCocoDataset(outDir, dataset.coco, dataset.images);
  return dataset;
}

// ---------------------------------------------------------------------------------------------------------------
// The body: a 3-D figure in units of standing height. Body frame: x to the person's left, y up, z forward
// (the way the person faces), origin at the pelvis.

type Vec3 = readonly [number, number, number];
const add = (a: Vec3, b: Vec3): Vec3 => [a[0] + b[0], a[1] + b[1], a[2] + b[2]];
const scale3 = (a: Vec3, s: number): Vec3 => [a[0] * s, a[1] * s, a[2] * s];
const normalize = (a: Vec3): Vec3 => scale3(a, 1 / Math.hypot(...a));
const UP: Vec3 = [0, 1, 0];
const DEG = Math.PI / 180;

/** Segment lengths and widths as fractions of standing height (Drillis & Contini's tables, rounded). */
const PROPORTIONS = {
  spine: 0.29, // pelvis to the shoulder line (hip joints at 0.53, shoulders at 0.82 of height)
  neck: 0.115, // shoulder line to the centre of the head
  headRadius: 0.07,
  shoulderHalfWidth: 0.115,
  hipHalfWidth: 0.085,
  torsoHalfDepth: 0.06,
  upperArm: 0.186,
  forearm: 0.146,
  thigh: 0.245,
  shin: 0.246,
  foot: 0.1,
  /** Radii of the drawn limbs, before the per-person build factor. */
  upperArmRadius: 0.03,
  forearmRadius: 0.024,
  handRadius: 0.03,
  thighRadius: 0.045,
  shinRadius: 0.034,
  footRadius: 0.022,
  neckRadius: 0.03,
} as const;

type Proportions = { -readonly [K in keyof typeof PROPORTIONS]: number };

/**
 * A limb segment's direction, by two angles in degrees: `elevation` from hanging straight down (0) through
 * horizontal (90) to straight up (180), and `azimuth`, the way it swings: 0 outward to the person's side,
 * 90 forward, −90 backward.
 */
interface Direction {
  elevation: number;
  azimuth: number;
}

/** A swing in the body's forward/backward plane: positive forward, negative backward, 0 hanging. */
const swing = (angle: number): Direction => ({ elevation: Math.abs(angle), azimuth: angle >= 0 ? 85 : -85 });

interface LimbPose {
  upper: Direction;
  lower: Direction;
}

interface Pose {
  /** Forward bend of the torso at the hips, degrees. */
  lean: number;
  /** Sideways bend of the torso, degrees, positive to the person's left. */
  sideBend: number;
  /** Head turn relative to the body, degrees, positive to the person's left. */
  headTurn: number;
  leftArm: LimbPose;
  rightArm: LimbPose;
  leftLeg: LimbPose;
  rightLeg: LimbPose;
}

/** A unit vector for a segment on the left (side = 1) or right (side = −1) of the body. */
function directionVector({ elevation, azimuth }: Direction, side: 1 | -1): Vec3 {
  const e = elevation * DEG;
  const a = azimuth * DEG;
  return [side * Math.sin(e) * Math.cos(a), -Math.cos(e), Math.sin(e) * Math.sin(a)];
}

/** Pose families with their sampling weights. Angles are drawn per person, so no two poses are identical. */
const POSE_SAMPLERS: readonly { weight: number; sample: (rng: Random) => Pose }[] = [
  { weight: 3, sample: standing },
  { weight: 3, sample: walking },
  { weight: 2, sample: armsRaised },
  { weight: 1, sample: starJump },
  { weight: 2, sample: sitting },
  { weight: 1, sample: bending },
  { weight: 1, sample: squatting },
];

function samplePose(rng: Random): Pose {
  const total = POSE_SAMPLERS.reduce((sum, s) => sum + s.weight, 0);
  let pick = rng.uniform(0, total);
  for (const sampler of POSE_SAMPLERS) {
    pick -= sampler.weight;
    if (pick < 0) return sampler.sample(rng);
  }
  return standing(rng);
}

/** Arms hanging beside the body, elbows a little bent. */
function hangingArm(rng: Random): LimbPose {
  const upper = { elevation: rng.uniform(4, 20), azimuth: rng.uniform(-20, 40) };
  return { upper, lower: { elevation: upper.elevation + rng.uniform(0, 30), azimuth: rng.uniform(40, 90) } };
}

function straightLeg(rng: Random): LimbPose {
  const upper = { elevation: rng.uniform(2, 9), azimuth: rng.uniform(-20, 30) };
  return { upper, lower: { elevation: upper.elevation * rng.uniform(0.3, 1), azimuth: upper.azimuth } };
}

function upright(rng: Random): Pick<Pose, 'lean' | 'sideBend' | 'headTurn'> {
  return { lean: rng.uniform(-4, 8), sideBend: rng.uniform(-5, 5), headTurn: rng.uniform(-35, 35) };
}

function standing(rng: Random): Pose {
  return { ...upright(rng), leftArm: hangingArm(rng), rightArm: hangingArm(rng), leftLeg: straightLeg(rng), rightLeg: straightLeg(rng) };
}

/** Mid-stride: one leg forward, the other back with the knee bent, arms swinging against the legs. */
function walking(rng: Random): Pose {
  const stride = rng.uniform(15, 35);
  const front: LimbPose = { upper: swing(stride), lower: swing(stride - rng.uniform(0, 12)) };
  const back: LimbPose = { upper: swing(-stride * 0.6), lower: swing(-stride * 0.6 - rng.uniform(20, 50)) };
  const armSwing = rng.uniform(10, 30);
  const forwardArm: LimbPose = { upper: swing(armSwing), lower: swing(armSwing + rng.uniform(10, 40)) };
  const backArm: LimbPose = { upper: swing(-armSwing), lower: swing(-armSwing + rng.uniform(0, 20)) };
  const leftLegForward = rng.chance(0.5);
  return {
    ...upright(rng),
    leftLeg: leftLegForward ? front : back,
    rightLeg: leftLegForward ? back : front,
    leftArm: leftLegForward ? backArm : forwardArm,
    rightArm: leftLegForward ? forwardArm : backArm,
  };
}

/** One or both arms up: sideways with the forearm up or out, overhead, or reaching forward. */
function raisedArm(rng: Random): LimbPose {
  switch (rng.int(0, 2)) {
    case 0: {
      const upper = { elevation: rng.uniform(60, 110), azimuth: rng.uniform(-10, 25) };
      return { upper, lower: { elevation: rng.uniform(upper.elevation, 180), azimuth: rng.uniform(0, 40) } };
    }
    case 1:
      return {
        upper: { elevation: rng.uniform(140, 175), azimuth: rng.uniform(0, 60) },
        lower: { elevation: rng.uniform(150, 180), azimuth: rng.uniform(0, 60) },
      };
    default: {
      const upper = { elevation: rng.uniform(60, 100), azimuth: rng.uniform(60, 90) };
      return { upper, lower: { elevation: upper.elevation + rng.uniform(-10, 40), azimuth: upper.azimuth } };
    }
  }
}

function armsRaised(rng: Random): Pose {
  const both = rng.chance(0.5);
  const leftUp = both || rng.chance(0.5);
  return {
    ...upright(rng),
    leftArm: leftUp ? raisedArm(rng) : hangingArm(rng),
    rightArm: both || !leftUp ? raisedArm(rng) : hangingArm(rng),
    leftLeg: straightLeg(rng),
    rightLeg: straightLeg(rng),
  };
}

/** Arms and legs spread sideways. */
function starJump(rng: Random): Pose {
  const arm = (): LimbPose => {
    const upper = { elevation: rng.uniform(90, 150), azimuth: rng.uniform(-10, 20) };
    return { upper, lower: { elevation: upper.elevation + rng.uniform(-10, 20), azimuth: upper.azimuth } };
  };
  const leg = (): LimbPose => {
    const upper = { elevation: rng.uniform(12, 30), azimuth: rng.uniform(-10, 15) };
    return { upper, lower: { elevation: upper.elevation + rng.uniform(-5, 5), azimuth: upper.azimuth } };
  };
  return { ...upright(rng), leftArm: arm(), rightArm: arm(), leftLeg: leg(), rightLeg: leg() };
}

/** On an (undrawn) seat: thighs forward, shins hanging, hands towards the knees. */
function sitting(rng: Random): Pose {
  const leg = (): LimbPose => {
    const thigh = rng.uniform(70, 95);
    return { upper: { elevation: thigh, azimuth: rng.uniform(75, 90) }, lower: swing(thigh - rng.uniform(70, 110)) };
  };
  const arm = (): LimbPose => {
    const upper = rng.uniform(5, 40);
    return { upper: swing(upper), lower: swing(upper + rng.uniform(30, 70)) };
  };
  return { ...upright(rng), lean: rng.uniform(-10, 20), leftArm: arm(), rightArm: arm(), leftLeg: leg(), rightLeg: leg() };
}

/** Bent forward at the hips, arms hanging towards the ground. */
function bending(rng: Random): Pose {
  const arm = (): LimbPose => {
    const upper = rng.uniform(-10, 45);
    return { upper: swing(upper), lower: swing(upper + rng.uniform(-10, 30)) };
  };
  return { ...upright(rng), lean: rng.uniform(30, 80), leftArm: arm(), rightArm: arm(), leftLeg: straightLeg(rng), rightLeg: straightLeg(rng) };
}

/** Knees forward, shins sloping back, torso leaning to balance, arms forward. */
function squatting(rng: Random): Pose {
  const leg = (): LimbPose => {
    const thigh = rng.uniform(45, 90);
    return { upper: { elevation: thigh, azimuth: rng.uniform(55, 85) }, lower: swing(-rng.uniform(10, 40)) };
  };
  const arm = (): LimbPose => {
    const upper = rng.uniform(30, 90);
    return { upper: swing(upper), lower: swing(upper + rng.uniform(-10, 40)) };
  };
  return { ...upright(rng), lean: rng.uniform(15, 45), leftArm: arm(), rightArm: arm(), leftLeg: leg(), rightLeg: leg() };
}

/** Everyone differs a little in proportions (±8 % per length) and a lot in build (limb thickness ×0.75–1.35). */
function sampleProportions(rng: Random): Proportions {
  const build = rng.uniform(0.75, 1.35);
  const vary = (value: number) => value * (1 + Math.max(-0.15, Math.min(0.15, 0.08 * rng.normal())));
  const p = { ...PROPORTIONS } as Proportions;
  for (const key of Object.keys(p) as (keyof Proportions)[]) p[key] = vary(p[key]) * (key.endsWith('Radius') ? build : 1);
  return p;
}

/** The 3-D figure: the 17 COCO keypoints plus what is needed to draw the body around them. */
interface Figure {
  keypoints: Vec3[];
  neck: Vec3;
  head: Vec3;
  /** Unit vectors of the head frame: its forward and its left. */
  headForward: Vec3;
  /** Forearm and shin directions, for the hands and the feet. */
  handDirection: { left: Vec3; right: Vec3 };
  proportions: Proportions;
}

const KP = Object.fromEntries(COCO_KEYPOINT_NAMES.map((name, i) => [name, i])) as Record<(typeof COCO_KEYPOINT_NAMES)[number], number>;

function buildFigure(pose: Pose, p: Proportions): Figure {
  const lean = pose.lean * DEG;
  const bend = pose.sideBend * DEG;
  const spine = normalize([Math.sin(bend), Math.cos(lean) * Math.cos(bend), Math.sin(lean) * Math.cos(bend)]);
  const neck = scale3(spine, p.spine);
  const shoulderAxis: Vec3 = [Math.cos(bend), -Math.sin(bend), 0];
  const turn = pose.headTurn * DEG;
  const headForward: Vec3 = [Math.sin(turn), 0, Math.cos(turn)];
  const headLeft: Vec3 = [Math.cos(turn), 0, -Math.sin(turn)];
  const head = add(neck, scale3(normalize(add(spine, scale3(UP, 0.6))), p.neck));
  const r = p.headRadius;
  /** A point on the head: `f` forward, `l` to the left, `u` up, in head radii. */
  const onHead = (f: number, l: number, u: number) => add(head, add(scale3(headForward, f * r), add(scale3(headLeft, l * r), scale3(UP, u * r))));

  const keypoints: Vec3[] = new Array(COCO_KEYPOINT_NAMES.length);
  keypoints[KP.nose] = onHead(0.95, 0, -0.2);
  keypoints[KP.left_eye] = onHead(0.8, 0.38, 0.12);
  keypoints[KP.right_eye] = onHead(0.8, -0.38, 0.12);
  keypoints[KP.left_ear] = onHead(-0.1, 0.95, 0);
  keypoints[KP.right_ear] = onHead(-0.1, -0.95, 0);

  const handDirection = { left: UP, right: UP };
  for (const side of [1, -1] as const) {
    const [arm, leg, name] = side === 1 ? [pose.leftArm, pose.leftLeg, 'left'] as const : [pose.rightArm, pose.rightLeg, 'right'] as const;
    const shoulder = add(neck, scale3(shoulderAxis, side * p.shoulderHalfWidth));
    const elbow = add(shoulder, scale3(directionVector(arm.upper, side), p.upperArm));
    const forearm = directionVector(arm.lower, side);
    const hip: Vec3 = [side * p.hipHalfWidth, 0, 0];
    const knee = add(hip, scale3(directionVector(leg.upper, side), p.thigh));
    keypoints[KP[`${name}_shoulder`]] = shoulder;
    keypoints[KP[`${name}_elbow`]] = elbow;
    keypoints[KP[`${name}_wrist`]] = add(elbow, scale3(forearm, p.forearm));
    keypoints[KP[`${name}_hip`]] = hip;
    keypoints[KP[`${name}_knee`]] = knee;
    keypoints[KP[`${name}_ankle`]] = add(knee, scale3(directionVector(leg.lower, side), p.shin));
    handDirection[name] = forearm;
  }
  return { keypoints, neck, head, headForward, handDirection, proportions: p };
}

// ---------------------------------------------------------------------------------------------------------------
// The view: a heading, an in-plane tilt, a size in pixels and a position.

/** Where a body-frame point lands: image x, y, and depth towards the camera (larger is nearer). */
interface Projected {
  x: number;
  y: number;
  depth: number;
}

interface View {
  /** Heading, radians: 0 faces the camera, π/2 faces image right. */
  yaw: number;
  /** In-plane tilt, radians. */
  roll: number;
  /** Pixels per unit of standing height. */
  pixelsPerUnit: number;
  /** Image position of the body-frame origin. */
  offsetX: number;
  offsetY: number;
}

function project(point: Vec3, view: View): Projected {
  const [x, y, z] = point;
  const c = Math.cos(view.yaw);
  const s = Math.sin(view.yaw);
  const across = x * c + z * s; // the person's left is image right when they face the camera
  const depth = -x * s + z * c;
  const cr = Math.cos(view.roll);
  const sr = Math.sin(view.roll);
  return {
    x: view.offsetX + view.pixelsPerUnit * (across * cr + y * sr),
    y: view.offsetY + view.pixelsPerUnit * (across * sr - y * cr),
    depth: depth * view.pixelsPerUnit,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Drawing a figure: parts painted back to front into the image and the owner mask.

/** Body parts, for ownership: a keypoint is visible where one of its own parts is on top. */
enum Part { Head, Torso, LeftUpperArm, LeftForearm, RightUpperArm, RightForearm, LeftThigh, LeftShin, RightThigh, RightShin }
const PART_COUNT = Object.keys(Part).length / 2; // a numeric enum maps names to numbers and back

const KEYPOINT_PARTS: readonly (readonly Part[])[] = COCO_KEYPOINT_NAMES.map((name) => {
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

type Shape =
  | { kind: 'capsule'; from: Point; to: Point; radius: number; color: Rgb }
  | { kind: 'polygon'; points: Point[]; color: Rgb };

interface DrawnPart {
  part: Part;
  depth: number;
  shapes: Shape[];
}

interface Palette {
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

function samplePalette(rng: Random): Palette {
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
function figureParts(figure: Figure, view: View, palette: Palette): DrawnPart[] {
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
    convexHull([a, b, c, d].flatMap((q) => [at(add(q, forward)), at(add(q, backward))]));
  const widen = (point: Vec3, factor: number, centre: Vec3): Vec3 => add(centre, scale3(add(point, scale3(centre, -1)), factor));
  const neck = figure.neck;
  const pelvis: Vec3 = [0, 0, 0];
  const shoulderL = widen(kp[KP.left_shoulder]!, 1.1, neck);
  const shoulderR = widen(kp[KP.right_shoulder]!, 1.1, neck);
  const hipL = widen(kp[KP.left_hip]!, 1.3, pelvis);
  const hipR = widen(kp[KP.right_hip]!, 1.3, pelvis);
  const waist = (shoulder: Vec3, hip: Vec3) => add(scale3(shoulder, 0.3), scale3(hip, 0.7));
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
    const hand = add(wrist, scale3(figure.handDirection[side], p.handRadius)); // centred just past the wrist
    const toe = add(ankle, scale3(normalize([0, -0.3, 1]), p.foot));
    const limb = (part: Part, a: Vec3, b: Vec3, radius: number, color: Rgb, extra: Shape[] = []): DrawnPart => {
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
  const facing = project(add(head, figure.headForward), view).depth - project(head, view).depth; // cosine × pixels
  const headShapes: Shape[] = [{ kind: 'capsule', from: at(head), to: at(head), radius: px(r), color: palette.hair }];
  if (facing > -0.3 * view.pixelsPerUnit) {
    const face = add(head, add(scale3(figure.headForward, 0.32 * r), scale3(UP, -0.12 * r)));
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
function chestPanel(shoulderL: Vec3, shoulderR: Vec3, waistR: Vec3, waistL: Vec3, figure: Figure, view: View, palette: Palette): Shape[] {
  const p = figure.proportions;
  const facing = project([0, 0, 1], view).depth - project([0, 0, 0], view).depth; // cos(yaw) × pixels per unit
  if (facing < 0.25 * view.pixelsPerUnit) return [];
  const front: Vec3 = [0, 0, p.torsoHalfDepth];
  const inward = (a: Vec3, b: Vec3): Vec3 => add(front, add(scale3(a, 0.7), scale3(b, 0.3))); // 40 % of the width, centred
  const corners = [inward(shoulderL, shoulderR), inward(shoulderR, shoulderL), inward(waistR, waistL), inward(waistL, waistR)];
  const points = corners.map((q): Point => {
    const r = project(q, view);
    return [r.x, r.y];
  });
  return [{ kind: 'polygon', points: convexHull(points), color: palette.chest }];
}

/** Whether a point on the head is on the half facing the camera (give or take a little, so that frontal ears count). */
function faceVisible(point: Vec3, figure: Figure, view: View): boolean {
  return project(point, view).depth - project(figure.head, view).depth > -0.25 * figure.proportions.headRadius * view.pixelsPerUnit;
}

function drawShape(shape: Shape, width: number, height: number, visit: PixelVisitor): void {
  if (shape.kind === 'capsule') rasterCapsule(shape.from[0], shape.from[1], shape.to[0], shape.to[1], shape.radius, width, height, visit);
  else rasterConvexPolygon(shape.points, width, height, visit);
}

// ---------------------------------------------------------------------------------------------------------------
// Backgrounds: a wall and a floor, each a gradient, stripes, smooth noise or a checkerboard, with grain and clutter.

type Texture = (x: number, y: number) => Rgb;

function randomColour(rng: Random): Rgb {
  return hsv(rng.next(), rng.uniform(0, 0.6), rng.uniform(0.2, 0.95));
}

const mix = (a: Rgb, b: Rgb, t: number): Rgb => [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t];

function sampleTexture(rng: Random, width: number, height: number): Texture {
  const a = randomColour(rng);
  const b = randomColour(rng);
  const angle = rng.uniform(0, Math.PI);
  const along = (x: number, y: number) => x * Math.cos(angle) + y * Math.sin(angle);
  switch (rng.int(0, 3)) {
    case 0: {
      const extent = Math.hypot(width, height);
      return (x, y) => mix(a, b, (along(x, y) / extent + 1) / 2);
    }
    case 1: {
      const period = rng.uniform(4, 40);
      const hard = rng.chance(0.5);
      return (x, y) => {
        const wave = (Math.sin((2 * Math.PI * along(x, y)) / period) + 1) / 2;
        return mix(a, b, hard ? Math.round(wave) : wave);
      };
    }
    case 2: {
      const cell = rng.uniform(6, 40);
      const columns = Math.ceil(width / cell) + 2;
      const lattice = Array.from({ length: columns * (Math.ceil(height / cell) + 2) }, () => rng.next());
      return (x, y) => {
        const gx = x / cell, gy = y / cell;
        const x0 = Math.floor(gx), y0 = Math.floor(gy);
        const tx = gx - x0, ty = gy - y0;
        const v = (i: number, j: number) => lattice[j * columns + i]!;
        const top = v(x0, y0) + (v(x0 + 1, y0) - v(x0, y0)) * tx;
        const bottom = v(x0, y0 + 1) + (v(x0 + 1, y0 + 1) - v(x0, y0 + 1)) * tx;
        return mix(a, b, top + (bottom - top) * ty);
      };
    }
    default: {
      const size = rng.uniform(5, 30);
      return (x, y) => ((Math.floor(along(x, y) / size) + Math.floor((-x * Math.sin(angle) + y * Math.cos(angle)) / size)) & 1 ? a : b);
    }
  }
}

function paintBackground(rng: Random, image: Image): void {
  const { width, height, data } = image;
  const wall = sampleTexture(rng, width, height);
  const floor = rng.chance(0.7) ? sampleTexture(rng, width, height) : wall;
  const horizon = rng.uniform(0.3, 0.8) * height;
  const grain = rng.uniform(0, 12);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const colour = (y < horizon ? wall : floor)(x, y);
      const noise = grain * (rng.next() - 0.5) * 2;
      for (let c = 0; c < 3; c++) data[(y * width + x) * 3 + c] = Math.max(0, Math.min(255, Math.round(colour[c]! + noise)));
    }
  }
  // Clutter: poles, boxes and balls, so that not every solid shape is a person.
  for (let n = rng.int(0, 4); n > 0; n--) {
    const x = rng.uniform(0, width), y = rng.uniform(0, height);
    const size = rng.uniform(0.03, 0.25) * height;
    const paint = painter(image, randomColour(rng));
    if (rng.chance(0.5)) {
      const angle = rng.uniform(0, Math.PI);
      rasterCapsule(x, y, x + size * 2 * Math.cos(angle), y + size * 2 * Math.sin(angle), rng.uniform(0.5, 0.15 * size), width, height, paint);
    } else {
      const w = size * rng.uniform(0.5, 2);
      rasterConvexPolygon([[x, y], [x + w, y], [x + w, y + size], [x, y + size]], width, height, paint);
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// A scene: background, people placed and drawn back to front, then labels read off the owner mask.

interface PlacedPerson {
  figure: Figure;
  view: View;
  palette: Palette;
}

/** An annotation without its ids, which the dataset assigns. */
type SceneLabel = Omit<CocoAnnotation, 'id' | 'image_id'>;

function renderScene(rng: Random, width: number, height: number, maxPeople: number, personScale: readonly [number, number]): { image: Image; labels: SceneLabel[] } {
  const image = createImage(width, height);
  paintBackground(rng, image);
  const people = placePeople(rng, width, height, rng.int(1, maxPeople), personScale);
  const owner = new Int32Array(width * height); // 0 background, else person × PART_COUNT + part + 1
  people.forEach((person, index) => {
    const parts = figureParts(person.figure, person.view, person.palette).sort((a, b) => a.depth - b.depth);
    for (const { part, shapes } of parts) {
      const mark = index * PART_COUNT + part + 1;
      for (const shape of shapes) {
        const paint = painter(image, shape.color);
        drawShape(shape, width, height, (x, y, coverage) => {
          paint(x, y, coverage);
          if (coverage >= 0.5) owner[y * width + x] = mark;
        });
      }
    }
  });
  const labels = people.flatMap((person, index) => labelPerson(person, index, owner, width, height) ?? []);
  return { image, labels };
}

/**
 * A heading (0 faces the camera): as in photographs of people, most face the camera (55 %, within ±50°), some turn
 * their back (15 %, within ±40° of it), and the rest face any way.
 */
function sampleHeading(rng: Random): number {
  const pick = rng.next();
  if (pick < 0.55) return rng.uniform(-50, 50) * DEG;
  if (pick < 0.7) return Math.PI + rng.uniform(-40, 40) * DEG;
  return rng.uniform(0, 2 * Math.PI);
}

/**
 * Sizes log-uniform in `personScale` of the image height (default 0.4 to 1.1, so that some are cut by the border), headings mostly towards the camera, positions anywhere (some people
 * cut by the border), some deliberately next to an earlier person so that they overlap. Smaller people are drawn
 * first, as if further away.
 */
function placePeople(rng: Random, width: number, height: number, count: number, personScale: readonly [number, number]): PlacedPerson[] {
  const people: PlacedPerson[] = [];
  for (let i = 0; i < count; i++) {
    const figure = buildFigure(samplePose(rng), sampleProportions(rng));
    const pixelsPerUnit = height * Math.exp(rng.uniform(Math.log(personScale[0]), Math.log(personScale[1])));
    const view: View = { yaw: sampleHeading(rng), roll: rng.uniform(-8, 8) * DEG, pixelsPerUnit, offsetX: 0, offsetY: 0 };
    // Centre the figure's projected keypoint box on the chosen spot.
    const points = figure.keypoints.map((q) => project(q, view));
    const cx = (Math.min(...points.map((q) => q.x)) + Math.max(...points.map((q) => q.x))) / 2;
    const cy = (Math.min(...points.map((q) => q.y)) + Math.max(...points.map((q) => q.y))) / 2;
    const neighbour = people.length > 0 && rng.chance(0.4) ? rng.pick(people).view : undefined;
    const spotX = neighbour ? neighbour.offsetX + rng.uniform(-0.3, 0.3) * neighbour.pixelsPerUnit : rng.uniform(0.05, 0.95) * width;
    const spotY = neighbour ? neighbour.offsetY + rng.uniform(-0.2, 0.2) * neighbour.pixelsPerUnit : rng.uniform(0.15, 0.9) * height;
    people.push({ figure, view: { ...view, offsetX: spotX - cx, offsetY: spotY - cy }, palette: samplePalette(rng) });
  }
  return people.sort((a, b) => a.view.pixelsPerUnit - b.view.pixelsPerUnit);
}

const round2 = (value: number) => Math.round(value * 100) / 100;

/** The COCO label of person `index`, read from the owner mask; undefined when none of it is in sight. */
function labelPerson(person: PlacedPerson, index: number, owner: Int32Array, width: number, height: number): SceneLabel | undefined {
  const ownerOf = (mark: number) => Math.floor((mark - 1) / PART_COUNT);
  let area = 0;
  let x1 = width, y1 = height, x2 = -1, y2 = -1;
  // COCO's uncompressed RLE: run lengths over the mask in column-major order, starting with a run of zeros.
  const counts: number[] = [];
  let run = 0;
  let inside = false;
  for (let x = 0; x < width; x++) {
    for (let y = 0; y < height; y++) {
      const mark = owner[y * width + x]!;
      const mine = mark > 0 && ownerOf(mark) === index;
      if (mine !== inside) {
        counts.push(run);
        run = 0;
        inside = mine;
      }
      run++;
      if (mine) {
        area++;
        x1 = Math.min(x1, x); y1 = Math.min(y1, y); x2 = Math.max(x2, x); y2 = Math.max(y2, y);
      }
    }
  }
  counts.push(run);
  if (area === 0) return undefined;

  const keypoints: number[] = [];
  person.figure.keypoints.forEach((point, k) => {
    const q = project(point, person.view);
    const x = round2(q.x), y = round2(q.y);
    const px = Math.round(x), py = Math.round(y);
    if (px < 0 || py < 0 || px >= width || py >= height) {
      keypoints.push(0, 0, 0);
      return;
    }
    const mark = owner[py * width + px]!;
    const coveredByOther = mark > 0 && (ownerOf(mark) !== index || !KEYPOINT_PARTS[k]!.includes((mark - 1) % PART_COUNT));
    const facesAway = KEYPOINT_PARTS[k]!.includes(Part.Head) && !faceVisible(point, person.figure, person.view);
    keypoints.push(x, y, coveredByOther || facesAway ? 1 : 2);
  });
  return {
    category_id: 1,
    keypoints,
    num_keypoints: keypoints.filter((_, j) => j % 3 === 2 && keypoints[j]! > 0).length,
    bbox: [x1, y1, x2 - x1 + 1, y2 - y1 + 1],
    area,
    iscrowd: 0,
    segmentation: { size: [height, width], counts },
  };
}
