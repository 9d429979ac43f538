/**
 * `npm run bench [-- --suite batching,kernels] [--json out.json]`: runs the benchmark suites on the WebGPU
 * device, prints JSON (stdout or --json file) and a table (stderr).
 */
import { initWebGPU } from '../src/index.js';
import { batchingSuite } from './batching.js';
import { emit, type BenchRow } from './report.js';

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const suites: Record<string, () => Promise<BenchRow[]>> = {
  batching: async () => [
    ...(await batchingSuite({ ops: 400, elements: 1024, batchSizes: [16, 64, 512] })),
    ...(await batchingSuite({ ops: 400, elements: 65536, batchSizes: [16, 64, 512] })),
  ],
};

const rt = await initWebGPU();
const chosen = (flag('suite') ?? Object.keys(suites).join(',')).split(',');
const rows: BenchRow[] = [];
for (const name of chosen) {
  const suite = suites[name];
  if (!suite) {
    process.stderr.write(`bench: unknown suite '${name}'; choose from ${Object.keys(suites).join(', ')}\n`);
    process.exit(2);
  }
  rows.push(...(await suite()));
}
emit(rows, { device: rt.description, date: new Date().toISOString(), node: process.version }, flag('json'));
rt.destroy();
