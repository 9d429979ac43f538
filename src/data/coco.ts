/**
 * COCO person-keypoint datasets: the annotation file format, a validating loader and writer, and the reference's
 * rules for turning annotations into training people (smpr-reference.md section 3.1).
 *
 * A dataset is loaded as its annotation JSON plus the image folder; pixels are read only when a sample is asked for,
 * since a real dataset does not fit in memory.
 */
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { COCO_KEYPOINTS, type KeypointSpec } from '../smpr/keypoints.js';
import { dropReason } from '../smpr/targets.js';
import type { Image } from './image.js';
import { readImage, readImageSize } from './image-file.js';
import { writePng } from './png.js';
import { UserError } from '../errors.js';

export interface CocoImage {
  id: number;
  file_name: string;
  width: number;
  height: number;
}

/** A COCO box: [x, y, width, height], x and y the top-left corner. */
export type CocoBox = [number, number, number, number];

export interface CocoAnnotation {
  id: number;
  image_id: number;
  category_id: number;
  /** K × 3 numbers: x, y, v per keypoint; v = 0 unlabelled (x = y = 0), 1 labelled but occluded, 2 visible. */
  keypoints: number[];
  /** How many keypoints have v > 0. */
  num_keypoints: number;
  bbox: CocoBox;
  /** Segmentation area in pixels²: the scale in OKS. */
  area: number;
  iscrowd: 0 | 1;
  segmentation?: unknown;
  /** Set by some tools to exclude an annotation; the reference skips such annotations. */
  ignore?: boolean | number;
}

export interface CocoCategory {
  id: number;
  name: string;
  supercategory?: string;
  keypoints?: string[];
  /** Limbs as 1-based keypoint index pairs. */
  skeleton?: [number, number][];
}

export interface CocoKeypointsJson {
  info?: unknown;
  licenses?: unknown;
  images: CocoImage[];
  annotations: CocoAnnotation[];
  categories: CocoCategory[];
}

/** A file that is not valid COCO keypoints: every problem found, one per line, each naming the file and field. */
export class CocoFormatError extends Error {
  constructor(readonly issues: readonly string[]) {
    const shown = issues.slice(0, 20);
    const more = issues.length > shown.length ? `\n… and ${issues.length - shown.length} more` : '';
    super(shown.join('\n') + more);
    this.name = 'CocoFormatError';
  }
}

/** The category for `spec`: one person category with the spec's keypoint names and 1-based skeleton. */
export function personCategory(spec: KeypointSpec = COCO_KEYPOINTS): CocoCategory {
  return {
    id: 1,
    name: 'person',
    supercategory: 'person',
    keypoints: [...spec.names],
    skeleton: spec.skeleton.map(([a, b]) => [a + 1, b + 1]),
  };
}

/** What `JsonChecker.field` returns for an absent field, already reported, so that type checks stay quiet about it. */
const MISSING = Symbol('missing');

/**
 * Collects issues while walking untyped JSON. Each check records `<file>: <field>: <reason>` and returns whether the
 * value passed, so that later checks can depend on earlier ones without cascades of follow-up errors.
 */
class JsonChecker {
  readonly issues: string[] = [];

  constructor(private readonly file: string) {}

  fail(field: string, reason: string): false {
    this.issues.push(`${this.file}: ${field}: ${reason}`);
    return false;
  }

  object(value: unknown, field: string): value is Record<string, unknown> {
    if (value === MISSING) return false;
    return (typeof value === 'object' && value !== null && !Array.isArray(value)) || this.fail(field, `expected an object, got ${describe(value)}`);
  }

  array(value: unknown, field: string): value is unknown[] {
    if (value === MISSING) return false;
    return Array.isArray(value) || this.fail(field, `expected an array, got ${describe(value)}`);
  }

  number(value: unknown, field: string, { integer = false, min = -Infinity } = {}): value is number {
    if (value === MISSING) return false;
    if (typeof value !== 'number' || !Number.isFinite(value)) return this.fail(field, `expected a ${integer ? 'whole ' : ''}number, got ${describe(value)}`);
    if (integer && !Number.isInteger(value)) return this.fail(field, `expected a whole number, got ${value}`);
    return value >= min || this.fail(field, `expected a number ≥ ${min}, got ${value}`);
  }

  string(value: unknown, field: string): value is string {
    if (value === MISSING) return false;
    return (typeof value === 'string' && value.length > 0) || this.fail(field, `expected a non-empty string, got ${describe(value)}`);
  }

