/**
 * The training data pipeline alone, on COCO-sized JPEGs at the r50 input: how many images per second the batch
 * loader delivers (read, decode, resize to (1333, 800), flip, crop 800², normalise, pad), by number of worker
 * threads. A training step needs images at its own rate; this is the ceiling the loader puts on it. CPU ms per
 * image (all threads) says how many cores that ceiling needs: 1000 / it is the img/s of one core.
 *
 *   node dist/bench/loader.js [--images 64] [--batches 16] [--batch 2] [--workers 0,1,2]
 *
 * The images are synthetic scenes drawn at 640×480 and stored as JPEG at quality 90 (COCO's median is 640×480,
 * about 160 KB; these are smaller files of the same pixel count, so decoding costs about the same). JSON on
 * stdout, a table on stderr.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { writeSynthDataset } from '../src/data/synth/write.js';
import type { CocoKeypointsJson } from '../src/coco/format.js';
import { loadCocoDataset } from '../src/data/coco.js';
import { readImage } from '../src/data/image-file.js';
import { PRESETS } from '../src/smpr/config.js';
import { BatchLoader } from '../src/train/batch-loader.js';
import { flag } from './flags.js';

const images = Number(flag('images') ?? '64');
const batches = Number(flag('batches') ?? '16');
const batchSize = Number(flag('batch') ?? '2');
const workerCounts = (flag('workers') ?? '0,1,2').split(',').map(Number);

const dir = mkdtempSync(join(tmpdir(), 'smpr-loader-bench-'));
try {
  const synth = join(dir, 'png');
  writeSynthDataset(synth, { images, width: 640, height: 480, seed: 11, personScale: [0.3, 0.9] });
  const json = JSON.parse(readFileSync(join(synth, 'annotations.json'), 'utf8')) as CocoKeypointsJson;
  mkdirSync(join(dir, 'jpeg'));
  let bytes = 0;
  for (const image of json.images) {
    const pixels = await readImage(join(synth, 'images', image.file_name));
    image.file_name = image.file_name.replace(/\.png$/, '.jpg');
    const path = join(dir, 'jpeg', image.file_name);
    await sharp(Buffer.from(pixels.data), { raw: { width: 640, height: 480, channels: 3 } }).jpeg({ quality: 90 }).toFile(path);
    bytes += statSync(path).size;
  }
  writeFileSync(join(dir, 'annotations.json'), JSON.stringify(json));
  const data = loadCocoDataset(join(dir, 'annotations.json'), { imageDir: join(dir, 'jpeg') });

  const config = PRESETS.r50;
  const transform = {
    scale: { long: 1333, short: config.inputSize },
    crop: { height: config.inputSize, width: config.inputSize },
    normalization: config.normalization,
  };
  const rows = [];
  for (const workers of workerCounts) {
    const loader = new BatchLoader({ data, batchSize, seed: 1, transform, workers, endIter: batches + 1 });
    await loader.batch(0); // workers started, first batch in
    const start = performance.now();
    const cpuStart = process.cpuUsage();
    for (let iter = 1; iter <= batches; iter++) await loader.batch(iter);
    const seconds = (performance.now() - start) / 1000;
    const cpu = process.cpuUsage(cpuStart);
    await loader.close();
    const count = batches * batchSize;
    // CPU time covers every thread of the process (workers, libuv's decoders): a measure that a busy machine barely moves.
    rows.push({ workers, imagesPerSecond: count / seconds, msPerImage: (seconds * 1000) / count, cpuMsPerImage: (cpu.user + cpu.system) / 1000 / count });
  }
  const report = { cores: availableParallelism(), input: config.inputSize, images, meanJpegBytes: Math.round(bytes / images), batchSize, batches, rows };
  process.stdout.write(JSON.stringify(report) + '\n');
  process.stderr.write(`loader, ${images} JPEGs 640×480 (mean ${(report.meanJpegBytes / 1024).toFixed(0)} KB) → ${config.inputSize}² crops, ${report.cores} cores\n`);
  process.stderr.write('workers | img/s | ms/img | CPU ms/img\n');
  for (const row of rows) process.stderr.write(`${String(row.workers).padStart(7)} | ${row.imagesPerSecond.toFixed(1).padStart(5)} | ${row.msPerImage.toFixed(1).padStart(6)} | ${row.cpuMsPerImage.toFixed(1)}\n`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
