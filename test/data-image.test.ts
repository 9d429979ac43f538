import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createImage, decodePng, encodePng, readPng, writePng } from '../src/data/image.js';
import { Random } from '../src/tensor/random.js';

function randomImage(width: number, height: number, seed: number) {
  const image = createImage(width, height);
  const rng = new Random(seed);
  for (let i = 0; i < image.data.length; i++) image.data[i] = rng.int(0, 255);
  return image;
}

describe('PNG files', () => {
  it('round-trips every byte through a file', () => {
    const image = randomImage(13, 7, 1);
    const path = join(mkdtempSync(join(tmpdir(), 'data-image-')), 'random.png');
    writePng(path, image);
    const back = readPng(path);
    expect(back.width).toBe(13);
    expect(back.height).toBe(7);
    expect(Buffer.from(back.data).equals(Buffer.from(image.data))).toBe(true);
  });

  it('stores RGB in HWC order', () => {
    const image = createImage(2, 1, [1, 2, 3]);
    image.data.set([200, 100, 50], 3); // pixel (1, 0)
    expect(Array.from(decodePng(encodePng(image), 'x.png').data)).toEqual([1, 2, 3, 200, 100, 50]);
  });

  it('names the file and says it is not a PNG', () => {
    expect(() => decodePng(Buffer.from('hello, world'), 'notes.txt')).toThrow(/^notes\.txt: not a PNG/);
  });

  it('says a JPEG must be converted', () => {
    expect(() => decodePng(Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 0x10]), 'photo.jpg')).toThrow(/photo\.jpg: is a JPEG.*convert/);
  });

  it('reports a cut-off file as truncated', () => {
    const bytes = encodePng(randomImage(32, 32, 2));
    expect(() => decodePng(bytes.subarray(0, bytes.length - 30), 'cut.png')).toThrow(/^cut\.png: truncated PNG/);
    expect(() => decodePng(bytes.subarray(0, 40), 'cut.png')).toThrow(/^cut\.png: truncated PNG/);
  });

  it('reports corrupt data with the file name', () => {
    const bytes = Buffer.from(encodePng(randomImage(8, 8, 3)));
    bytes[45] ^= 0xff; // inside the IDAT data (signature 8 + IHDR 25 + IDAT header 8): its CRC no longer matches
    expect(() => decodePng(bytes, 'bad.png')).toThrow(/^bad\.png: unsupported or corrupt PNG/);
  });

  it('names a missing file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'data-image-'));
    expect(() => readPng(join(dir, 'nowhere.png'))).toThrow(/nowhere\.png: cannot read image/);
    writeFileSync(join(dir, 'empty.png'), '');
    expect(() => readPng(join(dir, 'empty.png'))).toThrow(/empty\.png: empty file, expected a PNG/);
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
