/**
 * The main job: everything end to end on a bare machine, in about a minute on a software GPU (the README's quick
 * start has the times measured). Generates a fresh synthetic dataset, trains the tiny model on it from scratch for 192 iterations by
 * default (long enough to watch the loss fall, not to learn poses), then evaluates both that model and the shipped
 * checkpoint (the same preset trained for longer) on held-out images, and draws the shipped model's predictions.
 */
import { join } from 'node:path';
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { SYNTH_DEFAULTS } from '../../data/synth/dataset.js';
import { synthMayReplace, writeSynthDataset } from '../../data/synth/write.js';
import { loadCocoSample } from '../../data/coco.js';
import { formatCocoKeypointSummary } from '../../coco/eval.js';
import { gradClipOf, smprConfig } from '../../smpr/config.js';
import { evaluateDataset } from '../../smpr/evaluate.js';
import { parameterReport } from '../../smpr/model.js';
import { predictImage } from '../../smpr/predict.js';
import { train } from '../../train/trainer.js';
import { RECIPES, defaultDecayEpochs } from '../../train/recipes.js';
import { UserError } from '../../errors.js';
import { prepareFolder } from '../../io/folders.js';
import { defineCommand } from '../args.js';
import { UsageError } from '../errors.js';
import { SHIPPED_WEIGHTS, loadCheckpointModel, openDataset, openGpu } from '../model-io.js';
import { progressBar } from '../progress.js';
import { writeOverlay } from '../overlay.js';

