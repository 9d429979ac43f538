// Every differentiable engine op: autograd against central finite differences in float64 on the CPU,
// the rule at ties (maximum, minimum and the max/min reductions: PyTorch's) and at clamp's bounds, double backward
// for elementwise ops and matmul, and gradient accumulation semantics.
import { describe, expect, test } from 'vitest';
import * as T from '../src/index.js';
import { valuesFor } from './arbitraries.js';
import { dispatchedKernels, expectClose, gradcheck } from './util.js';

const f64 = (shape: number[], seed: number, min = -2, max = 2) =>
  T.tensor(Float64Array.from(valuesFor(shape, seed, min, max)), shape, { dtype: 'float64', requiresGrad: true });

/** A fixed random projection turns any output into the scalar the gradcheck differentiates. */
const project = (y: T.Tensor) => T.sum(T.mul(y, T.tensor(Float64Array.from(valuesFor(y.shape, 99)), y.shape, { dtype: 'float64' })));

describe('gradcheck (float64, central differences)', () => {
  const unary: [string, (x: T.Tensor) => T.Tensor, number?][] = [
    ['neg', T.neg], ['exp', T.exp], ['log', T.log, 0.2], ['sqrt', T.sqrt, 0.2], ['abs', T.abs], ['relu', T.relu],
    ['sigmoid', T.sigmoid], ['tanh', T.tanh], ['square', T.square], ['clamp', (x) => T.clamp(x, -0.5, 0.7)],
  ];
  for (const [name, f, min] of unary) {
    test(name, () => {
      // Inputs avoid the kinks of abs/relu/clamp: finite differences are meaningless there.
      const x = f64([3, 4], name.length, min ?? -2, 2);
      const data = x.storage().data;
      for (let i = 0; i < data.length; i++) if (Math.abs(Math.abs(data[i]) - 0.6) < 0.1 || Math.abs(data[i]) < 0.05) data[i] += 0.15;
      gradcheck((x) => project(f(x)), [x]);
    });
  }

  const binary: [string, (a: T.Tensor, b: T.Tensor) => T.Tensor][] = [
    ['add', T.add], ['sub', T.sub], ['mul', T.mul], ['div', T.div], ['pow', T.pow], ['maximum', T.maximum], ['minimum', T.minimum],
    ['addRelu', T.addRelu],
  ];
  for (const [name, f] of binary) {
    test(`${name} with broadcasting`, () => {
      const a = f64([2, 3, 4], 1, name === 'pow' || name === 'div' ? 0.5 : -2, 2);
      const b = f64([3, 1], 2, name === 'div' ? 0.5 : -2, 2);
      gradcheck((a, b) => project(f(a, b)), [a, b]);
    });
  }

  test('where', () => gradcheck((a, b) => project(T.where(T.gt(a, 0), a, b)), [f64([3, 4], 3), f64([4], 4)]));
  test('sum / mean / max / min over axes', () => {
    gradcheck((x) => project(T.sum(x, [0, 2])), [f64([2, 3, 4], 5)]);
    gradcheck((x) => project(T.mean(x, 1, { keepdims: true })), [f64([2, 3, 4], 6)]);
    gradcheck((x) => project(T.max(x, [1])), [f64([2, 3, 4], 7)]);
    gradcheck((x) => project(T.min(x)), [f64([2, 3, 4], 8)]);
  });
  test('reshape / permute / transpose / flip', () => {
    gradcheck((x) => project(T.permute(T.reshape(x, [4, 3, 2]), [2, 0, 1])), [f64([2, 3, 4], 9)]);
    gradcheck((x) => project(T.flip(T.transpose(x), [0])), [f64([3, 5], 10)]);
  });
  test('pad / slice / narrow', () => {
    gradcheck((x) => project(T.pad(x, [[1, 2], [0, 1]], 3)), [f64([3, 4], 11)]);
    gradcheck((x) => project(T.slice(x, [[1, 3], [-3, -1]])), [f64([4, 5], 12)]);
  });
  test('concat / stack / broadcastTo', () => {
    gradcheck((a, b) => project(T.concat([a, b, a], 1)), [f64([2, 3], 13), f64([2, 2], 14)]);
    gradcheck((a, b) => project(T.stack([a, b], 0)), [f64([2, 3], 15), f64([2, 3], 16)]);
    gradcheck((a) => project(T.broadcastTo(a, [4, 2, 3])), [f64([2, 1], 17)]);
  });
  test('indexSelect with repeated indices', () => {
    const index = T.tensor([2, 0, 2, 1], { dtype: 'int32' });
    gradcheck((x) => project(T.indexSelect(x, 1, index)), [f64([2, 3, 2], 18)]);
  });
  test('matmul, all transpose combinations, batch broadcasting', () => {
    for (const [transA, transB] of [[false, false], [true, false], [false, true], [true, true]]) {
      const a = f64(transA ? [2, 4, 3] : [2, 3, 4], 19);
      const b = f64(transB ? [5, 4] : [4, 5], 20);
      gradcheck((a, b) => project(T.matmul(a, b, { transA, transB })), [a, b]);
    }
  });
  test('addN, one input used twice', () => {
    const [a, b] = [f64([2, 3], 5), f64([2, 3], 6)];
    gradcheck((a, b) => project(T.addN([a, T.mul(b, a), b, a])), [a, b]);
  });
  test('cast between float types passes the gradient', () => {
    gradcheck((x) => project(T.cast(T.cast(x, 'float32'), 'float64')), [f64([3], 21)], { atol: 1e-4, rtol: 1e-4 }, 1e-3);
  });
});

