// Small random conv problems for property tests of the conv ops: every one compiles its own pipelines, so the
// sizes stay small; the input is the smallest the (padded) kernel fits in, plus some, and one column wider than tall.
import fc from 'fast-check';
import type { Conv2dOptions } from '../src/ops/conv2d.js';

export interface ConvShapes {
  x: number[];
  w: number[];
  options: Conv2dOptions;
}

export const smallConv: fc.Arbitrary<ConvShapes> = fc.record({
  n: fc.integer({ min: 1, max: 2 }),
  groups: fc.integer({ min: 1, max: 2 }),
  cinG: fc.integer({ min: 1, max: 3 }),
  coutG: fc.integer({ min: 1, max: 4 }),
  k: fc.integer({ min: 1, max: 3 }),
  stride: fc.integer({ min: 1, max: 2 }),
  padding: fc.integer({ min: 0, max: 1 }),
  extra: fc.integer({ min: 0, max: 4 }),
}).map((r) => {
  const size = Math.max(1, r.k - 2 * r.padding) + r.extra;
  return { x: [r.n, r.cinG * r.groups, size, size + 1], w: [r.coutG * r.groups, r.cinG, r.k, r.k], options: { stride: r.stride, padding: r.padding, groups: r.groups } };
});
