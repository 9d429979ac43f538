// Reductions and shape ops: WebGPU against the CPU reference on random shapes, plus hand-checked cases.
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import * as T from '../src/index.js';
import { shapeArb, sizeOf, valuesFor } from './arbitraries.js';
import { dispatchedKernels, expectClose } from './util.js';
import { SPECIALISE_AFTER } from '../src/backend/program-cache.js';

const RUNS = { numRuns: 15 };
// Sums of up to a few hundred float32 values in a different order than the CPU's sequential loop.
const SUM_TOL = { atol: 1e-5, rtol: 1e-5 };

async function gpuAndCpu(f: (device: T.Device) => T.Tensor): Promise<[ArrayLike<number>, ArrayLike<number>, readonly number[]]> {
  const g = f('webgpu');
  const c = f('cpu');
  expect(g.shape).toEqual(c.shape);
  return [await g.toArray(), c.toArraySync(), c.shape];
}

const axesArb = (rank: number) => fc.subarray([...Array(rank).keys()]);
/** A shape of rank ≤ maxRank (sides ≤ 4), a permutation of its axes, and a seed for its values. */
const shapePermutationSeedArb = (maxRank: number) =>
  shapeArb(maxRank, 4).chain((s) => fc.tuple(fc.constant(s), fc.shuffledSubarray([...s.keys()], { minLength: s.length, maxLength: s.length }), fc.integer()));

describe('reductions', () => {
  for (const op of ['sum', 'mean', 'max', 'min'] as const) {
    test(`${op} over random axes, with and without keepdims`, async () => {
      await fc.assert(
        fc.asyncProperty(
          shapeArb(4, 6).chain((s) => fc.tuple(fc.constant(s), axesArb(s.length), fc.boolean(), fc.integer())),
          async ([shape, axes, keepdims, seed]) => {
            const x = valuesFor(shape, seed);
            const [gpu, cpu] = await gpuAndCpu((device) => T.tidy(() => T[op](T.tensor(x, shape, { device }), axes, { keepdims })));
            expectClose(gpu, cpu, SUM_TOL, op);
          },
        ),
        RUNS,
      );
    });
  }

  test('argmax takes the first maximum', async () => {
    const [gpu, cpu] = await gpuAndCpu((device) => T.argmax(T.tensor([[1, 5, 5, 2], [7, 7, 0, 7]], { device }), 1));
    expect(Array.from(cpu)).toEqual([1, 0]);
    expect(Array.from(gpu)).toEqual([1, 0]);
  });

  test('long reductions use the per-workgroup schedule and agree with float64', async () => {
    const n = 200_000;
    const x = valuesFor([n], 7);
    const exact = x.reduce((a, b) => a + b, 0);
    const gpu = await T.sum(T.tensor(x, [n], { device: 'webgpu' })).toArray();
    expect(Math.abs(gpu[0] - exact)).toBeLessThan(1e-5 * n);
    const [gmax] = await T.max(T.tensor(x, [2, n / 2], { device: 'webgpu' }), 1).toArray();
    expect(gmax).toBe(Math.max(...x.subarray(0, n / 2)));
  });

  test('sum over NHW of NCHW equals the per-channel total', async () => {
    const x = T.arange(0, 2 * 3 * 2 * 2, 1, { dtype: 'float32', device: 'webgpu' });
    const s = T.sum(T.reshape(x, [2, 3, 2, 2]), [0, 2, 3]);
    // channel c holds 4c..4c+3 in image 0 and 12+4c.. in image 1
    expect(Array.from(await s.toArray())).toEqual([0 + 1 + 2 + 3 + 12 + 13 + 14 + 15, 4 + 5 + 6 + 7 + 16 + 17 + 18 + 19, 8 + 9 + 10 + 11 + 20 + 21 + 22 + 23]);
  });
});