  /** A required field: reports it missing (and returns MISSING), otherwise hands the value on. */
  field(record: Record<string, unknown>, key: string, path: string): unknown {
    if (key in record) return record[key];
    this.fail(`${path}.${key}`, 'missing');
    return MISSING;
  }
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value === 'string') return `the string ${JSON.stringify(value.length > 30 ? value.slice(0, 30) + '…' : value)}`;
  return `${typeof value} ${typeof value === 'object' ? '' : String(value)}`.trim();
}

/**
 * Checks that parsed JSON is a COCO person-keypoints file for `spec` and returns it typed. `file` names the source in
 * error messages. Throws a `CocoFormatError` listing every problem.
 */
export function validateCocoKeypoints(json: unknown, file: string, spec: KeypointSpec = COCO_KEYPOINTS): CocoKeypointsJson {
  const check = new JsonChecker(file);
  const k = spec.names.length;
  if (!check.object(json, '(root)')) throw new CocoFormatError(check.issues);

  const imageIds = new Set<number>();
  const images = check.field(json, 'images', '(root)');
  if (check.array(images, 'images')) {
    images.forEach((image, i) => {
      const path = `images[${i}]`;
      if (!check.object(image, path)) return;
      const id = check.field(image, 'id', path);
      if (check.number(id, `${path}.id`, { integer: true })) {
        if (imageIds.has(id)) check.fail(`${path}.id`, `duplicate image id ${id}`);
        imageIds.add(id);
      }
      const fileName = check.field(image, 'file_name', path);
      if (check.string(fileName, `${path}.file_name`) && !isInsideFolder(fileName)) {
        check.fail(`${path}.file_name`, `'${fileName}' leaves the image folder (an absolute path or a '..' part); file names are relative to it`);
      }
      check.number(check.field(image, 'width', path), `${path}.width`, { integer: true, min: 1 });
      check.number(check.field(image, 'height', path), `${path}.height`, { integer: true, min: 1 });
    });
  }

  const categoryIds = new Set<number>();
  const categories = check.field(json, 'categories', '(root)');
  if (check.array(categories, 'categories')) {
    categories.forEach((category, i) => {
      const path = `categories[${i}]`;
      if (!check.object(category, path)) return;
      const id = check.field(category, 'id', path);
      if (check.number(id, `${path}.id`, { integer: true })) categoryIds.add(id);
      check.string(check.field(category, 'name', path), `${path}.name`);
      const names = category['keypoints'];
      if (names !== undefined && check.array(names, `${path}.keypoints`) && names.length !== k) {
        check.fail(`${path}.keypoints`, `expected ${k} keypoint names, got ${names.length}`);
      }
    });
  }

  const annotationIds = new Set<number>();
  const annotations = check.field(json, 'annotations', '(root)');
  if (check.array(annotations, 'annotations')) {
    annotations.forEach((annotation, i) => {
      const path = `annotations[${i}]`;
      if (!check.object(annotation, path)) return;
      const id = check.field(annotation, 'id', path);
      if (check.number(id, `${path}.id`, { integer: true })) {
        if (annotationIds.has(id)) check.fail(`${path}.id`, `duplicate annotation id ${id}`);
        annotationIds.add(id);
      }
      const imageId = check.field(annotation, 'image_id', path);
      if (check.number(imageId, `${path}.image_id`, { integer: true }) && !imageIds.has(imageId)) {
        check.fail(`${path}.image_id`, `no image has id ${imageId}`);
      }
      const categoryId = check.field(annotation, 'category_id', path);
      if (check.number(categoryId, `${path}.category_id`, { integer: true }) && !categoryIds.has(categoryId)) {
        check.fail(`${path}.category_id`, `no category has id ${categoryId}`);
      }
      const labelled = checkKeypoints(check, check.field(annotation, 'keypoints', path), `${path}.keypoints`, k);
      const count = check.field(annotation, 'num_keypoints', path);
      if (check.number(count, `${path}.num_keypoints`, { integer: true, min: 0 }) && labelled !== undefined && count !== labelled) {
        check.fail(`${path}.num_keypoints`, `is ${count} but ${labelled} keypoints have v > 0`);
      }
      const bbox = check.field(annotation, 'bbox', path);
      if (check.array(bbox, `${path}.bbox`)) {
        if (bbox.length !== 4) check.fail(`${path}.bbox`, `expected 4 numbers [x, y, width, height], got ${bbox.length}`);
        else bbox.forEach((v, j) => check.number(v, `${path}.bbox[${j}]`, { min: j >= 2 ? 0 : -Infinity }));
      }
      check.number(check.field(annotation, 'area', path), `${path}.area`, { min: 0 });
      const crowd = check.field(annotation, 'iscrowd', path);
      if (crowd !== MISSING && crowd !== 0 && crowd !== 1) check.fail(`${path}.iscrowd`, `expected 0 or 1, got ${describe(crowd)}`);
    });
  }

  if (check.issues.length > 0) throw new CocoFormatError(check.issues);
  return json as unknown as CocoKeypointsJson;
}

