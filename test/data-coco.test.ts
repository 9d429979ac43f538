import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CocoFormatError, personCategory, validateCocoKeypoints, type CocoAnnotation, type CocoKeypointsJson } from '../src/coco/format.js';
import { pseudoBox, toTrainingPeople } from '../src/coco/person.js';
import { checkDatasetImages, loadCocoDataset, loadCocoSample, writeCocoDataset } from '../src/data/coco.js';
import { createImage } from '../src/data/image.js';
import { decodePng, writePng } from '../src/data/png.js';
import { COCO_KEYPOINTS } from '../src/coco/keypoints.js';

const K = COCO_KEYPOINTS.names.length;

/** An annotation with the given labelled keypoints (index → [x, y, v]); the rest unlabelled. */
function annotation(id: number, labelled: Record<number, [number, number, number]>, extra: Partial<CocoAnnotation> = {}): CocoAnnotation {
  const keypoints = new Array<number>(3 * K).fill(0);
  for (const [k, triple] of Object.entries(labelled)) keypoints.splice(Number(k) * 3, 3, ...triple);
  return {
    id, image_id: 1, category_id: 1, keypoints, num_keypoints: Object.keys(labelled).length,
    bbox: [0, 0, 10, 10], area: 50, iscrowd: 0, ...extra,
  };
}

function dataset(annotations: CocoAnnotation[] = [annotation(1, { 0: [5, 5, 2], 15: [9, 20, 1] })]): CocoKeypointsJson {
  return { images: [{ id: 1, file_name: 'a.png', width: 32, height: 24 }], annotations, categories: [personCategory()] };
}

const tempDir = () => mkdtempSync(join(tmpdir(), 'data-coco-'));

/** The message of the error thrown by validating `json` as file "ann.json". */
function problems(json: unknown): string {
  try {
    validateCocoKeypoints(json, 'ann.json');
  } catch (error) {
    expect(error).toBeInstanceOf(CocoFormatError);
    return (error as Error).message;
  }
  throw new Error('expected a validation error');
}

/** A valid dataset as plain JSON, with `edit` applied. */
function edited(edit: (json: any) => void): unknown {
  const json = JSON.parse(JSON.stringify(dataset([annotation(1, { 0: [5, 5, 2], 1: [6, 6, 2] }), annotation(2, { 3: [1, 2, 2] })])));
  edit(json);
  return json;
}

