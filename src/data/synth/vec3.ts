/** Three-vectors for the body frame (x to the person's left, y up, z forward), in units of standing height. */


export type Vec3 = readonly [number, number, number];
export const plus = (a: Vec3, b: Vec3): Vec3 => [a[0] + b[0], a[1] + b[1], a[2] + b[2]];
export const scale3 = (a: Vec3, s: number): Vec3 => [a[0] * s, a[1] * s, a[2] * s];
export const normalize = (a: Vec3): Vec3 => scale3(a, 1 / Math.hypot(...a));
export const UP: Vec3 = [0, 1, 0];
export const DEG = Math.PI / 180;
