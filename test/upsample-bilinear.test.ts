// upsampleBilinear2d: golden cases (F.interpolate, mode bilinear, align_corners=False; forward and gradient) on
// cpu float64/float32 and webgpu, WGSL against the reference on random shapes, factors and sizes, torch's
// scale-factor-versus-size coordinates, float64 gradchecks including double backward, errors.
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { Random, dispose, mul, sum, tensor, type Device } from '../src/index.js';
import { upsampleBilinear2d, type UpsampleBilinearOptions } from '../src/ops/upsample-bilinear.js';
import { loadGolden } from './golden.js';
import { expectClose, fromGolden, gradcheck } from './util.js';

// Each output blends four inputs (float32: a few ulps); each input's gradient sums up to (2s + 1)² weighted
// upstream values for an s× upsampling (s = 8 in the golden cases: ~300 terms), hence the looser dx tolerance.
const CONFIGS = [
  { device: 'cpu', dtype: 'float64', y: { atol: 1e-12, rtol: 1e-12 }, dx: { atol: 1e-12, rtol: 1e-12 } },
  { device: 'cpu', dtype: 'float32', y: { atol: 1e-6, rtol: 1e-6 }, dx: { atol: 1e-5, rtol: 1e-5 } },
  { device: 'webgpu', dtype: 'float32', y: { atol: 1e-6, rtol: 1e-6 }, dx: { atol: 1e-5, rtol: 1e-5 } },
] as const;

const optionsOf = (params: Record<string, any>): UpsampleBilinearOptions =>
  params.size !== undefined ? { size: params.size } : { scaleFactor: params.scale_factor };

describe('golden cases (F.interpolate, mode bilinear, align_corners=False)', () => {
  const golden = loadGolden('upsample_bilinear.json');
  test('the golden cases use both a scale factor and a size', () => {
    expect(golden.cases.some((c) => c.params.size !== undefined)).toBe(true);
    expect(golden.cases.some((c) => c.params.scale_factor !== undefined)).toBe(true);
    expect(golden.cases.every((c) => c.params.align_corners === false)).toBe(true);
  });
  for (const { device, dtype, y: yTol, dx: dxTol } of CONFIGS) {
    for (const c of golden.cases) {
      test(`${c.name} on ${device} ${dtype}`, async () => {
        const x = fromGolden(c.inputs.x, device, dtype, true);
        const y = upsampleBilinear2d(x, optionsOf(c.params));
        expect(y.shape).toEqual(c.outputs.y.shape);
        y.backward(fromGolden(c.inputs.upstream, device, dtype));
        expectClose(await y.toArray(), c.outputs.y.data, yTol, 'y');
        expectClose(await x.grad!.toArray(), c.grads.x.data, dxTol, 'dx');
        dispose([x, y, x.grad]);
      });
    }
  }
});

async function resize(device: Device, shape: number[], options: UpsampleBilinearOptions, seed: number) {
  const random = new Random(seed);
  const x = tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => random.normal()), shape, { device, requiresGrad: true });
  const y = upsampleBilinear2d(x, options);
  y.backward(tensor(Float32Array.from({ length: y.size }, () => random.normal()), y.shape, { device }));
  const result = { shape: y.shape, y: await y.toArray(), dx: await x.grad!.toArray() };
  dispose([x, y, x.grad]);
  return result;
}

test('the WGSL kernels match the reference on random shapes, scale factors (integer and not) and sizes (up and down)', async () => {
  const factor = fc.oneof(fc.integer({ min: 1, max: 8 }), fc.constantFrom(0.5, 1.5, 2.5, 0.75));
  const arb = fc.record({
    shape: fc.tuple(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 7 })),
    options: fc.oneof(
      fc.record({ scaleFactor: fc.oneof(factor, fc.tuple(factor, factor)) }),
      fc.record({ size: fc.tuple(fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 12 })) }),
    ).map((o): UpsampleBilinearOptions => o),
    seed: fc.nat(),
  }).filter(({ shape, options }) => {
    // Drop factors that leave an axis empty (an error, tested below).
    const [fh, fw] = typeof options.scaleFactor === 'number' ? [options.scaleFactor, options.scaleFactor] : options.scaleFactor ?? [1, 1];
    return Math.floor(shape[2] * fh) >= 1 && Math.floor(shape[3] * fw) >= 1;
  });
  await fc.assert(
    fc.asyncProperty(arb, async ({ shape, options, seed }) => {
      const gpu = await resize('webgpu', shape, options, seed);
      const cpu = await resize('cpu', shape, options, seed);
      expect(gpu.shape).toEqual(cpu.shape);
      // Float32 on both sides; a tap at an exact boundary may round to the other side, which moves the value
      // continuously, by ~1 ulp of the coordinate.
      expectClose(gpu.y, cpu.y, { atol: 1e-5, rtol: 1e-5 }, 'y');
      expectClose(gpu.dx, cpu.dx, { atol: 1e-5, rtol: 1e-5 }, 'dx');
    }),
    { numRuns: 40 },
  );
});

