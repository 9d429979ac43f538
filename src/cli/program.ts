/** The `smpr` program: its commands, each defined in src/cli/commands. */
import { existsSync, readFileSync } from 'node:fs';
import type { Program } from './args.js';
import { benchCommand } from './commands/bench.js';
import { convertCommand } from './commands/convert.js';
import { demoCommand } from './commands/demo.js';
import { evalCommand } from './commands/eval.js';
import { exportCommand } from './commands/export.js';
import { infoCommand } from './commands/info.js';
import { predictCommand } from './commands/predict.js';
import { synthCommand } from './commands/synth.js';
import { trainCommand } from './commands/train.js';

export const program: Program = {
  name: 'smpr',
  summary: 'SMPR multi-person pose estimation on a from-scratch WebGPU tensor engine',
  version: packageVersion(),
  commands: [demoCommand, synthCommand, trainCommand, predictCommand, evalCommand, exportCommand, convertCommand, infoCommand, benchCommand],
};

/** The package's version: its package.json is two folders above src/cli/program.ts, three above dist/src/cli/program.js. */
function packageVersion(): string {
  const file = ['../../package.json', '../../../package.json'].map((path) => new URL(path, import.meta.url)).find((url) => existsSync(url))!;
  return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
}
