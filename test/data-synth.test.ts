import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { validateCocoKeypoints, type CocoAnnotation } from '../src/coco/format.js';
import { toTrainingPeople } from '../src/coco/person.js';
import { loadCocoDataset, loadCocoSample } from '../src/data/coco.js';
import { generateSynthDataset } from '../src/data/synth/dataset.js';
import { writeSynthDataset } from '../src/data/synth/write.js';
import { COCO_KEYPOINT_NAMES } from '../src/coco/keypoints.js';

const W = 160;
const H = 160;
const dataset = generateSynthDataset({ images: 120, width: W, height: H, seed: 42 });
const annotations = dataset.coco.annotations;

/** Decodes COCO's uncompressed, column-major RLE into a row-major 0/1 mask. */
function decodeRle(segmentation: unknown, width: number, height: number): Uint8Array {
  const { size, counts } = segmentation as { size: [number, number]; counts: number[] };
  expect(size).toEqual([height, width]);
  expect(counts.reduce((a, b) => a + b, 0)).toBe(width * height);
  const mask = new Uint8Array(width * height);
  let position = 0;
  counts.forEach((run, i) => {
    for (let j = 0; j < run; j++, position++) {
      if (i % 2 === 1) mask[(position % height) * width + Math.floor(position / height)] = 1;
    }
  });
  return mask;
}

const visibility = (a: CocoAnnotation, k: number) => a.keypoints[k * 3 + 2]!;
/** Row-major index of the pixel a keypoint falls on. */
const pixelOf = (a: CocoAnnotation, k: number) => Math.round(a.keypoints[k * 3 + 1]!) * W + Math.round(a.keypoints[k * 3]!);
const annotationsByImage = new Map<number, CocoAnnotation[]>();
for (const a of annotations) annotationsByImage.set(a.image_id, [...(annotationsByImage.get(a.image_id) ?? []), a]);

