/**
 * The GEMM tile sweep: `node dist/bench/gemm-tiles.js [--size small|smpr] [--schedule device|workgroup] [--json F]`.
 *
 * Every GEMM in the engine is an instance of one template (src/kernels/wgsl/gemm.ts) whose speed on a device is
 * set by the tile `chooseTile` picks from the adapter's limits. This times the four instances (matmul, and
 * conv2d's forward, input gradient and weight gradient) at SMPR's shapes under every tile this device can run,
 * beside the chosen one, on the GPU's own clock (timestamp queries; wall time where the adapter has none), and
 * checks each tile's result against the chosen tile's. On a new GPU it says which tile the chooser should pick
 * there, and by how much the pick misses the best. `--schedule workgroup` sweeps the GPU schedule's tiles on
 * any adapter (on a CPU adapter: to check them before a GPU run). JSON on stdout (or --json), the best tiles per
 * op on stderr.
 */
import { writeFileSync } from 'node:fs';
import { initWebGPU } from '../src/index.js';
import { launch } from '../src/backend/launch.js';
import { emptyGpu } from '../src/backend/webgpu-backend.js';
import { SPECIALISE_AFTER } from '../src/backend/program-cache.js';
import type { ConvGeometry } from '../src/kernels/conv-geometry.js';
import { chooseTile, gemmKernel, gemmTarget, kSplits, type GemmShape, type GemmTarget, type GemmTile } from '../src/kernels/wgsl/gemm.js';
import { forwardShape, inputGradShape, weightGradShape } from '../src/kernels/wgsl/conv2d.js';
import { matmulOperands } from '../src/kernels/wgsl/matmul.js';
import { conv2dGeometry } from '../src/ops/conv2d.js';
import { conv2dForwardGpu, conv2dInputGradGpu, conv2dWeightGradGpu } from '../src/ops/conv2d-gpu.js';
import { randn } from '../src/ops/creation.js';
import { dispose } from '../src/tensor/scope.js';
import type { Tensor } from '../src/tensor/tensor.js';
import { median } from './report.js';
import { flag } from './flags.js';

const SIZES = {
  smpr: { matmul: 4096, conv: { channels: 256, side: 100 } },
  small: { matmul: 512, conv: { channels: 64, side: 32 } },
};

/** Every tile of the device's schedule that fits its limits. */
function candidates(target: GemmTarget): GemmTile[] {
  const tiles: GemmTile[] = [];
  if (target.cpu && target.subgroups) {
    for (const rm of [1, 2, 4, 8, 16, 32]) {
      for (const rn of [1, 2, 4, 8]) {
        if (rm * rn <= (target.maxBlock ?? 128)) tiles.push({ staging: 'subgroup', wx: target.lanes, wy: 1, rm, rn, tk: 1, splits: 1 });
      }
    }
    return tiles;
  }
  for (const [wx, wy] of [[8, 8], [16, 8], [8, 16], [16, 16], [32, 8]] as const) {
    if (wx * wy > target.maxInvocations) continue;
    for (const [rm, rn] of [[4, 4], [4, 8], [8, 4], [8, 8]] as const) {
      for (const tk of [8, 16, 32]) {
        if (4 * tk * (wy * rm + wx * rn) <= target.maxWorkgroupStorage) tiles.push({ staging: 'workgroup', wx, wy, rm, rn, tk, splits: 1 });
      }
    }
  }
  return tiles;
}

const describeTile = (t: GemmTile) =>
  `${t.staging} ${t.wx}×${t.wy} inv, ${t.rm}×${t.rn} each (${t.wy * t.rm}×${t.wx * t.rn})${t.staging === 'workgroup' ? `, tk ${t.tk}` : ''}${t.splits > 1 ? `, ${t.splits} splits` : ''}`;
const sameTile = (a: GemmTile, b: GemmTile) => describeTile(a) === describeTile(b);

interface Instance {
  op: string;
  shape: GemmShape;
  canSplit: boolean;
  /** Runs the instance with a tile; returns its output. */
  run(tile: GemmTile): Tensor;
}

function instances(size: keyof typeof SIZES): { list: Instance[]; inputs: Tensor[] } {
  const { matmul: m, conv } = SIZES[size];
  const gpu = { device: 'webgpu' as const };
  const a = randn([m, m], gpu);
  const b = randn([m, m], gpu);
  const x = randn([1, conv.channels, conv.side, conv.side], gpu);
  const w = randn([conv.channels, conv.channels, 3, 3], gpu);
  const dy = randn([1, conv.channels, conv.side, conv.side], gpu);
  const g: ConvGeometry = conv2dGeometry(x.shape, w.shape, { padding: 1 });
  const dims = { batch: 1, m, n: m, k: m, transA: false, transB: false };
  const convName = `conv3x3 ${conv.channels}→${conv.channels} @${conv.side}²`;
  const list: Instance[] = [
    {
      op: `matmul ${m}³`, shape: { batch: 1, m, n: m, k: m }, canSplit: false,
      run: (tile) => {
        const c = emptyGpu([m, m], 'float32', 'matmul');
        launch(gemmKernel(matmulOperands(dims), { batch: 1, m, n: m, k: m }, tile), [a, b, c]);
        return c;
      },
    },
    { op: `${convName} forward`, shape: forwardShape(g), canSplit: false, run: (tile) => conv2dForwardGpu(x, w, null, g, {}, () => tile) },
    { op: `${convName} input grad`, shape: inputGradShape(g), canSplit: false, run: (tile) => conv2dInputGradGpu(dy, w, g, null, () => tile) },
    { op: `${convName} weight grad`, shape: weightGradShape(g), canSplit: true, run: (tile) => conv2dWeightGradGpu(dy, x, g, null, () => tile) },
  ];
  return { list, inputs: [a, b, x, w, dy] };
}

