import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { deflateSync } from 'node:zlib';
import { PNG } from 'pngjs';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { createImage, imageFromRgba, type Image } from '../src/data/image.js';
import { decodePng, encodePng, writePng } from '../src/data/png.js';
import { decodeJpeg, jpegSize, bytesReader } from '../src/data/jpeg.js';
import { decodeImage, readImage, readImageSize } from '../src/data/image-file.js';
import { Random } from '../src/tensor/random.js';

/** PNG's CRC-32 (zlib.crc32 needs Node ≥ 20.15). */
function crc32(bytes: Uint8Array): number {
  let crc = -1;
  for (const byte of bytes) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0xedb88320 : crc >>> 1;
  }
  return (crc ^ -1) >>> 0;
}

function randomImage(width: number, height: number, seed: number) {
  const image = createImage(width, height);
  const rng = new Random(seed);
  for (let i = 0; i < image.data.length; i++) image.data[i] = rng.int(0, 255);
  return image;
}

describe('PNG files', () => {
  it('round-trips every byte through a file', async () => {
    const image = randomImage(13, 7, 1);
    const path = join(mkdtempSync(join(tmpdir(), 'data-image-')), 'random.png');
    writePng(path, image);
    const back = await readImage(path);
    expect(back.width).toBe(13);
    expect(back.height).toBe(7);
    expect(Buffer.from(back.data).equals(Buffer.from(image.data))).toBe(true);
  });

  it('createImage refuses more pixels than the image limit instead of a RangeError from the typed array', () => {
    expect(() => createImage(100_000, 100_000)).toThrow('createImage: 100000×100000 pixels is over the limit of 50 megapixels');
  });

  it('stores RGB in HWC order', () => {
    const image = createImage(2, 1, [1, 2, 3]);
    image.data.set([200, 100, 50], 3); // pixel (1, 0)
    expect(Array.from(decodePng(encodePng(image), 'x.png').data)).toEqual([1, 2, 3, 200, 100, 50]);
  });

  it('names the file and says it is not a PNG', () => {
    expect(() => decodePng(Buffer.from('hello, world'), 'notes.txt')).toThrow(/^notes\.txt: not a PNG/);
  });

  it('reports a cut-off file as truncated', () => {
    const bytes = encodePng(randomImage(32, 32, 2));
    expect(() => decodePng(bytes.subarray(0, bytes.length - 30), 'cut.png')).toThrow(/^cut\.png: truncated PNG/);
    expect(() => decodePng(bytes.subarray(0, 40), 'cut.png')).toThrow(/^cut\.png: truncated PNG/);
  });

  it('reads 16-bit, palette, grayscale and RGBA PNGs as 8-bit RGB; alpha is dropped, not composited', async () => {
    const image = randomImage(6, 5, 4);
    const raw8 = (channels: 1 | 3 | 4, data: Uint8Array) => sharp(Buffer.from(data), { raw: { width: 6, height: 5, channels } });
    // 16 bits per channel, scaled to 8: within 1 level of the source, since sharp stores about v·256 rather than v·257
    // (1 → 511, 254 → 65024). Unscaled, the 16-bit values would wrap in a byte (32768 → 0).
    const deep = await raw8(3, image.data).toColourspace('rgb16').png().toBuffer();
    expect(deep[24]).toBe(16); // IHDR bit depth
    expect(maxDifference(decodePng(deep, 'deep.png').data, image.data)).toBeLessThanOrEqual(1);
    // A palette of four colours holds them exactly.
    const four = createImage(6, 5, [10, 200, 30]);
    four.data.set([250, 0, 0, 0, 0, 250, 255, 255, 255], 0);
    const indexed = await raw8(3, four.data).png({ palette: true, colours: 4, dither: 0 }).toBuffer();
    expect(indexed[25]).toBe(3); // IHDR colour type: palette
    expect(Array.from(decodePng(indexed, 'indexed.png').data)).toEqual(Array.from(four.data));
    const levels = Uint8Array.from({ length: 30 }, (_, i) => i * 8);
    const gray = decodePng(await raw8(1, levels).toColourspace('b-w').png().toBuffer(), 'gray.png');
    expect(Array.from(gray.data)).toEqual(Array.from(levels).flatMap((v) => [v, v, v]));
    // RGBA: a fully transparent pixel keeps its stored colour.
    const rgba = new PNG({ width: 2, height: 1 });
    rgba.data = Buffer.from([10, 20, 30, 0, 40, 50, 60, 128]);
    expect(Array.from(decodePng(PNG.sync.write(rgba), 'rgba.png').data)).toEqual([10, 20, 30, 40, 50, 60]);
  });

  it("reports a file cut inside its last chunk's CRC as truncated, not as decoded", () => {
    // IEND is 12 bytes (length, type, CRC); a check with slack at the end would let a cut-off file through to the decoder.
    const bytes = encodePng(randomImage(8, 8, 5));
    for (const cut of [1, 2, 4]) {
      expect(() => decodePng(bytes.subarray(0, bytes.length - cut), 'cut.png'), `cut ${cut}`).toThrow(`cut.png: truncated PNG (chunk IEND needs ${bytes.length} bytes, file has ${bytes.length - cut})`);
    }
  });

  it('reports a file whose image data is shorter than its header says as truncated, not as decoded', () => {
    // Every chunk whole and the zlib stream complete, but 10 bytes where 8×8 RGB rows need 200: pngjs fills the
    // rest from its buffer (stale memory) and returns an image.
    const bytes = encodePng(randomImage(8, 8, 5));
    const idat = Buffer.concat([Buffer.from('IDAT'), deflateSync(Buffer.alloc(10))]);
    const chunk = Buffer.alloc(idat.length + 8);
    chunk.writeUInt32BE(idat.length - 4, 0);
    idat.copy(chunk, 4);
    chunk.writeUInt32BE(crc32(idat), idat.length + 4);
    const short = Buffer.concat([bytes.subarray(0, 33), chunk, bytes.subarray(bytes.length - 12)]);
    expect(() => decodePng(short, 'short.png')).toThrow('short.png: truncated PNG (its image data holds 10 bytes; 8×8 pixels need 200)');
  });

  it('refuses a PNG whose header gives either side as 0 pixels', () => {
    const dir = mkdtempSync(join(tmpdir(), 'data-image-'));
    for (const [width, height] of [[0, 5], [5, 0]]) {
      const bytes = Buffer.from(encodePng(randomImage(5, 5, 2)));
      bytes.writeUInt32BE(width, 16);
      bytes.writeUInt32BE(height, 20);
      const message = `empty.png: PNG of ${width}×${height} pixels has no pixels`;
      expect(() => decodePng(bytes, 'empty.png')).toThrow(message);
      writeFileSync(join(dir, 'empty.png'), bytes);
      expect(() => readImageSize(join(dir, 'empty.png'))).toThrow(`${join(dir, 'empty.png')}: PNG of ${width}×${height} pixels has no pixels`);
    }
  });

  it('imageFromRgba refuses a buffer that is not width × height × 4 bytes', () => {
    expect(() => imageFromRgba(2, 2, new Uint8Array(15))).toThrow('imageFromRgba: 15 bytes for 2×2 RGBA pixels');
    expect(Array.from(imageFromRgba(1, 1, [1, 2, 3, 4]).data)).toEqual([1, 2, 3]);
  });

  it('reports corrupt data with the file name', () => {
    const bytes = Buffer.from(encodePng(randomImage(8, 8, 3)));
    bytes[45] ^= 0xff; // inside the IDAT data (signature 8 + IHDR 25 + IDAT header 8): its CRC no longer matches
    expect(() => decodePng(bytes, 'bad.png')).toThrow(/^bad\.png: unsupported or corrupt PNG/);
  });

  it('names a missing file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'data-image-'));
    await expect(readImage(join(dir, 'nowhere.png'))).rejects.toThrow(/nowhere\.png: cannot read image/);
    expect(() => readImageSize(join(dir, 'nowhere.png'))).toThrow(/nowhere\.png: cannot read image/);
    writeFileSync(join(dir, 'empty.png'), '');
    await expect(readImage(join(dir, 'empty.png'))).rejects.toThrow(/empty\.png: empty file, expected a PNG or JPEG/);
  });
});

