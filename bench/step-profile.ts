/**
 * Where a tiny-SMPR training step spends its GPU time: `node dist/bench/step-profile.js [--batch 8] [--optimizer sgd|adamw]`.
 *
 * Runs real training steps (synthetic benchmark images, targets, the five losses, backward, clipping, the
 * optimizer) and reports the step's wall time, images/s, dispatches and submits. Then it records the dispatches
 * of one step and replays each alone (warmed up, median of three, each followed by a queue drain), summed by kernel
 * label: the share of each kernel. Replayed times include a drain per dispatch, so their sum exceeds the step time.
 * The slowest single dispatches are listed too, each with the model or loss code that issued it (`--top N`, 12).
 * JSON on stdout, tables on stderr.
 */
import { initWebGPU } from '../src/index.js';
import { makeBatch, trainTransform } from '../src/data/augment.js';
import { toTrainingPeople } from '../src/coco/person.js';
import { generateSynthDataset } from '../src/data/synth/dataset.js';
import { smprConfig } from '../src/smpr/config.js';
import { SmprModel } from '../src/smpr/model.js';
import { buildBatchTargets } from '../src/smpr/targets.js';
import { Random } from '../src/tensor/random.js';
import { dispose } from '../src/tensor/scope.js';
import { OPTIMIZERS, type OptimizerName } from '../src/train/options.js';
import { trainStep } from '../src/train/step.js';
import type { DispatchArgs, Kernel } from '../src/backend/webgpu-runtime.js';
import { median } from './report.js';

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : fallback;
}

const batchSize = Number(flag('batch', '8'));
const optimizerName = flag('optimizer', 'sgd') as OptimizerName;
const top = Number(flag('top', '12'));
const rt = await initWebGPU();
const config = smprConfig('tiny');
const data = generateSynthDataset({ images: batchSize, seed: 5 });
const transform = {
  scale: { long: Math.round((config.inputSize * 1333) / 800), short: config.inputSize },
  crop: { height: config.inputSize, width: config.inputSize },
  flipProbability: 0.5, clampOutside: true, normalization: config.normalization, spec: config.keypoints,
};
const inputs = data.coco.images.map((image, i) => {
  const people = toTrainingPeople(data.coco.annotations.filter((a) => a.image_id === image.id));
  return trainTransform({ image: data.images[i]!, people }, transform, new Random(i))!;
});
const batch = makeBatch(inputs.map((i) => i.image));
const model = new SmprModel(config, { device: 'webgpu', random: new Random(0) });
model.train();
const params = model.trainableParameters();
const optimizer = new OPTIMIZERS[optimizerName](params, { lr: 1e-3 });

/** The trainer's own step (src/train/step.ts), with clipping at the reference's 35. */
function step(): void {
  const targets = buildBatchTargets(inputs.map((i) => i.people), batch.height, batch.width, config.levels, config.keypoints);
  dispose(trainStep({ config, model, params, optimizer, device: 'webgpu', clipNorm: 35 }, batch, targets));
}

for (let i = 0; i < 3; i++) {
  step();
  await rt.sync();
}
const times: number[] = [];
const before = rt.memory();
const reps = 8;
for (let i = 0; i < reps; i++) {
  const start = performance.now();
  step();
  await rt.sync();
  times.push(performance.now() - start);
}
const after = rt.memory();
const stepMs = median(times);

/**
 * The first caller above the engine's layers (src/smpr, src/nn, src/train): who asked for a dispatch. Gradient
 * kernels are issued by the backward pass, which knows ops, not lines.
 */
function issuer(stack: string | undefined): string {
  const lines = stack?.split('\n') ?? [];
  if (lines.some((line) => /src\/autograd\/backward/.test(line))) return '(backward pass)';
  const frame = lines.find((line) => /src\/(smpr|nn|train)\//.test(line));
  return frame?.match(/src\/[\w/.-]+:\d+/)?.[0] ?? '(engine)';
}
Error.stackTraceLimit = 64;

// Record one step's dispatches, then replay each alone.
const recorded: { kernel: Kernel; args: DispatchArgs; issuer: string }[] = [];
const dispatch = rt.dispatch.bind(rt);
rt.dispatch = (kernel, args) => {
  recorded.push({ kernel, args: { ...args, params: args.params?.slice() }, issuer: issuer(new Error().stack) });
  dispatch(kernel, args);
};
step();
await rt.sync();
rt.dispatch = dispatch;
const byLabel = new Map<string, { ms: number; count: number }>();
const single: { label: string; workgroups: number[]; ms: number; issuer: string }[] = [];
for (const { kernel, args, issuer } of recorded) {
  const samples: number[] = [];
  for (let r = 0; r < 4; r++) {
    const start = performance.now();
    dispatch(kernel, args);
    await rt.sync();
    if (r > 0) samples.push(performance.now() - start);
  }
  single.push({ label: kernel.label, workgroups: args.workgroups.filter((w) => w !== undefined) as number[], ms: median(samples), issuer });
  const entry = byLabel.get(kernel.label) ?? { ms: 0, count: 0 };
  entry.ms += median(samples);
  entry.count += 1;
  byLabel.set(kernel.label, entry);
}
const replayTotal = [...byLabel.values()].reduce((s, e) => s + e.ms, 0);
const kernels = [...byLabel].map(([label, e]) => ({ label, ms: e.ms, dispatches: e.count, share: e.ms / replayTotal })).sort((a, b) => b.ms - a.ms);
const report = {
  adapter: rt.description,
  batch: batchSize,
  optimizer: optimizerName,
  stepMs,
  imagesPerSecond: (1000 * batchSize) / stepMs,
  dispatchesPerStep: (after.dispatches - before.dispatches) / reps,
  submitsPerStep: (after.submits - before.submits) / reps,
  replayTotalMs: replayTotal,
  kernels,
  slowest: single.sort((a, b) => b.ms - a.ms).slice(0, top),
};
process.stdout.write(JSON.stringify(report, null, 2) + '\n');
process.stderr.write(
  [
    `tiny SMPR training step, batch ${batchSize}, ${optimizerName}: ${stepMs.toFixed(1)} ms (${report.imagesPerSecond.toFixed(1)} img/s), ${report.dispatchesPerStep} dispatches, ${report.submitsPerStep} submits`,
    '| kernel | dispatches | replayed ms | share |',
    '|---|---|---|---|',
    ...kernels.slice(0, 20).map((k) => `| ${k.label} | ${k.dispatches} | ${k.ms.toFixed(2)} | ${(100 * k.share).toFixed(1)} % |`),
    '',
    '| slowest dispatch | workgroups | replayed ms | issued by |',
    '|---|---|---|---|',
    ...report.slowest.map((d) => `| ${d.label} | ${d.workgroups.join('×')} | ${d.ms.toFixed(2)} | ${d.issuer} |`),
  ].join('\n') + '\n',
);
rt.destroy();
process.exit(0);
