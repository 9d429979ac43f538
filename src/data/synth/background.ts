/** Backgrounds: a wall and a floor, each a gradient, stripes, smooth noise or a checkerboard, with grain and clutter. */
import { rasterCapsule, rasterConvexPolygon, painter, hsv } from '../draw.js';
import type { Image, Rgb } from '../image.js';
import type { Random } from '../../tensor/random.js';

type Texture = (x: number, y: number) => Rgb;

function randomColour(rng: Random): Rgb {
  return hsv(rng.next(), rng.uniform(0, 0.6), rng.uniform(0.2, 0.95));
}

const mixRgb = (a: Rgb, b: Rgb, t: number): Rgb => [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t];

function sampleTexture(rng: Random, width: number, height: number): Texture {
  const a = randomColour(rng);
  const b = randomColour(rng);
  const angle = rng.uniform(0, Math.PI);
  const along = (x: number, y: number) => x * Math.cos(angle) + y * Math.sin(angle);
  switch (rng.int(0, 3)) {
    case 0: {
      const extent = Math.hypot(width, height);
      return (x, y) => mixRgb(a, b, (along(x, y) / extent + 1) / 2);
    }
    case 1: {
      const period = rng.uniform(4, 40);
      const hard = rng.chance(0.5);
      return (x, y) => {
        const wave = (Math.sin((2 * Math.PI * along(x, y)) / period) + 1) / 2;
        return mixRgb(a, b, hard ? Math.round(wave) : wave);
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
        return mixRgb(a, b, top + (bottom - top) * ty);
      };
    }
    default: {
      const size = rng.uniform(5, 30);
      return (x, y) => ((Math.floor(along(x, y) / size) + Math.floor((-x * Math.sin(angle) + y * Math.cos(angle)) / size)) & 1 ? a : b);
    }
  }
}

export function paintBackground(rng: Random, image: Image): void {
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
