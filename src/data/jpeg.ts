/**
 * JPEG files: the size from the frame header alone, and decoding through sharp (libvips with libjpeg-turbo).
 *
 * Why sharp: a 640×480 quality-90 JPEG took 3.0 ms of CPU to decode, against 6.0 ms for a WASM build of mozjpeg
 * (`@jsquash/jpeg`) and 17.3 ms for pure-JS `jpeg-js` (measured here on 2026-12-01, 20 decodes each). Its native binaries are ordinary npm packages with no install script, so it installs from the npm
 * registry alone. It also decodes in libuv's thread pool, off the JS thread.
 *
 * Orientation: pixels are returned in stored order; the EXIF orientation tag is ignored. COCO's annotations are in
 * stored pixel order (pycocotools and PIL's `Image.open` do not rotate), so rotating would misplace every keypoint.
 * Colour: grayscale and CMYK JPEGs are converted to sRGB RGB; alpha does not exist in JPEG.
 */
import type { OutputInfo } from 'sharp';
import { UserError } from '../errors.js';
import { checkPixelLimit, type Image, type ImageSize } from './image.js';

export const JPEG_SIGNATURE = Uint8Array.of(0xff, 0xd8, 0xff);

/**
 * sharp, loaded at the first JPEG: nothing else needs its native libvips (18 MB), so a program that reads no JPEG
 * neither loads it nor needs it installed (the GPU machine's pack leaves it out).
 */
let sharpModule: Promise<typeof import('sharp')> | null = null;
async function loadSharp(): Promise<typeof import('sharp').default> {
  sharpModule ??= import('sharp').then(
    (module) => {
      // Decoded images are used once; libvips' operation cache would only hold on to memory.
      module.default.cache(false);
      return module;
    },
    (error: Error) => {
      throw new UserError(`reading JPEG needs the sharp package, which did not load (${error.message.split('\n')[0]}); run npm install`);
    },
  );
  return (await sharpModule).default;
}

/** Reads up to `length` bytes at `offset` (fewer at the end of the file). */
export type ByteReader = (offset: number, length: number) => Uint8Array;

/** Start-of-frame markers carry the image size: SOF0–SOF15 except DHT (C4), JPG (C8) and DAC (CC). */
const isStartOfFrame = (marker: number): boolean => marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
/** Markers that stand alone, with no length field: TEM and the restart markers RST0–RST7. */
const isStandalone = (marker: number): boolean => marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7);

/**
 * A JPEG's size from its start-of-frame segment, walking the segments before it by their lengths, so that only a
 * few dozen bytes are read even when a large EXIF block comes first.
 */
export function jpegSize(read: ByteReader, source: string): ImageSize {
  const start = read(0, 2);
  if (start.length < 2 || start[0] !== 0xff || start[1] !== 0xd8) throw new UserError(`${source}: not a JPEG file (bad signature)`);
  let offset = 2;
  for (;;) {
    const head = read(offset, 2);
    if (head.length < 2) throw new UserError(`${source}: truncated JPEG (no frame header in its ${offset} bytes)`);
    if (head[0] !== 0xff) throw new UserError(`${source}: corrupt JPEG (expected a marker at byte ${offset})`);
    const marker = head[1]!;
    if (marker === 0xff) {
      offset += 1; // fill byte before a marker
      continue;
    }
    if (isStandalone(marker)) {
      offset += 2;
      continue;
    }
    if (marker === 0xd9 || marker === 0xda) throw new UserError(`${source}: corrupt JPEG (image data before any frame header)`);
    const segment = read(offset + 2, 7);
    if (segment.length < 2) throw new UserError(`${source}: truncated JPEG (segment at byte ${offset} is cut off)`);
    const length = (segment[0]! << 8) | segment[1]!;
    if (isStartOfFrame(marker)) {
      if (segment.length < 7) throw new UserError(`${source}: truncated JPEG (frame header is cut off)`);
      const height = (segment[3]! << 8) | segment[4]!;
      const width = (segment[5]! << 8) | segment[6]!;
      if (width === 0 || height === 0) throw new UserError(`${source}: JPEG of ${width}×${height} pixels (a height given after the scan, by DNL, is not supported)`);
      const size = { width, height };
      checkPixelLimit(size, source);
      return size;
    }
    if (length < 2) throw new UserError(`${source}: corrupt JPEG (segment length ${length} at byte ${offset})`);
    offset += 2 + length;
  }
}

/** A `ByteReader` over bytes in memory. */
export const bytesReader = (bytes: Uint8Array): ByteReader => (offset, length) => bytes.subarray(offset, offset + length);

/** Decodes JPEG bytes to RGB in stored pixel order. `source` names the file in error messages. */
export async function decodeJpeg(bytes: Uint8Array, source: string): Promise<Image> {
  const expected = jpegSize(bytesReader(bytes), source);
  const sharp = await loadSharp();
  let decoded: { data: Buffer; info: OutputInfo };
  const warnings: string[] = [];
  try {
    // failOn 'truncated' refuses a file cut off, while libjpeg's warnings about harmless damage (extraneous bytes
    // before a marker, as a few COCO images have) still decode. Only the one warning about missing image data is
    // an error here: a stream cut and closed early decodes, its lost rows grey, with no other sign.
    decoded = await sharp(bytes, { failOn: 'truncated', limitInputPixels: false })
      .on('warning', (warning: string) => void warnings.push(warning))
      .toColourspace('srgb')
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
  } catch (error) {
    throw new UserError(`${source}: corrupt or truncated JPEG (${(error as Error).message.split('\n')[0]})`);
  }
  const missing = warnings.find((warning) => /premature end/i.test(warning));
  if (missing !== undefined) throw new UserError(`${source}: truncated JPEG (${missing.trim().replace(/^VipsJpeg: /, '')})`);
  const { width, height, channels } = decoded.info;
  if (width !== expected.width || height !== expected.height || channels !== 3) {
    throw new UserError(`${source}: JPEG decoded to ${width}×${height}×${channels}, its header says ${expected.width}×${expected.height}×3`);
  }
  const data = new Uint8Array(decoded.data.buffer, decoded.data.byteOffset, decoded.data.byteLength);
  return { width, height, data };
}
