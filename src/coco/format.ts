/**
 * The COCO person-keypoints files — annotations and results: their types, the person category, and the one
 * validator every reader of such a file goes through (each problem named by file and field, all of them at once).
 * Annotations are checked under one of two rule sets: 'dataset' (what training and drawing need: file names, image
 * sizes, whole-number ids that refer to listed images and categories, v in {0, 1, 2}, counts that agree) or
 * 'pycocotools' (only what the evaluator reads, as leniently as pycocotools takes it).
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

/**
 * One ground-truth person as the evaluator reads it: the file's annotation, less what pycocotools never looks at,
 * and with `iscrowd` as loose as pycocotools takes it (any truthy value).
 */
export type CocoKeypointAnnotation = Pick<CocoAnnotation, 'id' | 'image_id' | 'category_id' | 'keypoints' | 'num_keypoints' | 'area' | 'bbox'> & {
  iscrowd: number | boolean;
};

/** A COCO annotations object as the evaluator reads it: these three lists, and of images and categories only the ids. */
export interface CocoKeypointDataset {
  images: readonly Pick<CocoImage, 'id'>[];
  annotations: readonly CocoKeypointAnnotation[];
  categories: readonly Pick<CocoCategory, 'id'>[];
}

/** One entry of a COCO keypoint results file. */
export interface CocoKeypointResult {
  image_id: number;
  category_id: number;
  /** `[x, y, v]` per keypoint; v is never read. */
  keypoints: readonly number[];
  score: number;
  /** If the *first* result has a non-empty `bbox`, every result's area is `bbox[2] * bbox[3]` (pycocotools `loadRes`). */
  bbox?: readonly number[];
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

  /** Visits each object of the root's required list `key` with its path (`key[i]`); anything else is reported. */
  records(root: Record<string, unknown>, key: string, visit: (record: Record<string, unknown>, path: string) => void): void {
    const list = this.field(root, key, '(root)');
    if (!this.array(list, key)) return;
    list.forEach((item, i) => {
      const path = `${key}[${i}]`;
      if (this.object(item, path)) visit(item, path);
    });
  }
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value === 'string') return `the string ${JSON.stringify(value.length > 30 ? value.slice(0, 30) + '…' : value)}`;
  return `${typeof value} ${typeof value === 'object' ? '' : String(value)}`.trim();
}

/** Which rules `validateCocoKeypoints` applies; see the file's header. */
export type CocoRules = 'dataset' | 'pycocotools';

export interface CocoCheckOptions {
  /** Keypoints per person. Default: COCO's 17. */
  keypoints?: number;
  /** Default: 'dataset'. */
  rules?: CocoRules;
}

/**
 * Checks that parsed JSON is a COCO person-keypoints annotations file and returns it typed. `file` names the source
 * in error messages. Throws a `CocoFormatError` listing every problem.
 */
