/**
 * A training run's folder: `last.safetensors`, `log.jsonl`, `loss.png`, and while a run is alive a lock file
 * naming its process, so that two runs never write into one folder (their logs would interleave and the last save
 * would win). A lock whose process is gone is stale and taken over; so are the temporary files of a checkpoint
 * write that was killed.
 */
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../errors.js';
import { prepareFolder, processAlive } from '../io/folders.js';
import { readUserFile } from '../io/read-file.js';

const LOCK_FILE = '.lock';

/** Creates the folder (or says why it cannot be one) and takes its lock; returns the release function. */
export function lockRunFolder(dir: string): () => void {
  prepareFolder('--out', dir);
  const lock = join(dir, LOCK_FILE);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(lock, `${process.pid}\n`, { flag: 'wx' });
      removeStaleTemps(dir);
      let released = false;
      return () => {
        if (!released) rmSync(lock, { force: true });
        released = true;
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw new UserError(`--out ${dir}: cannot write ${lock} (${(error as Error).message})`);
      const holder = Number(readFileSync(lock, 'utf8').trim());
      if (Number.isInteger(holder) && holder > 0 && processAlive(holder)) {
        throw new UserError(`--out ${dir} is in use by another training run (pid ${holder}); wait for it to finish or choose another folder`);
      }
      rmSync(lock, { force: true }); // stale: its process is gone
    }
  }
  throw new UserError(`--out ${dir}: could not take the lock ${lock}`);
}

/** Removes `.<name>.<pid>.<time>.tmp` files (src/io/atomic.ts) left by processes that no longer run. */
function removeStaleTemps(dir: string): void {
  for (const name of readdirSync(dir)) {
    const match = /^\..+\.(\d+)\.[0-9a-z]+\.tmp$/.exec(name);
    if (match && !processAlive(Number(match[1]))) rmSync(join(dir, name), { force: true });
  }
}

/**
 * The log's records before iteration `before` (a resumed run continues after them). A last line cut off by a
 * crash is dropped; a damaged line elsewhere is an error naming it.
 */
export function readLogBefore<T extends { iter: number }>(path: string, before: number): T[] {
  if (!existsSync(path)) return [];
  // readFileSync of a folder fails on read, and Node's error then names no path.
  const lines = readUserFile(path).toString('utf8').split('\n');
  const records: T[] = [];
  lines.forEach((line, i) => {
    if (!line.trim()) return;
    let record: unknown;
    try {
      record = JSON.parse(line);
    } catch {
      const last = lines.slice(i + 1).every((rest) => !rest.trim());
      if (!last) throw new UserError(`${path}: line ${i + 1} is not JSON; the log is damaged (move it away to resume without it)`);
      return;
    }
    if (typeof record !== 'object' || record === null || !Number.isInteger((record as { iter?: unknown }).iter)) {
      throw new UserError(`${path}: line ${i + 1} is not a log record (no iteration number); the log is damaged (move it away to resume without it)`);
    }
    records.push(record as T);
  });
  return records.filter((r) => r.iter < before);
}
