// WebGPU elementwise kernels against the CPU reference on random broadcast-compatible shapes.
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import * as T from '../src/index.js';
import { BINARY, UNARY, type BinaryOp, type UnaryOp } from '../src/kernels/elementwise-ops.js';
import { broadcastPairArb, shapeArb, valuesFor } from './arbitraries.js';
import { expectClose } from './util.js';

// float32 transcendental functions on the GPU differ from double-precision JS in the last few ulps.
const TOL = { atol: 1e-6, rtol: 2e-6 };
const RUNS = { numRuns: 12 };

async function both(f: (device: T.Device) => T.Tensor): Promise<[ArrayLike<number>, ArrayLike<number>]> {
  const gpu = await f('webgpu').toArray();
  const cpu = f('cpu').toArraySync();
  return [gpu, cpu];
}

describe('unary ops on webgpu match the cpu reference', () => {
  for (const op of Object.keys(UNARY) as UnaryOp[]) {
    test(op, async () => {
      await fc.assert(
        fc.asyncProperty(shapeArb(), fc.integer(), async (shape, seed) => {
          // log and sqrt are checked on positive inputs, where they are defined.
          const values = valuesFor(shape, seed, op === 'log' || op === 'sqrt' ? 0.01 : -30, 30);
          const [gpu, cpu] = await both((device) => T.tidy(() => (T as any)[op](T.tensor(values, shape, { device }))));
          expectClose(gpu, cpu, op === 'exp' ? { atol: 1e-6, rtol: 1e-5 } : TOL, op);
        }),
        RUNS,
      );
    });
  }
});

describe('binary ops on webgpu match the cpu reference, with broadcasting', () => {
  for (const op of Object.keys(BINARY) as BinaryOp[]) {
    test(op, async () => {
      await fc.assert(
        fc.asyncProperty(broadcastPairArb(), fc.integer(), async ([sa, sb], seed) => {
          const a = valuesFor(sa, seed, op === 'pow' ? 0.1 : -5, 5);
          // Make some elements equal so that comparisons and max/min hit ties.
          const b = valuesFor(sb, seed + 1, op === 'pow' ? -2 : -5, op === 'pow' ? 2 : 5).map((v, i) => (i % 3 === 0 ? a[i % a.length] : v));
          const [gpu, cpu] = await both((device) => T.tidy(() => (T as any)[op](T.tensor(a, sa, { device }), T.tensor(b, sb, { device }))));
          expect(gpu.length).toBe(cpu.length);
          expectClose(gpu, cpu, op === 'pow' ? { atol: 1e-5, rtol: 1e-5 } : TOL, op);
        }),
        RUNS,
      );
    });
  }

  test('integer dtypes: add, mul, maximum, comparisons on int32', async () => {
    for (const op of ['add', 'sub', 'mul', 'maximum', 'minimum', 'gt', 'eq'] as const) {
      const [gpu, cpu] = await both((device) =>
        T.tidy(() => T[op](T.tensor([1, -2, 3, 7], [2, 2], { device, dtype: 'int32' }), T.tensor([3, -2], [2], { device, dtype: 'int32' }))),
      );
      expect(Array.from(gpu), op).toEqual(Array.from(cpu));
    }
  });

  test('pow of a negative base with an integral exponent keeps the sign', async () => {
    const [gpu, cpu] = await both((device) => T.pow(T.tensor([-2, -2, -3], { device }), T.tensor([3, 2, 1], { device })));
    expect(Array.from(cpu)).toEqual([-8, 4, -3]);
    expectClose(gpu, cpu, TOL);
  });

  test('pow of a negative base with a fractional exponent is NaN on both devices', async () => {
    const [gpu, cpu] = await both((device) => T.pow(T.tensor([-4, -8, 4], { device }), T.tensor([0.5, 1 / 3, 0.5], { device })));
    expect(Array.from(cpu).map(String)).toEqual(['NaN', 'NaN', '2']);
    expect(Array.from(gpu).map(String)).toEqual(['NaN', 'NaN', '2']);
  });
});

test('where broadcasts condition and both branches', async () => {
  await fc.assert(
    fc.asyncProperty(broadcastPairArb(3), fc.integer(), async ([sa, sb], seed) => {
      const cond = valuesFor(sb, seed).map((v) => (v > 0 ? 1 : 0));
      const a = valuesFor(sa, seed + 1);
      const [gpu, cpu] = await both((device) => T.tidy(() => T.where(T.tensor(cond, sb, { device }), T.tensor(a, sa, { device }), -7)));
      expectClose(gpu, cpu, TOL);
    }),
    RUNS,
  );
});

test('cast float32 → int32 truncates toward zero on both devices', async () => {
  const [gpu, cpu] = await both((device) => T.cast(T.tensor([1.7, -1.7, 2.5, -0.2], { device }), 'int32'));
  expect(Array.from(cpu)).toEqual([1, -1, 2, 0]);
  expect(Array.from(gpu)).toEqual([1, -1, 2, 0]);
});

test('sigmoid is exact at the extremes (no overflow in the unused branch)', async () => {
  const [gpu] = await both((device) => T.sigmoid(T.tensor([-100, -30, 0, 30, 100], { device })));
  expect(Array.from(gpu).every(Number.isFinite)).toBe(true);
  expect(gpu[0]).toBeLessThan(1e-40);
  expect(gpu[2]).toBe(0.5);
  expect(gpu[4]).toBe(1);
});
