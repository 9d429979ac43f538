import { writeFileSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { mkdirSync } from 'node:fs';
import { cloneImage, readPng, writePng } from '../../data/image.js';
import { drawPoses } from '../../data/draw.js';
import type { CocoKeypointResult } from '../../smpr/coco-eval.js';
import { predictImage } from '../../smpr/predict.js';
import { defineCommand } from '../args.js';
import { UserError } from '../errors.js';
import { SHIPPED_WEIGHTS, loadModel } from '../model-io.js';

export const predictCommand = defineCommand({
  name: 'predict',
  summary: 'find people in PNG images: COCO results JSON plus an overlay PNG per image',
  flags: {
    weights: { type: 'string', default: SHIPPED_WEIGHTS, description: 'checkpoint (.safetensors) written by smpr train or smpr export; default: the shipped tiny model', valueName: 'FILE' },
    out: { type: 'string', default: 'predictions', description: 'folder for results.json and the overlays', valueName: 'DIR' },
    'min-score': { type: 'number', min: 0, max: 1, default: 0.1, description: 'draw only people scoring above this' },
    flip: { type: 'boolean', description: 'also run on the flipped image and merge (flip test)' },
    nms: { type: 'string', choices: ['soft', 'oks'], default: 'soft', description: "'soft': linear soft-NMS on keypoint boxes (the authors' code); 'oks': OKS-NMS (the paper)" },
  },
  positionals: [{ name: 'IMAGE', description: 'PNG images', variadic: true }],
  async run({ flags, positionals }) {
    const model = await loadModel(flags.weights);
    mkdirSync(flags.out, { recursive: true });
    const all: CocoKeypointResult[] = [];
    for (const [i, path] of positionals.entries()) {
      let image;
      try {
        image = readPng(path);
      } catch (error) {
        throw new UserError(error instanceof Error ? error.message : String(error));
      }
      const people = await predictImage(model, image, i + 1, { flip: flags.flip, nms: flags.nms as 'soft' | 'oks' });
      all.push(...people);
      const overlay = cloneImage(image);
      drawPoses(overlay, people.filter((p) => p.score > flags['min-score']), model.config.keypoints, { scoreText: true });
      const overlayPath = join(flags.out, `${basename(path, extname(path))}.pose.png`);
      writePng(overlayPath, overlay);
      const shown = people.filter((p) => p.score > flags['min-score']).length;
      process.stdout.write(`${path}: ${shown} people above ${flags['min-score']} (${people.length} detections) → ${overlayPath}\n`);
    }
    writeFileSync(join(flags.out, 'results.json'), JSON.stringify(all));
  },
});