describe('validateCocoKeypoints', () => {
  it('accepts a well-formed file', () => {
    expect(validateCocoKeypoints(edited(() => {}), 'ann.json').annotations).toHaveLength(2);
  });

  it('names the file, the field and the expected keypoint count', () => {
    const json = edited((j) => {
      j.annotations[1].keypoints.length = 48;
    });
    expect(problems(json)).toBe('ann.json: annotations[1].keypoints: expected 51 numbers (17 keypoints × 3), got 48');
  });

  it('reports missing fields', () => {
    expect(problems(edited((j) => delete j.annotations[0].area))).toBe('ann.json: annotations[0].area: missing');
    expect(problems(edited((j) => delete j.images[0].file_name))).toMatch(/^ann\.json: images\[0\]\.file_name: missing/);
    expect(problems(edited((j) => delete j.categories))).toMatch(/^ann\.json: \(root\)\.categories: missing/);
  });

  it("says once that a file with no keypoints in any annotation looks like COCO's instances file", () => {
    const instances = edited((j) => j.annotations.forEach((a: Record<string, unknown>) => { delete a.keypoints; delete a.num_keypoints; }));
    expect(problems(instances)).toBe('ann.json: (root).annotations: none of the 2 has keypoints: a COCO instances file (boxes and masks), not a person_keypoints one?');
    // One annotation without them is a missing field, as any other.
    expect(problems(edited((j) => delete j.annotations[0].keypoints))).toBe('ann.json: annotations[0].keypoints: missing');
  });

  it('reports values of the wrong type', () => {
    expect(problems(edited((j) => (j.annotations[0].keypoints[4] = '3')))).toBe(
      'ann.json: annotations[0].keypoints[4]: expected a number, got the string "3"',
    );
    expect(problems(edited((j) => (j.images[0].width = 32.5)))).toBe('ann.json: images[0].width: expected a whole number, got 32.5');
    expect(problems(edited((j) => (j.annotations[0].bbox = 'box')))).toBe('ann.json: annotations[0].bbox: expected an array, got the string "box"');
    expect(problems(edited((j) => (j.annotations = {})))).toBe('ann.json: annotations: expected an array, got object');
    expect(problems([])).toBe('ann.json: (root): expected an object, got an array of 0');
  });

  it('reports bad visibility flags and a num_keypoints that disagrees with them', () => {
    expect(problems(edited((j) => (j.annotations[0].keypoints[2] = 3)))).toBe(
      'ann.json: annotations[0].keypoints[2]: visibility must be 0, 1 or 2, got 3',
    );
    expect(problems(edited((j) => (j.annotations[0].num_keypoints = 5)))).toBe(
      'ann.json: annotations[0].num_keypoints: is 5 but 2 keypoints have v > 0',
    );
  });

  it('reports references to missing images and categories, and duplicate ids', () => {
    expect(problems(edited((j) => (j.annotations[1].image_id = 9)))).toBe('ann.json: annotations[1].image_id: no image has id 9');
    expect(problems(edited((j) => (j.annotations[1].category_id = 2)))).toBe('ann.json: annotations[1].category_id: no category has id 2');
    expect(problems(edited((j) => (j.annotations[1].id = 1)))).toBe('ann.json: annotations[1].id: duplicate annotation id 1');
  });

  it('checks the category keypoint names against the spec', () => {
    expect(problems(edited((j) => j.categories[0].keypoints.pop()))).toBe('ann.json: categories[0].keypoints: expected 17 keypoint names, got 16');
  });

  it('lists every problem, one per line', () => {
    const message = problems(edited((j) => {
      j.annotations[0].area = -1;
      j.annotations[1].iscrowd = 2;
    }));
    expect(message.split('\n')).toEqual([
      'ann.json: annotations[0].area: expected a number ≥ 0, got -1',
      'ann.json: annotations[1].iscrowd: expected 0 or 1, got number 2',
    ]);
  });

  it("refuses an image file name that leaves the image folder: absolute, a drive letter, or a '..' part", () => {
    // A file name is joined to the image folder and read (and, by writeCocoDataset, written): each of these would
    // reach outside it. A '..' inside a name ('a..b.png') is an ordinary name.
    for (const name of ['/etc/passwd', '\\server\\share.png', 'C:photo.png', 'c:/x.png', '../a.png', 'sub/../../a.png', 'sub\\..\\..\\a.png']) {
      expect(problems(edited((j) => (j.images[0].file_name = name))), name).toBe(
        `ann.json: images[0].file_name: '${name}' leaves the image folder (an absolute path or a '..' part); file names are relative to it`,
      );
    }
    expect(() => validateCocoKeypoints(edited((j) => (j.images[0].file_name = 'sub/a..b.png')), 'ann.json')).not.toThrow();
  });

  it('refuses duplicate image ids, images without a positive whole size, and ids that are not whole numbers', () => {
    // Under the dataset rules: an image id looked up twice would give one image the other's people.
    expect(problems(edited((j) => j.images.push({ ...j.images[0], file_name: 'b.png' })))).toBe('ann.json: images[1].id: duplicate image id 1');
    expect(problems(edited((j) => (j.images[0].width = 0)))).toBe('ann.json: images[0].width: expected a number ≥ 1, got 0');
    expect(problems(edited((j) => (j.images[0].height = 0)))).toBe('ann.json: images[0].height: expected a number ≥ 1, got 0');
    expect(problems(edited((j) => delete j.images[0].height))).toBe('ann.json: images[0].height: missing');
    expect(problems(edited((j) => (j.annotations[0].id = 1.5)))).toBe('ann.json: annotations[0].id: expected a whole number, got 1.5');
    expect(problems(edited((j) => (j.images[0].id = 1.5)))).toMatch(/^ann\.json: images\[0\]\.id: expected a whole number, got 1\.5\n/);
  });

  it('refuses a bbox of other than 4 numbers or of negative size, and v outside {0, 1, 2}', () => {
    expect(problems(edited((j) => j.annotations[0].bbox.push(1)))).toBe('ann.json: annotations[0].bbox: expected 4 numbers [x, y, width, height], got 5');
    expect(problems(edited((j) => (j.annotations[0].bbox[2] = -1)))).toBe('ann.json: annotations[0].bbox[2]: expected a number ≥ 0, got -1');
    expect(problems(edited((j) => (j.annotations[0].bbox[3] = -2)))).toBe('ann.json: annotations[0].bbox[3]: expected a number ≥ 0, got -2');
    // x and y may be negative: a box can start left of or above the image.
    expect(() => validateCocoKeypoints(edited((j) => (j.annotations[0].bbox[0] = -3)), 'ann.json')).not.toThrow();
    expect(problems(edited((j) => (j.annotations[0].keypoints[5] = -1)))).toBe('ann.json: annotations[0].keypoints[5]: visibility must be 0, 1 or 2, got -1');
  });

  it('checks the category block: each category needs a numeric id and a name', () => {
    expect(problems(edited((j) => delete j.categories[0].name))).toBe('ann.json: categories[0].name: missing');
    expect(problems(edited((j) => (j.categories[0].name = '')))).toBe('ann.json: categories[0].name: expected a non-empty string, got the string ""');
    // Without an id the category is none: the annotations' category_id 1 then refers to nothing.
    expect(problems(edited((j) => (j.categories[0].id = '1'))).split('\n')[0]).toBe('ann.json: categories[0].id: expected a whole number, got the string "1"');
  });

  it("under the evaluator's 'pycocotools' rules, accepts what pycocotools reads and still names what it cannot", () => {
    const lenient = edited((j) => {
      j.annotations[0].image_id = 7; // pycocotools drops ground truth on unlisted images
      j.annotations[0].num_keypoints = 0; // a field it reads as is: 0 means "ignored"
      j.annotations[1].iscrowd = true;
      j.annotations[1].keypoints[2] = 5; // v is only compared with 0
      delete j.images[0].file_name;
    });
    expect(problems(lenient).split('\n')).toHaveLength(5);
    expect(() => validateCocoKeypoints(lenient, 'gt', { rules: 'pycocotools' })).not.toThrow();
    const broken = edited((j) => {
      j.annotations[1].keypoints[4] = null;
      delete j.annotations[0].iscrowd;
    });
    expect(() => validateCocoKeypoints(broken, 'gt', { rules: 'pycocotools' })).toThrow(
      'gt: annotations[0].iscrowd: missing\ngt: annotations[1].keypoints[4]: expected a number, got null',
    );
  });
});

