// upsampleNearest2d: golden cases (forward and gradient) on cpu float64/float32 and webgpu, WGSL against the
// reference on random shapes and scales, gradchecks including double backward, integer inputs, errors.
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { Random, dispose, mul, sum, tensor, type Device } from '../src/index.js';
import { upsampleNearest2d } from '../src/ops/upsample.js';
import { loadGolden } from './golden.js';
import { expectClose, fromGolden, gradcheck } from './util.js';

// The forward copies values (exact); the gradient adds scale² upstream values per pixel.
const CONFIGS = [
  { device: 'cpu', dtype: 'float64', tol: { atol: 1e-12, rtol: 1e-12 } },
  { device: 'cpu', dtype: 'float32', tol: { atol: 1e-6, rtol: 1e-6 } },
  { device: 'webgpu', dtype: 'float32', tol: { atol: 1e-6, rtol: 1e-6 } },
] as const;

describe('golden cases (F.interpolate, mode nearest)', () => {
  for (const { device, dtype, tol } of CONFIGS) {
    for (const c of loadGolden('upsample_nearest.json').cases) {
      test(`${c.name} on ${device} ${dtype}`, async () => {
        const x = fromGolden(c.inputs.x, device, dtype, true);
        const y = upsampleNearest2d(x, c.params.scale_factor);
        expect(y.shape).toEqual(c.outputs.y.shape);
        y.backward(fromGolden(c.inputs.upstream, device, dtype));
        expectClose(await y.toArray(), c.outputs.y.data, tol, 'y');
        expectClose(await x.grad!.toArray(), c.grads.x.data, tol, 'dx');
        dispose([x, y, x.grad]);
      });
    }
  }
});

async function upsample(device: Device, shape: number[], scale: number, seed: number) {
  const random = new Random(seed);
  const x = tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => random.normal()), shape, { device, requiresGrad: true });
  const y = upsampleNearest2d(x, scale);
  y.backward(tensor(Float32Array.from({ length: y.size }, () => random.normal()), y.shape, { device }));
  const result = { shape: y.shape, y: await y.toArray(), dx: await x.grad!.toArray() };
  dispose([x, y, x.grad]);
  return result;
}

test('the WGSL kernels match the reference on random shapes and scales', async () => {
  const arb = fc.record({
    shape: fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 3, maxLength: 4 }),
    scale: fc.integer({ min: 1, max: 4 }),
    seed: fc.nat(),
  });
  await fc.assert(
    fc.asyncProperty(arb, async ({ shape, scale, seed }) => {
      const gpu = await upsample('webgpu', shape, scale, seed);
      const cpu = await upsample('cpu', shape, scale, seed);
      expect(gpu.shape).toEqual(cpu.shape);
      expectClose(gpu.y, cpu.y, { atol: 0, rtol: 0 }, 'y');
      expectClose(gpu.dx, cpu.dx, { atol: 1e-6, rtol: 1e-6 }, 'dx');
    }),
    { numRuns: 30 },
  );
});

describe('float64 gradients', () => {
  const random = new Random(5);
  const make = (shape: number[], requiresGrad = true) =>
    tensor(Float64Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => random.normal()), shape, { dtype: 'float64', requiresGrad });

  test('gradcheck, scale 3', () => {
    const r = make([2, 3, 6], false);
    gradcheck((x) => sum(mul(upsampleNearest2d(x, 3), r)), [make([2, 1, 2])]);
  });

  test('double backward: the gradient of the block sum is the upsampling', () => {
    const x = make([1, 1, 2, 2]);
    const r = make([1, 1, 4, 4]);
    sum(mul(upsampleNearest2d(x, 2), r)).backward(undefined, { createGraph: true });
    r.grad = null; // the first pass also gave r its gradient, upsample(x); keep only the second-order one
    const v = make([1, 1, 2, 2], false);
    sum(mul(x.grad!, v)).backward();
    expectClose(r.grad!.toArraySync(), upsampleNearest2d(v, 2).toArraySync(), { atol: 0, rtol: 0 }, 'd²/dr');
  });
});

test('integer tensors upsample on both devices', async () => {
  for (const device of ['cpu', 'webgpu'] as const) {
    const y = upsampleNearest2d(tensor([[[1, -2]]], { device, dtype: 'int32' }), 2);
    expect(Array.from(await y.toArray())).toEqual([1, 1, -2, -2, 1, 1, -2, -2]);
    dispose(y);
  }
});

test('errors', () => {
  const x = tensor(new Float32Array(4), [1, 1, 2, 2]);
  expect(() => upsampleNearest2d(x, 1.5)).toThrow('upsampleNearest2d: scale must be a positive integer, got 1.5');
  expect(() => upsampleNearest2d(x, 0)).toThrow('upsampleNearest2d: scale must be a positive integer, got 0');
  expect(() => upsampleNearest2d(tensor([1, 2]), 2)).toThrow('upsampleNearest2d: input must be [C, H, W] or [N, C, H, W], got [2]');
});