describe('double backward', () => {
  /** Checks d/dx Σ(∂f/∂x · v) against finite differences of the first gradient. */
  function checkSecondOrder(f: (...xs: T.Tensor[]) => T.Tensor, inputs: T.Tensor[]) {
    const firstGradSum = (...xs: T.Tensor[]) =>
      T.grad(f(...xs), xs, { createGraph: true }).map((g) => project(g!)).reduce((a, b) => T.add(a, b));
    gradcheck(firstGradSum, inputs, { atol: 1e-5, rtol: 1e-4 });
  }

  test('elementwise chain', () => checkSecondOrder((x) => project(T.mul(T.sigmoid(x), T.exp(T.tanh(x)))), [f64([5], 30)]));
  test('binary ops', () => checkSecondOrder((a, b) => project(T.div(T.mul(a, b), T.add(T.square(b), 1))), [f64([2, 3], 31), f64([3], 32)]));
  test('matmul', () => checkSecondOrder((a, b) => project(T.square(T.matmul(a, b))), [f64([3, 4], 33), f64([4, 2], 34)]));

  test('createGraph records the backward pass even when called inside noGrad', () => {
    // grad with createGraph turns recording back on for its own ops, whatever the caller disabled: the gradient
    // of x³ at 3 (27) is itself differentiable, to 6x = 18. Exact in float64.
    const x = T.tensor([3], { dtype: 'float64', requiresGrad: true });
    const y = T.mul(T.mul(x, x), x);
    const [g] = T.noGrad(() => T.grad(y, [x], { createGraph: true }));
    expect(g!.requiresGrad).toBe(true);
    expect(Array.from(g!.toArraySync())).toEqual([27]);
    const [gg] = T.grad(g!, [x]);
    expect(Array.from(gg!.toArraySync())).toEqual([18]);
  });
});

