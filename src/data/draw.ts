/**
 * Drawing on RGB images: anti-aliased capsules (thick lines, discs), convex polygons, rectangles, a tiny text font,
 * and pose skeletons.
 *
 * Shapes are rasterised once, by `rasterCapsule` and `rasterConvexPolygon`, which report each touched pixel with the
 * fraction of it the shape covers. Painting colour is one use of that; the synthesiser's per-pixel ownership mask
 * (who is drawn where, for visibility flags and areas) is another, so both see exactly the same pixels.
 *
 * Coverage is estimated from the signed distance between the pixel centre and the shape's edge
 * (coverage = clamp(0.5 + distance inside, 0, 1)): exact for a straight edge crossing a pixel squarely, and good
 * enough anti-aliasing elsewhere. Pixel centres sit at integer coordinates (see image.ts).
 */
import type { KeypointSpec } from '../coco/keypoints.js';
import type { Image, Rgb } from './image.js';

export type Point = readonly [number, number];

/** Called once for each pixel a shape touches, with the covered fraction of that pixel, in (0, 1]. */
export type PixelVisitor = (x: number, y: number, coverage: number) => void;

const clamp = (value: number, low: number, high: number) => Math.min(high, Math.max(low, value));

/**
 * The pixels within `radius` of the segment from (x0, y0) to (x1, y1): a thick line with round caps, or a disc when
 * the two ends coincide.
 */
export function rasterCapsule(
  x0: number, y0: number, x1: number, y1: number, radius: number,
  width: number, height: number, visit: PixelVisitor,
): void {
  const reach = radius + 0.5;
  const left = Math.max(0, Math.floor(Math.min(x0, x1) - reach));
  const right = Math.min(width - 1, Math.ceil(Math.max(x0, x1) + reach));
  const top = Math.max(0, Math.floor(Math.min(y0, y1) - reach));
  const bottom = Math.min(height - 1, Math.ceil(Math.max(y0, y1) + reach));
  const dx = x1 - x0;
  const dy = y1 - y0;
  const lengthSquared = dx * dx + dy * dy;
  for (let y = top; y <= bottom; y++) {
    for (let x = left; x <= right; x++) {
      // Distance from the pixel centre to the nearest point of the segment.
      const t = lengthSquared === 0 ? 0 : clamp(((x - x0) * dx + (y - y0) * dy) / lengthSquared, 0, 1);
      const distance = Math.hypot(x - (x0 + t * dx), y - (y0 + t * dy));
      const coverage = Math.min(1, reach - distance);
      if (coverage > 0) visit(x, y, coverage);
    }
  }
}

/** The pixels inside a convex polygon (either winding). A polygon with no area covers nothing. */
export function rasterConvexPolygon(points: readonly Point[], width: number, height: number, visit: PixelVisitor): void {
  const n = points.length;
  let twiceArea = 0;
  for (let i = 0; i < n; i++) {
    const [ax, ay] = points[i]!;
    const [bx, by] = points[(i + 1) % n]!;
    twiceArea += ax * by - bx * ay;
  }
  if (n < 3 || Math.abs(twiceArea) < 1e-9) return;
  const winding = Math.sign(twiceArea);
  // Each edge as a line a·x + b·y + c = signed distance, positive inside.
  const edges = points.map(([ax, ay], i) => {
    const [bx, by] = points[(i + 1) % n]!;
    const length = Math.hypot(bx - ax, by - ay) || 1;
    const a = (-(by - ay) / length) * winding;
    const b = ((bx - ax) / length) * winding;
    return { a, b, c: -(a * ax + b * ay) };
  });
  const xs = points.map((p) => p[0]);
  const ys = points.map((p) => p[1]);
  const left = Math.max(0, Math.floor(Math.min(...xs) - 0.5));
  const right = Math.min(width - 1, Math.ceil(Math.max(...xs) + 0.5));
  const top = Math.max(0, Math.floor(Math.min(...ys) - 0.5));
  const bottom = Math.min(height - 1, Math.ceil(Math.max(...ys) + 0.5));
  for (let y = top; y <= bottom; y++) {
    for (let x = left; x <= right; x++) {
      let inside = Infinity;
      for (const { a, b, c } of edges) inside = Math.min(inside, a * x + b * y + c);
      const coverage = Math.min(1, 0.5 + inside);
      if (coverage > 0) visit(x, y, coverage);
    }
  }
}

