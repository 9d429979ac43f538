#!/usr/bin/env node
/** `smpr`: the command line. It runs the command in a child whose stderr is freed of Dawn's noise (quiet-dawn.ts). */
import { fileURLToPath } from 'node:url';
import { dispatch } from './args.js';
import { runCli } from './errors.js';
import { program } from './program.js';
import { FILTERED_ENV, runFiltered } from './quiet-dawn.js';

process.env.XDG_RUNTIME_DIR ??= '/tmp';
if (process.env[FILTERED_ENV] === undefined) {
  process.exit(await runFiltered(fileURLToPath(import.meta.url), process.argv.slice(2)));
}
// stdout only reports on the work, whose results are files: when its reader goes (`smpr predict *.png | head -1`),
// the work goes on unreported. The write's EPIPE was an unhandled 'error' event: a stack trace, exit 1, no results.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') throw error;
});
await runCli(program.name, () => dispatch(program, process.argv.slice(2)));