describe('gradients at ties and bounds (where finite differences say nothing)', () => {
  for (const device of ['cpu', 'webgpu'] as const) {
    test(`maximum and minimum split a tie's gradient, as PyTorch does (${device})`, async () => {
      // torch.maximum's rule (checked in PyTorch 1.13): the winner takes the gradient, a tie gives each side half,
      // and beside a NaN (no order) both take all of it. Index 0 is the tie; 1 and 2 have a and b winning in turn;
      // 3 is a NaN.
      const a = T.tensor([1, 2, -1, Number.NaN], { device, requiresGrad: true });
      const b = T.tensor([1, 0, 5, 1], { device, requiresGrad: true });
      const [gaMax, gbMax] = T.grad(T.sum(T.maximum(a, b)), [a, b]);
      expect(Array.from(await gaMax!.toArray())).toEqual([0.5, 1, 0, 1]);
      expect(Array.from(await gbMax!.toArray())).toEqual([0.5, 0, 1, 1]);
      const [gaMin, gbMin] = T.grad(T.sum(T.minimum(a, b)), [a, b]);
      expect(Array.from(await gaMin!.toArray())).toEqual([0.5, 0, 1, 1]);
      expect(Array.from(await gbMin!.toArray())).toEqual([0.5, 1, 0, 1]);
      T.dispose([a, b, gaMax, gbMax, gaMin, gbMin]);
    });

    test(`max and min over all axes and over one share a tie's gradient equally, as torch.amax and torch.amin do (${device})`, async () => {
      // Expected values from PyTorch 1.13 (torch.amax / torch.amin, and torch.max / torch.min without a dim, which
      // agree): each of n tied extrema gets 1/n. torch.max(x, dim) differs (all to one index); this engine's max
      // with axes is amax. The CPU is exact; WGSL's float32 division may be off by 2.5 ulp (3e-7 relative), far
      // below the gap between a shared gradient and an unshared one (0.5 against 1).
      const tol = { atol: 0, rtol: 1e-6 };
      const x = T.tensor([1, 3, 3], { device, requiresGrad: true });
      const y = T.tensor([2, -1, -1], { device, requiresGrad: true });
      const m = T.tensor([[1, 3, 3], [2, 2, 2]], { device, requiresGrad: true });
      const [gMax] = T.grad(T.max(x), [x]);
      const [gMin] = T.grad(T.min(y), [y]);
      const [gRows] = T.grad(T.sum(T.max(m, 1)), [m]);
      expectClose(await gMax!.toArray(), [0, 0.5, 0.5], tol, 'max');
      expectClose(await gMin!.toArray(), [0, 0.5, 0.5], tol, 'min');
      expectClose(await gRows!.toArray(), [0, 0.5, 0.5, 1 / 3, 1 / 3, 1 / 3], tol, 'max over axis 1');
      T.dispose([x, y, m, gMax, gMin, gRows]);
    });

    test(`clamp passes the gradient at both bounds and not at a NaN, as torch.clamp does (${device})`, async () => {
      // Its own rule (low ≤ x ≤ high), not minimum(maximum(…))'s, which would halve it at the bounds.
      const x = T.tensor([0, 1, 0.5, -0.5, 1.5, Number.NaN], { device, requiresGrad: true });
      const [gx] = T.grad(T.sum(T.clamp(x, 0, 1)), [x]);
      expect(Array.from(await gx!.toArray())).toEqual([1, 1, 1, 0, 0, 0]);
      T.dispose([x, gx]);
    });
  }
});

