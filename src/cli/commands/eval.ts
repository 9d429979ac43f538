import { STAT_NAMES, cocoKeypointEval, formatCocoKeypointSummary } from '../../coco/eval.js';
import { CocoFormatError, validateCocoResults, type CocoKeypointResult } from '../../coco/format.js';
import type { CocoDataset } from '../../data/coco.js';
import { UserError } from '../../errors.js';
import { jsonSyntaxMessage, readUserFile, withoutBom } from '../../io/read-file.js';
import { writeOutputFile } from '../../io/atomic.js';
import { evaluateDataset } from '../../smpr/evaluate.js';
import { defineCommand, refuseEmptyPaths } from '../args.js';
import { UsageError } from '../errors.js';
import { CONFIG_FOR_WEIGHTS_FLAG, SHIPPED_WEIGHTS, SHIPPED_WEIGHTS_NOTE, loadModel, oneLine, openDataset } from '../model-io.js';
import { prepareFileFor, refuseOverwrite } from '../../io/folders.js';
import { progressBar } from '../progress.js';

export const evalCommand = defineCommand({
  name: 'eval',
  summary: 'COCO keypoint AP/AR of a checkpoint (or of a results file) on a dataset (pycocotools-exact), as a table and JSON',
  flags: {
    weights: { type: 'string', default: SHIPPED_WEIGHTS, description: `checkpoint (.safetensors, or a .pth with --config); ${SHIPPED_WEIGHTS_NOTE}`, valueName: 'FILE' },
    config: CONFIG_FOR_WEIGHTS_FLAG,
    data: { type: 'string', required: true, description: 'dataset folder or annotation file', valueName: 'DIR' },
    images: { type: 'string', description: "folder of --data's images (default: images/ beside the annotation file)", valueName: 'DIR' },
    results: { type: 'string', description: "evaluate this COCO keypoint results file (another model's, or `smpr predict --data`'s) instead of running a model", valueName: 'FILE' },
    json: { type: 'string', description: 'also write the numbers (and the detections) to this JSON file', valueName: 'FILE' },
    flip: { type: 'boolean', description: 'flip test' },
    nms: { type: 'string', choices: ['soft', 'oks'], default: 'soft', description: 'NMS flavour' },
    'cls-only': { type: 'boolean', description: 'rank by cls alone (the "without PSM" ablation)' },
    'initial-pose': { type: 'boolean', description: 'decode the initial poses instead of the refined ones' },
  },
  async run({ flags }) {
    refuseEmptyPaths('eval', { weights: flags.weights, data: flags.data, images: flags.images, results: flags.results });
    if (flags.json !== undefined) prepareFileFor('--json', flags.json);
    const data = openDataset(flags.data, flags.images);
    if (flags.json !== undefined) {
      for (const input of [data.annotationsPath, flags.results ?? flags.weights]) refuseOverwrite('--json', flags.json, input);
    }
    let evaluation: { stats: number[]; results: CocoKeypointResult[]; seconds?: number };
    if (flags.results !== undefined) {
      const modelFlags = [
        ...(['flip', 'cls-only', 'initial-pose'] as const).filter((name) => flags[name]),
        ...(flags.weights !== SHIPPED_WEIGHTS ? ['weights'] : []), ...(flags.config !== undefined ? ['config'] : []), ...(flags.nms !== 'soft' ? ['nms'] : []),
      ];
      if (modelFlags.length > 0) throw new UsageError(`--${modelFlags[0]} is about running a model; with --results there is none`, 'eval');
      const results = readResults(flags.results, data);
      evaluation = { stats: cocoKeypointEval(data.json, results, { sigmas: data.spec.sigmas }).stats, results };
    } else {
      const model = await loadModel(flags.weights, flags.config);
      evaluation = await evaluateDataset(model, data, {
        progress: progressBar('eval', 'img'), flip: flags.flip, nms: flags.nms as 'soft' | 'oks', usePoseScore: !flags['cls-only'], useInitialPose: flags['initial-pose'],
      });
    }
    process.stdout.write(formatCocoKeypointSummary(evaluation.stats) + '\n');
    if (evaluation.stats.includes(-1)) {
      process.stdout.write('(-1: no ground-truth person in that area range, so the number is undefined; COCO prints -1 too)\n');
    }
    const numbers = Object.fromEntries(STAT_NAMES.map((name, i) => [name, evaluation.stats[i]]));
    process.stdout.write(JSON.stringify(numbers) + '\n');
    if (flags.json) writeOutputFile(flags.json, JSON.stringify({ stats: numbers, images: data.json.images.length, seconds: evaluation.seconds, results: evaluation.results }));
  },
});

/** A results file, checked against the dataset's keypoint count and image ids (each problem named, one line). */
function readResults(file: string, data: CocoDataset): CocoKeypointResult[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(withoutBom(readUserFile(file).toString('utf8')));
  } catch (error) {
    if (error instanceof SyntaxError) throw new UserError(`${file}: not valid JSON (${jsonSyntaxMessage(error)})`);
    throw error;
  }
  try {
    return validateCocoResults(parsed, file, data.spec.names.length, new Set(data.json.images.map((image) => image.id)));
  } catch (error) {
    if (error instanceof CocoFormatError) throw new UserError(oneLine(error.message));
    throw error;
  }
}
