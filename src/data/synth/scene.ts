/** A scene: background, people placed and drawn back to front, then labels read off the owner mask. */
import type { CocoAnnotation } from '../../coco/format.js';
import { painter } from '../draw.js';
import { createImage, type Image } from '../image.js';
import type { Random } from '../../tensor/random.js';
import { paintBackground } from './background.js';
import { buildFigure, type Figure, samplePose, sampleProportions } from './body.js';
import { project, type View } from './camera.js';
import { drawOutline, faceVisible, figureParts, KEYPOINT_PARTS, type Palette, Part, PART_COUNT, samplePalette } from './drawing.js';
import { DEG } from './vec3.js';

interface PlacedPerson {
  figure: Figure;
  view: View;
  palette: Palette;
}

/** An annotation without its ids, which the dataset assigns. */
type SceneLabel = Omit<CocoAnnotation, 'id' | 'image_id'>;

export function renderScene(rng: Random, width: number, height: number, maxPeople: number, personScale: readonly [number, number]): { image: Image; labels: SceneLabel[] } {
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
        drawOutline(shape, width, height, (x, y, coverage) => {
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