describe('shape ops', () => {
  test('permute by a random permutation', async () => {
    await fc.assert(
      fc.asyncProperty(
        shapePermutationSeedArb(5),
        async ([shape, perm, seed]) => {
          const x = valuesFor(shape, seed);
          const [gpu, cpu] = await gpuAndCpu((device) => T.tidy(() => T.permute(T.tensor(x, shape, { device }), perm)));
          expect(Array.from(gpu)).toEqual(Array.from(cpu));
        },
      ),
      RUNS,
    );
  });

  test('a permutation that moves only axes of size 1 is a view: no kernel, the input\'s storage, the values a gather gives, and its gradient', async () => {
    /** out[o] = x[i], the coordinates of o permuted back: the definition, written out. */
    const permuted = (x: number[], shape: number[], perm: number[]): number[] => {
      const outShape = perm.map((a) => shape[a]!);
      const strides = shape.map((_, d) => shape.slice(d + 1).reduce((a, b) => a * b, 1));
      return Array.from({ length: x.length }, (_, o) => {
        let rest = o;
        let index = 0;
        for (let d = outShape.length - 1; d >= 0; d--) {
          index += (rest % outShape[d]!) * strides[perm[d]!]!;
          rest = Math.floor(rest / outShape[d]!);
        }
        return x[index]!;
      });
    };
    const cases: [number[], number[]][] = [[[2, 1, 3, 4], [0, 2, 3, 1]], [[1, 5], [1, 0]], [[3, 1, 1, 2], [2, 0, 1, 3]], [[1, 1], [1, 0]]];
    for (const [shape, perm] of cases) {
      const values = valuesFor(shape, 3);
      const x = T.tensor(values, shape, { device: 'webgpu', requiresGrad: true });
      const { kernels, result: y } = dispatchedKernels(() => T.permute(x, perm));
      expect(kernels, `${shape} by ${perm}`).toEqual([]);
      expect(y.storage().buffer).toBe(x.storage().buffer);
      expect(Array.from(await y.toArray())).toEqual(permuted(Array.from(Float32Array.from(values)), shape, perm));
      T.sum(T.mul(y, T.tensor(valuesFor(y.shape, 4), y.shape, { device: 'webgpu' }))).backward();
      expect(Array.from(await x.grad!.toArray())).toEqual(Array.from(Float32Array.from(valuesFor(y.shape, 4))));
      T.dispose([x, x.grad!, y]);
    }
  });

  // A spec's first uses run the general window kernel (the spec as parameters), later ones the specialised (as
  // constants), which must give the same values; the tests around check the general one against the reference.
  test('from a spec\'s SPECIALISE_AFTER-th use the specialised window kernel runs, and gives the same values: permute, pad with -Inf, broadcast, flip', async () => {
    await fc.assert(
      fc.asyncProperty(
        shapePermutationSeedArb(4),
        async ([shape, perm, seed]) => {
          const x = valuesFor(shape, seed);
          const ops = (t: T.Tensor) => [T.permute(t, perm), T.pad(t, shape.map(() => [1, 0] as [number, number]), -Infinity), T.broadcastTo(t, [2, ...shape]), T.flip(t, [...shape.keys()])];
          const cpu = T.tidy(() => ops(T.tensor(x, shape)).map((y) => Array.from(y.toArraySync())));
          for (let use = 1; use <= SPECIALISE_AFTER + 1; use++) {
            const outs = T.tidy(() => ops(T.tensor(x, shape, { device: 'webgpu' })).map((y) => T.keep(y)));
            for (const [k, y] of outs.entries()) expect(Array.from(await y.toArray()), `op ${k}, use ${use}`).toEqual(cpu[k]);
            T.dispose(outs);
          }
        },
      ),
      { numRuns: 8 },
    );
  });

  test('transpose of a matrix', () => {
    const t = T.transpose(T.tensor([[1, 2, 3], [4, 5, 6]]));
    expect(t.shape).toEqual([3, 2]);
    expect(Array.from(t.toArraySync())).toEqual([1, 4, 2, 5, 3, 6]);
  });

  test('pad then slice back is the identity; pad fills with the value', async () => {
    await fc.assert(
      fc.asyncProperty(
        shapeArb(3, 4).chain((s) => fc.tuple(fc.constant(s), fc.array(fc.tuple(fc.nat(2), fc.nat(2)), { minLength: s.length, maxLength: s.length }), fc.integer())),
        async ([shape, pads, seed]) => {
          const x = valuesFor(shape, seed);
          const [gpu, cpu, outShape] = await gpuAndCpu((device) => T.tidy(() => T.pad(T.tensor(x, shape, { device }), pads, 9)));
          expect(Array.from(gpu)).toEqual(Array.from(cpu));
          expect(Array.from(cpu).filter((v) => v === 9).length).toBe(sizeOf(outShape) - sizeOf(shape));
          const back = T.slice(T.tensor(cpu as Float32Array, outShape), pads.map(([b], d) => [b, b + shape[d]] as [number, number]));
          expect(Array.from(back.toArraySync())).toEqual(Array.from(x));
        },
      ),
      RUNS,
    );
  });

  test('slice with negative indices', () => {
    const x = T.reshape(T.arange(12, undefined, 1, { dtype: 'float32' }), [3, 4]);
    expect(Array.from(T.slice(x, [[-2, 3], [1, -1]]).toArraySync())).toEqual([5, 6, 9, 10]);
  });

  test('concat and stack along every axis', async () => {
    await fc.assert(
      fc.asyncProperty(shapeArb(3, 4).filter((s) => s.length > 0).chain((s) => fc.tuple(fc.constant(s), fc.nat(s.length - 1), fc.integer({ min: 1, max: 3 }), fc.integer())),
        async ([shape, axis, extra, seed]) => {
          const other = shape.map((d, i) => (i === axis ? extra : d));
          const a = valuesFor(shape, seed);
          const b = valuesFor(other, seed + 1);
          const [gpu, cpu] = await gpuAndCpu((device) => T.tidy(() => T.concat([T.tensor(a, shape, { device }), T.tensor(b, other, { device })], axis)));
          expect(Array.from(gpu)).toEqual(Array.from(cpu));
          const [gs, cs] = await gpuAndCpu((device) => T.tidy(() => T.stack([T.tensor(a, shape, { device }), T.tensor(a, shape, { device })], axis)));
          expect(Array.from(gs)).toEqual(Array.from(cs));
        }),
      RUNS,
    );
  });

  test('concat places blocks where NumPy would', () => {
    const a = T.tensor([[1, 2], [3, 4]]);
    const b = T.tensor([[5], [6]]);
    expect(Array.from(T.concat([a, b], 1).toArraySync())).toEqual([1, 2, 5, 3, 4, 6]);
    expect(T.stack([a, a], 2).shape).toEqual([2, 2, 2]);
  });

  test('flip, broadcastTo and indexSelect agree across devices', async () => {
    const x = valuesFor([2, 3, 4], 3);
    const [g1, c1] = await gpuAndCpu((device) => T.flip(T.tensor(x, [2, 3, 4], { device }), [0, 2]));
    expect(Array.from(g1)).toEqual(Array.from(c1));
    expect(c1[0]).toBe(x[1 * 12 + 0 * 4 + 3]);
    const [g2, c2] = await gpuAndCpu((device) => T.broadcastTo(T.tensor(x.subarray(0, 4), [4], { device }), [3, 4]));
    expect(Array.from(g2)).toEqual(Array.from(c2));
    const [g3, c3] = await gpuAndCpu((device) =>
      T.indexSelect(T.tensor(x, [2, 3, 4], { device }), 1, T.tensor([2, 0, 2], { device, dtype: 'int32' })));
    expect(Array.from(g3)).toEqual(Array.from(c3));
    expect(c3[0]).toBe(x[8]);
  });

  test('indexSelect picking fewer rows than the axis has, with repeats, forward and backward agree across devices', async () => {
    // [2, 4, 3] along axis 1 by [3, 1, 3]: more than one outer block, and a row count (4) unlike the pick count
    // (3), so a kernel that strides the outer blocks by the wrong one of them reads or writes the wrong rows.
    // Small integers and halves weighted by integers: every sum is exact in float32, in any order.
    const run = async (device: T.Device) => {
      const x = T.tensor(Float32Array.from({ length: 24 }, (_, i) => i * 0.5 - 3), [2, 4, 3], { device, requiresGrad: true });
      const y = T.indexSelect(x, 1, T.tensor([3, 1, 3], { device, dtype: 'int32' }));
      T.sum(T.mul(y, T.tensor(Float32Array.from({ length: 18 }, (_, i) => i + 1), [2, 3, 3], { device }))).backward();
      return [Array.from(await y.toArray()), Array.from(await x.grad!.toArray())];
    };
    const [[gpuY, gpuGrad], [cpuY, cpuGrad]] = [await run('webgpu'), await run('cpu')];
    expect(gpuY).toEqual(cpuY);
    expect(gpuGrad).toEqual(cpuGrad);
    // Row 3 of block 1 is picked twice: its gradient adds weights 10..12 and 16..18.
    expect(cpuGrad.slice(21)).toEqual([26, 28, 30]);
  });

  test('reshape shares storage and infers -1', () => {
    const x = T.arange(6, undefined, 1, { dtype: 'float32' });
    const y = T.reshape(x, [2, -1]);
    expect(y.shape).toEqual([2, 3]);
    x.dispose();
    expect(Array.from(y.toArraySync())).toEqual([0, 1, 2, 3, 4, 5]);
  });
});
