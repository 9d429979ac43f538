/**
 * COCO person-keypoint datasets on disk: an annotation file (validated by `coco/format.ts`) and its image folder.
 *
 * A dataset is loaded as its annotation JSON plus the image folder; pixels are read only when a sample is asked for,
 * since a real dataset does not fit in memory.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { validateCocoKeypoints, type CocoAnnotation, type CocoImage, type CocoKeypointsJson } from '../coco/format.js';
import { COCO_KEYPOINTS, type KeypointSpec } from '../coco/keypoints.js';
import { toTrainingPeople } from '../coco/person.js';
import type { Image, ImageSize } from './image.js';
import { readImage, readImageSize } from './image-file.js';
import type { Sample } from './sample.js';
import { writePng } from './png.js';
import { UserError } from '../errors.js';
import { writeFileAtomic } from '../io/atomic.js';
import { processAlive } from '../io/folders.js';
import { jsonSyntaxMessage, withoutBom } from '../io/read-file.js';

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
const ANNOTATIONS_FILE = 'annotations.json';
/** The image folder inside a dataset folder. */
const IMAGES_DIR = 'images';

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
    parsed = JSON.parse(withoutBom(text));
  } catch (error) {
    throw new Error(`${annotationsPath}: not valid JSON (${jsonSyntaxMessage(error as Error)})`);
  }
  const json = validateCocoKeypoints(parsed, annotationsPath, { keypoints: spec.names.length });

  const annotationsByImage = new Map<number, CocoAnnotation[]>(json.images.map((image) => [image.id, []]));
  for (const annotation of json.annotations) annotationsByImage.get(annotation.image_id)!.push(annotation);
  return { annotationsPath, imageDir, spec, json, annotationsByImage };
}

/**
 * Writes `annotations.json` (validated first: writing a broken file is a bug) and, when given, the images as PNG
 * under `images/`, `images[i]` being the pixels of `json.images[i]`. A dataset already in `outDir` is replaced
 * whole or not at all: the new images go to a folder of their own, which takes the place of `images/` only when
 * every one is written, and the annotations follow atomically. Other files in `outDir` are left alone.
 */
export function writeCocoDataset(outDir: string, json: CocoKeypointsJson, images?: readonly Image[], spec: KeypointSpec = COCO_KEYPOINTS): void {
  const annotationsPath = join(outDir, ANNOTATIONS_FILE);
  validateCocoKeypoints(json, annotationsPath, { keypoints: spec.names.length });
  if (images && images.length !== json.images.length) {
    throw new Error(`writeCocoDataset: ${images.length} images given for ${json.images.length} image entries`);
  }
  mkdirSync(outDir, { recursive: true });
  const imageDir = join(outDir, IMAGES_DIR);
  const staged = `${imageDir}.${process.pid}.new`;
  const replaced = `${imageDir}.${process.pid}.old`;
  // Everything that would stop the swap halfway is found before it: only a dataset's own images are replaced.
  const annotationsThere = statSync(annotationsPath, { throwIfNoEntry: false });
  if (annotationsThere && !annotationsThere.isFile()) throw new UserError(`${annotationsPath}: is not a regular file, so not the annotation file`);
  if (images && existsSync(imageDir) && !annotationsThere && readdirSync(imageDir).length > 0) {
    throw new UserError(`${outDir}: its ${IMAGES_DIR}/ is not a dataset's (no ${ANNOTATIONS_FILE} beside it); write the dataset to another folder`);
  }
  removeStaleStaging(outDir);
  if (images) {
    rmSync(staged, { recursive: true, force: true });
    mkdirSync(staged);
    try {
      json.images.forEach((entry, i) => {
        const image = images[i]!;
        if (image.width !== entry.width || image.height !== entry.height) {
          throw new Error(`writeCocoDataset: images[${i}] (${entry.file_name}) is ${image.width}×${image.height}, its entry says ${entry.width}×${entry.height}`);
        }
        const path = join(staged, entry.file_name);
        mkdirSync(dirname(path), { recursive: true });
        writePng(path, image);
      });
    } catch (error) {
      rmSync(staged, { recursive: true, force: true });
      throw error;
    }
    if (existsSync(imageDir)) renameSync(imageDir, replaced);
    renameSync(staged, imageDir);
  }
  try {
    writeFileAtomic(annotationsPath, [new TextEncoder().encode(JSON.stringify(json))]);
  } catch (error) {
    // The annotations did not follow the images (a full disk, say): the old images go back, beside their own.
    if (images) {
      rmSync(imageDir, { recursive: true, force: true });
      if (existsSync(replaced)) renameSync(replaced, imageDir);
    }
    throw error;
  }
  try {
    rmSync(replaced, { recursive: true, force: true });
  } catch {
    // The new dataset is whole and in place; the old images that could not be removed are left for a later run.
  }
}

const STAGING = new RegExp(`^${IMAGES_DIR}\\.(\\d+)\\.(new|old)$`);

/** The staging folders (`images.PID.new`, `images.PID.old`) of writes whose process is gone: killed midway. */
function removeStaleStaging(outDir: string): void {
  for (const name of readdirSync(outDir)) {
    const match = STAGING.exec(name);
    if (!match || Number(match[1]) === process.pid || processAlive(Number(match[1]))) continue;
    try {
      rmSync(join(outDir, name), { recursive: true, force: true });
    } catch {
      // Best effort, as above.
    }
  }
}

export type { Sample } from './sample.js';

export function cocoImagePath(dataset: CocoDataset, image: CocoImage): string {
  return join(dataset.imageDir, image.file_name);
}

/** Reads one image's pixels (PNG or JPEG) and its training people. */
export async function loadCocoSample(dataset: CocoDataset, image: CocoImage): Promise<Sample> {
  return { image: await readAnnotatedImage(cocoImagePath(dataset, image), image), people: toTrainingPeople(dataset.annotationsByImage.get(image.id) ?? []) };
}

/** Reads the image at `path`; a file of another size than its annotations give is a UserError. */
export async function readAnnotatedImage(path: string, expected: ImageSize): Promise<Image> {
  const pixels = await readImage(path);
  checkAnnotatedSize(path, pixels, expected);
  return pixels;
}

function checkAnnotatedSize(path: string, actual: ImageSize, expected: ImageSize): void {
  if (actual.width !== expected.width || actual.height !== expected.height) {
    throw new UserError(`${path}: image is ${actual.width}×${actual.height}, the annotations say ${expected.width}×${expected.height}`);
  }
}

/**
 * Checks every image of a dataset from its header alone (exists, is a PNG or JPEG within the pixel limit, has the size
 * the annotations give), so that a bad file stops a run before its first step rather than in the middle of it.
 */
export function checkDatasetImages(dataset: CocoDataset): void {
  // Without this, a missing image folder read as its first image's ENOENT.
  if (dataset.json.images.length > 0 && !existsSync(dataset.imageDir)) {
    throw new UserError(`${dataset.imageDir}: no such folder (the images of ${dataset.annotationsPath})`);
  }
  for (const image of dataset.json.images) {
    const path = cocoImagePath(dataset, image);
    checkAnnotatedSize(path, readImageSize(path), image);
  }
}