export const demoCommand = defineCommand({
  name: 'demo',
  summary: 'synthesise data, train the tiny model briefly, evaluate it and the shipped model, draw predictions (the quick start)',
  flags: {
    out: { type: 'string', default: 'runs/demo', description: 'folder for the data, the run and the pictures', valueName: 'DIR' },
    'train-images': { type: 'number', integer: true, min: 4, default: 256, description: 'synthetic training images' },
    'val-images': { type: 'number', integer: true, min: 1, default: 32, description: 'synthetic validation images' },
    epochs: { type: 'number', integer: true, min: 1, default: 6, description: 'training epochs' },
    batch: { type: 'number', integer: true, min: 1, default: RECIPES.scratch.batchSize, description: 'images per batch' },
    seed: { type: 'number', integer: true, min: 0, max: 2 ** 32 - 1, default: 0, description: 'random seed' },
    weights: { type: 'string', default: SHIPPED_WEIGHTS, description: 'the longer-trained checkpoint to compare with', valueName: 'FILE' },
  },
  async run({ flags }) {
    // Everything that can be wrong with the flags is found before the datasets are written and the model trained.
    if (flags.batch > flags['train-images']) throw new UsageError(`--batch ${flags.batch} is larger than --train-images ${flags['train-images']}`, 'demo');
    if (flags.weights !== SHIPPED_WEIGHTS && !existsSync(flags.weights)) throw new UserError(`--weights ${flags.weights}: no such checkpoint`);
    checkOwnFolders(flags.out);
    prepareFolder('--out', flags.out);
    const rt = await openGpu();
    const comparison = existsSync(flags.weights) ? await loadCheckpointModel(flags.weights) : null;
    process.stdout.write(`WebGPU device: ${rt.description}\n`);
    const trainDir = join(flags.out, 'train');
    const valDir = join(flags.out, 'val');
    writeSynthDataset(trainDir, { ...SYNTH_DEFAULTS, images: flags['train-images'], seed: 1000 + flags.seed });
    writeSynthDataset(valDir, { ...SYNTH_DEFAULTS, images: flags['val-images'], seed: 2000 + flags.seed });
    const config = smprConfig('tiny');
    const val = openDataset(valDir);

    const runDir = join(flags.out, 'run');
    rmSync(runDir, { recursive: true, force: true }); // the demo's own run of last time: each demo trains afresh
    const { model, records, iterations, curve } = await train({
      config, data: openDataset(trainDir), epochs: flags.epochs, batchSize: flags.batch, seed: flags.seed, optimizer: RECIPES.scratch.optimizer,
      lr: RECIPES.scratch.lr, warmupIters: 20, decayEpochs: defaultDecayEpochs(flags.epochs), clipNorm: gradClipOf(config), outDir: runDir, logEvery: 8,
      loss: { poseWeights: RECIPES.scratch.poseWeights }, progress: progressBar('train', 'it'),
    });
    process.stdout.write(parameterReport(model) + '\n');
    const first = records[0];
    const last = records.at(-1)!;
    process.stdout.write(`loss ${first.loss.toFixed(3)} → ${last.loss.toFixed(3)} over ${iterations} iterations${curve ? ` (curve: ${curve})` : ''}\n`);
    const brief = await evaluateDataset(model, val, { progress: progressBar('eval', 'img') });
    model.dispose();

    const rows: [string, number[]][] = [[`trained here from scratch, ${iterations} iterations`, brief.stats]];
    let shipped = null;
    if (comparison) {
      shipped = comparison.model;
      const evaluation = await evaluateDataset(shipped, val, { progress: progressBar('eval', 'img') });
      process.stdout.write(`shipped checkpoint ${flags.weights}:\n${formatCocoKeypointSummary(evaluation.stats)}\n`);
      rows.push(['shipped checkpoint (see the README)', evaluation.stats]);
    } else {
      process.stdout.write(`(no shipped checkpoint at ${flags.weights}: comparing with it is skipped)\n`);
    }
    process.stdout.write(`\nOKS AP on ${val.json.images.length} fresh synthetic images:\n`);
    for (const [label, stats] of rows) {
      process.stdout.write(`  ${label.padEnd(44)} AP ${stats[0].toFixed(3)}  AP50 ${stats[1].toFixed(3)}\n`);
    }

    if (shipped) {
      const picturesDir = join(flags.out, 'predictions');
      rmSync(picturesDir, { recursive: true, force: true }); // the demo's own pictures of last time
      mkdirSync(picturesDir, { recursive: true });
      for (const image of val.json.images.slice(0, 4)) {
        const sample = await loadCocoSample(val, image);
        const people = (await predictImage(shipped, sample.image, image.id)).filter((p) => p.score > 0.1);
        writeOverlay(join(picturesDir, image.file_name), sample.image, people, config.keypoints);
      }
      process.stdout.write(`the shipped model's predictions: ${picturesDir}\n`);
      shipped.dispose();
    }
  },
});

/**
 * The demo deletes its run/ and predictions/ of last time; they are its own only when its train/ and val/ datasets
 * lie beside them. In another folder (`--out .`) they may be a real training run or `smpr predict`'s default --out.
 */
function checkOwnFolders(out: string): void {
  // A dataset in train/ or val/ is replaced, so it must be a synthetic one: any once counted as the demo's, and a
  // project's own train/ and val/ (a usual layout) were replaced, with its run/ and predictions/ deleted. What else
  // lies there is not replaced: writeCocoDataset refuses an images/ with no annotations.json beside it, and clears
  // the staged images of a demo stopped while writing (which no more than that made train/ not the demo's).
  const theirData = ['train', 'val'].find((name) => !synthMayReplace(join(out, name)));
  if (theirData !== undefined) throw new UserError(`--out ${out}: its ${theirData}/ is not a synthetic dataset of the demo's, and the demo would replace it; give the demo a folder of its own`);
  if (['train', 'val'].every((name) => existsSync(join(out, name, 'annotations.json')))) return;
  const theirs = ['run', 'predictions'].find((name) => existsSync(join(out, name)) && readdirSync(join(out, name)).length > 0);
  if (theirs !== undefined) throw new UserError(`--out ${out}: its ${theirs}/ is not the demo's (no train/ and val/ datasets beside it), and the demo would delete it; give the demo a folder of its own`);
}
