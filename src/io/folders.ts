/** Output folders and files, checked before any work: one line saying why a path cannot be used, naming its flag. */
import { accessSync, constants, existsSync, mkdirSync, realpathSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { UserError } from '../errors.js';

/** Creates the output folder of `flag`, or says why it cannot be one. */
export function prepareFolder(flag: string, dir: string): void {
  if (dir === '') throw new UserError(`${flag} needs a folder name, got ''`);
  if (existsSync(dir) && !statSync(dir).isDirectory()) throw new UserError(`${flag} ${dir}: is a file, not a folder`);
  try {
    makeFolders(dir);
  } catch (error) {
    throw new UserError(`${flag} ${dir}: cannot create the folder (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  // A folder that exists but takes no files is found now, not after the work whose output it was to hold.
  try {
    accessSync(dir, constants.W_OK);
  } catch {
    throw new UserError(`${flag} ${dir}: the folder is not writable`);
  }
}

/**
 * `mkdir -p`, one folder at a time down from the nearest that exists. Node's recursive mkdir never returns where a
 * file system answers ENOENT for a folder whose parent exists (procfs: `/proc/x`): it makes the parent again, is
 * told it exists, and retries the child, forever.
 */
function makeFolders(dir: string): void {
  const missing: string[] = [];
  for (let d = resolve(dir); !existsSync(d) && dirname(d) !== d; d = dirname(d)) missing.push(d);
  for (const d of missing.reverse()) {
    try {
      mkdirSync(d);
    } catch (error) {
      // Made meanwhile by someone else: as good as made here.
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || !statSync(d).isDirectory()) throw error;
    }
  }
}

/** Makes sure the output file of `flag` can be written: not a folder, and its folder exists or can be made. */
export function prepareFileFor(flag: string, path: string): void {
  if (path === '') throw new UserError(`${flag} needs a file name, got ''`);
  if (!existsSync(path)) {
    prepareFolder(flag, dirname(path) || '.');
    return;
  }
  if (statSync(path).isDirectory()) throw new UserError(`${flag} ${path}: is a folder, expected a file name`);
  // An existing file needs only itself writable (/dev/stdout, a file in a folder one cannot write to).
  try {
    accessSync(path, constants.W_OK);
  } catch {
    throw new UserError(`${flag} ${path}: the file is not writable`);
  }
}

/** Refuses an output file that is one of the inputs: writing it would destroy what is being read. */
export function refuseOverwrite(flag: string, path: string, input: string): void {
  const real = (p: string) => (existsSync(p) ? realpathSync(p) : resolve(p));
  if (real(path) === real(input)) throw new UserError(`${flag} ${path}: is the input file itself; write the copy elsewhere`);
}

/** Whether process `pid` still runs (a lock's or a staging folder's owner); EPERM means it runs as another user. */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
