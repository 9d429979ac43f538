/**
 * The time of one inference forward pass of a preset: `node dist/bench/forward-time.js [--config hrnet_w32]
 * [--size 256] [--runs 2]`. Builds the model on the WebGPU device in eval mode (no heatmap branch), runs one
 * forward to compile the pipelines, then `runs` timed forwards of one random image, each ending with the read of
 * every output (the only synchronisation point). JSON on stdout: each run's milliseconds and dispatches.
 */
import { initWebGPU, memory } from '../src/index.js';
import { initTensor, normal } from '../src/nn/init.js';
import { PRESETS, smprConfig, type PresetName } from '../src/smpr/config.js';
import { SmprModel } from '../src/smpr/model.js';
import { Random } from '../src/tensor/random.js';
import { dispose } from '../src/tensor/scope.js';
import { flag } from './flags.js';
import { SPECIALISE_AFTER } from '../src/backend/program-cache.js';

const name = (flag('config') ?? 'hrnet_w32') as PresetName;
if (!(name in PRESETS)) throw new Error(`--config must be one of ${Object.keys(PRESETS).join(', ')}, got ${name}`);
const size = Number(flag('size') ?? '256');
const runs = Number(flag('runs') ?? '2');
await initWebGPU();
const model = new SmprModel(smprConfig(name), { device: 'webgpu', random: new Random(1) }).eval();
const image = initTensor([1, 3, size, size], normal(1), { device: 'webgpu', random: new Random(2) });

async function forward(): Promise<{ ms: number; dispatches: number }> {
  const before = memory().dispatches;
  const start = performance.now();
  const out = model.forward(image);
  const tensors = out.levels.flatMap((l) => [l.clsLogits, l.scoreLogits, l.initPose, l.refinePose]);
  for (const t of tensors) await t.toArray();
  const ms = performance.now() - start;
  dispose(tensors);
  return { ms, dispatches: memory().dispatches - before };
}

// Warm-up: the pipelines compile, first the general ones and then those a shape gets from its SPECIALISE_AFTER-th
// use on (program-cache.ts), which the timed runs use.
let warmUp = await forward();
for (let use = 2; use <= SPECIALISE_AFTER; use++) warmUp = await forward();
const timed = [];
for (let r = 0; r < runs; r++) timed.push(await forward());
process.stdout.write(JSON.stringify({ config: name, input: [1, 3, size, size], warmUpMs: Math.round(warmUp.ms), runs: timed.map((t) => ({ ms: Math.round(t.ms), dispatches: t.dispatches })) }) + '\n');
model.dispose();
image.dispose();
