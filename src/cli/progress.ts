/**
 * A one-line progress bar for the terminal: done/total, rate, ETA and a few live numbers. Redraws in place on
 * a TTY; elsewhere (CI logs, pipes) prints a plain line at most every few seconds so logs stay readable.
 */
import { COLUMNS_ENV, FILTERED_ENV } from './quiet-dawn.js';

export class ProgressBar {
  private readonly start = performance.now();
  private lastPlain = 0;
  /** A terminal, also when it reaches this process through the stderr filter of quiet-dawn.ts. */
  private readonly tty: boolean;
  private readonly columns: number;

  constructor(
    private readonly label: string,
    private readonly total: number,
    private readonly unit = 'it',
    private readonly stream: NodeJS.WriteStream = process.stderr,
    /** Work already done before this bar started (a resumed run): it counts towards done, not towards the rate. */
    private readonly initial = 0,
  ) {
    this.tty = stream.isTTY || (stream === process.stderr && process.env[FILTERED_ENV] === 'tty');
    this.columns = stream.columns ?? (Number(process.env[COLUMNS_ENV]) || 120);
  }

  update(done: number, fields: Record<string, string | number> = {}): void {
    const elapsed = (performance.now() - this.start) / 1000;
    const rate = (done - this.initial) / Math.max(elapsed, 1e-9);
    const eta = rate > 0 ? (this.total - done) / rate : Infinity;
    const width = 24;
    const filled = Math.round((width * done) / Math.max(this.total, 1));
    const bar = '█'.repeat(filled) + '░'.repeat(width - filled);
    const extra = Object.entries(fields).map(([k, v]) => `${k} ${typeof v === 'number' ? v.toPrecision(4) : v}`).join('  ');
    const line = `${this.label} ${bar} ${done}/${this.total} ${rate.toFixed(2)} ${this.unit}/s ETA ${formatDuration(eta)}  ${extra}`;
    if (this.tty) this.stream.write(`\r${line.slice(0, this.columns - 1)}\x1b[K`);
    else if (done === this.total || performance.now() - this.lastPlain > 5000) {
      this.stream.write(line + '\n');
      this.lastPlain = performance.now();
    }
  }

  finish(): void {
    if (this.tty) this.stream.write('\n');
  }
}

function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const pad = (n: number) => String(n).padStart(2, '0');
  return h ? `${h}:${pad(m)}:${pad(s % 60)}` : `${pad(m)}:${pad(s % 60)}`;
}

/** Progress reporters that draw a bar on stderr, for `train` and `evaluateDataset`. */
export const progressBar = (label: string, unit: string) => (total: number, alreadyDone: number): ProgressBar =>
  new ProgressBar(label, total, unit, process.stderr, alreadyDone);
