/**
 * `UserError`: something the user supplied cannot be used — a missing or corrupt file, a checkpoint of another
 * model, a dataset without trainable people, training that diverged. Thrown wherever the problem is found (data,
 * I/O, training), it reaches the user as one line and exit code 2 (cli/errors.ts); everything else is a bug.
 *
 * `Interrupted`: a run stopped by a signal after saving its work; the command line exits 128 + the signal number.
 */
export class UserError extends Error {
  override readonly name = 'UserError';
}

export class Interrupted extends Error {
  override readonly name = 'Interrupted';

  constructor(message: string, readonly exitCode: number) {
    super(message);
  }
}
