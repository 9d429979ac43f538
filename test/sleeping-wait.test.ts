// Awaiting GPU work on a CPU adapter sleeps between Dawn's polls (src/backend/sleeping-wait.ts): the promise's
// value or error comes through, whether it settles at once, after a few event-loop turns or after a while.
import { expect, test } from 'vitest';
import { awaitSleeping } from '../src/backend/sleeping-wait.js';

test('passes on the value or the error of the promise it waits for', async () => {
  expect(await awaitSleeping(Promise.resolve(7), 1)).toBe(7);
  await expect(awaitSleeping(Promise.reject(new Error('lost device')), 1)).rejects.toThrow('lost device');
  // Settled by a chain of setImmediate callbacks, as Dawn's polls settle its promises.
  const afterTurns = (turns: number) => new Promise<string>((resolve) => {
    const step = (left: number) => (left === 0 ? resolve('done') : setImmediate(() => step(left - 1)));
    step(turns);
  });
  expect(await awaitSleeping(afterTurns(5), 1)).toBe('done');
  const later = new Promise<number>((resolve) => setTimeout(() => resolve(42), 30));
  expect(await awaitSleeping(later, 1)).toBe(42);
});

test('waits pending together all settle, each with its own value', async () => {
  const later = (value: number, ms: number) => new Promise<number>((resolve) => setTimeout(() => resolve(value), ms));
  const values = await Promise.all([5, 1, 4, 2, 3].map((v) => awaitSleeping(later(v, 5 * v), 1)));
  expect(values).toEqual([5, 1, 4, 2, 3]);
  // A wait begun after the others have settled starts the poller again.
  expect(await awaitSleeping(later(9, 5), 1)).toBe(9);
});