export function validateCocoKeypoints(json: unknown, file: string, options?: CocoCheckOptions & { rules?: 'dataset' }): CocoKeypointsJson;
export function validateCocoKeypoints(json: unknown, file: string, options: CocoCheckOptions & { rules: 'pycocotools' }): CocoKeypointDataset;
export function validateCocoKeypoints(json: unknown, file: string, options: CocoCheckOptions = {}): CocoKeypointsJson | CocoKeypointDataset {
  const k = options.keypoints ?? COCO_KEYPOINTS.names.length;
  const dataset = (options.rules ?? 'dataset') === 'dataset';
  const check = new JsonChecker(file);
  if (!check.object(json, '(root)')) throw new CocoFormatError(check.issues);
  // pycocotools takes any number as an id; a dataset's ids are whole numbers.
  const integer = dataset;

  /** Checks a record's id and adds it to `seen`; a repeat is reported where `unique`. */
  const recordId = (record: Record<string, unknown>, path: string, seen: Set<number>, kind: string, unique: boolean) => {
    const id = check.field(record, 'id', path);
    if (!check.number(id, `${path}.id`, { integer })) return;
    if (unique && seen.has(id)) check.fail(`${path}.id`, `duplicate ${kind} id ${id}`);
    seen.add(id);
  };

  const imageIds = new Set<number>();
  check.records(json, 'images', (image, path) => {
    recordId(image, path, imageIds, 'image', dataset);
    if (!dataset) return;
    const fileName = check.field(image, 'file_name', path);
    if (check.string(fileName, `${path}.file_name`) && !isInsideFolder(fileName)) {
      check.fail(`${path}.file_name`, `'${fileName}' leaves the image folder (an absolute path or a '..' part); file names are relative to it`);
    }
    check.number(check.field(image, 'width', path), `${path}.width`, { integer: true, min: 1 });
    check.number(check.field(image, 'height', path), `${path}.height`, { integer: true, min: 1 });
  });

  const categoryIds = new Set<number>();
  check.records(json, 'categories', (category, path) => {
    recordId(category, path, categoryIds, 'category', false);
    if (!dataset) return;
    check.string(check.field(category, 'name', path), `${path}.name`);
    const names = category['keypoints'];
    if (names !== undefined && check.array(names, `${path}.keypoints`) && names.length !== k) {
      check.fail(`${path}.keypoints`, `expected ${k} keypoint names, got ${names.length}`);
    }
  });

  // pycocotools looks annotations up by id, so a duplicate would silently replace the earlier one.
  const annotationIds = new Set<number>();
  const annotations = json['annotations'];
  // COCO's instances files (boxes and masks) read like a keypoints file with every annotation's keypoints missing:
  // said once, and what the file is likely to be, rather than as a missing field per annotation.
  if (Array.isArray(annotations) && annotations.length > 0 && annotations.every((a) => typeof a === 'object' && a !== null && !('keypoints' in a))) {
    check.fail('(root).annotations', `none of the ${annotations.length} has keypoints: a COCO instances file (boxes and masks), not a person_keypoints one?`);
    throw new CocoFormatError(check.issues);
  }
  check.records(json, 'annotations', (annotation, path) => {
    recordId(annotation, path, annotationIds, 'annotation', true);
    // pycocotools drops ground truth on unlisted images and of unlisted categories; a dataset may not have any.
    const imageId = check.field(annotation, 'image_id', path);
    if (check.number(imageId, `${path}.image_id`, { integer }) && dataset && !imageIds.has(imageId)) {
      check.fail(`${path}.image_id`, `no image has id ${imageId}`);
    }
    const categoryId = check.field(annotation, 'category_id', path);
    if (check.number(categoryId, `${path}.category_id`, { integer }) && dataset && !categoryIds.has(categoryId)) {
      check.fail(`${path}.category_id`, `no category has id ${categoryId}`);
    }
    const labelled = checkKeypoints(check, check.field(annotation, 'keypoints', path), `${path}.keypoints`, k, dataset);
    const count = check.field(annotation, 'num_keypoints', path);
    if (check.number(count, `${path}.num_keypoints`, { integer, min: dataset ? 0 : -Infinity }) && labelled !== undefined && count !== labelled) {
      check.fail(`${path}.num_keypoints`, `is ${count} but ${labelled} keypoints have v > 0`);
    }
    const bbox = check.field(annotation, 'bbox', path);
    if (check.array(bbox, `${path}.bbox`)) {
      if (bbox.length !== 4) check.fail(`${path}.bbox`, `expected 4 numbers [x, y, width, height], got ${bbox.length}`);
      else bbox.forEach((v, j) => check.number(v, `${path}.bbox[${j}]`, { min: dataset && j >= 2 ? 0 : -Infinity }));
    }
    check.number(check.field(annotation, 'area', path), `${path}.area`, { min: dataset ? 0 : -Infinity });
    const crowd = check.field(annotation, 'iscrowd', path);
    if (crowd === MISSING) return;
    if (dataset ? crowd !== 0 && crowd !== 1 : typeof crowd !== 'boolean' && (typeof crowd !== 'number' || !Number.isFinite(crowd))) {
      check.fail(`${path}.iscrowd`, `expected 0 or 1, got ${describe(crowd)}`);
    }
  });

  if (check.issues.length > 0) throw new CocoFormatError(check.issues);
  return json as unknown as CocoKeypointsJson;
}