describe('accumulation and graph control', () => {
  test('gradients accumulate across backward calls and over shared inputs', () => {
    const x = T.tensor([1, 2, 3], { dtype: 'float64', requiresGrad: true });
    T.sum(T.mul(x, x)).backward();
    T.sum(T.add(x, x)).backward();
    expect(Array.from(x.grad!.toArraySync())).toEqual([2 + 2, 4 + 2, 6 + 2]);
  });

  test('a tensor used n times gets its gradient in one addN, its contributions added in the order they arrive; constants get none', async () => {
    // x feeds five branches; backward reaches them last-made first, so x's gradient is ((g₄ + g₃) + g₂) + … .
    const x = T.tensor(valuesFor([64], 7), [64], { device: 'webgpu', requiresGrad: true });
    const scales = [0.1, 3, -7, 1e3, 0.3];
    const loss = T.sum(T.addN(scales.map((s, i) => T.mul(T.mul(x, s), i + 1))));
    const labels = dispatchedKernels(() => loss.backward()).kernels.map((k) => k.label);
    const contributions = scales.map((s, i) => T.mul(T.mul(T.onesLike(x), i + 1), s)).reverse();
    const expected = contributions.slice(1).reduce((total, c) => T.add(total, c), contributions[0]!);
    expect(new Uint32Array((await x.grad!.toArray()).buffer)).toEqual(new Uint32Array((await expected.toArray()).buffer));
    // The sum's broadcast, then per branch one mul for each of its two muls (none for the constants' gradients, no
    // sums of those to their shape), then x's one addN: no pairwise adds.
    expect(labels).toEqual(['window', ...scales.flatMap(() => ['mul', 'mul']), 'addN']);
  });

  test("the graph keeps its own list of addN's and concat's inputs: the caller changing theirs later changes nothing", () => {
    const [a, b, c] = [1, 2, 3].map((v) => T.tensor([v, v], { dtype: 'float64', requiresGrad: true }));
    const summed = [a!, b!];
    const joined = [a!, b!];
    const loss = T.add(T.sum(T.addN(summed)), T.sum(T.mul(T.concat(joined), T.tensor([1, 2, 3, 4], { dtype: 'float64' }))));
    summed.push(c!);
    joined[1] = c!;
    loss.backward();
    expect(Array.from(a!.grad!.toArraySync())).toEqual([2, 3]);
    expect(Array.from(b!.grad!.toArraySync())).toEqual([4, 5]);
    expect(c!.grad).toBeNull();
  });

  test('grad returns gradients without touching .grad', () => {
    const x = T.tensor([1, 2], { requiresGrad: true });
    const y = T.tensor([5], { requiresGrad: true });
    const [gx, gy] = T.grad(T.sum(T.mul(x, x)), [x, y]);
    expect(Array.from(gx!.toArraySync())).toEqual([2, 4]);
    expect(gy).toBeNull();
    expect(x.grad).toBeNull();
  });

  test('backward with a seed gradient', () => {
    const x = T.tensor([1, 2], { requiresGrad: true });
    T.mul(x, 3).backward(T.tensor([10, 100]));
    expect(Array.from(x.grad!.toArraySync())).toEqual([30, 300]);
  });

  test("the caller's seed stays the caller's: not disposed by backward, not made a leaf's .grad", () => {
    // add passes its incoming gradient straight through, so the seed itself reaches the leaf; backward must copy
    // it there rather than hand it over, and must not free it with the other intermediate gradients.
    const x = T.tensor([1, 2], { requiresGrad: true });
    const seed = T.tensor([10, 100]);
    T.add(x, 1).backward(seed);
    expect(seed.disposed).toBe(false);
    expect(x.grad).not.toBe(seed);
    seed.dispose();
    expect(Array.from(x.grad!.toArraySync())).toEqual([10, 100]);
  });

  test('detach and noGrad stop the gradient', () => {
    const x = T.tensor([2], { requiresGrad: true });
    const y = T.add(T.mul(x, T.detach(x)), T.noGrad(() => T.mul(x, 5)));
    y.backward();
    expect(Array.from(x.grad!.toArraySync())).toEqual([2]);
    expect(T.noGrad(() => T.mul(x, x)).requiresGrad).toBe(false);
  });

  test('the same gradients on webgpu as on the cpu for a small network', async () => {
    const grads = async (device: T.Device) => {
      const w = T.tensor(valuesFor([4, 3], 40), [4, 3], { device, requiresGrad: true });
      const x = T.tensor(valuesFor([5, 4], 41), [5, 4], { device });
      const loss = T.mean(T.square(T.sub(T.sigmoid(T.matmul(x, w)), 0.5)));
      loss.backward();
      return w.grad!.toArray();
    };
    expectClose(await grads('webgpu'), await grads('cpu'), { atol: 1e-7, rtol: 1e-5 });
  });
});
