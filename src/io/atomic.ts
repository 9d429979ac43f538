/**
 * Crash-safe file replacement: the bytes go to a temporary file in the same directory (so the final rename
 * stays on one filesystem and is atomic), which is fsynced and then renamed over the target. A reader — or a
 * training run resumed after a crash — sees either the old file or the complete new one, never a torn write.
 */
import { appendFileSync, closeSync, existsSync, fsyncSync, openSync, realpathSync, renameSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { UserError } from '../errors.js';

/**
 * Writes `chunks` to `path` atomically. The chunks are consumed one at a time, so a large file is never
 * assembled in memory; if producing one throws, the temporary file is removed and `path` is left as it was.
 */
export function writeFileAtomic(path: string, chunks: Iterable<Uint8Array>): void {
  // The rename replaces whatever is at `path`: through a symlink, write its target; a device, a FIFO or a folder
  // there is refused, not replaced by a file.
  if (existsSync(path)) {
    path = realpathSync(path);
    if (!statSync(path).isFile()) throw new UserError(`cannot write ${path}: it is not a regular file`);
  }
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now().toString(36)}.tmp`);
  let fd: number | null = null;
  try {
    fd = openSync(temp, 'wx');
    for (const chunk of chunks) {
      for (let done = 0; done < chunk.byteLength; ) done += writeSync(fd, chunk, done);
    }
    fsyncSync(fd);
    closeSync(fd);
    fd = null;
    renameSync(temp, path);
  } catch (error) {
    if (fd !== null) closeSync(fd);
    try {
      rmSync(temp, { force: true });
    } catch {
      // The temp file could not even be created there (e.g. the folder is a file): nothing to clean, and the
      // error to report is the first one.
    }
    throw writeFailure(path, error);
  }
  syncDirectory(dirname(path));
}

/**
 * An output a user names (`--json FILE`): a regular file, or none yet, is written atomically, so that a full disk
 * leaves no cut-off file and the error names it; anything else there (`/dev/stdout`, a pipe) is written to as it is.
 */
export function writeOutputFile(path: string, data: string | Uint8Array): void {
  const bytes = typeof data === 'string' ? Buffer.from(data) : data;
  if (!existsSync(path) || statSync(path).isFile()) return writeFileAtomic(path, [bytes]);
  try {
    writeFileSync(path, bytes);
  } catch (error) {
    throw writeFailure(path, error);
  }
}

/**
 * Appends `text` to `path` (a run's log, a line at a time). Node's error for a write that fails on the open file
 * (a full disk) names no path; this one does.
 */
export function appendOutputFile(path: string, text: string): void {
  try {
    appendFileSync(path, text);
  } catch (error) {
    throw writeFailure(path, error);
  }
}

/** What to throw for `error` met writing `path`: a file-system failure as a UserError naming the file, anything else as it is. */
function writeFailure(path: string, error: unknown): unknown {
  return isFsError(error) ? new UserError(`cannot write ${path}: ${error.message}`) : error;
}

/** Makes the rename itself durable. Some platforms cannot open a directory for fsync; the rename is then as durable as the OS makes it. */
function syncDirectory(dir: string): void {
  let fd: number | null = null;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // Best effort only: the file is already complete and in place.
  } finally {
    if (fd !== null) closeSync(fd);
  }
}

/** A failure of the filesystem (permissions, missing directory, full disk), as opposed to a bug in the caller. */
export function isFsError(error: unknown): error is NodeJS.ErrnoException {
  return error instanceof Error && typeof (error as NodeJS.ErrnoException).code === 'string' && typeof (error as NodeJS.ErrnoException).syscall === 'string';
}
