// COCO as distributed: an annotation file of any name, its JPEGs in a folder of their own (--images), training with
// worker threads. The spawned runs use the built CLI (dist/), as a user does: worker threads run compiled modules.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { beforeAll, describe, expect, test } from 'vitest';
import { smpr } from './cli-run.js';
import { writeSynthDataset } from '../src/data/synth/write.js';
import { readImage } from '../src/data/image-file.js';
import type { CocoKeypointsJson } from '../src/coco/format.js';
import { loadCocoDataset } from '../src/data/coco.js';
import { BatchLoader } from '../src/train/batch-loader.js';
import { createImage } from '../src/data/image.js';
import { writePng } from '../src/data/png.js';

const dir = mkdtempSync(join(tmpdir(), 'smpr-coco-jpeg-'));
const annotations = join(dir, 'person_keypoints_tiny.json');
const images = join(dir, 'tiny2017');
const cli = join(process.cwd(), 'dist', 'src', 'cli', 'main.js');

/** A synthetic set rewritten as COCO ships: `<name>.json` beside a folder of `.jpg` files. */
beforeAll(async () => {
  const synth = join(dir, 'synth');
  writeSynthDataset(synth, { images: 6, width: 64, height: 64, seed: 5, personScale: [0.6, 0.9] });
  const json = JSON.parse(readFileSync(join(synth, 'annotations.json'), 'utf8')) as CocoKeypointsJson;
  mkdirSync(images);
  for (const image of json.images) {
    const pixels = await readImage(join(synth, 'images', image.file_name));
    image.file_name = image.file_name.replace(/\.png$/, '.jpg');
    await sharp(Buffer.from(pixels.data), { raw: { width: pixels.width, height: pixels.height, channels: 3 } }).jpeg({ quality: 90 }).toFile(join(images, image.file_name));
  }
  writeFileSync(annotations, JSON.stringify(json));
});

function run(...args: string[]): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => void (stderr += chunk.toString()));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, stderr })));
}

