import { writeFileSync } from 'node:fs';
import { STAT_NAMES, formatCocoKeypointSummary } from '../../coco/eval.js';
import { evaluateDataset } from '../../smpr/evaluate.js';
import { defineCommand } from '../args.js';
import { CONFIG_FOR_WEIGHTS_FLAG, SHIPPED_WEIGHTS, loadModel, openDataset } from '../model-io.js';
import { prepareFileFor } from '../../io/folders.js';
import { progressBar } from '../progress.js';

export const evalCommand = defineCommand({
  name: 'eval',
  summary: 'COCO keypoint AP/AR of a checkpoint on a dataset (pycocotools-exact), as a table and JSON',
  flags: {
    weights: { type: 'string', default: SHIPPED_WEIGHTS, description: 'checkpoint (.safetensors, or a .pth with --config); default: the shipped tiny model', valueName: 'FILE' },
    config: CONFIG_FOR_WEIGHTS_FLAG,
    data: { type: 'string', required: true, description: 'dataset folder or annotation file', valueName: 'DIR' },
    images: { type: 'string', description: "folder of --data's images (default: images/ beside the annotation file)", valueName: 'DIR' },
    json: { type: 'string', description: 'also write the numbers (and the detections) to this JSON file', valueName: 'FILE' },
    flip: { type: 'boolean', description: 'flip test' },
    nms: { type: 'string', choices: ['soft', 'oks'], default: 'soft', description: 'NMS flavour' },
    'cls-only': { type: 'boolean', description: 'rank by cls alone (the "without PSM" ablation)' },
    'initial-pose': { type: 'boolean', description: 'decode the initial poses instead of the refined ones' },
  },
  async run({ flags }) {
    if (flags.json) prepareFileFor('--json', flags.json);
    const data = openDataset(flags.data, flags.images);
    const model = await loadModel(flags.weights, flags.config);
    const evaluation = await evaluateDataset(model, data, {
      progress: progressBar('eval', 'img'), flip: flags.flip, nms: flags.nms as 'soft' | 'oks', usePoseScore: !flags['cls-only'], useInitialPose: flags['initial-pose'],
    });
    process.stdout.write(formatCocoKeypointSummary(evaluation.stats) + '\n');
    if (evaluation.stats.includes(-1)) {
      process.stdout.write('(-1: no ground-truth person in that area range, so the number is undefined; COCO prints -1 too)\n');
    }
    const numbers = Object.fromEntries(STAT_NAMES.map((name, i) => [name, evaluation.stats[i]]));
    process.stdout.write(JSON.stringify(numbers) + '\n');
    if (flags.json) writeFileSync(flags.json, JSON.stringify({ stats: numbers, images: data.json.images.length, seconds: evaluation.seconds, results: evaluation.results }));
  },
});
