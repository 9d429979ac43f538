/** The view: a heading, an in-plane tilt, a size in pixels and a position; an orthographic projection. */
import type { Vec3 } from './vec3.js';

/** Where a body-frame point lands: image x, y, and depth towards the camera (larger is nearer). */
interface Projected {
  x: number;
  y: number;
  depth: number;
}

export interface View {
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

export function project(point: Vec3, view: View): Projected {
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
