// GroupNorm: golden cases (forward and every gradient) on cpu float64/float32 and webgpu, WGSL against the
// reference on random shapes, the default eps, float64 gradchecks, a large-mean input, and bad parameters.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Random, dispose, mul, sum, tensor, type Device, type Tensor } from '../src/index.js';
import { groupNorm, groupNormKernels } from '../src/ops/group-norm.js';
import { loadGolden } from './golden.js';
import { expectClose, fromGolden, gradcheck } from './util.js';

// float64 on the CPU must agree with PyTorch's float64 to rounding. float32: |a − b| ≤ 1e-4 + 1e-4·|b|; the
// outputs are O(1) and the longest reduction here is 147 terms, so f32 rounding stays well below that.
const CONFIGS = [
  { device: 'cpu', dtype: 'float64', tol: { atol: 1e-10, rtol: 1e-9 } },
  { device: 'cpu', dtype: 'float32', tol: { atol: 1e-4, rtol: 1e-4 } },
  { device: 'webgpu', dtype: 'float32', tol: { atol: 1e-4, rtol: 1e-4 } },
] as const;

const golden = loadGolden('group_norm.json');

function values(n: number, seed: number, mean = 0, std = 1): Float64Array {
  const random = new Random(seed);
  return Float64Array.from({ length: n }, () => random.normal(mean, std));
}

describe('golden cases (torch.nn.functional.group_norm)', () => {
  for (const { device, dtype, tol } of CONFIGS) {
    for (const c of golden.cases) {
      test(`${c.name} on ${device} ${dtype}`, async () => {
        const x = fromGolden(c.inputs.x, device, dtype, true);
        const weight = c.inputs.weight ? fromGolden(c.inputs.weight, device, dtype, true) : null;
        const bias = c.inputs.bias ? fromGolden(c.inputs.bias, device, dtype, true) : null;
        const y = groupNorm(x, c.params.groups, weight, bias, c.params.eps);
        y.backward(fromGolden(c.inputs.upstream, device, dtype));
        expectClose(await y.toArray(), c.outputs.y.data, tol, 'y');
        expectClose(await x.grad!.toArray(), c.grads.x.data, tol, 'dx');
        if (weight) expectClose(await weight.grad!.toArray(), c.grads.weight.data, tol, 'dweight');
        if (bias) expectClose(await bias.grad!.toArray(), c.grads.bias.data, tol, 'dbias');
        dispose([x, weight, bias, y, x.grad, weight?.grad, bias?.grad]);
      });
    }
  }
});

/** y and the gradients of sum(y · upstream) for x, weight and bias on one device. */
async function run(device: Device, shape: number[], groups: number, affine: boolean, seed: number, mean = 0, std = 1) {
  const channels = shape[1];
  const size = shape.reduce((a, b) => a * b, 1);
  // Float32-representable inputs, so that both devices see the same numbers.
  const f32 = (v: Float64Array) => Float64Array.from(Float32Array.from(v));
  const dtype = device === 'cpu' ? 'float64' : 'float32';
  const make = (v: Float64Array, s: number[], requiresGrad = true) => tensor(f32(v), s, { device, dtype, requiresGrad });
  const x = make(values(size, seed, mean, std), shape);
  const weight = affine ? make(values(channels, seed + 1, 1, 0.5), [channels]) : null;
  const bias = affine ? make(values(channels, seed + 2), [channels]) : null;
  const y = groupNorm(x, groups, weight, bias);
  y.backward(make(values(size, seed + 3), shape, false));
  const read = async (t: Tensor | null | undefined) => (t ? Array.from(await t.toArray()) : []);
  const result = { y: await read(y), dx: await read(x.grad), dw: await read(weight?.grad), db: await read(bias?.grad) };
  dispose([x, weight, bias, y, x.grad, weight?.grad, bias?.grad]);
  return result;
}

async function expectWebgpuMatchesReference(shape: number[], groups: number, affine: boolean, seed: number, tol: { atol: number; rtol: number }, mean = 0, std = 1) {
  const gpu = await run('webgpu', shape, groups, affine, seed, mean, std);
  const ref = await run('cpu', shape, groups, affine, seed, mean, std);
  for (const key of ['y', 'dx', 'dw', 'db'] as const) expectClose(gpu[key], ref[key], tol, `${key} of [${shape}] / ${groups} groups`);
}