describe('generateSynthDataset', () => {
  it('is a deterministic function of the seed, and image i does not depend on the image count', () => {
    const again = generateSynthDataset({ images: 3, width: W, height: H, seed: 42 });
    expect(again.coco.images).toEqual(dataset.coco.images.slice(0, 3));
    expect(again.coco.annotations).toEqual(annotations.filter((a) => a.image_id <= 3));
    again.images.forEach((image, i) => expect(Buffer.from(image.data).equals(Buffer.from(dataset.images[i]!.data))).toBe(true));
    const other = generateSynthDataset({ images: 3, width: W, height: H, seed: 43 });
    expect(Buffer.from(other.images[0]!.data).equals(Buffer.from(again.images[0]!.data))).toBe(false);
  });

  it('datasets of neighbouring seeds share no image (a train set of seed s and a val set of seed s + 1 are disjoint)', () => {
    const seen = new Set(dataset.images.slice(0, 3).map((image) => Buffer.from(image.data).toString('base64')));
    const next = generateSynthDataset({ images: 3, width: W, height: H, seed: 43 });
    next.images.forEach((image, i) => expect(seen.has(Buffer.from(image.data).toString('base64')), `seed 43, image ${i}`).toBe(false));
  });

  it('produces a valid COCO keypoints file', () => {
    expect(() => validateCocoKeypoints(dataset.coco, 'synth')).not.toThrow();
    expect(dataset.images).toHaveLength(120);
    expect(dataset.coco.images[0]).toEqual({ id: 1, file_name: '000001.png', width: W, height: H });
  });

  it('gives every annotation consistent flags, counts, area and box', () => {
    const problems: string[] = [];
    for (const a of annotations) {
      const fail = (what: string) => problems.push(`annotation ${a.id}: ${what}`);
      let labelled = 0;
      for (let k = 0; k < COCO_KEYPOINT_NAMES.length; k++) {
        const [x, y, v] = a.keypoints.slice(k * 3, k * 3 + 3) as [number, number, number];
        if (![0, 1, 2].includes(v)) fail(`keypoint ${k} has flag ${v}`);
        if (v === 0 && (x !== 0 || y !== 0)) fail(`unlabelled keypoint ${k} at (${x}, ${y})`);
        if (v > 0) {
          labelled++;
          const [px, py] = [Math.round(x), Math.round(y)];
          if (px < 0 || py < 0 || px >= W || py >= H) fail(`labelled keypoint ${k} outside the image at (${x}, ${y})`);
        }
      }
      if (a.num_keypoints !== labelled) fail(`num_keypoints ${a.num_keypoints}, labelled ${labelled}`);
      const [bx, by, bw, bh] = a.bbox;
      if (!(a.area > 0)) fail(`area ${a.area}`);
      if (bw < 1 || bh < 1 || bx < 0 || by < 0 || bx + bw > W || by + bh > H) fail(`bbox ${a.bbox} not inside the image`);
      if (a.area > bw * bh) fail(`area ${a.area} larger than its box`);
    }
    expect(problems).toEqual([]);
  });

  it('derives area and box from the drawn mask', () => {
    for (const a of annotations) {
      const mask = decodeRle(a.segmentation, W, H);
      const pixels = [...mask.keys()].filter((p) => mask[p] === 1);
      expect(pixels.length).toBe(a.area);
      const xs = pixels.map((p) => p % W);
      const ys = pixels.map((p) => Math.floor(p / W));
      const [x1, y1] = [Math.min(...xs), Math.min(...ys)];
      expect(a.bbox).toEqual([x1, y1, Math.max(...xs) - x1 + 1, Math.max(...ys) - y1 + 1]);
    }
  });

  it('marks visible (v = 2) only keypoints that no other person covers, nearly all on their own pixels', () => {
    let visible = 0;
    let onOwnPixel = 0;
    for (const group of annotationsByImage.values()) {
      const masks = group.map((a) => decodeRle(a.segmentation, W, H));
      group.forEach((a, i) => {
        for (let k = 0; k < COCO_KEYPOINT_NAMES.length; k++) {
          if (visibility(a, k) !== 2) continue;
          const p = pixelOf(a, k);
          expect(masks.every((mask, j) => j === i || mask[p] === 0)).toBe(true);
          visible++;
          if (masks[i]![p] === 1) onOwnPixel++;
        }
      });
    }
    // The exceptions are ears of heads a few pixels wide, which fall just off the drawn disc.
    expect(onOwnPixel / visible).toBeGreaterThan(0.97);
  });

  /** Every person of the dataset with the masks of the people of its image; `i` is its place among them. */
  const forEachPerson = (visit: (a: (typeof annotations)[number], i: number, masks: Uint8Array[]) => void) => {
    for (const group of annotationsByImage.values()) {
      const masks = group.map((a) => decodeRle(a.segmentation, W, H));
      group.forEach((a, i) => visit(a, i, masks));
    }
  };
  /** Body keypoints (not face points, which may face away) flagged v = 1 whose pixel passes `where`. */
  const occludedBodyKeypoints = (where: (masks: Uint8Array[], i: number, p: number) => boolean) => {
    let count = 0;
    forEachPerson((a, i, masks) => {
      for (let k = 5; k < COCO_KEYPOINT_NAMES.length; k++) if (visibility(a, k) === 1 && where(masks, i, pixelOf(a, k))) count++;
    });
    return count;
  };
  /** Whether pixel p is on person i's mask and on no other person's. */
  const onlyOwnMaskAt = (masks: Uint8Array[], i: number, p: number) => masks[i]![p] === 1 && masks.every((mask, j) => j === i || mask[p] === 0);

  it('marks a keypoint covered by a later person as occluded (v = 1)', () => {
    // Where a v = 1 body keypoint lies, the mask of its own person is off or belongs to another of its limbs; at
    // least some must be covered by another person's mask.
    expect(occludedBodyKeypoints((masks, i, p) => masks.some((mask, j) => j !== i && mask[p] === 1))).toBeGreaterThan(20);
  });

  it('marks a body keypoint hidden behind another of its own limbs occluded (v = 1)', () => {
    // Such a keypoint is on its own person's mask and under nobody else's: only the part map (which limb owns the
    // pixel) tells that it is hidden. 184 of them in this dataset.
    expect(occludedBodyKeypoints(onlyOwnMaskAt)).toBeGreaterThan(20);
  });

  it('marks the face of a person who turns their back occluded (v = 1), even where nothing covers it', () => {
    // People whose left shoulder is on the image left face away (see the facing test below). Where their nose lies
    // on their own mask and under nobody else's, nothing but the facing can make it v = 1; facing the camera, the
    // same nose is v = 2. Measured in this dataset: 44 of 47 back views v = 1, 109 of 111 front views v = 2 (the
    // few others turn nearly sideways).
    const noseFlags = { back: [] as number[], front: [] as number[] };
    forEachPerson((a, i, masks) => {
      if (!(visibility(a, 0) > 0 && visibility(a, 5) > 0 && visibility(a, 6) > 0 && onlyOwnMaskAt(masks, i, pixelOf(a, 0)))) return;
      noseFlags[a.keypoints[15]! < a.keypoints[18]! ? 'back' : 'front'].push(visibility(a, 0));
    });
    const share = (flags: number[], v: number) => flags.filter((f) => f === v).length / flags.length;
    expect(noseFlags.back.length).toBeGreaterThan(20);
    expect(share(noseFlags.back, 1)).toBeGreaterThan(0.8);
    expect(share(noseFlags.front, 2)).toBeGreaterThan(0.8);
  });

  it('varies flags, sizes, counts and facing across the dataset', () => {
    const flags = annotations.flatMap((a) => COCO_KEYPOINT_NAMES.map((_, k) => visibility(a, k)));
    for (const v of [0, 1, 2]) expect(flags.filter((f) => f === v).length).toBeGreaterThan(100);
    // Person heights (box of labelled keypoints) spread over FPN levels: small and large ones both present.
    const heights = annotations.map((a) => a.bbox[3]);
    expect(heights.filter((h) => h < H / 2).length).toBeGreaterThan(20);
    expect(heights.filter((h) => h > (2 * H) / 3).length).toBeGreaterThan(20);
    expect(annotations.length / dataset.images.length).toBeGreaterThan(1.8);
    // Facing the camera puts the left shoulder on the image right; facing away, on the left.
    const sides = annotations.filter((a) => visibility(a, 5) > 0 && visibility(a, 6) > 0).map((a) => Math.sign(a.keypoints[15]! - a.keypoints[18]!));
    // Most face the camera, as in photographs; enough turn away that the back view is learnt too.
    expect(sides.filter((s) => s > 0).length).toBeGreaterThan(2 * sides.filter((s) => s < 0).length);
    expect(sides.filter((s) => s < 0).length).toBeGreaterThan(20);
  });

  it('has enough trainable people', () => {
    const trainable = toTrainingPeople(annotations);
    expect(trainable.length).toBeGreaterThan(0.8 * annotations.length);
  });

  it('honours the image size', () => {
    const small = generateSynthDataset({ images: 2, width: 96, height: 64, seed: 1 });
    expect(small.images.map((i) => [i.width, i.height])).toEqual([[96, 64], [96, 64]]);
    for (const a of small.coco.annotations) expect(a.bbox[0] + a.bbox[2]).toBeLessThanOrEqual(96);
  });
});

describe('writeSynthDataset', () => {
  it('writes a COCO dataset folder that loads back to the same pixels and labels', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'data-synth-'));
    const written = writeSynthDataset(dir, { images: 4, seed: 5 });
    const loaded = loadCocoDataset(dir);
    expect(loaded.json).toEqual(written.coco);
    for (const [i, entry] of loaded.json.images.entries()) {
      const sample = await loadCocoSample(loaded, entry);
      expect(Buffer.from(sample.image.data).equals(Buffer.from(written.images[i]!.data))).toBe(true);
    }
  });
});
