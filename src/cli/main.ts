#!/usr/bin/env node
/** `smpr`: the command line. */
import { dispatch } from './args.js';
import { runCli } from './errors.js';
import { program } from './program.js';

process.env.XDG_RUNTIME_DIR ??= '/tmp';
await runCli(program.name, () => dispatch(program, process.argv.slice(2)));