/** A smooth image (JPEG's DCT keeps it within a few levels at quality 100). */
function smoothImage(width: number, height: number, seed: number): Image {
  const image = createImage(width, height);
  const rng = new Random(seed);
  const [a, b, c] = [rng.uniform(0.05, 0.2), rng.uniform(0.05, 0.2), rng.uniform(0, 6)];
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let ch = 0; ch < 3; ch++) image.data[(y * width + x) * 3 + ch] = Math.round(127 + 100 * Math.sin(a * x + b * y + c + ch));
    }
  }
  return image;
}

const raw = (image: Image, channels = 3) => sharp(Buffer.from(image.data.buffer, image.data.byteOffset, image.data.byteLength), { raw: { width: image.width, height: image.height, channels: channels as 3 } });
/** Encodes with libjpeg (through sharp) at quality 100 without chroma subsampling. */
const encodeJpeg = (image: Image): Promise<Buffer> => raw(image).jpeg({ quality: 100, chromaSubsampling: '4:4:4' }).toBuffer();

function maxDifference(a: Uint8Array, b: Uint8Array): number {
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

describe('JPEG files', () => {
  it('decodes to RGB in HWC order, within 4 levels of what was encoded at quality 100', async () => {
    const image = smoothImage(37, 21, 4);
    const decoded = await decodeJpeg(await encodeJpeg(image), 'smooth.jpg');
    expect([decoded.width, decoded.height]).toEqual([37, 21]);
    expect(decoded.data.length).toBe(37 * 21 * 3);
    expect(maxDifference(decoded.data, image.data)).toBeLessThanOrEqual(4);
  });

  it('reads the size from the frame header, past APP segments of any length, as the decoder finds it', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 300 }), fc.integer({ min: 1, max: 300 }), fc.integer({ min: 0, max: 3000 }), async (width, height, comment) => {
        let jpeg = raw(smoothImage(width, height, width)).jpeg();
        if (comment) jpeg = jpeg.withExif({ IFD0: { ImageDescription: 'x'.repeat(comment) } });
        const bytes = await jpeg.toBuffer();
        expect(jpegSize(bytesReader(bytes), 'x.jpg')).toEqual({ width, height });
        const decoded = await decodeImage(bytes, 'x.jpg');
        expect([decoded.width, decoded.height]).toEqual([width, height]);
      }),
      { numRuns: 12 },
    );
  });

  it('keeps the stored pixel order: the EXIF orientation tag is not applied (COCO annotates stored pixels)', async () => {
    const image = smoothImage(40, 24, 5);
    const plain = await decodeJpeg(await encodeJpeg(image), 'plain.jpg');
    const tagged = await raw(image).jpeg({ quality: 100, chromaSubsampling: '4:4:4' }).withMetadata({ orientation: 6 }).toBuffer();
    expect((await sharp(tagged).metadata()).orientation).toBe(6);
    const decoded = await decodeJpeg(tagged, 'rotated.jpg');
    expect([decoded.width, decoded.height]).toEqual([40, 24]);
    expect(maxDifference(decoded.data, plain.data)).toBe(0);
  });

  it('turns grayscale into three equal channels, and CMYK into RGB', async () => {
    const gray = createImage(16, 8);
    const levels = new Uint8Array(16 * 8).map((_, i) => (i * 2) % 256);
    const grayJpeg = await sharp(Buffer.from(levels), { raw: { width: 16, height: 8, channels: 1 } }).toColourspace('b-w').jpeg({ quality: 100 }).toBuffer();
    expect((await sharp(grayJpeg).metadata()).channels).toBe(1);
    const decoded = await decodeJpeg(grayJpeg, 'gray.jpg');
    expect(decoded.data.length).toBe(gray.data.length);
    for (let p = 0; p < 16 * 8; p++) {
      expect(decoded.data[p * 3]).toBe(decoded.data[p * 3 + 1]);
      expect(decoded.data[p * 3]).toBe(decoded.data[p * 3 + 2]);
      expect(Math.abs(decoded.data[p * 3]! - levels[p]!)).toBeLessThanOrEqual(3);
    }
    const red = createImage(16, 16, [200, 30, 30]);
    const cmyk = await raw(red).toColourspace('cmyk').jpeg({ quality: 100 }).toBuffer();
    expect((await sharp(cmyk).metadata()).space).toBe('cmyk');
    const back = await decodeJpeg(cmyk, 'cmyk.jpg');
    const [r, g, b] = back.data;
    expect(r!).toBeGreaterThan(150);
    expect(Math.max(g!, b!)).toBeLessThan(90);
  });

  it('reports a cut-off, corrupt or header-only file with its name', async () => {
    const bytes = await encodeJpeg(smoothImage(32, 32, 6));
    await expect(decodeJpeg(bytes.subarray(0, bytes.length - 200), 'cut.jpg')).rejects.toThrow(/^cut\.jpg: corrupt or truncated JPEG/);
    // Cut and closed with an end-of-image marker: libjpeg only warns, and the lost rows came back grey, no error.
    const closed = Buffer.concat([bytes.subarray(0, Math.floor(bytes.length * 0.6)), Buffer.from([0xff, 0xd9])]);
    await expect(decodeJpeg(closed, 'closed.jpg')).rejects.toThrow('closed.jpg: truncated JPEG (Corrupt JPEG data: premature end of data segment)');
    expect(() => jpegSize(bytesReader(bytes.subarray(0, 40)), 'head.jpg')).toThrow(/^head\.jpg: truncated JPEG/);
    expect(() => jpegSize(bytesReader(Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 0x10])), 'app.jpg')).toThrow(/^app\.jpg: truncated JPEG \(no frame header/);
    expect(() => jpegSize(bytesReader(Buffer.from([0xff, 0xd8, 0x00, 0x00])), 'junk.jpg')).toThrow(/^junk\.jpg: corrupt JPEG \(expected a marker at byte 2\)/);
    const huge = Buffer.from(bytes);
    const sof = huge.indexOf(Buffer.from([0xff, 0xc0]));
    huge.writeUInt16BE(20000, sof + 5);
    huge.writeUInt16BE(20000, sof + 7);
    expect(() => jpegSize(bytesReader(huge), 'huge.jpg')).toThrow(/^huge\.jpg: 20000×20000 pixels is over the limit of 50 megapixels/);
  });

  it('walks every kind of segment before the frame header: fill bytes, RST markers, a DHT; refuses an EOI or a length under 2', () => {
    // SOF0 of a 20×12 image: length, precision 8, height, width (jpegSize reads no further).
    const sof = [0xff, 0xc0, 0x00, 0x11, 0x08, 0x00, 0x0c, 0x00, 0x14];
    const size = (...bytes: number[]) => jpegSize(bytesReader(Uint8Array.from([0xff, 0xd8, ...bytes])), 'x.jpg');
    // A Huffman table before the frame (DHT, C4, is in the SOF range but is no frame header): allowed, and some encoders write it.
    expect(size(0xff, 0xc4, 0x00, 0x04, 0xaa, 0xbb, ...sof)).toEqual({ width: 20, height: 12 });
    // One 0xFF fill byte before a marker, then a lone RST7 (no length field), then the frame.
    expect(size(0xff, ...sof)).toEqual({ width: 20, height: 12 });
    expect(size(0xff, 0xd7, ...sof)).toEqual({ width: 20, height: 12 });
    expect(size(0xff, 0xd0, 0xff, 0x01, ...sof)).toEqual({ width: 20, height: 12 });
    expect(() => size(0xff, 0xd9, ...sof)).toThrow(/^x\.jpg: corrupt JPEG \(image data before any frame header\)$/);
    expect(() => size(0xff, 0xe0, 0x00, 0x00, ...sof)).toThrow(/^x\.jpg: corrupt JPEG \(segment length 0 at byte 2\)$/);
    expect(() => size(0xff, 0xe0, 0x00, 0x01, ...sof)).toThrow(/^x\.jpg: corrupt JPEG \(segment length 1 at byte 2\)$/);
  });
});

