/**
 * Image files of either format, told apart by their signature (not their name: COCO-style folders hold JPEGs named
 * `.jpg`, but a renamed file should still read, or fail with the right reason).
 */
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { UserError } from '../errors.js';
import type { Image, ImageSize } from './image.js';
import { decodeJpeg, JPEG_SIGNATURE, jpegSize, type ByteReader } from './jpeg.js';
import { decodePng, PNG_SIGNATURE, pngSize, PNG_HEADER_BYTES } from './png.js';

export type ImageFormat = 'png' | 'jpeg';

const startsWith = (bytes: Uint8Array, signature: Uint8Array): boolean =>
  bytes.length >= signature.length && signature.every((b, i) => bytes[i] === b);

/** The format of a file from its first bytes, or a UserError saying what was found. */
function imageFormat(head: Uint8Array, source: string): ImageFormat {
  if (startsWith(head, PNG_SIGNATURE)) return 'png';
  if (startsWith(head, JPEG_SIGNATURE)) return 'jpeg';
  if (head.length === 0) throw new UserError(`${source}: empty file, expected a PNG or JPEG image`);
  throw new UserError(`${source}: not a PNG or JPEG image (unknown signature)`);
}

function cannotRead(path: string, error: unknown): UserError {
  if ((error as NodeJS.ErrnoException).code === 'EISDIR') return new UserError(`${path}: is a folder, expected a PNG or JPEG image`);
  return new UserError(`${path}: cannot read image (${(error as Error).message})`);
}

/** The size of the image at `path`, reading only its header (a few dozen bytes). */
export function readImageSize(path: string): ImageSize {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (error) {
    throw cannotRead(path, error);
  }
  try {
    const read: ByteReader = (offset, length) => {
      const buffer = new Uint8Array(length);
      return buffer.subarray(0, readSync(fd, buffer, 0, length, offset));
    };
    const head = read(0, PNG_HEADER_BYTES);
    return imageFormat(head, path) === 'png' ? pngSize(head, path) : jpegSize(read, path);
  } catch (error) {
    throw error instanceof UserError ? error : cannotRead(path, error);
  } finally {
    closeSync(fd);
  }
}

/** Decodes PNG or JPEG bytes to RGB. `source` names the file in error messages. */
export async function decodeImage(bytes: Uint8Array, source: string): Promise<Image> {
  if (imageFormat(bytes, source) === 'png') return decodePng(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), source);
  return decodeJpeg(bytes, source);
}

/** Reads and decodes the PNG or JPEG at `path`. */
export async function readImage(path: string): Promise<Image> {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    throw cannotRead(path, error);
  }
  return decodeImage(bytes, path);
}
