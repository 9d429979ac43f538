/**
 * The COCO person-keypoints file: its types, the person category, and the one validator every reader of such a
 * file goes through (each problem named by file and field, all of them at once).
 */
import { COCO_KEYPOINTS, type KeypointSpec } from './keypoints.js';

export interface CocoImage {
  id: number;
  file_name: string;
  width: number;
  height: number;
}

/** A COCO box: [x, y, width, height], x and y the top-left corner. */
export type CocoBox = readonly [x: number, y: number, w: number, h: number];

export interface CocoAnnotation {
  id: number;
  image_id: number;
  category_id: number;
  /** K × 3 numbers: x, y, v per keypoint; v = 0 unlabelled (x = y = 0), 1 labelled but occluded, 2 visible. */
  keypoints: readonly number[];
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

/**
 * A relative path that stays inside its folder: no absolute path (POSIX '/x', or Windows '\\x' and 'C:x'), no '..'
 * part. Written out rather than with node:path's isAbsolute so that this file runs in a browser too.
 */
function isInsideFolder(fileName: string): boolean {
  return !/^([\\/]|[A-Za-z]:)/.test(fileName) && !fileName.split(/[\\/]/).includes('..');
}
