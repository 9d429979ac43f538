/**
 * PNG files, through pngjs: the size from the header alone, decoding to an RGB `Image`, encoding one.
 */
import { writeFileSync } from 'node:fs';
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
  pngSize(bytes, source);
  checkChunksComplete(bytes, source);
  let png: PNG;
  try {
    png = PNG.sync.read(bytes);
  } catch (error) {
    throw new UserError(`${source}: unsupported or corrupt PNG (${(error as Error).message})`);
  }
  return imageFromRgba(png.width, png.height, png.data);
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

export function writePng(path: string, image: Image): void {
  writeFileSync(path, encodePng(image));
}
