/**
 * The body: a 3-D figure in units of standing height, posed by joint angles. Body frame: x to the person's left,
 * y up, z forward (the way the person faces), origin at the pelvis.
 */
import { COCO_KEYPOINT_NAMES } from '../../coco/keypoints.js';
import type { Random } from '../../tensor/random.js';
import { DEG, normalize, plus, scale3, UP, type Vec3 } from './vec3.js';

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

export function samplePose(rng: Random): Pose {
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
export function sampleProportions(rng: Random): Proportions {
  const build = rng.uniform(0.75, 1.35);
  const vary = (value: number) => value * (1 + Math.max(-0.15, Math.min(0.15, 0.08 * rng.normal())));
  const p = { ...PROPORTIONS } as Proportions;
  for (const key of Object.keys(p) as (keyof Proportions)[]) p[key] = vary(p[key]) * (key.endsWith('Radius') ? build : 1);
  return p;
}

/** The 3-D figure: the 17 COCO keypoints plus what is needed to draw the body around them. */
export interface Figure {
  keypoints: Vec3[];
  neck: Vec3;
  head: Vec3;
  /** Unit vectors of the head frame: its forward and its left. */
  headForward: Vec3;
  /** Forearm and shin directions, for the hands and the feet. */
  handDirection: { left: Vec3; right: Vec3 };
  proportions: Proportions;
}

export const KP = Object.fromEntries(COCO_KEYPOINT_NAMES.map((name, i) => [name, i])) as Record<(typeof COCO_KEYPOINT_NAMES)[number], number>;

export function buildFigure(pose: Pose, p: Proportions): Figure {
  const lean = pose.lean * DEG;
  const bend = pose.sideBend * DEG;
  const spine = normalize([Math.sin(bend), Math.cos(lean) * Math.cos(bend), Math.sin(lean) * Math.cos(bend)]);
  const neck = scale3(spine, p.spine);
  const shoulderAxis: Vec3 = [Math.cos(bend), -Math.sin(bend), 0];
  const turn = pose.headTurn * DEG;
  const headForward: Vec3 = [Math.sin(turn), 0, Math.cos(turn)];
  const headLeft: Vec3 = [Math.cos(turn), 0, -Math.sin(turn)];
  const head = plus(neck, scale3(normalize(plus(spine, scale3(UP, 0.6))), p.neck));
  const r = p.headRadius;
  /** A point on the head: `f` forward, `l` to the left, `u` up, in head radii. */
  const onHead = (f: number, l: number, u: number) => plus(head, plus(scale3(headForward, f * r), plus(scale3(headLeft, l * r), scale3(UP, u * r))));

  const keypoints: Vec3[] = new Array(COCO_KEYPOINT_NAMES.length);
  keypoints[KP.nose] = onHead(0.95, 0, -0.2);
  keypoints[KP.left_eye] = onHead(0.8, 0.38, 0.12);
  keypoints[KP.right_eye] = onHead(0.8, -0.38, 0.12);
  keypoints[KP.left_ear] = onHead(-0.1, 0.95, 0);
  keypoints[KP.right_ear] = onHead(-0.1, -0.95, 0);

  const handDirection = { left: UP, right: UP };
  for (const side of [1, -1] as const) {
    const [arm, leg, name] = side === 1 ? [pose.leftArm, pose.leftLeg, 'left'] as const : [pose.rightArm, pose.rightLeg, 'right'] as const;
    const shoulder = plus(neck, scale3(shoulderAxis, side * p.shoulderHalfWidth));
    const elbow = plus(shoulder, scale3(directionVector(arm.upper, side), p.upperArm));
    const forearm = directionVector(arm.lower, side);
    const hip: Vec3 = [side * p.hipHalfWidth, 0, 0];
    const knee = plus(hip, scale3(directionVector(leg.upper, side), p.thigh));
    keypoints[KP[`${name}_shoulder`]] = shoulder;
    keypoints[KP[`${name}_elbow`]] = elbow;
    keypoints[KP[`${name}_wrist`]] = plus(elbow, scale3(forearm, p.forearm));
    keypoints[KP[`${name}_hip`]] = hip;
    keypoints[KP[`${name}_knee`]] = knee;
    keypoints[KP[`${name}_ankle`]] = plus(knee, scale3(directionVector(leg.lower, side), p.shin));
    handDirection[name] = forearm;
  }
  return { keypoints, neck, head, headForward, handDirection, proportions: p };
}
