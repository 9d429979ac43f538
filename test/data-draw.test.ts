import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  drawLine, drawPoses, drawText, fillCircle, fillRect, limbColor, rasterCapsule, rasterConvexPolygon, textWidth, type Point,
} from '../src/data/draw.js';
import { createImage, type Image } from '../src/data/image.js';
import { decodePng } from '../src/data/png.js';
import { formatTick, niceTicks, plotBars, plotLines } from '../src/data/plot.js';
import { COCO_KEYPOINTS } from '../src/coco/keypoints.js';
import { readYAxis } from './util.js';

const pixel = (image: Image, x: number, y: number) => Array.from(image.data.subarray((y * image.width + x) * 3, (y * image.width + x) * 3 + 3));

/** Coverage per pixel of a rasterised shape, as a map "x,y" → coverage. */
function coverage(raster: (visit: (x: number, y: number, c: number) => void) => void): Map<string, number> {
  const covered = new Map<string, number>();
  raster((x, y, c) => {
    expect(covered.has(`${x},${y}`)).toBe(false); // each pixel reported once
    expect(c).toBeGreaterThan(0);
    expect(c).toBeLessThanOrEqual(1);
    covered.set(`${x},${y}`, c);
  });
  return covered;
}
const total = (covered: Map<string, number>) => [...covered.values()].reduce((a, b) => a + b, 0);

describe('rasterisers', () => {
  it('covers a horizontal 3-pixel line as exactly three full rows plus soft round ends', () => {
    const covered = coverage((visit) => rasterCapsule(5, 10, 15, 10, 1.5, 30, 30, visit));
    for (let x = 5; x <= 15; x++) {
      for (const y of [9, 10, 11]) expect(covered.get(`${x},${y}`)).toBe(1);
      expect(covered.has(`${x},8`)).toBe(false);
      expect(covered.has(`${x},12`)).toBe(false);
    }
  });

  it('gives a disc a total coverage close to πr²', () => {
    for (const radius of [3, 7.5, 20]) {
      const covered = coverage((visit) => rasterCapsule(32.3, 31.7, 32.3, 31.7, radius, 64, 64, visit));
      expect(total(covered) / (Math.PI * radius * radius)).toBeCloseTo(1, 1);
    }
  });

  it('clips to the image', () => {
    const covered = coverage((visit) => rasterCapsule(-5, -5, 3, 3, 4, 8, 8, visit));
    for (const key of covered.keys()) {
      const [x, y] = key.split(',').map(Number);
      expect(x).toBeGreaterThanOrEqual(0);
      expect(y).toBeGreaterThanOrEqual(0);
      expect(x).toBeLessThan(8);
      expect(y).toBeLessThan(8);
    }
  });

  it('fills a pixel-aligned square exactly', () => {
    const covered = coverage((visit) => rasterConvexPolygon([[1.5, 1.5], [5.5, 1.5], [5.5, 5.5], [1.5, 5.5]], 10, 10, visit));
    expect(covered.size).toBe(16);
    expect(total(covered)).toBe(16);
  });

  it('fills a convex polygon of either winding with coverage summing to about its area (fast-check)', () => {
    const coordinate = fc.double({ min: 2, max: 60, noNaN: true });
    fc.assert(
      fc.property(fc.tuple(coordinate, coordinate), fc.tuple(coordinate, coordinate), fc.tuple(coordinate, coordinate), (a, b, c) => {
        const triangle: Point[] = [a, b, c];
        const area = Math.abs((b[0] - a[0]) * (c[1] - a[1]) - (c[0] - a[0]) * (b[1] - a[1])) / 2;
        const perimeter = triangle.reduce((sum, p, i) => sum + Math.hypot(p[0] - triangle[(i + 1) % 3]![0], p[1] - triangle[(i + 1) % 3]![1]), 0);
        const forward = coverage((visit) => rasterConvexPolygon(triangle, 64, 64, visit));
        const backward = coverage((visit) => rasterConvexPolygon([...triangle].reverse(), 64, 64, visit));
        for (const key of new Set([...forward.keys(), ...backward.keys()])) {
          expect(Math.abs((forward.get(key) ?? 0) - (backward.get(key) ?? 0))).toBeLessThan(1e-9);
        }
        // The distance-based coverage errs only near edges and at sharp corners: bounded by the perimeter.
        expect(Math.abs(total(forward) - area)).toBeLessThanOrEqual(perimeter * 0.5 + 1);
      }),
      { numRuns: 200 },
    );
  });
});

