/**
 * Where an SMPR training step spends its time: `node dist/bench/step-profile.js [--config tiny] [--size N]
 * [--batch 8] [--optimizer sgd|adamw] [--replay yes|no] [--top 12]`.
 *
 * Runs real training steps (synthetic benchmark images, targets, the assigner, the five losses, backward,
 * clipping, the optimizer) and reports the step's wall time, images/s, dispatches, submits and new bind groups; the time
 * JavaScript takes to record a step beside the GPU's own execution time (timestamp queries, where the adapter has
 * them): a GPU time far below the wall time means the CPU side is the bottleneck; the peak bytes of live tensors
 * in a step; and the inference forward (eval mode, batch 1, ending with a sync, not a read).
 * Then it records the dispatches of one step and replays each alone (warmed up, median of three, each followed by
 * a queue drain), summed by kernel label: the share of each kernel. Replayed times include a drain per dispatch,
 * so their sum exceeds the step time. The slowest single dispatches are listed too, each with the model or loss
 * code that issued it (`--top N`). JSON on stdout, tables on stderr.
 */
import { initWebGPU } from '../src/index.js';
import { makeBatch, trainTransform } from '../src/data/augment.js';
import { toTrainingPeople } from '../src/coco/person.js';
import { generateSynthDataset } from '../src/data/synth/dataset.js';
import { PRESETS, gradClipOf, smprConfig, type PresetName } from '../src/smpr/config.js';
import { SmprModel } from '../src/smpr/model.js';
import { buildBatchTargets } from '../src/smpr/targets.js';
import { tensor } from '../src/ops/creation.js';
import { Random } from '../src/tensor/random.js';
import { dispose, tidy } from '../src/tensor/scope.js';
import { OPTIMIZERS, type OptimizerName } from '../src/train/options.js';
import { trainStep } from '../src/train/step.js';
import type { DispatchArgs, Kernel } from '../src/backend/webgpu-runtime.js';
import { median } from './report.js';
import { flag } from './flags.js';

const preset = (flag('config') ?? 'tiny') as PresetName;
if (!(preset in PRESETS)) throw new Error(`step-profile: --config must be one of ${Object.keys(PRESETS).join(', ')}, got '${preset}'`);
const config = smprConfig(preset, flag('size') !== undefined ? { inputSize: Number(flag('size')) } : {});
const batchSize = Number(flag('batch') ?? '8');
const optimizerName = (flag('optimizer') ?? 'sgd') as OptimizerName;
const replay = (flag('replay') ?? 'yes') === 'yes';
const top = Number(flag('top') ?? '12');
const rt = await initWebGPU();
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

/** The trainer's own step (src/train/step.ts), clipped as `smpr train` clips this config (35; HRNet not at all). */
function step(): void {
  const targets = buildBatchTargets(inputs.map((i) => i.people), batch.height, batch.width, config.levels, config.keypoints);
  dispose(trainStep({ config, model, params, optimizer, device: 'webgpu', clipNorm: gradClipOf(config) }, batch, targets));
}

for (let i = 0; i < 3; i++) {
  step();
  await rt.sync();
}
const reps = 8;
const times: number[] = [];
const before = rt.memory();
for (let i = 0; i < reps; i++) {
  const start = performance.now();
  step();
  await rt.sync();
  times.push(performance.now() - start);
}
const after = rt.memory();
const stepMs = median(times);

// Recording against execution: the time until step() returns (JavaScript, while the GPU already runs the
// submitted part), and the GPU's own time for the step's passes.
const timestamps = rt.features.includes('timestamp-query');
const recordTimes: number[] = [];
const gpuTimes: number[] = [];
for (let i = 0; i < reps; i++) {
  if (timestamps) rt.startGpuTimer();
  const start = performance.now();
  step();
  recordTimes.push(performance.now() - start);
  if (timestamps) gpuTimes.push((await rt.stopGpuTimer()).ms);
  await rt.sync();
}
rt.resetPeakMemory();
const liveBefore = rt.memory().bytesInUse;
step();
await rt.sync();
const peak = rt.memory();

