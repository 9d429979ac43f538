// Runs the `smpr` command line in this process, capturing what it prints and the exit code it asks for.
import { dispatch } from '../src/cli/args.js';
import { runCli } from '../src/cli/errors.js';
import { program } from '../src/cli/program.js';

export async function smpr(...argv: string[]): Promise<{ code: number; stderr: string; stdout: string }> {
  let stderr = '';
  let stdout = '';
  let code = -1;
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: string) => ((stdout += chunk), true)) as typeof process.stdout.write;
  try {
    await runCli('smpr', () => dispatch(program, argv), { stderr: (t) => void (stderr += t), exit: (c) => void (code = c) });
  } finally {
    process.stdout.write = write;
  }
  return { code, stderr, stdout };
}