// Both schedules on whatever adapter runs the tests: the device's own, and the 256-wide workgroup trees.
for (const schedule of [null, { kind: 'workgroup' } as const]) describe(`the WGSL kernels (${schedule ? 'workgroup' : 'device'} schedule) match the float64 reference`, () => {
  beforeAll(() => void (groupNormKernels.schedule = schedule));
  afterAll(() => void (groupNormKernels.schedule = null));

  test('random shapes, groups and affine', async () => {
    const arb = fc.record({
      batch: fc.integer({ min: 1, max: 3 }),
      groups: fc.integer({ min: 1, max: 4 }),
      perGroup: fc.integer({ min: 1, max: 4 }),
      spatial: fc.array(fc.integer({ min: 1, max: 7 }), { maxLength: 2 }),
      affine: fc.boolean(),
      seed: fc.nat(),
    });
    await fc.assert(
      // At least 4 values per group: a group of two nearly equal values has var ≈ eps, where dx = rstd·(…)(1 − x̂²)
      // cancels and float32 itself is off by ~1e-3 (both schedules alike); the 1e-4 tolerance assumes O(1) outputs.
      fc.asyncProperty(arb.filter(({ perGroup, spatial }) => perGroup * spatial.reduce((a, b) => a * b, 1) >= 4), async ({ batch, groups, perGroup, spatial, affine, seed }) => {
        await expectWebgpuMatchesReference([batch, groups * perGroup, ...spatial], groups, affine, seed, { atol: 1e-4, rtol: 1e-4 });
      }),
      { numRuns: 20 },
    );
  });

  test('groups longer than a workgroup (every invocation walks several elements; channels of 400)', async () => {
    await expectWebgpuMatchesReference([2, 6, 20, 20], 3, true, 7, { atol: 1e-4, rtol: 1e-4 });
  });

  test('more channels per group than a workgroup has invocations (two rounds of channel segments), and 6 per group', async () => {
    await expectWebgpuMatchesReference([2, 300, 3], 1, true, 9, { atol: 1e-4, rtol: 1e-4 });
    await expectWebgpuMatchesReference([2, 12, 5, 5], 2, true, 10, { atol: 1e-4, rtol: 1e-4 });
  });

  test('mean 100, std 0.1: the one-pass statistics stay accurate', async () => {
    // Near 100 float32 inputs are spaced 7.6e-6 apart, i.e. 7.6e-5 standard deviations: x̂ cannot be better
    // than that, so allow a few of those spacings. E[x²] − E[x]² in float32 would be wrong by ~100% here.
    await expectWebgpuMatchesReference([2, 8, 16, 16], 4, true, 11, { atol: 5e-4, rtol: 1e-4 }, 100, 0.1);
  });
});

describe('the default eps is torch\'s 1e-5', () => {
  for (const { device, dtype, tol } of CONFIGS.filter((c) => c.dtype === 'float64' || c.device === 'webgpu')) {
    test(`groupNorm(x, groups) on an input of variance ~1e-6, where eps matters (${device} ${dtype})`, async () => {
      // std 1e-3: var ≈ 1e-6, so the result scales by sqrt(var / (var + eps)), ≈ 0.3 with eps 1e-5 and ≈ 0.7 with
      // 1e-6; the expected values are the plain formula in float64 with eps 1e-5 (F.group_norm's default).
      const [batch, channels, spatial, groups] = [2, 4, 9, 2];
      const data = Float64Array.from(Float32Array.from(values(batch * channels * spatial, 21, 0, 1e-3)));
      const y = groupNorm(tensor(data, [batch, channels, 3, 3], { device, dtype }), groups);
      const perGroup = (channels / groups) * spatial;
      const expected = new Float64Array(data.length);
      for (let start = 0; start < data.length; start += perGroup) {
        const group = data.subarray(start, start + perGroup);
        const mean = group.reduce((a, b) => a + b, 0) / perGroup;
        const variance = group.reduce((a, b) => a + (b - mean) ** 2, 0) / perGroup;
        group.forEach((v, i) => (expected[start + i] = (v - mean) / Math.sqrt(variance + 1e-5)));
      }
      expectClose(await y.toArray(), expected, tol, 'y');
      y.dispose();
    });
  }
});

test('one shape with two values of eps, back to back on webgpu: each gets its own program (eps is in its key)', async () => {
  const data = Float32Array.from(values(2 * 4 * 9, 22, 0, 1e-3));
  for (const eps of [1e-5, 1e-3, 1e-5]) {
    const [gpu, cpu] = [tensor(data, [2, 4, 3, 3], { device: 'webgpu' }), tensor(Float64Array.from(data), [2, 4, 3, 3], { dtype: 'float64' })];
    const y = groupNorm(gpu, 2, null, null, eps);
    expectClose(await y.toArray(), groupNorm(cpu, 2, null, null, eps).toArraySync(), { atol: 1e-4, rtol: 1e-4 }, `eps ${eps}`);
    dispose([gpu, y]);
  }
});