/** Checks a keypoints array; returns the number of labelled keypoints (v > 0) when it is well formed. */
function checkKeypoints(check: JsonChecker, keypoints: unknown, field: string, k: number): number | undefined {
  if (!check.array(keypoints, field)) return undefined;
  if (keypoints.length !== 3 * k) {
    check.fail(field, `expected ${3 * k} numbers (${k} keypoints × 3), got ${keypoints.length}`);
    return undefined;
  }
  let labelled = 0;
  let wellFormed = true;
  keypoints.forEach((value, j) => {
    if (!check.number(value, `${field}[${j}]`)) wellFormed = false;
    else if (j % 3 === 2) {
      if (value !== 0 && value !== 1 && value !== 2) wellFormed = check.fail(`${field}[${j}]`, `visibility must be 0, 1 or 2, got ${value}`);
      else if (value > 0) labelled++;
    }
  });
  return wellFormed ? labelled : undefined;
}

/** A relative path that stays inside its folder: no absolute path, no '..' part. */
function isInsideFolder(fileName: string): boolean {
  return !isAbsolute(fileName) && !fileName.split(/[\\/]/).includes('..');
}

export interface CocoDataset {
  readonly annotationsPath: string;
  readonly imageDir: string;
  readonly spec: KeypointSpec;
  readonly json: CocoKeypointsJson;
  /** Each image's annotations, by image id; every image has an entry, possibly empty. */
  readonly annotationsByImage: ReadonlyMap<number, readonly CocoAnnotation[]>;
}

export interface LoadCocoOptions {
  /** Folder holding the files named by `images[].file_name`; by default `images/` beside the annotation file. */
  imageDir?: string;
  spec?: KeypointSpec;
}

/** The annotation file name inside a dataset folder, as written by `writeCocoDataset`. */
export const ANNOTATIONS_FILE = 'annotations.json';
/** The image folder inside a dataset folder. */
export const IMAGES_DIR = 'images';

/**
 * Loads and validates a COCO keypoints dataset, given either a dataset folder (holding `annotations.json` and
 * `images/`) or the path of an annotation file. Images are not read here: see `loadCocoSample`.
 */
