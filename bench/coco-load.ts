/**
 * Loading a COCO keypoints file of train2017's size: seconds and memory.
 *
 *   node dist/bench/coco-load.js [--images 118287] [--annotations 262465]
 *
 * The file is generated with person_keypoints_train2017.json's counts and field layout: polygons of 2-decimal
 * coordinates for most people (about 600 bytes each, as there), an RLE mask for the crowds (1 %), and images
 * without people (64 % of train2017's carry none). Then a fresh process runs `loadCocoDataset` on it (read, parse,
 * validate, index); the time, the peak growth of its resident set and the heap left after are reported. JSON on stdout, a line on stderr.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { personCategory } from '../src/coco/format.js';
import { loadCocoDataset } from '../src/data/coco.js';
import { Random } from '../src/tensor/random.js';
import { flag } from './flags.js';

const loadPath = flag('load');
if (loadPath !== undefined) {
  // The measuring child: nothing else allocated in it.
  const path = loadPath;
  const rssBefore = process.memoryUsage().rss;
  const start = performance.now();
  const dataset = loadCocoDataset(path);
  const seconds = (performance.now() - start) / 1000;
  const peakRss = process.resourceUsage().maxRSS * 1024;
  globalThis.gc?.();
  const { heapUsed, rss } = process.memoryUsage();
  process.stdout.write(JSON.stringify({
    images: dataset.json.images.length, annotations: dataset.json.annotations.length, fileMB: statSync(path).size / 1e6, seconds,
    peakRssGrowthMB: (peakRss - rssBefore) / 1e6, heapAfterMB: heapUsed / 1e6, rssAfterMB: rss / 1e6,
  }) + '\n');
  process.exit(0);
}

const imageCount = Number(flag('images') ?? 118_287);
const annotationCount = Number(flag('annotations') ?? 262_465);
const rng = new Random(5);
const round2 = (v: number) => Math.round(v * 100) / 100;

const images = Array.from({ length: imageCount }, (_, i) => ({
  id: i + 1, file_name: `${String(i + 1).padStart(12, '0')}.jpg`, width: 640, height: 480,
  license: 1, coco_url: `http://images.cocodataset.org/train2017/${String(i + 1).padStart(12, '0')}.jpg`, date_captured: '2013-11-14 11:18:45', flickr_url: '',
}));
const withPeople = Math.round(imageCount * 0.36);
const annotations = Array.from({ length: annotationCount }, (_, i) => {
  const crowd = rng.chance(0.01);
  const [x, y, w, h] = [rng.uniform(0, 500), rng.uniform(0, 300), rng.uniform(10, 140), rng.uniform(20, 180)];
  const keypoints: number[] = [];
  let labelled = 0;
  for (let k = 0; k < 17; k++) {
    const v = crowd || rng.chance(0.45) ? 0 : 2;
    keypoints.push(v ? Math.round(x + rng.uniform(0, w)) : 0, v ? Math.round(y + rng.uniform(0, h)) : 0, v);
    if (v) labelled++;
  }
  const segmentation = crowd
    ? { counts: Array.from({ length: 120 }, () => rng.int(1, 900)), size: [480, 640] }
    : [Array.from({ length: 80 }, (_, j) => round2(j % 2 ? y + rng.uniform(0, h) : x + rng.uniform(0, w)))];
  return {
    segmentation, num_keypoints: labelled, area: round2(w * h * 0.5), iscrowd: crowd ? 1 : 0, keypoints,
    image_id: 1 + Math.floor(rng.next() * withPeople), bbox: [round2(x), round2(y), round2(w), round2(h)], category_id: 1, id: i + 1,
  };
});
const json = { info: { description: 'COCO-sized synthetic', year: 2017 }, licenses: [{ id: 1, name: 'x', url: '' }], images, annotations, categories: [personCategory()] };

const dir = mkdtempSync(join(tmpdir(), 'smpr-coco-load-'));
try {
  const path = join(dir, 'person_keypoints_train2017.json');
  writeFileSync(path, JSON.stringify(json));
  const child = spawnSync(process.execPath, ['--expose-gc', process.argv[1]!, '--load', path], { encoding: 'utf8' });
  if (child.status !== 0) throw new Error(child.stderr);
  const report = JSON.parse(child.stdout) as Record<string, number>;
  process.stdout.write(JSON.stringify(report) + '\n');
  process.stderr.write(`loadCocoDataset: ${report.annotations} annotations, ${report.images} images, ${report.fileMB!.toFixed(0)} MB file: ${report.seconds!.toFixed(2)} s, peak resident set +${report.peakRssGrowthMB!.toFixed(0)} MB, heap ${report.heapAfterMB!.toFixed(0)} MB after\n`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
