/**
 * Images for the data layer, and PNG files.
 *
 * An `Image` is 8-bit RGB in HWC order: `data[(y * width + x) * 3 + c]`, c = 0 red, 1 green, 2 blue. Bytes rather
 * than floats because that is what PNG stores and what the drawing code paints; the conversion to a normalised
 * float CHW tensor happens once, in `augment.ts`, at the end of the pipeline.
 *
 * Pixel coordinates: pixel (x, y) has its centre at the integer point (x, y), so the image spans
 * [-0.5, width - 0.5] × [-0.5, height - 0.5]. This is the convention behind the reference's flip x' = W − 1 − x.
 *
 * Only PNG is read. COCO ships JPEGs: convert them to PNG first (e.g. `mogrify -format png *.jpg`); a JPEG decoder
 * may be added later.
 */
import { closeSync, openSync, readFileSync, readSync, writeFileSync } from 'node:fs';
import { PNG } from 'pngjs';
import { UserError } from '../errors.js';

export interface Image {
  readonly width: number;
  readonly height: number;
  /** RGB bytes, HWC, row-major, length width × height × 3. */
  readonly data: Uint8Array;
}

export type Rgb = readonly [number, number, number];

/** A new image filled with one colour (black by default). */
export function createImage(width: number, height: number, fill: Rgb = [0, 0, 0]): Image {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new Error(`createImage: width and height must be positive integers, got ${width}×${height}`);
  }
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < data.length; i += 3) data.set(fill, i);
  return { width, height, data };
}

export function cloneImage(image: Image): Image {
  return { width: image.width, height: image.height, data: image.data.slice() };
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const JPEG_SIGNATURE = Buffer.from([0xff, 0xd8, 0xff]);

/**
 * The largest image accepted, in pixels: 50 megapixels (about 7000²), far above any photograph the model is run on
 * (COCO's are at most 640 px a side). Larger ones are refused before decoding: a 20000² PNG took 3.8 GB and 190 s.
 */
export const MAX_IMAGE_PIXELS = 50_000_000;

/** A PNG's size from its signature and IHDR chunk (the first 24 bytes), or a UserError saying what the file is not. */
export function pngSize(bytes: Uint8Array, source: string): { width: number; height: number } {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b.length === 0) throw new UserError(`${source}: empty file, expected a PNG`);
  if (b.subarray(0, 3).equals(JPEG_SIGNATURE)) throw new UserError(`${source}: is a JPEG; only PNG is supported, convert it to PNG first`);
  if (b.length < PNG_SIGNATURE.length || !b.subarray(0, 8).equals(PNG_SIGNATURE)) throw new UserError(`${source}: not a PNG file (bad signature)`);
  if (b.length < 24 || b.toString('latin1', 12, 16) !== 'IHDR') throw new UserError(`${source}: truncated PNG (no IHDR header)`);
  const width = b.readUInt32BE(16);
  const height = b.readUInt32BE(20);
  if (width === 0 || height === 0) throw new UserError(`${source}: PNG of ${width}×${height} pixels has no pixels`);
  if (width * height > MAX_IMAGE_PIXELS) {
    throw new UserError(`${source}: ${width}×${height} pixels is over the limit of ${MAX_IMAGE_PIXELS / 1e6} megapixels`);
  }
  return { width, height };
}

/** The size of the PNG at `path`, reading only its header. */
export function readPngSize(path: string): { width: number; height: number } {
  let header: Buffer;
  try {
    const fd = openSync(path, 'r');
    try {
      header = Buffer.alloc(24);
      header = header.subarray(0, readSync(fd, header, 0, 24, 0));
    } finally {
      closeSync(fd);
    }
  } catch (error) {
    throw new UserError(`${path}: cannot read image (${(error as Error).message})`);
  }
  return pngSize(header, path);
}

/**
 * Decodes PNG bytes. `source` names the file in error messages. Alpha is dropped (not composited): training images
 * are opaque, and a transparent PNG has no single right background.
 */
export function decodePng(bytes: Buffer, source: string): Image {
  pngSize(bytes, source);
  checkChunksComplete(bytes, source);
  let png: PNG;
  try {
    png = PNG.sync.read(bytes);
  } catch (error) {
    throw new UserError(`${source}: unsupported or corrupt PNG (${(error as Error).message})`);
  }
  const { width, height } = png;
  const rgba = png.data;
  const data = new Uint8Array(width * height * 3);
  for (let p = 0; p < width * height; p++) {
    data[p * 3] = rgba[p * 4]!;
    data[p * 3 + 1] = rgba[p * 4 + 1]!;
    data[p * 3 + 2] = rgba[p * 4 + 2]!;
  }
  return { width, height, data };
}

/**
 * Walks the chunk list so that a cut-off file is reported as truncated rather than as whatever the inflater says:
 * every chunk (length, type, data, CRC) must fit in the buffer, and the list must end with IEND.
 */
function checkChunksComplete(bytes: Buffer, source: string): void {
  let offset = PNG_SIGNATURE.length;
  while (offset + 8 <= bytes.length) {
    const length = bytes.readUInt32BE(offset);
    const type = bytes.toString('latin1', offset + 4, offset + 8);
    const end = offset + 12 + length;
    if (end > bytes.length) {
      throw new UserError(`${source}: truncated PNG (chunk ${type} needs ${end} bytes, file has ${bytes.length})`);
    }
    if (type === 'IEND') return;
    offset = end;
  }
  throw new UserError(`${source}: truncated PNG (no IEND chunk after ${bytes.length} bytes)`);
}

/** Encodes an image as an 8-bit RGB PNG. */
export function encodePng(image: Image): Buffer {
  const png = new PNG({ width: image.width, height: image.height, colorType: 2, inputColorType: 2, inputHasAlpha: false });
  png.data = Buffer.from(image.data.buffer, image.data.byteOffset, image.data.byteLength);
  return PNG.sync.write(png, { colorType: 2, inputColorType: 2, inputHasAlpha: false });
}

export function readPng(path: string): Image {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    throw new UserError(`${path}: cannot read image (${(error as Error).message})`);
  }
  return decodePng(bytes, path);
}

export function writePng(path: string, image: Image): void {
  writeFileSync(path, encodePng(image));
}
