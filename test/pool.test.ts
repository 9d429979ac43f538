// maxPool2d: golden cases (forward and gradient) on cpu float64/float32 and webgpu, WGSL against the reference
// on random shapes with many ties, torch's tie rule, float64 gradchecks and bad parameters.
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { Random, dispose, mul, sum, tensor, type Device } from '../src/index.js';
import { avgPool2d, maxPool2d, type MaxPool2dOptions } from '../src/ops/pool.js';
import { loadGolden } from './golden.js';
import { expectClose, expectSameBitsEveryUse, fromGolden, gradcheck } from './util.js';
import { poolCaseArb } from './arbitraries.js';

// Pooling copies values and its gradient adds at most ⌈k/s⌉² upstream values per pixel: float32 results are
// exact up to the rounding of those few additions.
const CONFIGS = [
  { device: 'cpu', dtype: 'float64', tol: { atol: 1e-12, rtol: 1e-12 } },
  { device: 'cpu', dtype: 'float32', tol: { atol: 1e-6, rtol: 1e-6 } },
  { device: 'webgpu', dtype: 'float32', tol: { atol: 1e-6, rtol: 1e-6 } },
] as const;

describe('golden cases (F.max_pool2d)', () => {
  for (const { device, dtype, tol } of CONFIGS) {
    for (const c of loadGolden('max_pool2d.json').cases) {
      test(`${c.name} on ${device} ${dtype}`, async () => {
        const x = fromGolden(c.inputs.x, device, dtype, true);
        const y = maxPool2d(x, { kernelSize: c.params.kernel_size, stride: c.params.stride, padding: c.params.padding });
        expect(y.shape).toEqual(c.outputs.y.shape);
        y.backward(fromGolden(c.inputs.upstream, device, dtype));
        expectClose(await y.toArray(), c.outputs.y.data, tol, 'y');
        expectClose(await x.grad!.toArray(), c.grads.x.data, tol, 'dx');
        dispose([x, y, x.grad]);
      });
    }
  }
});

/** y and dx (for a random upstream) on one device; values are small integers so that windows hold ties. */
async function pool(device: Device, shape: number[], options: MaxPool2dOptions, seed: number) {
  const random = new Random(seed);
  const x = tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => random.int(0, 3)), shape, { device, requiresGrad: true });
  const y = maxPool2d(x, options);
  y.backward(tensor(Float32Array.from({ length: y.size }, () => random.normal()), y.shape, { device }));
  const result = { shape: y.shape, y: await y.toArray(), dx: await x.grad!.toArray() };
  dispose([x, y, x.grad]);
  return result;
}

describe('the WGSL kernels match the reference', () => {
  test('random shapes, kernels, strides and paddings, with ties', async () => {
    const arb = poolCaseArb(4, 3);
    await fc.assert(
      fc.asyncProperty(arb, async ({ shape, options, seed }) => {
        const gpu = await pool('webgpu', shape, options, seed);
        const cpu = await pool('cpu', shape, options, seed);
        expect(gpu.shape).toEqual(cpu.shape);
        expectClose(gpu.y, cpu.y, { atol: 0, rtol: 0 }, 'y');
        expectClose(gpu.dx, cpu.dx, { atol: 1e-6, rtol: 1e-6 }, 'dx');
      }),
      { numRuns: 40 },
    );
  });
});

// A shape's first uses run the general kernels (the shape as parameters), the later ones the specialised (the shape
// as constants), which must give the same bits: the test above checks the general ones against the reference.
test('from a shape\'s SPECIALISE_AFTER-th use the specialised kernels run, and give the general ones\' bits', async () => {
  await fc.assert(
    fc.asyncProperty(poolCaseArb(4, 3), ({ shape, options, seed }) => expectSameBitsEveryUse(() => pool('webgpu', shape, options, seed))),
    { numRuns: 12 },
  );
});