/** A visitor that blends `color` into the image, weighted by coverage × opacity. */
export function painter(image: Image, color: Rgb, opacity = 1): PixelVisitor {
  const { data, width } = image;
  return (x, y, coverage) => {
    const alpha = coverage * opacity;
    const i = (y * width + x) * 3;
    for (let c = 0; c < 3; c++) data[i + c] = Math.round(data[i + c]! + (color[c]! - data[i + c]!) * alpha);
  };
}

/** A line `thickness` pixels wide with round ends. */
export function drawLine(image: Image, from: Point, to: Point, color: Rgb, thickness = 1): void {
  rasterCapsule(from[0], from[1], to[0], to[1], thickness / 2, image.width, image.height, painter(image, color));
}

export function fillCircle(image: Image, center: Point, radius: number, color: Rgb): void {
  rasterCapsule(center[0], center[1], center[0], center[1], radius, image.width, image.height, painter(image, color));
}

/** Fills whole pixels x..x+w−1, y..y+h−1 (clipped to the image): crisp axes, bars and text. */
export function fillRect(image: Image, x: number, y: number, w: number, h: number, color: Rgb): void {
  const x0 = Math.max(0, Math.round(x));
  const y0 = Math.max(0, Math.round(y));
  const x1 = Math.min(image.width, Math.round(x + w));
  const y1 = Math.min(image.height, Math.round(y + h));
  for (let row = y0; row < y1; row++) {
    for (let col = x0; col < x1; col++) image.data.set(color, (row * image.width + col) * 3);
  }
}

/** Hue (turns, 0..1), saturation and value (0..1) to RGB bytes: evenly spaced, distinguishable colours. */
export function hsv(hue: number, saturation: number, value: number): Rgb {
  const channel = (n: number) => {
    const k = (n + hue * 6) % 6;
    return Math.round(255 * value * (1 - saturation * clamp(Math.min(k, 4 - k), 0, 1)));
  };
  return [channel(5), channel(3), channel(1)];
}

// A 3×5 pixel font: each glyph is five rows of three bits, '#' lit. Lower case is drawn as upper case.
const GLYPH_ROWS: Record<string, string> = {
  '0': '###|#.#|#.#|#.#|###', '1': '.#.|##.|.#.|.#.|###', '2': '###|..#|###|#..|###', '3': '###|..#|###|..#|###',
  '4': '#.#|#.#|###|..#|..#', '5': '###|#..|###|..#|###', '6': '###|#..|###|#.#|###', '7': '###|..#|..#|.#.|.#.',
  '8': '###|#.#|###|#.#|###', '9': '###|#.#|###|..#|###',
  A: '.#.|#.#|###|#.#|#.#', B: '##.|#.#|##.|#.#|##.', C: '.##|#..|#..|#..|.##', D: '##.|#.#|#.#|#.#|##.',
  E: '###|#..|##.|#..|###', F: '###|#..|##.|#..|#..', G: '.##|#..|#.#|#.#|.##', H: '#.#|#.#|###|#.#|#.#',
  I: '###|.#.|.#.|.#.|###', J: '..#|..#|..#|#.#|.#.', K: '#.#|#.#|##.|#.#|#.#', L: '#..|#..|#..|#..|###',
  M: '#.#|###|###|#.#|#.#', N: '##.|#.#|#.#|#.#|#.#', O: '.#.|#.#|#.#|#.#|.#.', P: '##.|#.#|##.|#..|#..',
  Q: '.#.|#.#|#.#|##.|.##', R: '##.|#.#|##.|#.#|#.#', S: '.##|#..|.#.|..#|##.', T: '###|.#.|.#.|.#.|.#.',
  U: '#.#|#.#|#.#|#.#|###', V: '#.#|#.#|#.#|#.#|.#.', W: '#.#|#.#|###|###|#.#', X: '#.#|#.#|.#.|#.#|#.#',
  Y: '#.#|#.#|.#.|.#.|.#.', Z: '###|..#|.#.|#..|###',
  '.': '...|...|...|...|.#.', ',': '...|...|...|.#.|#..', '-': '...|...|###|...|...', '+': '...|.#.|###|.#.|...',
  ':': '...|.#.|...|.#.|...', '/': '..#|..#|.#.|#..|#..', '(': '.#.|#..|#..|#..|.#.', ')': '.#.|..#|..#|..#|.#.',
  '%': '#.#|..#|.#.|#..|#.#', '_': '...|...|...|...|###', '=': '...|###|...|###|...', '?': '###|..#|.#.|...|.#.',
  ' ': '...|...|...|...|...',
};
const GLYPHS = new Map(Object.entries(GLYPH_ROWS).map(([char, rows]) => [char, rows.split('|')]));
const GLYPH_WIDTH = 3;
const GLYPH_HEIGHT = 5;

