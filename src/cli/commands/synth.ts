import { SYNTH_DEFAULTS } from '../../data/synth/dataset.js';
import { writeSynthDataset } from '../../data/synth/write.js';
import { defineCommand } from '../args.js';
import { UsageError } from '../errors.js';
import { prepareFolder } from '../../io/folders.js';
import { MAX_IMAGE_PIXELS } from '../../data/image.js';

// The side of the largest square image that train, eval and predict read back (image.ts's pixel limit).
const MAX_SIZE = Math.floor(Math.sqrt(MAX_IMAGE_PIXELS));

export const synthCommand = defineCommand({
  name: 'synth',
  summary: 'write a synthetic multi-person COCO keypoints dataset (PNG images + annotations.json)',
  flags: {
    out: { type: 'string', required: true, description: 'output folder', valueName: 'DIR' },
    images: { type: 'number', integer: true, min: 1, default: 100, description: 'number of images' },
    seed: { type: 'number', integer: true, min: 0, max: 2 ** 32 - 1, default: 1, description: 'random seed (the same seed gives the same images)' },
    size: { type: 'number', integer: true, min: 32, max: MAX_SIZE, default: SYNTH_DEFAULTS.width, description: 'image width and height in pixels' },
    'max-people': { type: 'number', integer: true, min: 1, default: SYNTH_DEFAULTS.maxPeople, description: 'people per image: 1..N' },
    'min-scale': { type: 'number', min: 0.01, max: 1, default: SYNTH_DEFAULTS.personScale[0], description: 'smallest person height, as a fraction of the image height' },
    'max-scale': { type: 'number', min: 0.01, max: 2, default: SYNTH_DEFAULTS.personScale[1], description: 'largest person height, as a fraction of the image height' },
  },
  run({ flags }) {
    if (flags['min-scale'] > flags['max-scale']) {
      throw new UsageError(`--min-scale ${flags['min-scale']} is above --max-scale ${flags['max-scale']}`, 'synth');
    }
    prepareFolder('--out', flags.out);
    const dataset = writeSynthDataset(flags.out, { images: flags.images, seed: flags.seed, width: flags.size, height: flags.size, maxPeople: flags['max-people'], personScale: [flags['min-scale'], flags['max-scale']] });
    process.stdout.write(`wrote ${dataset.coco.images.length} images with ${dataset.coco.annotations.length} people to ${flags.out}\n`);
  },
});
