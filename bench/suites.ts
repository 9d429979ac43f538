/** The benchmark suites and the driver shared by `npm run bench` and `smpr bench`. */
import { writeOutputFile } from '../src/io/atomic.js';
import { plotBars } from '../src/data/plot.js';
import { webgpu } from '../src/tensor/engine.js';
import { batchingSuite } from './batching.js';
import { kernelSuite, type SizePreset } from './kernels.js';
import { emit, type BenchRow } from './report.js';
import { loadTfjs, unloadTfjs } from './tfjs.js';

export const SUITES: Record<string, (size: SizePreset) => Promise<BenchRow[]>> = {
  batching: async () => [
    ...(await batchingSuite({ ops: 400, elements: 1024, batchSizes: [16, 64, 512] })),
    ...(await batchingSuite({ ops: 400, elements: 65536, batchSizes: [16, 64, 512] })),
  ],
  kernels: async (size) => {
    const tf = await loadTfjs(webgpu());
    try {
      return await kernelSuite(size, tf);
    } finally {
      unloadTfjs();
    }
  },
};

export interface BenchOptions {
  suites: string[];
  size: SizePreset;
  json?: string;
  chart?: string;
}

export async function runBenchmarks(options: BenchOptions): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  for (const name of options.suites) {
    const suite = SUITES[name];
    if (!suite) throw new Error(`bench: unknown suite '${name}'; choose from ${Object.keys(SUITES).join(', ')}`);
    rows.push(...(await suite(options.size)));
  }
  const rt = webgpu();
  emit(rows, { device: rt.description, size: options.size, date: new Date().toISOString(), node: process.version }, options.json);
  const compared = rows.filter((r) => r.baseline?.name === 'tfjs-webgpu');
  if (options.chart && compared.length) {
    const label = (r: BenchRow) => `${r.name.split(' ')[0]} ${r.name.includes('input grad') ? 'dx' : r.name.includes('forward+backward') ? 'fwd+bwd' : 'fwd'}`;
    writeOutputFile(options.chart, plotBars(compared.map(label), compared.map((r) => r.baseline!.speedup), { title: 'speed-up over tfjs-backend-webgpu, same device (x)', reference: 1 }));
    process.stderr.write(`chart: ${options.chart}\n`);
  }
  return rows;
}
