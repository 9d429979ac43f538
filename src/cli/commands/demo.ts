/**
 * The main job: everything end to end on a bare machine, in a few minutes on a software GPU. Generates a
 * synthetic dataset, evaluates the untrained tiny model, trains it, evaluates again and draws its predictions.
 */
import { join } from 'node:path';
import { mkdirSync } from 'node:fs';
import { writeSynthDataset } from '../../data/synth.js';
import { cloneImage, writePng } from '../../data/image.js';
import { drawPoses } from '../../data/draw.js';
import { loadCocoSample } from '../../data/coco.js';
import { formatCocoKeypointSummary } from '../../smpr/coco-eval.js';
import { smprConfig } from '../../smpr/config.js';
import { evaluateDataset } from '../../smpr/evaluate.js';
import { SmprModel } from '../../smpr/model.js';
import { parameterReport } from '../../smpr/model.js';
import { predictImage } from '../../smpr/predict.js';
import { Random } from '../../tensor/random.js';
import { CURVE_FILE, train } from '../../train/trainer.js';
import { defineCommand } from '../args.js';
import { openDataset, openGpu } from '../model-io.js';

export const demoCommand = defineCommand({
  name: 'demo',
  summary: 'synthesise data, train the tiny model briefly, evaluate it and draw its predictions (the quick start)',
  flags: {
    out: { type: 'string', default: 'runs/demo', description: 'folder for the data, the run and the pictures', valueName: 'DIR' },
    'train-images': { type: 'number', integer: true, min: 4, default: 64, description: 'synthetic training images' },
    'val-images': { type: 'number', integer: true, min: 1, default: 16, description: 'synthetic validation images' },
    epochs: { type: 'number', integer: true, min: 1, default: 8, description: 'training epochs' },
    batch: { type: 'number', integer: true, min: 1, default: 4, description: 'images per batch' },
    seed: { type: 'number', integer: true, default: 0, description: 'random seed' },
  },
  async run({ flags }) {
    const rt = await openGpu();
    process.stdout.write(`WebGPU device: ${rt.description}\n`);
    const trainDir = join(flags.out, 'train');
    const valDir = join(flags.out, 'val');
    writeSynthDataset(trainDir, { images: flags['train-images'], seed: 1000 + flags.seed, width: 128, height: 128, maxPeople: 3, personScale: [0.4, 0.9] });
    writeSynthDataset(valDir, { images: flags['val-images'], seed: 2000 + flags.seed, width: 128, height: 128, maxPeople: 3, personScale: [0.4, 0.9] });
    const config = smprConfig('tiny');
    const val = openDataset(valDir);

    const untrained = new SmprModel(config, { device: 'webgpu', random: new Random(flags.seed) });
    process.stdout.write(parameterReport(untrained) + '\n');
    const before = await evaluateDataset(untrained, val);
    untrained.dispose();
    process.stdout.write(`untrained: AP ${before.stats[0].toFixed(3)}\n`);

    const runDir = join(flags.out, 'run');
    const { model, records } = await train({
      config, data: openDataset(trainDir), epochs: flags.epochs, batchSize: flags.batch, seed: flags.seed, lr: 0.01, warmupIters: 20,
      decayEpochs: [Math.round((flags.epochs * 3) / 4)], clipNorm: 35, outDir: runDir, logEvery: 4, progress: true,
    });
    const first = records[0];
    const last = records.at(-1)!;
    process.stdout.write(`loss ${first.loss.toFixed(3)} → ${last.loss.toFixed(3)} over ${last.iter + 1} iterations (curve: ${join(runDir, CURVE_FILE)})\n`);

    const after = await evaluateDataset(model, val, { progress: true });
    process.stdout.write(`trained:\n${formatCocoKeypointSummary(after.stats)}\n`);
    process.stdout.write(`AP on ${val.json.images.length} held-out synthetic images: ${before.stats[0].toFixed(3)} untrained → ${after.stats[0].toFixed(3)} trained\n`);

    const picturesDir = join(flags.out, 'predictions');
    mkdirSync(picturesDir, { recursive: true });
    for (const image of val.json.images.slice(0, 4)) {
      const sample = loadCocoSample(val, image);
      const people = (await predictImage(model, sample.image, image.id)).filter((p) => p.score > 0.2);
      const overlay = cloneImage(sample.image);
      drawPoses(overlay, people, config.keypoints, { scoreText: true });
      writePng(join(picturesDir, image.file_name), overlay);
    }
    process.stdout.write(`overlays: ${picturesDir}\n`);
  },
});
