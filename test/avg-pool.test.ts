// avgPool2d: golden cases (F.avg_pool2d, floor mode; forward and gradient) on cpu float64/float32 and webgpu,
// WGSL against the reference on random shapes, kernels, strides and paddings, float64 gradchecks including
// double backward, and bad parameters.
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { Random, dispose, mul, sum, tensor, type Device } from '../src/index.js';
import { avgPool2d, type AvgPool2dOptions } from '../src/ops/pool.js';
import { loadGolden } from './golden.js';
import { expectClose, fromGolden, gradcheck } from './util.js';
import { poolCaseArb } from './arbitraries.js';

// A window sums up to kh·kw = 64 values in the golden cases, and each input's gradient up to ⌈k/s⌉² = 64
// upstream values: in float32 that is a few tens of ulps of the sum's magnitude.
const CONFIGS = [
  { device: 'cpu', dtype: 'float64', tol: { atol: 1e-12, rtol: 1e-12 } },
  { device: 'cpu', dtype: 'float32', tol: { atol: 1e-6, rtol: 1e-5 } },
  { device: 'webgpu', dtype: 'float32', tol: { atol: 1e-6, rtol: 1e-5 } },
] as const;

describe('golden cases (F.avg_pool2d)', () => {
  const golden = loadGolden('avg_pool2d.json');
  test('the golden cases are the op as HRFPN calls it: no padding, floor mode, count_include_pad', () => {
    expect(golden.cases.every((c) => c.params.padding === 0 && c.params.ceil_mode === false && c.params.count_include_pad === true)).toBe(true);
  });
  for (const { device, dtype, tol } of CONFIGS) {
    for (const c of golden.cases) {
      test(`${c.name} on ${device} ${dtype}`, async () => {
        const x = fromGolden(c.inputs.x, device, dtype, true);
        const y = avgPool2d(x, { kernelSize: c.params.kernel_size, stride: c.params.stride, padding: c.params.padding });
        expect(y.shape).toEqual(c.outputs.y.shape);
        y.backward(fromGolden(c.inputs.upstream, device, dtype));
        expectClose(await y.toArray(), c.outputs.y.data, tol, 'y');
        expectClose(await x.grad!.toArray(), c.grads.x.data, tol, 'dx');
        dispose([x, y, x.grad]);
      });
    }
  }
});

async function pool(device: Device, shape: number[], options: AvgPool2dOptions, seed: number) {
  const random = new Random(seed);
  const x = tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => random.normal()), shape, { device, requiresGrad: true });
  const y = avgPool2d(x, options);
  y.backward(tensor(Float32Array.from({ length: y.size }, () => random.normal()), y.shape, { device }));
  const result = { shape: y.shape, y: await y.toArray(), dx: await x.grad!.toArray() };
  dispose([x, y, x.grad]);
  return result;
}

test('the WGSL kernels match the reference on random shapes, kernels, strides and paddings', async () => {
  const arb = poolCaseArb(5, 4);
  await fc.assert(
    fc.asyncProperty(arb, async ({ shape, options, seed }) => {
      const gpu = await pool('webgpu', shape, options, seed);
      const cpu = await pool('cpu', shape, options, seed);
      expect(gpu.shape).toEqual(cpu.shape);
      // Both float32, summing in the same order (up to 25 terms per window or pixel).
      expectClose(gpu.y, cpu.y, { atol: 1e-6, rtol: 1e-5 }, 'y');
      expectClose(gpu.dx, cpu.dx, { atol: 1e-6, rtol: 1e-5 }, 'dx');
    }),
    { numRuns: 40 },
  );
});

describe('semantics', () => {
  for (const device of ['cpu', 'webgpu'] as const) {
    test(`floor mode drops the ragged edge; padding counts as zeros (${device})`, async () => {
      // 1×5 row, window 2, stride 2: outputs (1+2)/2 and (3+4)/2; the 5 is in no window and gets no gradient.
      const x = tensor([[[[1, 2, 3, 4, 5]]]], { device, requiresGrad: true });
      const y = avgPool2d(x, { kernelSize: [1, 2] });
      y.backward(tensor([[[[2, 4]]]], { device }));
      expect(Array.from(await y.toArray())).toEqual([1.5, 3.5]);
      expect(Array.from(await x.grad!.toArray())).toEqual([1, 1, 2, 2, 0]);
      // Window 3 with padding 1 at the border: (0 + 1 + 2)/3.
      const padded = avgPool2d(x, { kernelSize: [1, 3], stride: [1, 2], padding: [0, 1] });
      expect(Array.from(await padded.toArray())).toEqual([1, 3, 3]);
      dispose([x, y, x.grad, padded]);
    });
  }
});

describe('float64 gradients', () => {
  const random = new Random(11);
  const make = (shape: number[], requiresGrad = true) =>
    tensor(Float64Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => random.normal()), shape, { dtype: 'float64', requiresGrad });

  test('gradcheck: overlapping windows with padding, and kernel = stride', () => {
    const r = make([1, 2, 3, 3], false);
    gradcheck((x) => sum(mul(avgPool2d(x, { kernelSize: 3, stride: 2, padding: 1 }), r)), [make([1, 2, 5, 6])]);
    const q = make([2, 2, 1], false);
    gradcheck((x) => sum(mul(avgPool2d(x, { kernelSize: 2 }), q)), [make([2, 5, 3])]);
  });

  test('double backward: the gradient of the adjoint is the pooling', () => {
    const x = make([1, 1, 4, 4]);
    const r = make([1, 1, 2, 2]);
    sum(mul(avgPool2d(x, { kernelSize: 2 }), r)).backward(undefined, { createGraph: true });
    r.grad = null; // the first pass also gave r its gradient; keep only the second-order one
    const v = make([1, 1, 4, 4], false);
    sum(mul(x.grad!, v)).backward();
    expectClose(r.grad!.toArraySync(), avgPool2d(v, { kernelSize: 2 }).toArraySync(), { atol: 1e-12, rtol: 1e-12 }, 'd²/dr');
  });
});

test('errors', () => {
  const x = tensor(new Float32Array(9), [1, 1, 3, 3]);
  expect(() => avgPool2d(x, { kernelSize: 4 })).toThrow('avgPool2d: kernel 4×4 is larger than the padded input 3×3 (input [1, 1, 3, 3], padding 0×0)');
  expect(() => avgPool2d(x, { kernelSize: 2, padding: 2 })).toThrow('avgPool2d: padding 2×2 must be at most half the kernel 2×2');
  expect(() => avgPool2d(x, { kernelSize: 0 })).toThrow('avgPool2d: kernelSize must be an integer ≥ 1 or a pair of them, got 0');
  expect(() => avgPool2d(tensor([1, 2, 3]), { kernelSize: 1 })).toThrow('avgPool2d: input must be [C, H, W] or [N, C, H, W], got [3]');
  expect(() => avgPool2d(tensor([[[1, 2]]], { dtype: 'int32' }), { kernelSize: 1 })).toThrow('avgPool2d: needs a floating-point input, got int32');
});
