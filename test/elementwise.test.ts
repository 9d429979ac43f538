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

describe('addN', () => {
  test('equals a chain of adds bit for bit, on both devices, past the operands one kernel binds', async () => {
    await fc.assert(
      fc.asyncProperty(shapeArb(), fc.integer({ min: 1, max: 40 }), fc.integer(), async (shape, n, seed) => {
        const values = Array.from({ length: n }, (_, k) => valuesFor(shape, seed + k, -1e3, 1e3));
        for (const device of ['webgpu', 'cpu'] as const) {
          const xs = values.map((v) => T.tensor(v, shape, { device }));
          const [summed, chained] = T.tidy(() => [T.addN(xs), xs.slice(1).reduce((total, x) => T.add(total, x), T.add(xs[0]!, 0))]);
          expect(new Uint32Array((await summed.toArray()).buffer), `${n} tensors on ${device}`).toEqual(new Uint32Array((await chained.toArray()).buffer));
          T.dispose([...xs, summed, chained]);
        }
      }),
      RUNS,
    );
  });

  test('refuses an empty list and tensors of different shapes or dtypes, naming the tensor', () => {
    expect(() => T.addN([])).toThrow('addN: needs at least one tensor');
    expect(() => T.addN([T.zeros([2, 3]), T.zeros([2, 3]), T.zeros([3, 2])])).toThrow('addN: tensors must share one shape and dtype; tensor 0 is float32 [2, 3], tensor 2 float32 [3, 2]');
    expect(() => T.addN([T.zeros([2]), T.zeros([2], { dtype: 'int32' })])).toThrow('tensor 1 int32 [2]');
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

test("where's two numbers take their own dtype, as in PyTorch, not the mask's: an int32 mask refused where(mask, 1.5, 0)", async () => {
  for (const device of ['cpu', 'webgpu'] as const) {
    const mask = T.tensor([1, 0, 2], { dtype: 'int32', device });
    const cases: [T.Tensor, number, number, T.DType, number[]][] = [
      [mask, 1.5, 0, 'float32', [1.5, 0, 1.5]],
      [mask, Number.NaN, 0, 'float32', [Number.NaN, 0, Number.NaN]],
      [T.cast(mask, 'uint32'), 2, -1, 'int32', [2, -1, 2]],
      [T.cast(mask, 'float32'), 1, 0, 'int32', [1, 0, 1]],
    ];
    for (const [cond, a, b, dtype, expected] of cases) {
      const y = T.where(cond, a, b);
      expect([y.dtype, y.device, Array.from(await y.toArray())], `${cond.dtype} mask, ${a} and ${b} on ${device}`).toEqual([dtype, device, expected]);
    }
    expect(() => T.where(mask, 2 ** 31, 0)).toThrow("where: the number 2147483648 is not a value of int32, the dtype of two integers (PyTorch's int64 is not here)");
    // Beside a tensor a number still takes that tensor's dtype, whatever the mask's.
    const x = T.tensor([1, 2, 3], { device, requiresGrad: true });
    const y = T.where(mask, x, 7);
    expect([y.dtype, Array.from(await y.toArray())]).toEqual(['float32', [1, 7, 3]]);
    T.sum(y).backward();
    expect(Array.from(await x.grad!.toArray())).toEqual([1, 0, 1]);
    expect(() => T.where(T.cast(mask, 'float32'), mask, 0.5)).toThrow(/^where: the number 0\.5 is not a value of int32, the dtype of the tensor it meets; cast that tensor first$/);
  }
});

test('cast float32 → int32 truncates toward zero on both devices', async () => {
  const [gpu, cpu] = await both((device) => T.cast(T.tensor([1.7, -1.7, 2.5, -0.2], { device }), 'int32'));
  expect(Array.from(cpu)).toEqual([1, -1, 2, 0]);
  expect(Array.from(gpu)).toEqual([1, -1, 2, 0]);
});

test('cast to the dtype a tensor already has is a copy of its own: disposing it leaves the input readable', async () => {
  // Not torch's x.to(dtype), which returns x itself: here an op's result is the caller's to dispose (or to keep past
  // a tidy), so it must never be its input under another name.
  for (const device of ['cpu', 'webgpu'] as const) {
    const x = T.tensor([1.5, -2], { device });
    const y = T.cast(x, 'float32');
    expect(y, device).not.toBe(x);
    y.dispose();
    expect(Array.from(await x.toArray()), device).toEqual([1.5, -2]);
    x.dispose();
  }
});

test('sigmoid is exact at the extremes (no overflow in the unused branch)', async () => {
  const [gpu] = await both((device) => T.sigmoid(T.tensor([-100, -30, 0, 30, 100], { device })));
  expect(Array.from(gpu).every(Number.isFinite)).toBe(true);
  expect(gpu[0]).toBeLessThan(1e-40);
  expect(gpu[2]).toBe(0.5);
  expect(gpu[4]).toBe(1);
});

describe('the two devices agree where WGSL and JavaScript differ by nature', () => {
  test('NaN propagates through maximum, minimum, relu, clamp and the max/min reductions (PyTorch), on both', async () => {
    const x = [Number.NaN, 1, -1];
    const ops: [string, (t: T.Tensor) => T.Tensor][] = [
      ['relu', (t) => T.relu(t)], ['maximum', (t) => T.maximum(t, 0)], ['minimum', (t) => T.minimum(0, t)], ['clamp', (t) => T.clamp(t, -0.5, 0.5)],
      ['max', (t) => T.max(t)], ['min', (t) => T.min(t)],
      // 600 along the axis and one output: the per-workgroup schedule, NaN in the share of lane 7
      ['max of 600', (t) => T.reshape(T.max(T.concat([T.zeros([7], { device: t.device }), t, T.zeros([590], { device: t.device })])), [1])],
    ];
    for (const [name, op] of ops) {
      const [gpu, cpu] = await both((device) => T.tidy(() => op(T.tensor(x, { device }))));
      expect(Number.isNaN(gpu[0]), `${name} on webgpu`).toBe(true);
      expect(Number.isNaN(cpu[0]), `${name} on cpu`).toBe(true);
      expect(Array.from(gpu).slice(1), name).toEqual(Array.from(cpu).slice(1));
    }
  });

  test("relu's and abs's gradients at NaN, ±Inf and 0 are PyTorch's, on both (relu passes g at a NaN x and drops any g at x ≤ 0)", async () => {
    // PyTorch 1.13: x.grad after relu(x).backward(g) and abs(x).backward(ones) for these x and g, and torch.sign(x).
    const x = [Number.NaN, -1, 0, 2, Infinity, -Infinity];
    const g = [1, Number.NaN, Infinity, 3, 4, 5];
    const torch = { relu: [1, 0, 0, 3, 4, 0], abs: [0, -1, 0, 1, 1, -1], sign: [0, -1, 0, 1, 1, -1] };
    for (const device of ['webgpu', 'cpu'] as const) {
      const input = T.tensor(x, { device, requiresGrad: true });
      T.relu(input).backward(T.tensor(g, { device }));
      expect(Array.from(await input.grad!.toArray()), `relu gradient on ${device}`).toEqual(torch.relu);
      input.grad!.dispose();
      input.grad = null;
      T.sum(T.abs(input)).backward();
      expect(Array.from(await input.grad!.toArray()), `abs gradient on ${device}`).toEqual(torch.abs);
      expect(Array.from(await T.sign(T.tensor(x, { device })).toArray()), `sign on ${device}`).toEqual(torch.sign);
    }
  });

  test('where takes a NaN condition as true (nonzero), on both, as torch.where does a NaN cast to bool', async () => {
    const [gpu, cpu] = await both((device) => T.tidy(() => T.where(T.tensor([Number.NaN, 0, 1, -0], { device }), T.tensor([1, 2, 3, 4], { device }), -1)));
    expect(Array.from(cpu)).toEqual([1, -1, 3, -1]);
    expect(Array.from(gpu)).toEqual([1, -1, 3, -1]);
  });

  test('of two NaNs the first wins argmax and stays, on both (NumPy)', async () => {
    const [gpuArg, cpuArg] = await both((device) => T.argmax(T.tensor([1, Number.NaN, 3, Number.NaN, 2], { device }), 0));
    expect([gpuArg[0], cpuArg[0]]).toEqual([1, 1]);
  });

  test('a NaN anywhere wins argmax (its first index) and max pooling (its gradient too), on both', async () => {
    for (let at = 0; at < 4; at++) {
      const x = [1, 3, 2, 0.5].map((v, i) => (i === at ? Number.NaN : v));
      const [gpuArg, cpuArg] = await both((device) => T.argmax(T.tensor(x, { device }), 0));
      expect([gpuArg[0], cpuArg[0]], `argmax, NaN at ${at}`).toEqual([at, at]);
      for (const device of ['webgpu', 'cpu'] as const) {
        const input = T.tensor(x, { device, requiresGrad: true });
        const y = T.maxPool2d(T.reshape(input, [1, 1, 2, 2]), { kernelSize: 2 });
        T.sum(y).backward();
        expect(Number.isNaN((await y.toArray())[0]), `maxPool2d on ${device}, NaN at ${at}`).toBe(true);
        expect(Array.from(await input.grad!.toArray()), `maxPool2d gradient on ${device}`).toEqual(x.map((_, i) => (i === at ? 1 : 0)));
        T.dispose([input, input.grad!, y]);
      }
    }
  });

  test('max and min reduce ±Inf to ±Inf, also in the per-workgroup schedule', async () => {
    for (const n of [3, 600]) {
      const [gpu, cpu] = await both((device) => T.tidy(() => T.stack([T.max(T.full([n], -Infinity, { device })), T.min(T.full([n], Infinity, { device }))])));
      expect(Array.from(gpu), `n = ${n}`).toEqual([-Infinity, Infinity]);
      expect(Array.from(cpu)).toEqual([-Infinity, Infinity]);
    }
  });

  test('integer division truncates and x / 0 = x; products wrap exactly; float → int saturates', async () => {
    const a = [7, -7, 5, 123456789, 2147483647];
    const b = [2, 2, 0, 1000, 3];
    for (const [name, op] of [['div', T.div], ['mul', T.mul]] as const) {
      const [gpu, cpu] = await both((device) => T.tidy(() => op(T.tensor(a, { device, dtype: 'int32' }), T.tensor(b, { device, dtype: 'int32' }))));
      expect(Array.from(cpu), name).toEqual(Array.from(gpu));
    }
    expect(Array.from(T.div(T.tensor(a, { dtype: 'int32' }), T.tensor(b, { dtype: 'int32' })).toArraySync())).toEqual([3, -3, 5, 123456, 715827882]);
    // NaN → int is indeterminate in WGSL (lavapipe gave −2^31 and 0); the engine makes it 0 on both devices.
    const values = [-1.5, 5e9, 3e9, -3e9, 2.7, Infinity, Number.NaN];
    for (const dtype of ['int32', 'uint32'] as const) {
      const [gpu, cpu] = await both((device) => T.tidy(() => T.cast(T.tensor(values, { device }), dtype)));
      expect(Array.from(cpu), dtype).toEqual(Array.from(gpu));
    }
    expect(Array.from(T.cast(T.tensor(values, { dtype: 'float64' }), 'int32').toArraySync())).toEqual([-1, 2147483647, 2147483647, -2147483648, 2, 2147483647, 0]);
  });

  test('tanh keeps its relative precision near 0 on the GPU', async () => {
    const x = [1e-8, -1e-6, 1e-4, 0.01, 0.0999, 0.1001, 0.5];
    const gpu = await T.tanh(T.tensor(x, { device: 'webgpu' })).toArray();
    x.forEach((v, i) => expect(Math.abs(gpu[i]! - Math.tanh(v)) / Math.abs(Math.tanh(v)), `tanh(${v})`).toBeLessThan(1e-6));
  });

  test('neg and sign refuse uint32 (WGSL has neither for u32), naming the op', () => {
    for (const op of ['neg', 'sign'] as const) {
      expect(() => T[op](T.tensor([1, 2], { dtype: 'uint32', device: 'webgpu' }))).toThrow(`${op}: needs a signed dtype, got uint32`);
    }
    expect(Array.from(T.neg(T.tensor([1, -2], { dtype: 'int32' })).toArraySync())).toEqual([-1, 2]);
  });
});
