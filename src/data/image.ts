/**
 * Images for the data layer.
 *
 * An `Image` is 8-bit RGB in HWC order: `data[(y * width + x) * 3 + c]`, c = 0 red, 1 green, 2 blue. Bytes rather
 * than floats because that is what PNG and JPEG store and what the drawing code paints; the conversion to a
 * normalised float CHW tensor happens once, in `augment.ts`, at the end of the pipeline.
 *
 * Pixel coordinates: pixel (x, y) has its centre at the integer point (x, y), so the image spans
 * [-0.5, width - 0.5] × [-0.5, height - 0.5]. This is the convention behind the reference's flip x' = W − 1 − x.
 *
 * Files: `png.ts` and `jpeg.ts` read one format each; `image-file.ts` reads either, by the file's signature.
 */
import { UserError } from '../errors.js';

export interface Image {
  readonly width: number;
  readonly height: number;
  /** RGB bytes, HWC, row-major, length width × height × 3. */
  readonly data: Uint8Array;
}

export type Rgb = readonly [number, number, number];

/** A new image filled with one colour (black by default). */
/** An image's width and height, each a positive integer; `op` names the caller in the error. */
function checkDimensions(op: string, width: number, height: number): void {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new Error(`${op}: the image's width and height must be positive integers, got ${width}×${height}`);
  }
}

export function createImage(width: number, height: number, fill: Rgb = [0, 0, 0]): Image {
  checkDimensions('createImage', width, height);
  checkPixelLimit({ width, height }, 'createImage'); // past it, a RangeError from the typed array
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < data.length; i += 3) data.set(fill, i);
  return { width, height, data };
}

/** Refuses an image whose size is not positive integers or whose data does not hold its width × height × 3 bytes. */
export function checkImage(op: string, image: Image): void {
  const { width, height, data } = image ?? {};
  checkDimensions(op, width, height);
  if (!(data instanceof Uint8Array) || data.length !== width * height * 3) {
    throw new Error(`${op}: a ${width}×${height} RGB image needs ${width * height * 3} bytes of data, got ${data instanceof Uint8Array ? data.length : String(data)}`);
  }
}

export function cloneImage(image: Image): Image {
  return { width: image.width, height: image.height, data: image.data.slice() };
}

/**
 * The largest image accepted, in pixels: 50 megapixels (about 7000²), far above any photograph the model is run on
 * (COCO's are at most 640 px a side). Larger ones are refused before decoding: a 20000² PNG took 3.8 GB and 190 s.
 */
export const MAX_IMAGE_PIXELS = 50_000_000;

export interface ImageSize {
  width: number;
  height: number;
}

/** Refuses an image over MAX_IMAGE_PIXELS, from its header's size, before anything is decoded. */
export function checkPixelLimit(size: ImageSize, source: string): void {
  if (size.width * size.height > MAX_IMAGE_PIXELS) {
    throw new UserError(`${source}: ${size.width}×${size.height} pixels is over the limit of ${MAX_IMAGE_PIXELS / 1e6} megapixels`);
  }
}

/**
 * An RGB image from RGBA bytes (a canvas's `getImageData().data`, a decoded PNG): alpha is dropped, not composited,
 * as `decodePng` drops it.
 */
export function imageFromRgba(width: number, height: number, rgba: ArrayLike<number>): Image {
  if (rgba.length !== width * height * 4) throw new Error(`imageFromRgba: ${rgba.length} bytes for ${width}×${height} RGBA pixels`);
  const data = new Uint8Array(width * height * 3);
  for (let p = 0; p < width * height; p++) {
    data[p * 3] = rgba[p * 4]!;
    data[p * 3 + 1] = rgba[p * 4 + 1]!;
    data[p * 3 + 2] = rgba[p * 4 + 2]!;
  }
  return { width, height, data };
}
