// Broadcasting follows NumPy: align shapes at the right; each pair of dimensions must be equal or contain a 1.
import fc from 'fast-check';
import { expect, test } from 'vitest';
import * as T from '../src/index.js';
import { broadcastShapes } from '../src/tensor/shape.js';

/** NumPy's rule written out independently: pad with leading 1s, then compare dimension by dimension. */
function numpyBroadcast(a: number[], b: number[]): number[] | null {
  const rank = Math.max(a.length, b.length);
  const pa = [...Array(rank - a.length).fill(1), ...a];
  const pb = [...Array(rank - b.length).fill(1), ...b];
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    if (pa[i] === pb[i] || pb[i] === 1) out.push(pa[i]);
    else if (pa[i] === 1) out.push(pb[i]);
    else return null;
  }
  return out;
}

const dims = fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 4 });

test('broadcastShapes agrees with NumPy on random pairs, including the error cases', () => {
  fc.assert(
    fc.property(dims, dims, (a, b) => {
      const expected = numpyBroadcast(a, b);
      if (expected === null) expect(() => broadcastShapes('op', a, b)).toThrow(/op: shapes .* cannot be broadcast/);
      else expect(broadcastShapes('op', a, b)).toEqual(expected);
    }),
    { numRuns: 500 },
  );
});

test('broadcast results have the right values: [3,1] + [4] is an outer sum', () => {
  const out = T.add(T.tensor([[0], [10], [20]]), T.tensor([1, 2, 3, 4]));
  expect(out.shape).toEqual([3, 4]);
  expect(Array.from(out.toArraySync())).toEqual([1, 2, 3, 4, 11, 12, 13, 14, 21, 22, 23, 24]);
});

test('a zero-size dimension broadcasts against 1 and stays empty', () => {
  expect(T.add(T.zeros([0, 3]), T.ones([1, 3])).shape).toEqual([0, 3]);
  expect(() => T.add(T.zeros([0, 3]), T.ones([2, 3]))).toThrow(/cannot be broadcast/);
});
