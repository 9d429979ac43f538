import { join } from 'node:path';
import { DEFAULT_GRAD_CLIP, PRESETS, gradClipOf, SIZE_DIVISOR, type PresetName } from '../../smpr/config.js';
import { evaluateDataset } from '../../smpr/evaluate.js';
import { SMPR_LOSS_WEIGHTS } from '../../smpr/loss.js';
import { formatCocoKeypointSummary } from '../../coco/eval.js';
import { MAX_WORKERS, defaultWorkers } from '../../train/batch-loader.js';
import { OPTIMIZERS, type OptimizerName } from '../../train/options.js';
import { CHECKPOINT_FILE, LOG_FILE, train } from '../../train/trainer.js';
import { defineCommand, refuseEmptyPaths } from '../args.js';
import { UsageError } from '../errors.js';
import { UserError } from '../../errors.js';
import { RECIPES, defaultDecayEpochs, type Recipe, type RecipeName } from '../../train/recipes.js';
import { checkDatasetImages } from '../../data/coco.js';
import { openDataset, openGpu, presetConfig } from '../model-io.js';
import { progressBar } from '../progress.js';

/** `--decay E,E`: whole epochs in [0, epochs), rising, or an empty string for no decay. */
function parseDecay(text: string, epochs: number): number[] {
  if (text.trim() === '') return [];
  const fail = (why: string): never => {
    throw new UsageError(`--decay takes rising comma-separated whole epochs in [0, ${epochs}), ${why} in '${text}'`, 'train');
  };
  const decay = text.split(',').map((part) => {
    const epoch = /^\s*\d+\s*$/.test(part) ? Number(part) : NaN;
    if (!(epoch < epochs)) fail(`got '${part.trim()}'`);
    return epoch;
  });
  for (let i = 1; i < decay.length; i++) if (decay[i]! <= decay[i - 1]!) fail(`got ${decay[i]} after ${decay[i - 1]}`);
  return decay;
}

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