export function loadCocoDataset(dirOrAnnotationsPath: string, options: LoadCocoOptions = {}): CocoDataset {
  const isDir = statSync(dirOrAnnotationsPath, { throwIfNoEntry: false })?.isDirectory() ?? false;
  const annotationsPath = isDir ? join(dirOrAnnotationsPath, ANNOTATIONS_FILE) : dirOrAnnotationsPath;
  const imageDir = options.imageDir ?? join(dirname(annotationsPath), IMAGES_DIR);
  const spec = options.spec ?? COCO_KEYPOINTS;

  let text: string;
  try {
    text = readFileSync(annotationsPath, 'utf8');
  } catch (error) {
    throw new Error(`${annotationsPath}: cannot read annotations (${(error as Error).message})`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new Error(`${annotationsPath}: not valid JSON (${(error as Error).message})`);
  }
  const json = validateCocoKeypoints(parsed, annotationsPath, spec);

  const annotationsByImage = new Map<number, CocoAnnotation[]>(json.images.map((image) => [image.id, []]));
  for (const annotation of json.annotations) annotationsByImage.get(annotation.image_id)!.push(annotation);
  return { annotationsPath, imageDir, spec, json, annotationsByImage };
}

/**
 * Writes `annotations.json` (validated first: writing a broken file is a bug) and, when given, the images as PNG
 * under `images/`, `images[i]` being the pixels of `json.images[i]`.
 */
export function writeCocoDataset(outDir: string, json: CocoKeypointsJson, images?: readonly Image[], spec: KeypointSpec = COCO_KEYPOINTS): void {
  const annotationsPath = join(outDir, ANNOTATIONS_FILE);
  validateCocoKeypoints(json, annotationsPath, spec);
  mkdirSync(outDir, { recursive: true });
  if (images) {
    if (images.length !== json.images.length) {
      throw new Error(`writeCocoDataset: ${images.length} images given for ${json.images.length} image entries`);
    }
    mkdirSync(join(outDir, IMAGES_DIR), { recursive: true });
    json.images.forEach((entry, i) => {
      const image = images[i]!;
      if (image.width !== entry.width || image.height !== entry.height) {
        throw new Error(`writeCocoDataset: images[${i}] (${entry.file_name}) is ${image.width}×${image.height}, its entry says ${entry.width}×${entry.height}`);
      }
      writePng(join(outDir, IMAGES_DIR, entry.file_name), image);
    });
  }
  writeFileSync(annotationsPath, JSON.stringify(json));
}

/** A person as the training pipeline sees it. */
export interface Person {
  /** K × 3 values x, y, v in image pixels; v as in COCO. */
  keypoints: Float32Array;
  /**
   * The pseudo box [x1, y1, x2, y2]: the tight box of the labelled keypoints, with the reference's inclusive end
   * x2 = x1 + w − 1 (so it is 1 px short of the keypoints on the right and bottom).
   */
  box: [number, number, number, number];
  /** The COCO segmentation area, in pixels²: the scale in OKS. */
  area: number;
}

/** One image and the people to learn from it. */
export interface Sample {
  image: Image;
  people: Person[];
}

/** The tight box [x, y, w, h] of the keypoints with v > 0, or undefined when none is labelled. */
export function keypointBox(keypoints: ArrayLike<number>): CocoBox | undefined {
  let x1 = Infinity, y1 = Infinity, x2 = -Infinity, y2 = -Infinity;
  for (let i = 0; i + 2 < keypoints.length; i += 3) {
    if (keypoints[i + 2]! <= 0) continue;
    x1 = Math.min(x1, keypoints[i]!);
    y1 = Math.min(y1, keypoints[i + 1]!);
    x2 = Math.max(x2, keypoints[i]!);
    y2 = Math.max(y2, keypoints[i + 1]!);
  }
  return x1 === Infinity ? undefined : [x1, y1, x2 - x1, y2 - y1];
}

/**
 * The annotations the reference trains on, as people (section 3.1): the box is replaced by the keypoints' pseudo
 * box, then an annotation is dropped when it is a crowd or marked ignore, has area ≤ 0, no labelled keypoint, or a
 * pseudo box thinner than 1 px. So a person with one labelled keypoint, or with keypoints on a line, becomes
 * background. The rules themselves are `dropReason` in smpr/targets.ts, shared with target assignment.
 */
export function toTrainingPeople(annotations: readonly CocoAnnotation[]): Person[] {
  const people: Person[] = [];
  for (const annotation of annotations) {
    const candidate = { keypoints: annotation.keypoints, area: annotation.area, iscrowd: !!annotation.iscrowd, ignore: !!annotation.ignore };
    if (dropReason(candidate) !== null) continue;
    const [x, y, w, h] = keypointBox(annotation.keypoints)!;
    people.push({ keypoints: Float32Array.from(annotation.keypoints), box: [x, y, x + w - 1, y + h - 1], area: annotation.area });
  }
  return people;
}

export function cocoImagePath(dataset: CocoDataset, image: CocoImage): string {
  return join(dataset.imageDir, image.file_name);
}

/** Reads one image's pixels (PNG or JPEG) and its training people. */
export async function loadCocoSample(dataset: CocoDataset, image: CocoImage): Promise<Sample> {
  const path = cocoImagePath(dataset, image);
  const pixels = await readImage(path);
  if (pixels.width !== image.width || pixels.height !== image.height) throw sizeMismatch(path, pixels, image);
  return { image: pixels, people: toTrainingPeople(dataset.annotationsByImage.get(image.id) ?? []) };
}

function sizeMismatch(path: string, actual: { width: number; height: number }, image: CocoImage): UserError {
  return new UserError(`${path}: image is ${actual.width}×${actual.height}, the annotations say ${image.width}×${image.height}`);
}

/**
 * Checks every image of a dataset from its header alone (exists, is a PNG or JPEG within the pixel limit, has the size
 * the annotations give), so that a bad file stops a run before its first step rather than in the middle of it.
 */
export function checkDatasetImages(dataset: CocoDataset): void {
  for (const image of dataset.json.images) {
    const path = cocoImagePath(dataset, image);
    const size = readImageSize(path);
    if (size.width !== image.width || size.height !== image.height) throw sizeMismatch(path, size, image);
  }
}