describe('painting', () => {
  it('fillRect fills whole pixels from round(x) to round(x + w) − 1, up to the last row and column', () => {
    const image = createImage(4, 3);
    fillRect(image, 1.6, 0.6, 10, 10, [9, 9, 9]);
    const filled = (x: number, y: number) => pixel(image, x, y)[0] === 9;
    expect([0, 1, 2].map((y) => [0, 1, 2, 3].map((x) => (filled(x, y) ? '#' : '.')).join(''))).toEqual(['....', '..##', '..##']);
  });

  it('a polygon with no area (collinear points) paints nothing', () => {
    const visited: number[][] = [];
    rasterConvexPolygon([[1, 1], [3, 3], [5, 5]], 8, 8, (x, y, c) => visited.push([x, y, c]));
    expect(visited).toEqual([]);
  });

  it('draws a line in its colour and leaves the rest alone', () => {
    const image = createImage(20, 20);
    drawLine(image, [2, 5], [17, 5], [255, 0, 0], 3);
    expect(pixel(image, 10, 5)).toEqual([255, 0, 0]);
    expect(pixel(image, 10, 15)).toEqual([0, 0, 0]);
  });

  it('blends partly covered pixels', () => {
    const image = createImage(20, 20);
    fillCircle(image, [10, 10], 4.3, [200, 200, 200]);
    expect(pixel(image, 10, 10)).toEqual([200, 200, 200]);
    const edge = pixel(image, 14, 10)[0]!; // distance 4: coverage 0.8
    expect(edge).toBeGreaterThan(0);
    expect(edge).toBeLessThan(200);
  });

  it('writes digits with the tiny font', () => {
    const image = createImage(20, 7);
    drawText(image, '1.5', 1, 1, [255, 255, 255]);
    const lit = [...Array(20 * 7).keys()].filter((p) => image.data[p * 3] === 255).length;
    expect(lit).toBe(8 + 1 + 11); // lit bits of the '1', '.' and '5' glyphs
    expect(textWidth('1.5')).toBe(11);
    expect(pixel(image, 2, 1)).toEqual([255, 255, 255]); // top of the '1'
    expect(pixel(image, 1, 1)).toEqual([0, 0, 0]);
  });
});

describe('drawPoses', () => {
  const spec = COCO_KEYPOINTS;
  /** A pose with only the given keypoints labelled, at the given points. */
  function poseWith(points: Record<number, Point>, visibility = 2): Float32Array {
    const keypoints = new Float32Array(spec.names.length * 3);
    for (const [k, [x, y]] of Object.entries(points)) keypoints.set([x, y, visibility], Number(k) * 3);
    return keypoints;
  }
  const [hipL, hipR] = spec.skeleton[4]!; // limb 4: left hip – right hip

  it('draws a limb in its own colour between two visible keypoints', () => {
    const image = createImage(60, 40);
    drawPoses(image, [{ keypoints: poseWith({ [hipL]: [10, 20], [hipR]: [50, 20] }) }], spec, { thickness: 3 });
    expect(pixel(image, 30, 20)).toEqual(Array.from(limbColor(4, spec.skeleton.length)));
    expect(pixel(image, 10, 20)).toEqual([255, 255, 255]); // keypoint dot
  });

  it('draws no limb to an unlabelled keypoint, nor a dot on it', () => {
    const keypoints = poseWith({ [hipL]: [10, 20], [hipR]: [50, 20] });
    keypoints[hipR * 3 + 2] = 0;
    const image = createImage(60, 40);
    drawPoses(image, [{ keypoints }], spec, { thickness: 3 });
    expect(pixel(image, 30, 20)).toEqual([0, 0, 0]);
    expect(pixel(image, 50, 20)).toEqual([0, 0, 0]);
    expect(pixel(image, 10, 20)).toEqual([255, 255, 255]);
  });

  it("by default draws limbs 1% of the image's shorter side thick, and no thinner than 1.5 px", () => {
    // A wide overlay (800×200) gets 2 px limbs, as its short side says; by the long side they would be 8 px and cover the people.
    const drawn = (width: number, height: number, thickness?: number) => {
      const image = createImage(width, height);
      drawPoses(image, [{ keypoints: poseWith({ [hipL]: [20, height / 2], [hipR]: [width - 20, height / 2] }) }], spec, thickness === undefined ? {} : { thickness });
      return Buffer.from(image.data);
    };
    expect(drawn(800, 200).equals(drawn(800, 200, 2))).toBe(true);
    expect(drawn(800, 200).equals(drawn(800, 200, 8))).toBe(false);
    expect(drawn(60, 100).equals(drawn(60, 100, 1.5))).toBe(true);
  });

  it('prints the score above the pose when asked', () => {
    const keypoints = poseWith({ [hipL]: [30, 30], [hipR]: [70, 30] });
    const plain = createImage(100, 60);
    drawPoses(plain, [{ keypoints, score: 0.87 }], spec, { thickness: 2 });
    const labelled = createImage(100, 60);
    drawPoses(labelled, [{ keypoints, score: 0.87 }], spec, { thickness: 2, scoreText: true });
    const rowsAbove = (image: Image) => image.data.subarray(0, 100 * 25 * 3).some((v) => v > 0);
    expect(rowsAbove(plain)).toBe(false);
    expect(rowsAbove(labelled)).toBe(true);
  });
});