describe('loading and writing datasets', () => {
  it('writes a dataset and loads it back from the folder or the annotation path', async () => {
    const dir = tempDir();
    const image = createImage(32, 24, [10, 20, 30]);
    writeCocoDataset(dir, dataset(), [image]);
    for (const source of [dir, join(dir, 'annotations.json')]) {
      const loaded = loadCocoDataset(source);
      expect(loaded.json).toEqual(dataset());
      expect(loaded.imageDir).toBe(join(dir, 'images'));
      const sample = await loadCocoSample(loaded, loaded.json.images[0]!);
      expect(Array.from(sample.image.data.subarray(0, 3))).toEqual([10, 20, 30]);
      expect(sample.people).toHaveLength(1);
    }
  });

  it('refuses images that do not match their entries, one side off, or more images than entries; nothing is written', () => {
    const dir = tempDir();
    expect(() => writeCocoDataset(dir, dataset(), [createImage(32, 23)])).toThrow('writeCocoDataset: images[0] (a.png) is 32×23, its entry says 32×24');
    expect(() => writeCocoDataset(dir, dataset(), [createImage(31, 24)])).toThrow('writeCocoDataset: images[0] (a.png) is 31×24, its entry says 32×24');
    expect(() => writeCocoDataset(dir, dataset(), [createImage(32, 24), createImage(32, 24)])).toThrow('writeCocoDataset: 2 images given for 1 image entries');
    expect(existsSync(join(dir, 'annotations.json'))).toBe(false);
    expect(existsSync(join(dir, 'images'))).toBe(false);
  });

  it('reads images lazily, from an image folder that can be given', async () => {
    const dir = tempDir();
    writeCocoDataset(dir, dataset()); // annotations only: loading must not touch the missing image
    const loaded = loadCocoDataset(dir, { imageDir: join(dir, 'elsewhere') });
    await expect(loadCocoSample(loaded, loaded.json.images[0]!)).rejects.toThrow(`${join(dir, 'elsewhere', 'a.png')}: cannot read image`);
    // The check before a run names the missing folder itself, not its first image.
    expect(() => checkDatasetImages(loaded)).toThrow(`${join(dir, 'elsewhere')}: no such folder (the images of ${join(dir, 'annotations.json')})`);
  });

  // Some Windows editors save JSON with one; it read as "not valid JSON (Unexpected token '?')".
  it('reads an annotation file that starts with a UTF-8 byte-order mark', () => {
    const path = join(tempDir(), 'bom.json');
    writeFileSync(path, '\uFEFF' + JSON.stringify(dataset()));
    expect(loadCocoDataset(path).json.annotations).toHaveLength(1);
  });

  it('names the annotation file in parse and validation errors', () => {
    const dir = tempDir();
    const path = join(dir, 'broken.json');
    writeFileSync(path, '{"images": [');
    expect(() => loadCocoDataset(path)).toThrow(new RegExp(`^${path}: not valid JSON`));
    writeFileSync(path, JSON.stringify(edited((j) => (j.annotations[0].keypoints = [1, 2, 2]))));
    expect(() => loadCocoDataset(path)).toThrow(`${path}: annotations[0].keypoints: expected 51 numbers (17 keypoints × 3), got 3`);
    expect(() => loadCocoDataset(join(dir, 'missing.json'))).toThrow(/missing\.json: cannot read annotations/);
  });

  it('refuses an image whose size disagrees with its entry, from its header and when read', async () => {
    // Width and height are each compared: a check of the width alone would take the second image.
    for (const [width, height] of [[24, 32], [32, 20]]) {
      const dir = tempDir();
      writeCocoDataset(dir, dataset());
      mkdirSync(join(dir, 'images'), { recursive: true });
      writePng(join(dir, 'images', 'a.png'), createImage(width, height));
      const loaded = loadCocoDataset(dir);
      const message = new RegExp(`a\\.png: image is ${width}×${height}, the annotations say 32×24$`);
      expect(() => checkDatasetImages(loaded)).toThrow(message);
      await expect(loadCocoSample(loaded, loaded.json.images[0]!)).rejects.toThrow(message);
    }
  });

  it('replaces a dataset already in the folder whole, or, when writing fails midway, not at all', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'notes.txt'), 'mine');
    writeCocoDataset(dir, dataset(), [createImage(32, 24, [1, 1, 1])]);
    const two = { ...dataset(), images: [...dataset().images, { ...dataset().images[0]!, id: 2, file_name: 'b.png' }] };
    const files = () => [readFileSync(join(dir, 'annotations.json'), 'utf8'), readdirSync(dir).sort(), readdirSync(join(dir, 'images')).sort()];
    const before = files();
    expect(() => writeCocoDataset(dir, two, [createImage(32, 24, [2, 2, 2]), createImage(5, 5)])).toThrow(/images\[1\] \(b\.png\) is 5×5/);
    expect(files()).toEqual(before); // the first dataset, whole: no image of the second, no staging folder
    writeCocoDataset(dir, two, [createImage(32, 24, [2, 2, 2]), createImage(32, 24, [3, 3, 3])]);
    expect(readdirSync(dir).sort()).toEqual(['annotations.json', 'images', 'notes.txt']);
    expect(readdirSync(join(dir, 'images')).sort()).toEqual(['a.png', 'b.png']);
    const a = join(dir, 'images', 'a.png');
    expect(decodePng(readFileSync(a), a).data[0]).toBe(2);
  });

  it('checks what would stop the swap before it: annotations that are no regular file; an empty images/ is fine', () => {
    const dir = tempDir();
    writeCocoDataset(dir, dataset(), [createImage(32, 24, [1, 1, 1])]);
    rmSync(join(dir, 'annotations.json'));
    symlinkSync('/dev/null', join(dir, 'annotations.json'));
    expect(() => writeCocoDataset(dir, dataset(), [createImage(32, 24, [2, 2, 2])])).toThrow(/annotations\.json: is not a regular file/);
    const a = join(dir, 'images', 'a.png');
    expect(decodePng(readFileSync(a), a).data[0]).toBe(1);
    const fresh = tempDir();
    mkdirSync(join(fresh, 'images'));
    writeCocoDataset(fresh, dataset(), [createImage(32, 24, [3, 3, 3])]);
    expect(readdirSync(join(fresh, 'images'))).toEqual(['a.png']);
  });

  it('refuses to write an invalid file or mismatched images', () => {
    const dir = tempDir();
    const bad = dataset();
    bad.annotations[0]!.num_keypoints = 7;
    expect(() => writeCocoDataset(dir, bad)).toThrow(/annotations\[0\]\.num_keypoints/);
    expect(() => writeCocoDataset(dir, dataset(), [createImage(5, 5)])).toThrow(/is 5×5, its entry says 32×24/);
  });
});