const rt = await initWebGPU();
const size = (flag('size') ?? 'small') as keyof typeof SIZES;
if (!(size in SIZES)) throw new Error(`gemm-tiles: --size must be 'small' or 'smpr', got '${size}'`);
const timestamps = rt.features.includes('timestamp-query');
const schedule = flag('schedule') ?? 'device';
if (schedule !== 'device' && schedule !== 'workgroup') throw new Error(`gemm-tiles: --schedule must be 'device' or 'workgroup', got '${schedule}'`);
const target: GemmTarget = { ...gemmTarget(rt.deviceInfo), ...(schedule === 'workgroup' ? { cpu: false } : {}) };

/**
 * Median ms of one run on the GPU's clock (or wall clock), after a warm-up that also compiles the pipelines: as many
 * runs as it takes a shape to get its specialised programs (program-cache.ts), which the timed runs then use.
 */
async function time(run: () => Tensor, repeats = 3): Promise<number> {
  for (let i = 0; i < SPECIALISE_AFTER; i++) dispose([run()]);
  await rt.sync();
  const samples: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const start = performance.now();
    if (timestamps) rt.startGpuTimer();
    const out = run();
    const gpuMs = timestamps ? (await rt.stopGpuTimer()).ms : 0;
    await rt.sync();
    samples.push(timestamps ? gpuMs : performance.now() - start);
    out.dispose();
  }
  return median(samples);
}

async function maxRelativeDiff(a: Tensor, b: Tensor): Promise<number> {
  const [x, y] = [await a.toArray(), await b.toArray()];
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < x.length; i++) {
    diff = Math.max(diff, Math.abs(x[i]! - y[i]!));
    scale = Math.max(scale, Math.abs(y[i]!));
  }
  return diff / Math.max(scale, 1e-30);
}

const { list, inputs } = instances(size);
const rows: { op: string; tile: string; chosen: boolean; ms: number; tflops: number; relativeError: number }[] = [];
for (const inst of list) {
  const chosen = chooseTile(inst.shape, inst.canSplit, target);
  const tiles = candidates(target).map((t) => (inst.canSplit ? { ...t, splits: kSplits(inst.shape, t) } : t));
  // Split-K alone, on the chosen tile: how many splits the weight gradient wants here.
  if (inst.canSplit) for (const splits of [1, 2, 4, 8, 16, 32]) if (splits !== chosen.splits) tiles.push({ ...chosen, splits });
  if (!tiles.some((t) => sameTile(t, chosen))) tiles.push(chosen);
  const reference = inst.run(chosen);
  const flops = 2 * inst.shape.batch * inst.shape.m * inst.shape.n * inst.shape.k;
  for (const tile of tiles) {
    const out = inst.run(tile);
    const relativeError = await maxRelativeDiff(out, reference);
    out.dispose();
    const ms = await time(() => inst.run(tile));
    rows.push({ op: inst.op, tile: describeTile(tile), chosen: sameTile(tile, chosen), ms, tflops: flops / ms / 1e9, relativeError });
  }
  reference.dispose();
}
dispose(inputs);

const json = JSON.stringify({ meta: { device: rt.description, size, schedule, clock: timestamps ? 'gpu timestamps' : 'wall', date: new Date().toISOString() }, results: rows }, null, 2) + '\n';
const out = flag('json') ?? '';
if (out) writeFileSync(out, json);
else process.stdout.write(json);
const lines: string[] = ['| op | tile | ms | TFLOP/s | vs chosen | rel. error |', '|---|---|---|---|---|---|'];
for (const op of new Set(rows.map((r) => r.op))) {
  const ofOp = rows.filter((r) => r.op === op).sort((a, b) => a.ms - b.ms);
  const chosen = ofOp.find((r) => r.chosen)!;
  const shown = [...ofOp.slice(0, 5), ...(ofOp.indexOf(chosen) >= 5 ? [chosen] : [])];
  for (const r of shown) {
    lines.push(`| ${op} | ${r.tile}${r.chosen ? ' (chosen)' : ''} | ${r.ms.toFixed(3)} | ${r.tflops.toPrecision(3)} | ${(chosen.ms / r.ms).toFixed(2)}× | ${r.relativeError.toExponential(1)} |`);
  }
}
process.stderr.write(`GEMM tiles on ${rt.description} (${timestamps ? 'GPU clock' : 'wall clock'}), fastest five per op and the chosen one:\n${lines.join('\n')}\n`);
rt.destroy();
process.exit(0);
