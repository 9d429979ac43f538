/**
 * The GPU table from one run of bench/gpu/run.sh: `node dist/bench/gpu-report.js DIR [--out results.json]`.
 *
 * DIR holds what the run wrote (adapter, kernels, step-r50, step-tiny, torch-anchor, torch-r50, gemm-tiles: one
 * JSON each, and parts.jsonl). Prints the README's table in Markdown: each workload for ours, PyTorch and
 * tfjs-webgpu from the same run, the ratios, and the goal with whether it is met; then the training step's
 * anatomy (dispatches, submits, recording against GPU time, peak memory) and the tile sweep's verdict. With
 * --out, writes all of it, and the run's raw rows, as one JSON file (bench/results/).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { flag } from './flags.js';
import type { BenchRow } from './report.js';

const dir = process.argv[2];
if (!dir || !existsSync(dir)) {
  process.stderr.write(`gpu-report: give the folder bench/gpu/run.sh wrote, got '${dir ?? ''}'\n`);
  process.exit(2);
}
const outPath = flag('out');

/** A part's JSON, or null when the part failed, was cut short or did not run (its log says why). */
function part<T>(name: string): T | null {
  const file = join(dir!, `${name}.json`);
  if (!existsSync(file)) return null;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as T;
  } catch {
    return null;
  }
}

interface StepReport {
  adapter: string; config: string; input: number[]; stepMs: number; imagesPerSecond: number; dispatchesPerStep: number; submitsPerStep: number; newBindGroupsPerStep?: number;
  recordMs: number; gpuMs: number | null; peakStepBytes: number; peakBytesInUse: number; bytesHeld: number; forwardMs: number;
  kernels: { label: string; ms: number; dispatches: number; share: number }[];
  slowest: { label: string; workgroups: number[]; ms: number; issuer: string }[];
}
interface TileRow { op: string; tile: string; chosen: boolean; ms: number; tflops: number; relativeError: number }
type TorchTimes = Record<string, Record<string, number> | string | number>;

const adapter = part<Record<string, unknown>>('adapter');
const kernels = part<{ meta: Record<string, unknown>; results: BenchRow[] }>('kernels');
const stepR50 = part<StepReport>('step-r50');
const stepTiny = part<StepReport>('step-tiny');
const torch = part<TorchTimes>('torch-anchor');
const torchR50 = part<Record<string, number>>('torch-r50');
const tiles = part<{ meta: Record<string, unknown>; results: TileRow[] }>('gemm-tiles');
const parts = existsSync(join(dir, 'parts.jsonl'))
  ? readFileSync(join(dir, 'parts.jsonl'), 'utf8').trim().split('\n').filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>)
  : [];

const ours = (pattern: RegExp) => kernels?.results.find((r) => pattern.test(r.name));
const torchField = (key: string, field: string) => {
  const entry = torch?.[key];
  return typeof entry === 'object' ? entry[field] : undefined;
};

interface TableRow {
  workload: string;
  oursMs?: number;
  oursTflops?: number;
  torchMs?: number;
  tfjsMs?: number;
  goal: string;
  met?: boolean;
  note?: string;
}

const conv = ours(/^conv3x3 .* forward$/);
const dgrad = ours(/^conv3x3 .* input grad$/);
const matmul = ours(/^matmul /);
const dcnFwd = ours(/^DCN .* forward$/);
const dcnBoth = ours(/^DCN .* forward\+backward$/);
const gn = ours(/^GroupNorm/);
const tflops = (row?: BenchRow) => (row?.gflops === undefined ? undefined : row.gflops / 1000);
const atLeast = (value: number | undefined, goal: number) => (value === undefined ? undefined : value >= goal);
const atMost = (value: number | undefined, goal: number) => (value === undefined ? undefined : value <= goal);

