/**
 * PNG files, through pngjs: the size from the header alone, decoding to an RGB `Image`, encoding one.
 */
import { writeFileSync } from 'node:fs';
import { constants, inflateSync } from 'node:zlib';
import { PNG } from 'pngjs';
import { UserError } from '../errors.js';
import { checkPixelLimit, imageFromRgba, type Image, type ImageSize } from './image.js';

export const PNG_SIGNATURE = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a);

/** How many leading bytes `pngSize` needs: the signature and the IHDR chunk's width and height. */
export const PNG_HEADER_BYTES = 24;

/** A PNG's size from its signature and IHDR chunk (the first 24 bytes), or a UserError saying what the file is not. */
export function pngSize(bytes: Uint8Array, source: string): ImageSize {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b.length === 0) throw new UserError(`${source}: empty file, expected a PNG`);
  if (b.length < PNG_SIGNATURE.length || !b.subarray(0, 8).equals(PNG_SIGNATURE)) throw new UserError(`${source}: not a PNG file (bad signature)`);
  if (b.length < PNG_HEADER_BYTES || b.toString('latin1', 12, 16) !== 'IHDR') throw new UserError(`${source}: truncated PNG (no IHDR header)`);
  const width = b.readUInt32BE(16);
  const height = b.readUInt32BE(20);
  if (width === 0 || height === 0) throw new UserError(`${source}: PNG of ${width}×${height} pixels has no pixels`);
  checkPixelLimit({ width, height }, source);
  return { width, height };
}

/**
 * Decodes PNG bytes. `source` names the file in error messages. Alpha is dropped (not composited): training images
 * are opaque, and a transparent PNG has no single right background.
 */
export function decodePng(bytes: Buffer, source: string): Image {
  const size = pngSize(bytes, source);
  checkImageDataComplete(bytes, size, imageData(bytes, source), source);
  let png: PNG;
  try {
    png = PNG.sync.read(bytes);
  } catch (error) {
    throw new UserError(`${source}: unsupported or corrupt PNG (${(error as Error).message})`);
  }
  return imageFromRgba(png.width, png.height, png.data);
}

/**
 * The IDAT chunks' data, from a walk of the chunk list that reports a cut-off file as truncated rather than as
 * whatever the inflater says: every chunk (length, type, data, CRC) must fit in the buffer, and the list must end
 * with IEND.
 */
function imageData(bytes: Buffer, source: string): Buffer[] {
  const parts: Buffer[] = [];
  let offset = PNG_SIGNATURE.length;
  while (offset + 8 <= bytes.length) {
    const length = bytes.readUInt32BE(offset);
    const type = bytes.toString('latin1', offset + 4, offset + 8);
    const end = offset + 12 + length;
    if (end > bytes.length) {
      throw new UserError(`${source}: truncated PNG (chunk ${type} needs ${end} bytes, file has ${bytes.length})`);
    }
    if (type === 'IEND') return parts;
    if (type === 'IDAT') parts.push(bytes.subarray(offset + 8, offset + 8 + length));
    offset = end;
  }
  throw new UserError(`${source}: truncated PNG (no IEND chunk after ${bytes.length} bytes)`);
}

const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };

/**
 * pngjs does not check that the image data inflates to as many bytes as the header's rows need: what is missing
 * comes back as whatever its output buffer held (zeros, or stale memory), as an image and no error. So a PNG whose
 * header claims more pixels than its data holds is refused here. Interlaced files are left to pngjs, which inflates
 * those exactly and fails on short data itself.
 */
function checkImageDataComplete(bytes: Buffer, { width, height }: ImageSize, parts: Buffer[], source: string): void {
  const [depth, colourType, interlace] = [bytes[24]!, bytes[25]!, bytes[28]!];
  const channels = CHANNELS[colourType];
  if (interlace !== 0 || channels === undefined) return;
  const needed = (Math.ceil((width * channels * depth) / 8) + 1) * height;
  let inflated: number;
  try {
    // A sync flush returns what a cut-off stream holds instead of throwing, so that it is counted like a short one.
    inflated = inflateSync(Buffer.concat(parts), { finishFlush: constants.Z_SYNC_FLUSH }).length;
  } catch (error) {
    throw new UserError(`${source}: unsupported or corrupt PNG (${(error as Error).message})`);
  }
  if (inflated < needed) {
    throw new UserError(`${source}: truncated PNG (its image data holds ${inflated} bytes; ${width}×${height} pixels need ${needed})`);
  }
}

/** Encodes an image as an 8-bit RGB PNG. */
export function encodePng(image: Image): Buffer {
  const png = new PNG({ width: image.width, height: image.height, colorType: 2, inputColorType: 2, inputHasAlpha: false });
  png.data = Buffer.from(image.data.buffer, image.data.byteOffset, image.data.byteLength);
  return PNG.sync.write(png, { colorType: 2, inputColorType: 2, inputHasAlpha: false });
}

export function writePng(path: string, image: Image): void {
  writeFileSync(path, encodePng(image));
}