describe('training people (reference section 3.1)', () => {
  it('uses the tight box of labelled keypoints, counting v = 1, 1 px short at the far end', () => {
    const [person] = toTrainingPeople([annotation(1, { 0: [5, 5, 2], 15: [9, 20, 1], 16: [100, 100, 0] }, { bbox: [0, 0, 50, 50], area: 77 })]);
    expect(person!.box).toEqual([5, 5, 8, 19]);
    expect(person!.area).toBe(77);
    expect(Array.from(person!.keypoints.subarray(45, 48))).toEqual([9, 20, 1]);
  });

  it('drops crowds, ignored, zero-area, unlabelled, single-keypoint and collinear people', () => {
    const two = { 0: [5, 5, 2], 1: [9, 9, 2] } as Record<number, [number, number, number]>;
    const dropped = [
      annotation(1, two, { iscrowd: 1 }),
      annotation(2, two, { ignore: true }),
      annotation(3, two, { area: 0 }),
      annotation(4, {}),
      annotation(5, { 0: [5, 5, 2] }),
      annotation(6, { 0: [5, 5, 2], 1: [5, 30, 2] }), // vertical line: w = 0
      annotation(7, { 0: [5, 5, 2], 1: [5.5, 30, 2] }), // w = 0.5 < 1
    ];
    expect(toTrainingPeople(dropped)).toEqual([]);
    expect(toTrainingPeople([...dropped, annotation(8, two)])).toHaveLength(1);
  });

  it('finds no keypoint box when nothing is labelled', () => {
    expect(pseudoBox(new Array(3 * K).fill(0))).toBeNull();
    expect(pseudoBox([1, 2, 2, 7, 3, 1, 50, 50, 0])).toEqual([1, 2, 6, 1]);
  });
});