export const trainCommand = defineCommand({
  name: 'train',
  summary: 'train SMPR on a COCO keypoints dataset; checkpoints, a JSONL log and a loss curve go to --out',
  flags: {
    data: { type: 'string', required: true, description: 'training dataset (folder or annotation file)', valueName: 'DIR' },
    images: { type: 'string', description: "folder of --data's images (default: images/ beside the annotation file)", valueName: 'DIR' },
    val: { type: 'string', description: 'validation dataset, evaluated at the end', valueName: 'DIR' },
    'val-images': { type: 'string', description: "folder of --val's images", valueName: 'DIR' },
    config: { type: 'string', choices: Object.keys(PRESETS), default: 'tiny', description: 'model preset' },
    neck: { type: 'string', choices: ['pafpn', 'fpn'], description: "the ResNet presets' neck (default: the config's, pafpn); 'fpn' drops PAFPN's bottom-up path (Table I)" },
    recipe: { type: 'string', choices: Object.keys(RECIPES), default: 'scratch', description: "defaults for the flags below: 'scratch' (AdamW, from scratch) or 'reference' (the authors' SGD)" },
    epochs: { type: 'number', integer: true, min: 1, description: 'epochs (scratch 9, reference 100)' },
    'max-iters': { type: 'number', integer: true, min: 1, description: 'stop after this many iterations in total' },
    batch: { type: 'number', integer: true, min: 1, description: 'images per batch (scratch 8, reference 32)' },
    lr: { type: 'number', min: 0, description: 'base learning rate (scratch 0.002, reference 0.02)' },
    warmup: { type: 'number', integer: true, min: 0, description: 'warm-up iterations at lr/3 (scratch 100, reference 500)' },
    decay: { type: 'string', description: 'comma-separated 0-based epochs at which lr drops ×0.1 (scratch: at 7/9 and 8/9 of the run; reference 80,90)', valueName: 'E,E' },
    optimizer: { type: 'string', choices: Object.keys(OPTIMIZERS), description: "'adamw' (scratch) or 'sgd' (reference: momentum 0.9)" },
    'weight-decay': { type: 'number', min: 0, description: 'weight decay on weights (default: sgd 1e-4, adamw 0.05)' },
    clip: { type: 'number', min: 0, description: `max gradient norm (0: no clipping; default: the config's, ${DEFAULT_GRAD_CLIP} for the ResNet presets, none for HRNet)` },
    size: { type: 'number', integer: true, min: SIZE_DIVISOR, description: `side of the square training crop, a multiple of ${SIZE_DIVISOR} (default: the config's inputSize, 800; tiny 128)`, valueName: 'PX' },
    seed: { type: 'number', integer: true, min: 0, max: 2 ** 32 - 1, default: 0, description: 'random seed' },
    positives: { type: 'string', choices: ['oks', 'init'], default: 'oks', description: "'oks': SMPR's OKS-selected positives; 'init': the FCOS-only baseline" },
    'pose-weights': { type: 'string', choices: ['oks', 'uniform'], description: "keypoint L1 per positive: 'oks' (both recipes: by its initial pose's OKS) or 'uniform'" },
    heatmap: { type: 'boolean', default: true, description: 'the auxiliary heatmap loss (weight 4); --no-heatmap trains without it (Table I)' },
    'backbone-weights': { type: 'string', description: 'pretrained backbone (safetensors or a PyTorch .pth with torchvision ResNet names, e.g. torchvision\'s resnet18-*.pth, fc.* skipped; or mmdetection HRNet weights for the HRNet presets)', valueName: 'FILE' },
    weights: { type: 'string', description: 'start from this model (an smpr checkpoint or exported weights of the same --config, or a .pth of the authors\' mmdet SMPR in --config\'s layout); the optimizer starts afresh', valueName: 'FILE' },
    out: { type: 'string', required: true, description: 'run folder', valueName: 'DIR' },
    resume: { type: 'boolean', description: `continue the run in --out from its ${CHECKPOINT_FILE} (as train saved it; exported weights start a new run with --weights), with its data, seed, batch and loss (the schedule may change)` },
    'save-every': { type: 'number', integer: true, min: 1, description: 'also save a checkpoint every N iterations (default: at every epoch end only)' },
    workers: { type: 'number', integer: true, min: 0, max: MAX_WORKERS, description: `threads reading and augmenting images ahead of the step (0: none; at most ${MAX_WORKERS}: each costs memory and start-up, and a few already outrun the step) (default: ${defaultWorkers()} on this machine)` },
    'log-every': { type: 'number', integer: true, min: 1, default: 10, description: 'iterations between log lines' },
  },
  async run({ flags }) {
    // An empty --weights or --val would read as the flag left out: a run from scratch, no validation.
    refuseEmptyPaths('train', { data: flags.data, images: flags.images, val: flags.val, 'val-images': flags['val-images'], weights: flags.weights, 'backbone-weights': flags['backbone-weights'] });
    const config = presetConfig('train', flags.config as PresetName, flags.size, flags.neck as 'fpn' | 'pafpn' | undefined);
    const data = openDataset(flags.data, flags.images);
    const val = flags.val ? openDataset(flags.val, flags['val-images'], '--val-images') : null;
    if (val) checkDatasetImages(val); // not after the run: a bad --val image would be found only then
    if (flags['val-images'] !== undefined && !val) throw new UsageError('--val-images is the folder of --val\'s images; there is no --val', 'train');
    await openGpu();
    const recipe: Recipe = RECIPES[flags.recipe as RecipeName];
    const epochs = flags.epochs ?? recipe.epochs;
    const decayEpochs = flags.decay !== undefined ? parseDecay(flags.decay, epochs) : recipe.decayEpochs.length ? [...recipe.decayEpochs] : defaultDecayEpochs(epochs);
    // SIGINT and SIGTERM stop the run at the end of the iteration with a checkpoint, exiting 128 + the signal.
    const stop = new AbortController();
    const onSignal = (signal: NodeJS.Signals) => stop.abort(signal === 'SIGINT' ? 130 : 143);
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    const { model, records, curve, iterations, startIter } = await train({
      stop: stop.signal,
      config, data, epochs, batchSize: flags.batch ?? recipe.batchSize, seed: flags.seed, lr: flags.lr ?? recipe.lr, warmupIters: flags.warmup ?? recipe.warmupIters,
      decayEpochs, optimizer: (flags.optimizer as OptimizerName | undefined) ?? recipe.optimizer, weightDecay: flags['weight-decay'], clipNorm: flags.clip ?? gradClipOf(config), outDir: flags.out, resume: flags.resume, backboneWeights: flags['backbone-weights'], initWeights: flags.weights, workers: flags.workers ?? defaultWorkers(), maxIters: flags['max-iters'], saveEvery: flags['save-every'],
      logEvery: flags['log-every'], loss: {
        positives: flags.positives as 'oks' | 'init', poseWeights: (flags['pose-weights'] as 'oks' | 'uniform' | undefined) ?? recipe.poseWeights,
        weights: flags.heatmap ? SMPR_LOSS_WEIGHTS : { ...SMPR_LOSS_WEIGHTS, heatmap: 0 },
      }, progress: progressBar('train', 'it'),
    }).finally(() => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    });
    const last = records.at(-1);
    process.stdout.write(last
      // A resumed run counts from its checkpoint: "trained 36 iterations" once read so after 16 of them.
      ? `trained ${plural(last.iter + 1 - startIter, 'iteration')}${startIter > 0 ? ` (resumed at ${startIter}, now at ${last.iter + 1})` : ''}; final loss ${last.loss.toFixed(4)}\n`
      : `nothing to train: the checkpoint is at or past this run's last iteration, ${iterations}\n`);
    process.stdout.write(`checkpoint ${join(flags.out, CHECKPOINT_FILE)}, log ${join(flags.out, LOG_FILE)}${curve ? `, curve ${curve}` : ''}\n`);
    if (val) {
      const evaluation = await evaluateDataset(model, val, { progress: progressBar('eval', 'img'), usePoseScore: flags.positives === 'oks', useInitialPose: flags.positives === 'init' }).catch((error: unknown) => {
        // Only --val's headers are checked before the run: an image cut short is found here, after the run is saved.
        if (!(error instanceof UserError)) throw error;
        throw new UserError(`--val: ${error.message}; the trained model is saved: evaluate ${join(flags.out, CHECKPOINT_FILE)} with smpr eval once the image is fixed`);
      });
      process.stdout.write(formatCocoKeypointSummary(evaluation.stats) + '\n');
    }
  },
});
