/**
 * The numbers behind the synthetic benchmark's design (`smpr synth` defaults and the `tiny` preset's levels),
 * CPU only: `node dist/bench/synth-design.js [--images N] [--seed S]`.
 *
 *  - Positives per level: how many locations the FCOS assigner gives each pyramid level, for the tiny preset's
 *    ranges and for alternatives. A level without positives is dead weight.
 *  - The metric's strictness: the AP of the ground truth with Gaussian noise of σ px added to every coordinate
 *    (one detection per person, every person found). This is the ceiling a model with that precision reaches.
 *  - The people: box heights and areas, and the share under COCO's 32² "small" line (which COCO's keypoint
 *    metric does not report separately, but which sets the OKS tolerance in pixels).
 *
 * JSON on stdout, a table on stderr.
 */
import { generateSynthDataset, SYNTH_DEFAULTS } from '../src/data/synth/dataset.js';
import { toTrainingPeople } from '../src/coco/person.js';
import { buildBatchTargets } from '../src/smpr/targets.js';
import { PRESETS } from '../src/smpr/config.js';
import { COCO_KEYPOINTS } from '../src/coco/keypoints.js';
import { cocoKeypointEval } from '../src/coco/eval.js';
import type { CocoKeypointResult } from '../src/coco/format.js';
import { Random } from '../src/tensor/random.js';
import type { LevelSpec } from '../src/smpr/levels.js';
import { flag } from './flags.js';

const images = Number(flag('images') ?? 256);
const seed = Number(flag('seed') ?? 777);
const size = Number(flag('size') ?? SYNTH_DEFAULTS.width);
const maxPeople = Number(flag('max-people') ?? SYNTH_DEFAULTS.maxPeople);
const personScale = [Number(flag('min-scale') ?? SYNTH_DEFAULTS.personScale[0]), Number(flag('max-scale') ?? SYNTH_DEFAULTS.personScale[1])] as const;
const [width, height] = [size, size];
const dataset = generateSynthDataset({ images, seed, width, height, maxPeople, personScale });

// -- positives per level -----------------------------------------------------------------------------------------
const byImage = dataset.coco.images.map((image) => toTrainingPeople(dataset.coco.annotations.filter((a) => a.image_id === image.id)));
const tinyLevels = PRESETS.tiny.levels;
const withRanges = (bounds: readonly number[]): LevelSpec[] =>
  tinyLevels.map((level, i) => ({ stride: level.stride, range: [i === 0 ? -1 : bounds[i - 1]!, i === bounds.length ? 1e8 : bounds[i]!] as const }));
const candidates: Record<string, LevelSpec[]> = {
  'tiny preset': [...tinyLevels],
  'FCOS 800-px ranges (64, 128)': withRanges([64, 128]),
  'ranges (24, 48)': withRanges([24, 48]),
  'ranges (32, 64)': withRanges([32, 64]),
};
const positives: Record<string, number[]> = {};
for (const [name, levels] of Object.entries(candidates)) {
  const counts = levels.map(() => 0);
  for (const people of byImage) {
    const targets = buildBatchTargets([people], height, width, levels, COCO_KEYPOINTS);
    for (const [i, level] of targets.grid.levels.entries()) {
      for (let p = level.start; p < level.start + level.height * level.width; p++) counts[i]! += targets.initPos[p]!;
    }
  }
  positives[name] = counts;
}

// -- the people ---------------------------------------------------------------------------------------------------
const gt = dataset.coco.annotations.filter((a) => a.num_keypoints > 0);
const heights = gt.map((a) => a.bbox[3]).sort((a, b) => a - b);
const areas = gt.map((a) => a.area).sort((a, b) => a - b);
const quantile = (xs: number[], q: number) => xs[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;
const people = {
  count: gt.length,
  perImage: gt.length / images,
  boxHeight: { p10: quantile(heights, 0.1), median: quantile(heights, 0.5), p90: quantile(heights, 0.9) },
  area: { p10: quantile(areas, 0.1), median: quantile(areas, 0.5), p90: quantile(areas, 0.9) },
  underSmall: areas.filter((a) => a < 32 * 32).length / areas.length,
  underMedium: areas.filter((a) => a < 96 * 96).length / areas.length,
};

// -- ground truth plus noise --------------------------------------------------------------------------------------
const noiseAp: Record<string, number[]> = {};
for (const sigma of [0, 1, 2, 3, 4]) {
  const rng = new Random(seed + 1);
  const results: CocoKeypointResult[] = gt.map((a) => ({
    image_id: a.image_id,
    category_id: 1,
    keypoints: a.keypoints.map((v, j) => (j % 3 === 2 ? 1 : v + sigma * rng.normal())),
    score: rng.next(),
  }));
  const { stats } = cocoKeypointEval(dataset.coco, results);
  noiseAp[`σ = ${sigma} px`] = stats.slice(0, 3);
}

const report = { images, seed, size: [width, height], maxPeople, personScale, people, positives, noiseAp };
process.stdout.write(JSON.stringify(report, null, 2) + '\n');
const lines = [
  `synthetic benchmark: ${images} images ${width}×${height}, seed ${seed}, 1–${maxPeople} people, heights ${personScale.join('–')} of the image`,
  `people: ${people.count} (${people.perImage.toFixed(2)}/image); box height p10/median/p90 ${people.boxHeight.p10}/${people.boxHeight.median}/${people.boxHeight.p90} px; area median ${people.area.median} px²; ${(100 * people.underSmall).toFixed(0)} % under 32²`,
  '',
  '| level ranges | ' + tinyLevels.map((l) => `P${Math.log2(l.stride)} positives`).join(' | ') + ' |',
  '|---|' + tinyLevels.map(() => '---').join('|') + '|',
  ...Object.entries(positives).map(([name, counts]) => `| ${name} | ${counts.join(' | ')} |`),
  '',
  '| ground truth + noise | AP | AP50 | AP75 |',
  '|---|---|---|---|',
  ...Object.entries(noiseAp).map(([name, s]) => `| ${name} | ${s.map((v) => v.toFixed(3)).join(' | ')} |`),
];
process.stderr.write(lines.join('\n') + '\n');