const rows: TableRow[] = [
  { workload: conv?.name ?? 'conv3x3 forward', oursMs: conv?.ms, oursTflops: tflops(conv), torchMs: torchField('conv3x3_fp32_n1c256h100k256', 'fwd_ms'), tfjsMs: conv?.baseline?.ms, goal: '≥ 20 TFLOP/s', met: atLeast(tflops(conv), 20) },
  { workload: dgrad?.name ?? 'conv3x3 input grad', oursMs: dgrad?.ms, oursTflops: tflops(dgrad), tfjsMs: dgrad?.baseline?.ms, goal: '≥ 15 TFLOP/s', met: atLeast(tflops(dgrad), 15), note: `PyTorch times only forward + both gradients: ${fmt(torchField('conv3x3_fp32_n1c256h100k256', 'fwd_bwd_ms'))} ms` },
  { workload: matmul?.name ?? 'matmul', oursMs: matmul?.ms, oursTflops: tflops(matmul), torchMs: torchField('matmul4096_fp32', 'ms'), tfjsMs: matmul?.baseline?.ms, goal: '≥ 35 TFLOP/s', met: atLeast(tflops(matmul), 35) },
  { workload: dcnFwd?.name ?? 'DCN forward', oursMs: dcnFwd?.ms, torchMs: torchField('dcn3x3_n1c256h100', 'fwd_ms'), goal: '≤ 0.5 ms', met: atMost(dcnFwd?.ms, 0.5), note: 'PyTorch: torchvision, one offset group' },
  { workload: dcnBoth?.name ?? 'DCN forward+backward', oursMs: dcnBoth?.ms, torchMs: torchField('dcn3x3_n1c256h100', 'fwd_bwd_ms'), goal: '≤ 1.5 ms', met: atMost(dcnBoth?.ms, 1.5) },
  { workload: gn?.name ?? 'GroupNorm forward+backward', oursMs: gn?.ms, torchMs: torchField('groupnorm32_n1c256h100', 'fwd_bwd_ms'), tfjsMs: gn?.baseline?.ms, goal: '≤ 0.2 ms', met: atMost(gn?.ms, 0.2), note: 'tfjs: composed of its ops' },
  { workload: `SMPR-${stepR50?.config ?? 'r50'} ${stepR50?.input.slice(2).join('×') ?? ''}, batch 1: inference forward`, oursMs: stepR50?.forwardMs, torchMs: torchR50?.fwd_ms_fp32, goal: '≤ 30 ms', met: atMost(stepR50?.forwardMs, 30), note: 'PyTorch: no_grad forward, heatmap branch included' },
  { workload: `SMPR-${stepR50?.config ?? 'r50'}, batch 1: training step`, oursMs: stepR50?.stepMs, torchMs: torchR50?.train_step_ms_fp32, goal: '≤ 110 ms', met: atMost(stepR50?.stepMs, 110), note: 'ours: assigner and the five losses included; PyTorch: none (a squared-output loss)' },
];