// Inference: eval mode (no heatmap branch), one image, ending with a sync.
model.eval();
const image = tensor(batch.data.subarray(0, batch.channels * batch.height * batch.width), [1, batch.channels, batch.height, batch.width], { device: 'webgpu' });
const forward = () => tidy(() => void model.forward(image));
for (let i = 0; i < 3; i++) {
  forward();
  await rt.sync();
}
const forwardTimes: number[] = [];
for (let i = 0; i < reps; i++) {
  const start = performance.now();
  forward();
  await rt.sync();
  forwardTimes.push(performance.now() - start);
}
image.dispose();
model.train();

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
const byLabel = new Map<string, { ms: number; count: number }>();
const single: { label: string; workgroups: number[]; ms: number; issuer: string }[] = [];
if (replay) {
  rt.dispatch = (kernel, args) => {
    recorded.push({ kernel, args: { ...args, params: args.params?.slice() }, issuer: issuer(new Error().stack) });
    dispatch(kernel, args);
  };
  step();
  await rt.sync();
  rt.dispatch = dispatch;
}
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
  config: preset,
  input: [batchSize, 3, config.inputSize, config.inputSize],
  optimizer: optimizerName,
  stepMs,
  imagesPerSecond: (1000 * batchSize) / stepMs,
  dispatchesPerStep: (after.dispatches - before.dispatches) / reps,
  submitsPerStep: (after.submits - before.submits) / reps,
  /** Bind groups a step made that the runtime's cache did not have: 0 when steps repeat (webgpu-runtime.ts). */
  newBindGroupsPerStep: (after.bindGroups - before.bindGroups) / reps,
  recordMs: median(recordTimes),
  gpuMs: timestamps ? median(gpuTimes) : null,
  peakStepBytes: peak.peakBytesInUse - liveBefore,
  peakBytesInUse: peak.peakBytesInUse,
  bytesHeld: peak.bytesInUse + peak.bytesPooled,
  forwardMs: median(forwardTimes),
  replayTotalMs: replayTotal,
  kernels,
  slowest: single.sort((a, b) => b.ms - a.ms).slice(0, top),
};
const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;
process.stdout.write(JSON.stringify(report, null, 2) + '\n');
process.stderr.write(
  [
    `${preset} SMPR training step, ${report.input.join('×')}, ${optimizerName}: ${stepMs.toFixed(1)} ms (${report.imagesPerSecond.toFixed(1)} img/s), ${report.dispatchesPerStep} dispatches, ${report.submitsPerStep} submits, ${report.newBindGroupsPerStep} new bind groups`,
    `recording ${report.recordMs.toFixed(1)} ms, GPU ${report.gpuMs === null ? '(no timestamp-query)' : `${report.gpuMs.toFixed(1)} ms`}; peak ${mb(report.peakStepBytes)} of tensors in the step (${mb(report.peakBytesInUse)} live in all, ${mb(report.bytesHeld)} held with the pool); inference forward ${report.forwardMs.toFixed(1)} ms`,
    ...(replay ? [
      '| kernel | dispatches | replayed ms | share |',
      '|---|---|---|---|',
      ...kernels.slice(0, 20).map((k) => `| ${k.label} | ${k.dispatches} | ${k.ms.toFixed(2)} | ${(100 * k.share).toFixed(1)} % |`),
      '',
      '| slowest dispatch | workgroups | replayed ms | issued by |',
      '|---|---|---|---|',
      ...report.slowest.map((d) => `| ${d.label} | ${d.workgroups.join('×')} | ${d.ms.toFixed(2)} | ${d.issuer} |`),
    ] : []),
  ].join('\n') + '\n',
);
rt.destroy();
process.exit(0);
