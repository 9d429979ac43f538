/**
 * `npm run bench -- [--suite batching,kernels] [--size small|smpr] [--json out.json] [--chart ratios.png]`
 * (the same as `smpr bench`): JSON on stdout (or --json), a table on stderr, a bar chart of speed-ups.
 */
import { initWebGPU } from '../src/index.js';
import { runBenchmarks, SUITES } from './suites.js';
import { flag } from './flags.js';

const rt = await initWebGPU();
const size = flag('size') ?? 'small';
if (size !== 'small' && size !== 'smpr') {
  process.stderr.write(`bench: --size must be 'small' or 'smpr', got '${size}'\n`);
  process.exit(2);
}
await runBenchmarks({ suites: (flag('suite') ?? Object.keys(SUITES).join(',')).split(','), size, json: flag('json'), chart: flag('chart') ?? 'bench-ratios.png' });
rt.destroy();
process.exit(0);