function fmt(value: number | undefined, digits = 3): string {
  if (value === undefined || !Number.isFinite(value)) return '—';
  return value >= 100 ? value.toFixed(0) : value.toPrecision(digits);
}
const ratio = (baseline?: number, mine?: number) => (baseline === undefined || mine === undefined ? '—' : `${(baseline / mine).toFixed(2)}×`);

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;
const md: string[] = [];
md.push(`Device: ${String(adapter?.description ?? kernels?.meta.device ?? '?')}; ${String(adapter?.dawn ?? '')}, Node ${String(adapter?.node ?? kernels?.meta.node ?? '?')}; PyTorch ${String(torch?.torch ?? '—')} on ${String(torch?.device ?? '—')}; ${String(adapter?.date ?? kernels?.meta.date ?? '')}.`);
md.push('');
md.push('| workload | ours ms | ours TFLOP/s | PyTorch ms | tfjs-webgpu ms | PyTorch ÷ ours | tfjs ÷ ours | goal | met |');
md.push('|---|---|---|---|---|---|---|---|---|');
for (const r of rows) {
  md.push(`| ${r.workload} | ${fmt(r.oursMs)} | ${fmt(r.oursTflops)} | ${fmt(r.torchMs)} | ${fmt(r.tfjsMs)} | ${ratio(r.torchMs, r.oursMs)} | ${ratio(r.tfjsMs, r.oursMs)} | ${r.goal} | ${r.met === undefined ? '—' : r.met ? 'yes' : 'no'} |`);
}
const notes = rows.filter((r) => r.note).map((r) => `${r.workload}: ${r.note}`);
md.push('', ...notes.map((n) => `- ${n}`));
for (const step of [stepR50, stepTiny].filter((s): s is StepReport => s !== null)) {
  md.push('');
  md.push(`Training step, ${step.config} ${step.input.join('×')}: ${fmt(step.stepMs)} ms (${fmt(step.imagesPerSecond)} img/s), ${step.dispatchesPerStep} dispatches in ${step.submitsPerStep} submits${step.newBindGroupsPerStep === undefined ? '' : `, ${step.newBindGroupsPerStep} new bind groups`}; JavaScript records it in ${fmt(step.recordMs)} ms, the GPU executes it in ${step.gpuMs === null ? '— (no timestamps)' : `${fmt(step.gpuMs)} ms`}; peak ${mib(step.peakStepBytes)} of tensors in the step (${mib(step.peakBytesInUse)} live with the parameters and optimizer state, ${mib(step.bytesHeld)} held with the pool).`);
  if (step.kernels.length) {
    md.push('', '| kernel | dispatches | replayed ms | share |', '|---|---|---|---|');
    for (const k of step.kernels.slice(0, 10)) md.push(`| ${k.label} | ${k.dispatches} | ${fmt(k.ms)} | ${(100 * k.share).toFixed(1)} % |`);
  }
}
const tileVerdict: { op: string; chosen: TileRow; best: TileRow }[] = [];
if (tiles) {
  for (const op of new Set(tiles.results.map((r) => r.op))) {
    const ofOp = tiles.results.filter((r) => r.op === op && r.relativeError < 1e-3).sort((a, b) => a.ms - b.ms);
    const chosen = tiles.results.find((r) => r.op === op && r.chosen);
    if (chosen && ofOp[0]) tileVerdict.push({ op, chosen, best: ofOp[0] });
  }
  md.push('', `GEMM tiles (${String(tiles.meta.clock)}): the chosen tile against the fastest correct one.`, '', '| op | chosen | ms | fastest | ms | chosen ÷ fastest |', '|---|---|---|---|---|---|');
  for (const v of tileVerdict) md.push(`| ${v.op} | ${v.chosen.tile} | ${fmt(v.chosen.ms)} | ${v.best.tile} | ${fmt(v.best.ms)} | ${(v.chosen.ms / v.best.ms).toFixed(2)}× |`);
  const wrong = tiles.results.filter((r) => !(r.relativeError < 1e-3));
  if (wrong.length) md.push('', `Tiles whose result differs from the chosen tile's (relative error ≥ 1e-3): ${wrong.map((r) => `${r.op} / ${r.tile}`).join('; ')}`);
}
const failed = parts.filter((p) => p.rc !== 0);
if (failed.length) md.push('', `Parts that did not finish: ${failed.map((p) => `${String(p.part)} (${p.skipped ? String(p.skipped) : `rc ${String(p.rc)}`})`).join(', ')}.`);
process.stdout.write(md.join('\n') + '\n');

if (outPath) {
  const record = { meta: { adapter, nvidiaSmi: existsSync(join(dir, 'nvidia-smi.txt')) ? readFileSync(join(dir, 'nvidia-smi.txt'), 'utf8').split('\n').slice(0, 12).join('\n') : null, parts }, table: rows, steps: { r50: stepR50, tiny: stepTiny }, tiles: tileVerdict, raw: { kernels, torch, torchR50, tiles } };
  writeFileSync(outPath, JSON.stringify(record, null, 2) + '\n');
  process.stderr.write(`wrote ${outPath}\n`);
}
