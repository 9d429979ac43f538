/**
 * The two kinds of failure a command-line user should see as one plain line instead of a stack trace, and the
 * wrapper that tells them apart from bugs:
 *
 * - `UsageError`: the command line itself is wrong (unknown flag, bad number, missing argument).
 * - `UserError` (src/errors.ts): something the user supplied cannot be used (a missing file, bad JSON, an
 *   unreadable image), wherever it was found.
 *
 * Both exit with status 2, and so does a file system's refusal on a path (permission denied, no space left, a file
 * where a folder should be): it is the user's machine that says no, not this program that is wrong.
 * An `Interrupted` run (SIGINT, SIGTERM) has saved its work and exits 128 + the signal.
 * Anything else is a bug in this program: it is printed with its stack and exits 1.
 */
import { Interrupted, UserError } from '../errors.js';

export class UsageError extends Error {
  override readonly name = 'UsageError';

  /** `command` is the subcommand the error belongs to (e.g. 'train'), shown after the program name. */
  constructor(message: string, readonly command?: string) {
    super(message);
  }
}

const USAGE_EXIT_CODE = 2;
const BUG_EXIT_CODE = 1;

export interface CliIO {
  stderr(text: string): void;
  exit(code: number): void;
}

const processIO: CliIO = {
  stderr: (text) => process.stderr.write(text),
  exit: (code) => process.exit(code),
};

/** The line printed for an expected failure, e.g. `smpr train: unknown flag --epoch (did you mean --epochs?)`. */
function formatError(program: string, error: UsageError | UserError): string {
  const where = error instanceof UsageError && error.command ? `${program} ${error.command}` : program;
  return `${where}: ${error.message}`;
}

const FILE_SYSTEM_ERRORS: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOENT: 'no such file or folder',
  EISDIR: 'is a folder, not a file',
  ENOTDIR: 'a part of the path is not a folder',
  EEXIST: 'already exists',
  ENOTEMPTY: 'the folder is not empty',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EROFS: 'read-only file system',
  EMFILE: 'too many open files',
  ENAMETOOLONG: 'the name is too long',
  EIO: 'input/output error',
};

/**
 * `PATH: what the file system said (CODE, syscall)` for a Node file system error, else null. A write on an open
 * file (a full disk) names no path; the line then says what failed without it.
 */
function fileSystemError(error: unknown): string | null {
  const e = error as NodeJS.ErrnoException;
  if (!(error instanceof Error) || typeof e.code !== 'string' || !(e.code in FILE_SYSTEM_ERRORS)) return null;
  const what = `${FILE_SYSTEM_ERRORS[e.code]} (${e.code}, ${e.syscall ?? 'file system'})`;
  return typeof e.path === 'string' ? `${e.path}: ${what}` : what;
}

/**
 * Runs `main` and exits: 0 when it returns, 2 after printing a usage, user or file system error as one line, an
 * `Interrupted` run's own code (128 + the signal) after its line, 1 after printing any other error with its stack.
 * Exiting explicitly matters because a live WebGPU device keeps Node running.
 */
export async function runCli(program: string, main: () => unknown, io: CliIO = processIO): Promise<void> {
  let code = 0;
  try {
    await main();
  } catch (error) {
    const fileSystem = fileSystemError(error);
    if (error instanceof UsageError || error instanceof UserError) {
      io.stderr(`${formatError(program, error)}\n`);
      code = USAGE_EXIT_CODE;
    } else if (fileSystem !== null) {
      io.stderr(`${program}: ${fileSystem}\n`);
      code = USAGE_EXIT_CODE;
    } else if (error instanceof Interrupted) {
      io.stderr(`${program}: ${error.message}\n`);
      code = error.exitCode;
    } else {
      const detail = error instanceof Error ? (error.stack ?? `${error.name}: ${error.message}`) : String(error);
      io.stderr(`${program}: internal error (a bug; please report it):\n${detail}\n`);
      code = BUG_EXIT_CODE;
    }
  }
  io.exit(code);
}
