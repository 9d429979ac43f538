/**
 * Dawn prints two warnings from native code, straight to file descriptor 2, whenever it opens lavapipe
 * ("maxDynamicUniformBuffersPerPipelineLayout artificially reduced from 1000000 to 16 …", and the same for
 * storage buffers). Neither the `webgpu` package nor Node can silence a native write to fd 2, so `smpr` runs its
 * command in a child process whose stderr passes through `StderrFilter`: those two lines are dropped, everything
 * else (errors, the progress bar's redraws) goes through as it comes. Signals are passed on to the child, and its
 * exit code becomes the command's.
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:os';

/** Set in the child: 'tty' when the user's stderr is a terminal (the progress bar redraws in place), else 'pipe'. */
export const FILTERED_ENV = 'SMPR_STDERR_FILTERED';
/** The terminal's width, for the child's progress bar. */
export const COLUMNS_ENV = 'SMPR_COLUMNS';

const NOISE = /^Warning: maxDynamic(Uniform|Storage)BuffersPerPipelineLayout artificially reduced from \d+ to \d+ to fit dynamic offset allocation limit\.\r?$/;
const NOISE_PREFIX = 'Warning: maxDynamic';

/** Drops Dawn's two lines from a text stream; a partial line that cannot be one of them is passed on at once. */
export class StderrFilter {
  private pending = '';

  push(text: string): string {
    const lines = (this.pending + text).split('\n');
    this.pending = lines.pop()!;
    let out = lines.filter((line) => !NOISE.test(line)).map((line) => line + '\n').join('');
    const couldBeNoise = this.pending.length < NOISE_PREFIX.length ? NOISE_PREFIX.startsWith(this.pending) : this.pending.startsWith(NOISE_PREFIX);
    if (!couldBeNoise) {
      out += this.pending;
      this.pending = '';
    }
    return out;
  }

  end(): string {
    const rest = NOISE.test(this.pending) ? '' : this.pending;
    this.pending = '';
    return rest;
  }
}

/** Runs `script args…` as a child with filtered stderr; resolves with the exit code the command should end with. */
export function runFiltered(script: string, args: readonly string[]): Promise<number> {
  const child = spawn(process.execPath, [...process.execArgv, script, ...args], {
    stdio: ['inherit', 'inherit', 'pipe'],
    env: { ...process.env, [FILTERED_ENV]: process.stderr.isTTY ? 'tty' : 'pipe', [COLUMNS_ENV]: String(process.stderr.columns ?? '') },
  });
  const filter = new StderrFilter();
  // When stderr's reader goes (`smpr train 2>&1 | head`), this process died of the EPIPE and left the child running
  // on unseen, holding its run folder; it waits for the child instead, as when stdout's reader goes (main.ts).
  process.stderr.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
  });
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (text: string) => process.stderr.write(filter.push(text)));
  // Ctrl-C reaches both processes; a signal sent to this one alone (kill PID) is passed on. Either way the child
  // decides (train saves a checkpoint) and this process waits for it.
  const forward = (signal: NodeJS.Signals) => child.kill(signal);
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  return new Promise((resolve) => {
    child.on('close', (code, signal) => {
      process.stderr.write(filter.end());
      resolve(code ?? 128 + (signal ? constants.signals[signal] : 0));
    });
  });
}
