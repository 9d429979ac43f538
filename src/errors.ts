/**
 * `UserError`: something the user supplied cannot be used — a missing or corrupt file, a checkpoint of another
 * model, a dataset without trainable people, training that diverged. Thrown wherever the problem is found (data,
 * I/O, training), it reaches the user as one line and exit code 2 (cli/errors.ts); everything else is a bug.
 *
 * `Interrupted`: a run stopped by a signal after saving its work; the command line exits 128 + the signal number.
 *
 * `checkNonNegative`: the one check of a number that must be finite and ≥ 0 (an eps, a rate, an area), shared by
 * the engine, training and evaluation; this file imports nothing, so each of them may import it.
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

/** A NaN or negative eps, rate or area gave NaN (or a score above 1) far from its cause. */
export function checkNonNegative(op: string, name: string, value: number): void {
  if (!(Number.isFinite(value) && value >= 0)) throw new Error(`${op}: ${name} must be a finite number ≥ 0, got ${value}`);
}
