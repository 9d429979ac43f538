/**
 * Benchmark plumbing shared by every suite: timing with warm-up and medians, and output as machine-readable
 * JSON (stdout or a file) plus a readable table (stderr, so that `> out.json` captures only the JSON).
 */
import { writeOutputFile } from '../src/io/atomic.js';
import { webgpu } from '../src/tensor/engine.js';
import { SPECIALISE_AFTER } from '../src/backend/program-cache.js';

export interface BenchRow {
  suite: string;
  name: string;
  /** Median wall time of one repetition, in milliseconds. */
  ms: number;
  /** Optional throughput figures. */
  gflops?: number;
  gbps?: number;
  /** A baseline's median on the same device in the same run, and ours relative to it (> 1 = we are faster). */
  baseline?: { name: string; ms: number; speedup: number };
  note?: string;
}

/** The row with a baseline beside it: its time, and the speed-up baseline ms / our ms (> 1: we are faster). */
export const withBaseline = (row: BenchRow, name: string, baselineMs: number | null): BenchRow =>
  baselineMs === null ? row : { ...row, baseline: { name, ms: baselineMs, speedup: baselineMs / row.ms } };

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * Times `run` (which records GPU work) end to end: each repetition is followed by a full GPU sync, so the
 * time covers recording, submission and execution. Returns the median in ms. The warm-up defaults to as many runs
 * as it takes a shape to get its specialised programs (program-cache.ts), so that none is compiled while timed.
 */
export async function timeGpu(run: () => void | Promise<void>, options: { warmup?: number; repeats?: number } = {}): Promise<number> {
  const rt = webgpu();
  for (let i = 0; i < (options.warmup ?? SPECIALISE_AFTER); i++) {
    await run();
    await rt.sync();
  }
  const times: number[] = [];
  for (let i = 0; i < (options.repeats ?? 7); i++) {
    const start = performance.now();
    await run();
    await rt.sync();
    times.push(performance.now() - start);
  }
  return median(times);
}

export function printTable(rows: BenchRow[]): string {
  const header = ['suite', 'benchmark', 'ms', 'GFLOP/s', 'GB/s', 'baseline', 'baseline ms', 'speedup', 'note'];
  const fmt = (v: number | undefined, digits = 3) => (v === undefined ? '' : v >= 100 ? v.toFixed(1) : v.toPrecision(digits));
  const body = rows.map((r) => [r.suite, r.name, fmt(r.ms), fmt(r.gflops), fmt(r.gbps), r.baseline?.name ?? '', fmt(r.baseline?.ms), r.baseline ? `${r.baseline.speedup.toFixed(2)}×` : '', r.note ?? '']);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i].length)));
  const line = (cells: string[]) => '| ' + cells.map((c, i) => c.padEnd(widths[i])).join(' | ') + ' |';
  return [line(header), '|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|', ...body.map(line)].join('\n');
}

export function emit(rows: BenchRow[], meta: Record<string, unknown>, jsonPath?: string): void {
  const json = JSON.stringify({ meta, results: rows }, null, 2);
  if (jsonPath) writeOutputFile(jsonPath, json + '\n');
  else process.stdout.write(json + '\n');
  process.stderr.write('\n' + printTable(rows) + '\n');
}