/**
 * Checks that parsed JSON is a COCO keypoint results list (possibly empty) for `keypoints` keypoints per person.
 * pycocotools takes every area from the bbox when the first result has a non-empty one, so then every result needs
 * one; it computes areas from masks when the first result has a segmentation and no bbox, which a keypoint
 * evaluator does not do, so that is refused. Given the ids of the ground truth's images, every result must be on one
 * of them (pycocotools asserts this).
 */
export function validateCocoResults(json: unknown, file: string, keypoints = COCO_KEYPOINTS.names.length, imageIds?: ReadonlySet<number>): CocoKeypointResult[] {
  const check = new JsonChecker(file);
  if (!check.array(json, '(root)')) throw new CocoFormatError(check.issues);
  const first = json[0];
  const boxesGiveAreas = typeof first === 'object' && first !== null && hasNonEmptyBox(first);
  json.forEach((result, i) => {
    const path = `[${i}]`;
    if (!check.object(result, path)) return;
    const imageId = check.field(result, 'image_id', path);
    if (check.number(imageId, `${path}.image_id`) && imageIds && !imageIds.has(imageId)) {
      check.fail(`${path}.image_id`, `${imageId} is not the id of an image in the ground truth`);
    }
    check.number(check.field(result, 'category_id', path), `${path}.category_id`);
    check.number(check.field(result, 'score', path), `${path}.score`);
    checkKeypoints(check, check.field(result, 'keypoints', path), `${path}.keypoints`, keypoints, false);
    if (boxesGiveAreas) {
      const bbox = check.field(result, 'bbox', path);
      if (check.array(bbox, `${path}.bbox`)) {
        if (bbox.length !== 4) check.fail(`${path}.bbox`, `expected 4 numbers [x, y, width, height] (the first result has a bbox, so every area comes from one), got ${bbox.length}`);
        else bbox.forEach((v, j) => check.number(v, `${path}.bbox[${j}]`));
      }
    }
  });
  if (typeof first === 'object' && first !== null && !boxesGiveAreas && 'segmentation' in first) {
    check.fail('[0].segmentation', 'a result with a segmentation and no bbox makes pycocotools compute areas from masks, which this keypoint evaluator does not support; drop the field or add a bbox');
  }
  if (check.issues.length > 0) throw new CocoFormatError(check.issues);
  return json as CocoKeypointResult[];
}

/** pycocotools' test for "the first result has a box": a `bbox` field that is not an empty list. */
export function hasNonEmptyBox(result: object): boolean {
  return 'bbox' in result && !(Array.isArray(result.bbox) && result.bbox.length === 0);
}

/**
 * Checks a keypoints array; returns the number of labelled keypoints (v > 0) when it is well formed. Under the
 * dataset rules v must be 0, 1 or 2; the evaluator only compares v with 0.
 */
function checkKeypoints(check: JsonChecker, keypoints: unknown, field: string, k: number, visibilityFlags: boolean): number | undefined {
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
      if (visibilityFlags && value !== 0 && value !== 1 && value !== 2) wellFormed = check.fail(`${field}[${j}]`, `visibility must be 0, 1 or 2, got ${value}`);
      else if (value > 0) labelled++;
    }
  });
  return wellFormed && visibilityFlags ? labelled : undefined;
}

/**
 * A relative path that stays inside its folder: no absolute path (POSIX '/x', or Windows '\\x' and 'C:x'), no '..'
 * part. Written out rather than with node:path's isAbsolute so that this file runs in a browser too.
 */
function isInsideFolder(fileName: string): boolean {
  return !/^([\\/]|[A-Za-z]:)/.test(fileName) && !fileName.split(/[\\/]/).includes('..');
}