describe('image files by signature', () => {
  it('reads a JPEG named .png and a PNG named .jpg, by their bytes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'data-image-'));
    const image = smoothImage(20, 12, 7);
    writeFileSync(join(dir, 'really-a-jpeg.png'), await encodeJpeg(image));
    writePng(join(dir, 'really-a-png.jpg'), image);
    expect(readImageSize(join(dir, 'really-a-jpeg.png'))).toEqual({ width: 20, height: 12 });
    expect(readImageSize(join(dir, 'really-a-png.jpg'))).toEqual({ width: 20, height: 12 });
    expect(maxDifference((await readImage(join(dir, 'really-a-jpeg.png'))).data, image.data)).toBeLessThanOrEqual(4);
    expect(Buffer.from((await readImage(join(dir, 'really-a-png.jpg'))).data).equals(Buffer.from(image.data))).toBe(true);
  });

  it('names what it found when a file is neither', async () => {
    await expect(decodeImage(Buffer.from('GIF89a...'), 'anim.gif')).rejects.toThrow(/^anim\.gif: not a PNG or JPEG image \(unknown signature\)$/);
  });
});

describe('Random', () => {
  it('repeats its stream for a seed and differs between seeds', () => {
    const draw = (seed: number) => Array.from({ length: 5 }, (() => { const r = new Random(seed); return () => r.next(); })());
    expect(draw(7)).toEqual(draw(7));
    expect(draw(7)).not.toEqual(draw(8));
  });

  it('keeps int() within its inclusive bounds and reaches both', () => {
    const rng = new Random(3);
    const seen = new Set(Array.from({ length: 200 }, () => rng.int(2, 5)));
    expect([...seen].sort()).toEqual([2, 3, 4, 5]);
  });
});
