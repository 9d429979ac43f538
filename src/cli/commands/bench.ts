import { defineCommand } from '../args.js';
import { UsageError } from '../errors.js';
import { prepareFileFor } from '../../io/folders.js';
import { openGpu } from '../model-io.js';
import { runBenchmarks, SUITES } from '../../../bench/suites.js';

export const benchCommand = defineCommand({
  name: 'bench',
  summary: 'time our WGSL kernels against tfjs-backend-webgpu, and batched submits against one per op, on this device (JSON + table + bar chart)',
  flags: {
    suite: { type: 'string', default: Object.keys(SUITES).join(','), description: `comma-separated suites: ${Object.keys(SUITES).join(', ')}`, valueName: 'S,S' },
    json: { type: 'string', description: 'write the JSON here instead of stdout', valueName: 'FILE' },
    chart: { type: 'string', default: 'bench-ratios.png', description: 'bar chart of speed-ups over the baseline', valueName: 'FILE' },
    size: { type: 'string', choices: ['small', 'smpr'], default: 'small', description: "'small': shapes lavapipe can run; 'smpr': the real SMPR shapes (for a real GPU)" },
  },
  async run({ flags }) {
    const suites = flags.suite.split(',');
    const unknown = suites.find((name) => !(name in SUITES));
    if (unknown !== undefined) throw new UsageError(`--suite: no suite '${unknown}'; choose from ${Object.keys(SUITES).join(', ')}`, 'bench');
    if (flags.json !== undefined) prepareFileFor('--json', flags.json);
    prepareFileFor('--chart', flags.chart);
    await openGpu();
    await runBenchmarks({ suites, json: flags.json, chart: flags.chart, size: flags.size as 'small' | 'smpr' });
  },
});