test('one shape with each mix of weight and bias, back to back on webgpu: each gets its own program', async () => {
  const data = values(2 * 4 * 9, 23);
  const weight = values(4, 24);
  const bias = values(4, 25);
  for (const [w, b] of [[weight, bias], [weight, null], [null, bias], [null, null], [weight, bias]] as const) {
    const label = `weight ${w ? 'yes' : 'no'}, bias ${b ? 'yes' : 'no'}`;
    const inputs = (device: Device) => {
      const dtype = device === 'cpu' ? 'float64' : 'float32';
      const t = (v: Float64Array | null, shape: number[]) => (v ? tensor(v, shape, { device, dtype }) : null);
      return [t(data, [2, 4, 3, 3])!, t(w, [4]), t(b, [4])] as const;
    };
    const [x, gw, gb] = inputs('webgpu');
    const y = groupNorm(x, 2, gw, gb);
    const [cx, cw, cb] = inputs('cpu');
    expectClose(await y.toArray(), groupNorm(cx, 2, cw, cb).toArraySync(), { atol: 1e-4, rtol: 1e-4 }, label);
    dispose([x, gw, gb, y]);
  }
});

describe('float64 gradchecks', () => {
  const make = (shape: number[], seed: number, mean = 0) => tensor(values(shape.reduce((a, b) => a * b, 1), seed, mean), shape, { dtype: 'float64', requiresGrad: true });

  test('with weight and bias', () => {
    const r = tensor(values(24, 5), [2, 4, 3], { dtype: 'float64' });
    gradcheck((x, w, b) => sum(mul(groupNorm(x, 2, w, b), r)), [make([2, 4, 3], 1), make([4], 2, 1), make([4], 3)]);
  });

  test('without affine, rank 2 and rank 4 inputs', () => {
    const r2 = tensor(values(12, 6), [2, 6], { dtype: 'float64' });
    gradcheck((x) => sum(mul(groupNorm(x, 3), r2)), [make([2, 6], 4)]);
    const r4 = tensor(values(24, 7), [1, 4, 3, 2], { dtype: 'float64' });
    gradcheck((x) => sum(mul(groupNorm(x, 1, null, null, 1e-3), r4)), [make([1, 4, 3, 2], 8)]);
  });
});

describe('errors', () => {
  const x = tensor(values(24, 1), [1, 6, 2, 2], { dtype: 'float32' });

  test('channels not divisible by groups', () => {
    expect(() => groupNorm(x, 4)).toThrow('groupNorm: input [1, 6, 2, 2] has 6 channels, which 4 groups do not divide');
  });

  test('weight or bias of the wrong length', () => {
    expect(() => groupNorm(x, 3, tensor([1, 1, 1, 1]))).toThrow('groupNorm: weight must be a float32 vector of length 6 (the channels of input [1, 6, 2, 2]), got float32 [4]');
    expect(() => groupNorm(x, 3, null, tensor([[0, 0, 0, 0, 0, 0]]))).toThrow('groupNorm: bias must be a float32 vector of length 6');
  });

  test('eps negative or NaN (the GPU gave NaN everywhere, the CPU numbers)', () => {
    for (const device of ['cpu', 'webgpu'] as const) {
      const y = tensor(values(24, 1), [1, 6, 2, 2], { device, dtype: 'float32' });
      expect(() => groupNorm(y, 3, null, null, -1)).toThrow('groupNorm: eps must be a finite number ≥ 0, got -1');
      expect(() => groupNorm(y, 3, null, null, Number.NaN)).toThrow('groupNorm: eps must be a finite number ≥ 0, got NaN');
    }
  });

  test('rank below 2', () => {
    expect(() => groupNorm(tensor([1, 2, 3]), 1)).toThrow('groupNorm: input must be [N, C, ...], got [3]');
  });

  test('double backward is refused', () => {
    const xg = tensor(values(8, 2), [1, 2, 4], { dtype: 'float64', requiresGrad: true });
    const y = sum(mul(groupNorm(xg, 1), tensor(values(8, 3), [1, 2, 4], { dtype: 'float64' })));
    expect(() => y.backward(undefined, { createGraph: true })).toThrow('groupNorm: double backward is not supported');
  });
});