describe('semantics', () => {
  for (const device of ['cpu', 'webgpu'] as const) {
    test(`a ramp shows the source coordinates: 1/s with a scale factor, H/h with a size (${device})`, async () => {
      // x[i] = i, so the output is the source coordinate clamped to [0, 4]: torch gives
      // scale_factor=1.5 → 7 outputs at (o + ½)/1.5 − ½, size 7 → (o + ½)·5/7 − ½.
      const x = tensor([[[[0, 1, 2, 3, 4]]]], { device });
      const clamp = (s: number) => Math.min(Math.max(s, 0), 4);
      const byFactor = upsampleBilinear2d(x, { scaleFactor: [1, 1.5] });
      const bySize = upsampleBilinear2d(x, { size: [1, 7] });
      expect(byFactor.shape).toEqual([1, 1, 1, 7]);
      const outputs = [0, 1, 2, 3, 4, 5, 6];
      expectClose(await byFactor.toArray(), outputs.map((o) => clamp((o + 0.5) / 1.5 - 0.5)), { atol: 1e-6, rtol: 0 }, 'scale factor');
      expectClose(await bySize.toArray(), outputs.map((o) => clamp(((o + 0.5) * 5) / 7 - 0.5)), { atol: 1e-6, rtol: 0 }, 'size');
      dispose([x, byFactor, bySize]);
    });

    test(`the same size is the identity, and a [C, H, W] input works (${device})`, async () => {
      const values = [1, -2, 3, 4, 5, -6];
      const x = tensor(values, [1, 2, 3], { device });
      const y = upsampleBilinear2d(x, { size: [2, 3] });
      expect(y.shape).toEqual([1, 2, 3]);
      expect(Array.from(await y.toArray())).toEqual(values);
      dispose([x, y]);
    });
  }
});

describe('float64 gradients', () => {
  const random = new Random(7);
  const make = (shape: number[], requiresGrad = true) =>
    tensor(Float64Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => random.normal()), shape, { dtype: 'float64', requiresGrad });

  test('gradcheck: upsampling by a factor, downsampling to a size', () => {
    const up = make([1, 2, 9, 6], false);
    gradcheck((x) => sum(mul(upsampleBilinear2d(x, { scaleFactor: [3, 2] }), up)), [make([1, 2, 3, 3])]);
    const down = make([2, 3, 2], false);
    gradcheck((x) => sum(mul(upsampleBilinear2d(x, { size: [3, 2] }), down)), [make([2, 5, 4])]);
  });

  test('double backward: the gradient of the adjoint is the resize', () => {
    const x = make([1, 1, 2, 3]);
    const r = make([1, 1, 4, 6]);
    sum(mul(upsampleBilinear2d(x, { scaleFactor: 2 }), r)).backward(undefined, { createGraph: true });
    r.grad = null; // the first pass also gave r its gradient; keep only the second-order one
    const v = make([1, 1, 2, 3], false);
    sum(mul(x.grad!, v)).backward();
    expectClose(r.grad!.toArraySync(), upsampleBilinear2d(v, { scaleFactor: 2 }).toArraySync(), { atol: 1e-12, rtol: 1e-12 }, 'd²/dr');
  });
});

test('errors', () => {
  const x = tensor(new Float32Array(4), [1, 1, 2, 2]);
  expect(() => upsampleBilinear2d(x, {})).toThrow('upsampleBilinear2d: give exactly one of scaleFactor and size');
  expect(() => upsampleBilinear2d(x, { scaleFactor: 2, size: [4, 4] })).toThrow('upsampleBilinear2d: give exactly one of scaleFactor and size');
  expect(() => upsampleBilinear2d(x, { scaleFactor: 0 })).toThrow('upsampleBilinear2d: scaleFactor must be a number > 0 or a pair of them, got 0');
  expect(() => upsampleBilinear2d(x, { scaleFactor: 2, alignCorners: true } as object)).toThrow("upsampleBilinear2d: unknown option 'alignCorners'; it takes scaleFactor, size");
  expect(() => upsampleBilinear2d(x, { scaleFactor: Number.NaN })).toThrow('upsampleBilinear2d: scaleFactor must be a number > 0 or a pair of them, got NaN');
  expect(() => upsampleBilinear2d(x, { scaleFactor: [2, Infinity] })).toThrow('upsampleBilinear2d: scaleFactor must be a number > 0 or a pair of them, got [2,Infinity]');
  expect(() => upsampleBilinear2d(x, { scaleFactor: 0.25 })).toThrow('upsampleBilinear2d: scaleFactor 0.25 leaves [1, 1, 2, 2] empty');
  expect(() => upsampleBilinear2d(x, { size: [2, 1.5] })).toThrow('upsampleBilinear2d: size must be two integers ≥ 1, got [2,1.5]');
  expect(() => upsampleBilinear2d(tensor([1, 2]), { size: [1, 1] })).toThrow('upsampleBilinear2d: input must be [C, H, W] or [N, C, H, W], got [2]');
  expect(() => upsampleBilinear2d(tensor([[[1, 2]]], { dtype: 'int32' }), { size: [1, 1] })).toThrow('upsampleBilinear2d: needs a floating-point input, got int32');
});
