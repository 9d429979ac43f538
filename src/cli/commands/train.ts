import { join } from 'node:path';
import { PRESETS, smprConfig, type PresetName } from '../../smpr/config.js';
import { evaluateDataset } from '../../smpr/evaluate.js';
import { formatCocoKeypointSummary } from '../../smpr/coco-eval.js';
import { CHECKPOINT_FILE, CURVE_FILE, LOG_FILE, OPTIMIZERS, train, type OptimizerName } from '../../train/trainer.js';
import { defineCommand } from '../args.js';
import { openDataset, openGpu } from '../model-io.js';

export const trainCommand = defineCommand({
  name: 'train',
  summary: 'train SMPR on a COCO keypoints dataset; checkpoints, a JSONL log and a loss curve go to --out',
  flags: {
    data: { type: 'string', required: true, description: 'training dataset (folder or annotation file)', valueName: 'DIR' },
    val: { type: 'string', description: 'validation dataset, evaluated at the end', valueName: 'DIR' },
    config: { type: 'string', choices: Object.keys(PRESETS), default: 'tiny', description: 'model preset' },
    epochs: { type: 'number', integer: true, min: 1, default: 12, description: 'epochs' },
    'max-iters': { type: 'number', integer: true, min: 1, description: 'stop after this many iterations in total' },
    batch: { type: 'number', integer: true, min: 1, default: 4, description: 'images per batch' },
    lr: { type: 'number', min: 0, default: 0.01, description: 'base learning rate' },
    warmup: { type: 'number', integer: true, min: 0, default: 50, description: 'warm-up iterations at lr/3' },
    decay: { type: 'string', default: '', description: 'comma-separated epochs at which lr drops ×0.1 (default: at 2/3 and 8/9 of the run)', valueName: 'E,E' },
    optimizer: { type: 'string', choices: Object.keys(OPTIMIZERS), default: 'sgd', description: "'sgd' (the reference: momentum 0.9) or 'adamw'" },
    'weight-decay': { type: 'number', min: 0, description: 'weight decay on weights (default: sgd 1e-4, adamw 0.05)' },
    clip: { type: 'number', min: 0, default: 35, description: 'max gradient norm (0: no clipping)' },
    seed: { type: 'number', integer: true, default: 0, description: 'random seed' },
    positives: { type: 'string', choices: ['oks', 'init'], default: 'oks', description: "'oks': SMPR's OKS-selected positives; 'init': the FCOS-only baseline" },
    'pose-weights': { type: 'string', choices: ['oks', 'uniform'], default: 'oks', description: "keypoint L1 per positive: 'oks' (reference: by its initial pose's OKS) or 'uniform'" },
    'backbone-weights': { type: 'string', description: 'pretrained backbone (safetensors with torchvision ResNet names; fc.* is skipped)', valueName: 'FILE' },
    out: { type: 'string', required: true, description: 'run folder', valueName: 'DIR' },
    resume: { type: 'boolean', description: `continue from DIR/${CHECKPOINT_FILE}` },
    'log-every': { type: 'number', integer: true, min: 1, default: 10, description: 'iterations between log lines' },
  },
  async run({ flags }) {
    const data = openDataset(flags.data);
    const val = flags.val ? openDataset(flags.val) : null;
    await openGpu();
    const config = smprConfig(flags.config as PresetName);
    const decayEpochs = flags.decay
      ? flags.decay.split(',').map(Number)
      : [Math.round((flags.epochs * 2) / 3), Math.round((flags.epochs * 8) / 9)].filter((e) => e > 0 && e < flags.epochs);
    const { model, records } = await train({
      config, data, epochs: flags.epochs, batchSize: flags.batch, seed: flags.seed, lr: flags.lr, warmupIters: flags.warmup,
      decayEpochs, optimizer: flags.optimizer as OptimizerName, weightDecay: flags['weight-decay'], clipNorm: flags.clip, outDir: flags.out, resume: flags.resume, backboneWeights: flags['backbone-weights'], maxIters: flags['max-iters'],
      logEvery: flags['log-every'], loss: { positives: flags.positives as 'oks' | 'init', poseWeights: flags['pose-weights'] as 'oks' | 'uniform' }, progress: true,
    });
    const last = records.at(-1);
    process.stdout.write(`trained ${last ? last.iter + 1 : 0} iterations; final loss ${last?.loss.toFixed(4) ?? '-'}\n`);
    process.stdout.write(`checkpoint ${join(flags.out, CHECKPOINT_FILE)}, log ${join(flags.out, LOG_FILE)}, curve ${join(flags.out, CURVE_FILE)}\n`);
    if (val) {
      const evaluation = await evaluateDataset(model, val, { progress: true, usePoseScore: flags.positives === 'oks', useInitialPose: flags.positives === 'init' });
      process.stdout.write(formatCocoKeypointSummary(evaluation.stats) + '\n');
    }
  },
});