describe('plots', () => {
  it('picks 1-2-5 ticks and short labels', () => {
    expect(niceTicks(0, 1)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(-3, 47)).toEqual([0, 10, 20, 30, 40]);
    expect(formatTick(0.25)).toBe('0.25');
    expect(formatTick(1e-4)).toBe('1E-4');
    expect(formatTick(2e6)).toBe('2E6');
  });

  it('draws a line chart PNG of the requested size with each series in its colour', () => {
    const loss = Array.from({ length: 50 }, (_, i) => [i, 5 * Math.exp(-i / 10) + 0.1] as [number, number]);
    const bytes = plotLines([{ name: 'loss', points: loss }, { name: 'kpt', points: loss.map(([x, y]) => [x, y / 2]) }], {
      width: 320, height: 200, title: 'training', logY: true,
    });
    const image = decodePng(bytes, 'plot.png');
    expect([image.width, image.height]).toEqual([320, 200]);
    const colours = new Set<string>();
    for (let p = 0; p < 320 * 200; p++) colours.add(pixel(image, p % 320, Math.floor(p / 320)).join(','));
    expect(colours.has('204,31,31')).toBe(true); // series 0: hsv(0, 0.85, 0.8)
    expect(colours.has('31,204,204')).toBe(true); // series 1: hsv(0.5, 0.85, 0.8)
  });

  it('survives empty series and non-finite points', () => {
    const image = decodePng(plotLines([{ name: 'nan', points: [[0, NaN], [1, Infinity]] }]), 'plot.png');
    expect([image.width, image.height]).toEqual([640, 400]);
  });

  it('logY draws on a log axis, higher values higher: lines at 1, 10 and 100 lie on evenly spaced rows', () => {
    // loss.png is drawn with logY (trainer.ts). On a linear axis 10 would sit 9% of the way from 1 to 100, not half
    // way; upside down, a falling loss would be drawn rising. Series i of 3 is hsv(i/3, …): red, green, blue. A
    // line's row is the mean row of the pixels left of the legend where its channel leads the other two, weighted
    // by the lead (anti-aliased edges count by their coverage); ±1 px.
    const flat = (y: number): [number, number][] => [[0, y], [10, y]];
    const image = decodePng(plotLines([{ name: 'a', points: flat(1) }, { name: 'b', points: flat(10) }, { name: 'c', points: flat(100) }], { width: 320, height: 200, logY: true }), 'plot.png');
    const rowOf = (channel: number) => {
      let weight = 0;
      let rows = 0;
      for (let y = 0; y < 200; y++) {
        for (let x = 80; x < 150; x++) {
          const rgb = pixel(image, x, y);
          const lead = rgb[channel]! - Math.max(...rgb.filter((_, c) => c !== channel));
          if (lead > 40) [weight, rows] = [weight + lead, rows + lead * y];
        }
      }
      expect(weight, `channel ${channel}`).toBeGreaterThan(0);
      return rows / weight;
    };
    const [one, ten, hundred] = [0, 1, 2].map(rowOf);
    expect(hundred).toBeLessThan(ten);
    expect(ten).toBeLessThan(one);
    expect(Math.abs(ten - (one + hundred) / 2)).toBeLessThanOrEqual(1);
  });

  // Catches a log axis that is not cut at whole decades (or labels them with the wrong powers of ten).
  it('logY spans whole decades: 0.03..40 gets evenly spaced ticks 100, 10, 1, 0.1, 0.01 from the top of the axis to its bottom', () => {
    const image = decodePng(plotLines([{ name: 'loss', points: [[0, 40], [5, 1], [10, 0.03]] }], { width: 640, height: 400, logY: true }), 'plot.png');
    const decades = ['100', '10', '1', '0.1', '0.01'];
    const axis = readYAxis(image, 2, decades);
    expect(axis.labels).toEqual(decades);
    expect(axis.rows[0]).toBe(axis.top);
    expect(axis.rows.at(-1)).toBe(axis.bottom);
    const gap = (axis.bottom - axis.top) / 4;
    axis.rows.forEach((row, i) => expect(Math.abs(row - (axis.top + i * gap)), `tick ${decades[i]}`).toBeLessThanOrEqual(0.5));
  });

  it('draws one bar per value and rejects mismatched labels', () => {
    const image = decodePng(plotBars(['conv', 'matmul'], [0.5, 2], { width: 200, height: 150, reference: 1 }), 'bars.png');
    expect([image.width, image.height]).toEqual([200, 150]);
    const barColour = [204, 31, 31];
    const barPixels = [...Array(200 * 150).keys()].filter((p) => pixel(image, p % 200, Math.floor(p / 200)).join() === barColour.join()).length;
    expect(barPixels).toBeGreaterThan(500);
    expect(() => plotBars(['a'], [1, 2])).toThrow(/1 labels for 2 values/);
  });
});