describe('semantics', () => {
  for (const device of ['cpu', 'webgpu'] as const) {
    test(`ties send the gradient to the first maximum; padding never wins (${device})`, async () => {
      // Windows over a row of equal values, k = 2, s = 1, p = 1: [pad, 0], [0, 1], [1, 2], [2, 3], [3, pad].
      const x = tensor([[[[5, 5, 5, 5]]]], { device, requiresGrad: true });
      const y = maxPool2d(x, { kernelSize: [1, 2], stride: 1, padding: [0, 1] });
      y.backward(tensor([[[[1, 1, 1, 1, 1]]]], { device }));
      expect(Array.from(await y.toArray())).toEqual([5, 5, 5, 5, 5]);
      expect(Array.from(await x.grad!.toArray())).toEqual([2, 1, 1, 1]);
      dispose([x, y, x.grad]);
    });

    test(`negative inputs with padding, and a [C, H, W] input (${device})`, async () => {
      const x = tensor([[[-3, -1], [-2, -4]]], { device, requiresGrad: true });
      const y = maxPool2d(x, { kernelSize: 3, stride: 2, padding: 1 });
      y.backward(tensor([[[7]]], { device }));
      expect(y.shape).toEqual([1, 1, 1]);
      expect(Array.from(await y.toArray())).toEqual([-1]);
      expect(Array.from(await x.grad!.toArray())).toEqual([0, 7, 0, 0]);
      dispose([x, y, x.grad]);
    });
  }
});

test('float64 gradcheck (distinct values, so no window sits on a tie)', () => {
  const random = new Random(3);
  const make = (n: number) => Float64Array.from({ length: n }, () => random.normal());
  const x = tensor(make(2 * 5 * 6), [1, 2, 5, 6], { dtype: 'float64', requiresGrad: true });
  const r = tensor(make(2 * 3 * 3), [1, 2, 3, 3], { dtype: 'float64' });
  gradcheck((x) => sum(mul(maxPool2d(x, { kernelSize: 3, stride: 2, padding: 1 }), r)), [x]);
});

describe('errors', () => {
  const x = tensor(new Float32Array(9), [1, 1, 3, 3]);

  test('kernel larger than the padded input', () => {
    expect(() => maxPool2d(x, { kernelSize: 5 })).toThrow('maxPool2d: kernel 5×5 is larger than the padded input 3×3 (input [1, 1, 3, 3], padding 0×0)');
    expect(() => maxPool2d(x, { kernelSize: [2, 6], padding: [1, 1] })).toThrow('maxPool2d: kernel 2×6 is larger than the padded input 5×5');
  });

  test('padding over half the kernel, bad sizes, bad rank', () => {
    expect(() => maxPool2d(x, { kernelSize: 2, padding: 2 })).toThrow('maxPool2d: padding 2×2 must be at most half the kernel 2×2');
    // PyTorch's options this engine lacks were ignored: the result was silently other than asked for.
    expect(() => maxPool2d(x, { kernelSize: 2, dilation: 2 } as unknown as { kernelSize: number })).toThrow("maxPool2d: unknown option 'dilation'; it takes kernelSize, stride, padding");
    expect(() => avgPool2d(x, { kernelSize: 2, ceilMode: true } as unknown as { kernelSize: number })).toThrow("avgPool2d: unknown option 'ceilMode'; it takes kernelSize, stride, padding");
    expect(() => maxPool2d(x, { kernelSize: 0 })).toThrow('maxPool2d: kernelSize must be an integer ≥ 1 or a pair of them, got 0');
    expect(() => maxPool2d(x, { kernelSize: 2, stride: [1, 1.5] })).toThrow('maxPool2d: stride must be an integer ≥ 1 or a pair of them, got [1,1.5]');
    expect(() => maxPool2d(tensor([1, 2, 3]), { kernelSize: 1 })).toThrow('maxPool2d: input must be [C, H, W] or [N, C, H, W], got [3]');
  });
});