const log = (runDir: string) => readFileSync(join(runDir, 'log.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { loss: number; initPositives: number; imagesPerSecond: number });

describe('a COCO-layout folder of JPEGs', () => {
  test('trains, evaluates and predicts', async () => {
    const train = await smpr('train', '--data', annotations, '--images', images, '--out', join(dir, 'run'), '--max-iters', '2', '--batch', '2', '--log-every', '1');
    expect(train.code, train.stderr).toBe(0);
    const evaluation = await smpr('eval', '--weights', join(dir, 'run', 'last.safetensors'), '--data', annotations, '--images', images);
    expect(evaluation.code, evaluation.stderr).toBe(0);
    expect(evaluation.stdout).toMatch(/Average Precision {2}\(AP\) @\[ IoU=0\.50:0\.95 \| area= {3}all \| maxDets= 20 \] = \d\.\d{3}/);
    const predict = await smpr('predict', '--out', join(dir, 'pred'), join(images, '000001.jpg'));
    expect(predict.code, predict.stderr).toBe(0);
    expect(existsSync(join(dir, 'pred', '000001.pose.png'))).toBe(true);
  });

  test('a missing --images folder is one line, exit code 2', async () => {
    const { code, stderr } = await smpr('eval', '--data', annotations, '--images', join(dir, 'nowhere'));
    expect(code).toBe(2);
    expect(stderr.trim()).toMatch(/^smpr: --images .*nowhere: no such folder$/);
  });

  test('training with worker threads sees the same batches as without (the built CLI)', async () => {
    expect(existsSync(cli), `${cli} is missing: npm install (or npm run build) builds it`).toBe(true);
    const common = ['train', '--data', annotations, '--images', images, '--max-iters', '4', '--batch', '2', '--log-every', '1'];
    const [inline, threaded] = await Promise.all([
      run(...common, '--workers', '0', '--out', join(dir, 'w0')),
      run(...common, '--workers', '2', '--out', join(dir, 'w2')),
    ]);
    expect(inline.code, inline.stderr).toBe(0);
    expect(threaded.code, threaded.stderr).toBe(0);
    // Same batches, so the same run, bit for bit (all but the speed).
    const [a, b] = [log(join(dir, 'w0')), log(join(dir, 'w2'))].map((lines) => lines.map(({ imagesPerSecond, ...rest }) => rest));
    expect(a).toHaveLength(4);
    expect(b).toEqual(a);
  });

  test("an image that fails to decode in a worker thread is the same one-line user error as on the main thread (the built CLI)", async () => {
    // Headers intact (the pre-run check reads only those), pixel data damaged: the error arises inside the job. A worker
    // posts it back as a message; rebuilt there as a plain Error it would print as a bug with its stack, exit code 1.
    const broken = join(dir, 'broken');
    writeSynthDataset(broken, { images: 2, width: 64, height: 64, seed: 9, personScale: [0.6, 0.9] });
    for (const name of ['000001.png', '000002.png']) {
      const path = join(broken, 'images', name);
      const bytes = readFileSync(path);
      bytes[45]! ^= 0xff; // inside the IDAT data (signature 8 + IHDR 25 + IDAT header 8): its CRC no longer matches
      writeFileSync(path, bytes);
    }
    const common = ['train', '--data', broken, '--max-iters', '1', '--batch', '2'];
    const [inline, threaded] = await Promise.all([run(...common, '--workers', '0', '--out', join(dir, 'b0')), run(...common, '--workers', '1', '--out', join(dir, 'b1'))]);
    for (const { code, stderr } of [inline, threaded]) {
      expect(code, stderr).toBe(2);
      expect(stderr.trim()).toMatch(/^smpr: .*broken[/\\]images[/\\]00000[12]\.png: unsupported or corrupt PNG \([^\n]*\)$/);
    }
  });

  test('an epoch draws every image once: its batches are consecutive, non-overlapping runs of an order shuffled anew each epoch', async () => {
    // Each image repainted one flat grey of its own, so that any pixel of a sample tells which image it came from.
    const dir = join(mkdtempSync(join(tmpdir(), 'smpr-epoch-')), 'data');
    writeSynthDataset(dir, { images: 6, width: 64, height: 64, seed: 5, personScale: [0.6, 0.9] });
    const data = loadCocoDataset(dir);
    data.json.images.forEach((image, i) => writePng(join(dir, 'images', image.file_name), createImage(image.width, image.height, [40 * i, 40 * i, 40 * i])));
    const loader = new BatchLoader({ data, batchSize: 2, seed: 1, transform: { scale: { long: 64, short: 64 } }, workers: 0, endIter: 6 });
    const epochs: number[][] = [];
    for (let epoch = 0; epoch < 2; epoch++) {
      const firstPixels: number[] = [];
      for (let iter = 3 * epoch; iter < 3 * epoch + 3; iter++) for (const input of await loader.batch(iter)) firstPixels.push(input.image.data[0]!);
      expect(new Set(firstPixels).size, `epoch ${epoch}: ${firstPixels}`).toBe(6);
      epochs.push(firstPixels);
    }
    // Each epoch is shuffled anew.
    expect(epochs[1]).not.toEqual(epochs[0]);
    await loader.close();
  });

  test('a batch is a function of (seed, iteration): the same whether loaded in order, ahead, or alone', async () => {
    const data = loadCocoDataset(annotations, { imageDir: images });
    const transform = { scale: { long: 107, short: 64 }, crop: { height: 64, width: 64 } };
    const options = { data, batchSize: 2, seed: 3, transform, workers: 0, endIter: 6 };
    const inOrder = new BatchLoader({ ...options, prefetch: 2 });
    const batches = [];
    for (let iter = 0; iter < 5; iter++) batches.push(await inOrder.batch(iter));
    const alone = await new BatchLoader(options).batch(4);
    const bytes = (batch: typeof alone) => batch.map((input) => Buffer.from(input.image.data.buffer).toString('base64'));
    expect(bytes(alone)).toEqual(bytes(batches[4]!));
    expect(bytes(batches[3]!)).not.toEqual(bytes(batches[4]!));
    expect(alone.map((input) => input.people.length)).toEqual(batches[4]!.map((input) => input.people.length));
  });
});