/** Width in pixels of `text` drawn at `scale` (one pixel column between glyphs). */
export function textWidth(text: string, scale = 1): number {
  return text.length === 0 ? 0 : (text.length * (GLYPH_WIDTH + 1) - 1) * scale;
}

export function textHeight(scale = 1): number {
  return GLYPH_HEIGHT * scale;
}

/** Draws `text` with its top-left corner at (x, y); characters without a glyph are drawn as '?'. */
export function drawText(image: Image, text: string, x: number, y: number, color: Rgb, scale = 1): void {
  [...text.toUpperCase()].forEach((char, i) => {
    const rows = GLYPHS.get(char) ?? GLYPHS.get('?')!;
    const left = x + i * (GLYPH_WIDTH + 1) * scale;
    rows.forEach((row, r) => {
      [...row].forEach((bit, c) => {
        if (bit === '#') fillRect(image, left + c * scale, y + r * scale, scale, scale, color);
      });
    });
  });
}

/** A pose to draw: K × 3 values (x, y, visibility or confidence) and an optional score. */
export interface PoseToDraw {
  readonly keypoints: ArrayLike<number>;
  readonly score?: number;
}

export interface DrawPosesOptions {
  /** Print each pose's score (2 decimals) above its top-left keypoint. */
  scoreText?: boolean;
  /** Limb width in pixels; by default it grows with the image. */
  thickness?: number;
  /** Keypoints whose third value is not above this are not drawn (0: COCO's v = 0 means unlabelled). */
  minVisibility?: number;
}

/** Limb i gets the i-th of evenly spaced hues, so that left and right limbs are told apart at a glance. */
export function limbColor(limb: number, limbCount: number): Rgb {
  return hsv(limb / limbCount, 0.9, 1);
}

/** Draws skeletons: limbs in per-limb colours, keypoints as white dots, and optionally a score label. */
export function drawPoses(image: Image, poses: readonly PoseToDraw[], spec: KeypointSpec, options: DrawPosesOptions = {}): void {
  const thickness = options.thickness ?? Math.max(1.5, Math.min(image.width, image.height) / 100);
  const minVisibility = options.minVisibility ?? 0;
  for (const pose of poses) {
    const kp = pose.keypoints;
    const shown = (k: number) => kp[k * 3 + 2]! > minVisibility;
    const at = (k: number): Point => [kp[k * 3]!, kp[k * 3 + 1]!];
    spec.skeleton.forEach(([a, b], limb) => {
      if (shown(a) && shown(b)) drawLine(image, at(a), at(b), limbColor(limb, spec.skeleton.length), thickness);
    });
    const visible = spec.names.map((_, k) => k).filter(shown);
    for (const k of visible) fillCircle(image, at(k), thickness * 0.8, [255, 255, 255]);
    if (options.scoreText && pose.score !== undefined && visible.length > 0) {
      const label = pose.score.toFixed(2);
      const x = Math.min(...visible.map((k) => at(k)[0]));
      const y = Math.min(...visible.map((k) => at(k)[1])) - textHeight() - 3;
      fillRect(image, x - 1, y - 1, textWidth(label) + 2, textHeight() + 2, [0, 0, 0]);
      drawText(image, label, x, y, [255, 255, 255]);
    }
  }
}
