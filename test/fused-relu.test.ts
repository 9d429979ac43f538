// A ReLU fused into the kernel before it: conv2dRelu (into the GEMM's output store), groupNormRelu (into both
// GroupNorm kernels) and addRelu (a residual block's end). Each must equal the composition relu(op(...)) bit for
// bit, values and gradients, on the adapter (both GroupNorm schedules) and in float64 on the CPU, pass NaN on as
// relu does, pass float64 gradchecks, and dispatch no relu kernel of its own; the networks must use them.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Random, add, addRelu, dispose, grad, mul, randn, relu, sum, tensor, type Device, type Tensor } from '../src/index.js';
import { conv2d, conv2dGeometry, conv2dRelu, type Conv2dOptions } from '../src/ops/conv2d.js';
import { groupNorm, groupNormKernels, groupNormRelu } from '../src/ops/group-norm.js';
import { Conv2d } from '../src/nn/conv.js';
import { ConvModule } from '../src/nn/conv-module.js';
import { FrozenBatchNorm2d } from '../src/nn/norm.js';
import { BasicBlock, Bottleneck, convNormRelu } from '../src/nn/resnet.js';
import { smallConv, type ConvShapes } from './conv-shapes.js';
import { dispatchedKernels, expectClose, gradcheck } from './util.js';

type Inputs = { x: Float64Array; w: Float64Array | null; b: Float64Array | null; up: Float64Array };

/** Float32-representable values, so that float32 and float64 runs see the same numbers. */
function values(n: number, random: Random, mean = 0): Float64Array {
  return Float64Array.from(Float32Array.from({ length: n }, () => random.normal() + mean));
}

/**
 * y = f(x, w, b) and the gradients of sum(y · up) on one device (float32 on the adapter, float64 on the CPU), as
 * plain arrays; NaN compares equal to NaN in toEqual, so a NaN that one side drops is found.
 */
async function evaluate(device: Device, shapes: { x: number[]; w: number[] | null; b: number[] | null; y: number[] }, inputs: Inputs,
  f: (x: Tensor, w: Tensor | null, b: Tensor | null) => Tensor) {
  const dtype = device === 'cpu' ? 'float64' : 'float32';
  const make = (v: Float64Array | null, shape: number[] | null, requiresGrad = true) => (v && shape ? tensor(v, shape, { device, dtype, requiresGrad }) : null);
  const [x, w, b] = [make(inputs.x, shapes.x)!, make(inputs.w, shapes.w), make(inputs.b, shapes.b)];
  const y = f(x, w, b);
  y.backward(make(inputs.up, shapes.y, false)!);
  const read = async (t: Tensor | null | undefined) => (t ? Array.from(await t.toArray()) : []);
  const result = { y: await read(y), dx: await read(x.grad), dw: await read(w?.grad), db: await read(b?.grad) };
  dispose([x, w, b, y, x.grad, w?.grad, b?.grad]);
  return result;
}

/** Fused and composed agree bit for bit on the adapter and in float64; the adapter's agree with float64 to `tol`. */
async function expectFusedEqualsComposed(shapes: Parameters<typeof evaluate>[1], inputs: Inputs, fused: Parameters<typeof evaluate>[3],
  composed: Parameters<typeof evaluate>[3], tol: { atol: number; rtol: number }) {
  const gpu = await evaluate('webgpu', shapes, inputs, fused);
  expect(gpu).toEqual(await evaluate('webgpu', shapes, inputs, composed));
  const cpu = await evaluate('cpu', shapes, inputs, fused);
  expect(cpu).toEqual(await evaluate('cpu', shapes, inputs, composed));
  for (const key of ['y', 'dx', 'dw', 'db'] as const) expectClose(gpu[key], cpu[key], tol, key);
}

const labels = (f: () => Tensor) => {
  const { kernels, result } = dispatchedKernels(f);
  result.dispose();
  return kernels.map((k) => k.label);
};

describe('conv2dRelu', () => {
  const geometry = fc.record({ conv: smallConv, withBias: fc.boolean(), seed: fc.nat() });

  type ConvCase = { conv: ConvShapes; withBias: boolean };

  function conv(r: ConvCase, random: Random) {
    const { x, w, options } = r.conv;
    const g = conv2dGeometry(x, w, options);
    const shapes = { x, w, b: r.withBias ? [w[0]!] : null, y: [g.batch, g.outChannels, g.outH, g.outW] };
    const count = (s: number[] | null) => (s ? s.reduce((a, b) => a * b, 1) : 0);
    const inputs = { x: values(count(x), random), w: values(count(w), random), b: r.withBias ? values(w[0]!, random) : null, up: values(count(shapes.y), random) };
    return { options, shapes, inputs };
  }

  test('equals relu(conv2d) bit for bit, values and gradients, on random geometries', async () => {
    await fc.assert(fc.asyncProperty(geometry, async (r) => {
      const { options, shapes, inputs } = conv(r, new Random(r.seed));
      await expectFusedEqualsComposed(shapes, inputs, (x, w, b) => conv2dRelu(x, w!, b, options), (x, w, b) => relu(conv2d(x, w!, b, options)), { atol: 1e-4, rtol: 1e-4 });
    }), { numRuns: 8 });
  });

  test('a NaN input gives NaN outputs, not zeros (WGSL max would drop them)', async () => {
    const r = { conv: { x: [1, 2, 4, 5], w: [3, 2, 3, 3], options: { stride: 1, padding: 1, groups: 1 } }, withBias: true };
    const { options, shapes, inputs } = conv(r, new Random(4));
    inputs.x[5] = Number.NaN;
    const fused = await evaluate('webgpu', shapes, inputs, (x, w, b) => conv2dRelu(x, w!, b, options));
    expect(fused.y.filter(Number.isNaN).length).toBeGreaterThan(0);
    expect(fused.y.filter((v) => v === 0).length).toBeGreaterThan(0);
    expect(fused).toEqual(await evaluate('webgpu', shapes, inputs, (x, w, b) => relu(conv2d(x, w!, b, options))));
  });

  test('float64 gradients (central differences), twice differentiable', () => {
    const random = new Random(6);
    const options: Conv2dOptions = { stride: [2, 1], padding: 1, groups: 2 };
    const x = randn([2, 4, 5, 4], { dtype: 'float64', random, requiresGrad: true });
    const w = randn([4, 2, 3, 3], { dtype: 'float64', random, requiresGrad: true });
    const b = randn([4], { dtype: 'float64', random, requiresGrad: true });
    const g = conv2dGeometry(x.shape, w.shape, options);
    const up = randn([g.batch, g.outChannels, g.outH, g.outW], { dtype: 'float64', random });
    gradcheck((x, w, b) => sum(mul(conv2dRelu(x, w, b, options), up)), [x, w, b]);
    // Second order: f = <sx, dL/dx> + <sw, dL/dw> with L = <u, conv2dRelu(x, w)>, differentiated in x, w and u.
    const u = randn(up.shape, { dtype: 'float64', random, requiresGrad: true });
    const [sx, sw] = [randn(x.shape, { dtype: 'float64', random }), randn(w.shape, { dtype: 'float64', random })];
    gradcheck((x, w, u) => {
      const [gx, gw] = grad(sum(mul(conv2dRelu(x, w, null, options), u)), [x, w], { createGraph: true });
      return add(sum(mul(gx!, sx)), sum(mul(gw!, sw)));
    }, [x, w, u]);
  });

  test('one kernel forward, no relu dispatch; a bad bias is reported under its own name', () => {
    const x = randn([1, 2, 6, 6], { device: 'webgpu' });
    const w = randn([3, 2, 3, 3], { device: 'webgpu' });
    expect(labels(() => conv2dRelu(x, w, null, { padding: 1 }))).toEqual(['conv2d+relu']);
    expect(() => conv2dRelu(x, w, tensor([1, 2], [2], { device: 'webgpu' }))).toThrow('conv2dRelu: bias must have shape [3] (one per output channel), got [2]');
    dispose([x, w]);
  });
});

for (const schedule of [null, { kind: 'workgroup' } as const]) describe(`groupNormRelu (${schedule ? 'workgroup' : 'device'} schedule)`, () => {
  beforeAll(() => void (groupNormKernels.schedule = schedule));
  afterAll(() => void (groupNormKernels.schedule = null));

  const arb = fc.record({
    batch: fc.integer({ min: 1, max: 3 }),
    groups: fc.integer({ min: 1, max: 3 }),
    perGroup: fc.integer({ min: 1, max: 4 }),
    spatial: fc.array(fc.integer({ min: 2, max: 6 }), { minLength: 1, maxLength: 2 }),
    affine: fc.boolean(),
    seed: fc.nat(),
  });

  function case_(r: { batch: number; groups: number; perGroup: number; spatial: number[]; affine: boolean }, random: Random) {
    const channels = r.groups * r.perGroup;
    const x = [r.batch, channels, ...r.spatial];
    const size = x.reduce((a, b) => a * b, 1);
    const affine = r.affine ? [channels] : null;
    // A positive mean for the bias, so that the ReLU keeps some outputs and zeroes others.
    const inputs = { x: values(size, random), w: r.affine ? values(channels, random, 1) : null, b: r.affine ? values(channels, random, 0.3) : null, up: values(size, random) };
    return { shapes: { x, w: affine, b: affine, y: x }, inputs };
  }

  test('equals relu(groupNorm) bit for bit, values and gradients, on random shapes', async () => {
    await fc.assert(fc.asyncProperty(arb, async (r) => {
      const { shapes, inputs } = case_(r, new Random(r.seed));
      await expectFusedEqualsComposed(shapes, inputs, (x, w, b) => groupNormRelu(x, r.groups, w, b), (x, w, b) => relu(groupNorm(x, r.groups, w, b)), { atol: 1e-4, rtol: 1e-4 });
    }), { numRuns: 12 });
  });

  test('a NaN input makes its group NaN, and the NaNs pass the ReLU', async () => {
    const r = { batch: 1, groups: 2, perGroup: 2, spatial: [3, 3], affine: true };
    const { shapes, inputs } = case_(r, new Random(8));
    inputs.x[3] = Number.NaN;
    const fused = await evaluate('webgpu', shapes, inputs, (x, w, b) => groupNormRelu(x, 2, w, b));
    expect(fused.y.slice(0, 18).every(Number.isNaN)).toBe(true);
    expect(fused.y.slice(18).some((v) => v === 0) && fused.y.slice(18).some((v) => v > 0)).toBe(true);
    expect(fused).toEqual(await evaluate('webgpu', shapes, inputs, (x, w, b) => relu(groupNorm(x, 2, w, b))));
  });
});

describe('groupNormRelu on its own', () => {
  test('float64 gradients (central differences)', () => {
    const random = new Random(9);
    const x = randn([2, 4, 3, 2], { dtype: 'float64', random, requiresGrad: true });
    const w = randn([4], { dtype: 'float64', random, requiresGrad: true });
    const b = randn([4], { dtype: 'float64', random, requiresGrad: true });
    const up = randn([2, 4, 3, 2], { dtype: 'float64', random });
    gradcheck((x, w, b) => sum(mul(groupNormRelu(x, 2, w, b), up)), [x, w, b]);
  });

  test('its two kernels and no relu of its own, forward and backward; errors under its own name', () => {
    const x = randn([1, 4, 5, 5], { device: 'webgpu', requiresGrad: true });
    expect(labels(() => groupNormRelu(x, 2))).toEqual(['groupNorm+relu']);
    const y = groupNormRelu(x, 2);
    expect(labels(() => {
      y.backward(randn([1, 4, 5, 5], { device: 'webgpu' }));
      return x.grad!;
    })).not.toContain('reluBackward');
    expect(() => groupNormRelu(x, 3)).toThrow('groupNormRelu: input [1, 4, 5, 5] has 4 channels, which 3 groups do not divide');
    dispose([x, y]);
  });
});

describe('addRelu', () => {
  test('equals relu(add) bit for bit with broadcasting, values and gradients; inf + (−inf) is NaN, not 0', async () => {
    const random = new Random(10);
    const inputs = { x: values(24, random), w: values(4, random), b: null, up: values(24, random) };
    const shapes = { x: [2, 3, 4], w: [4], b: null, y: [2, 3, 4] };
    await expectFusedEqualsComposed(shapes, inputs, (x, w) => addRelu(x, w!), (x, w) => relu(add(x, w!)), { atol: 1e-6, rtol: 1e-6 });
    inputs.x[0] = Number.POSITIVE_INFINITY;
    inputs.w[0] = Number.NEGATIVE_INFINITY;
    const fused = await evaluate('webgpu', shapes, inputs, (x, w) => addRelu(x, w!));
    expect(Number.isNaN(fused.y[0])).toBe(true);
    expect(fused).toEqual(await evaluate('webgpu', shapes, inputs, (x, w) => relu(add(x, w!))));
  });

  test('int32: the sum wraps before the ReLU, on both devices, as relu(add) does', async () => {
    for (const device of ['cpu', 'webgpu'] as const) {
      const [a, b] = [tensor([2 ** 31 - 1, -5, 7], [3], { device, dtype: 'int32' }), tensor([1, 2, -3], [3], { device, dtype: 'int32' })];
      const [fused, composed] = [addRelu(a, b), relu(add(a, b))];
      expect(Array.from(await fused.toArray()), device).toEqual([0, 0, 4]);
      expect(Array.from(await composed.toArray()), device).toEqual([0, 0, 4]);
      dispose([a, b, fused, composed]);
    }
  });
});

describe('the networks fuse their conv → norm → ReLU blocks and residual ends', () => {
  test('ResNet blocks end in one addRelu', () => {
    const init = { norm: 'frozen-bn', normGroups: 1, device: 'webgpu', random: new Random(3) } as const;
    const x = randn([1, 8, 8, 8], { device: 'webgpu' });
    for (const block of [new BasicBlock(8, 8, 1, 'pytorch', init), new Bottleneck(8, 2, 1, 'pytorch', init)]) {
      const dispatched = labels(() => block.forward(x));
      expect(dispatched.at(-1)).toBe('addRelu');
      expect(dispatched).not.toContain('relu');
      block.dispose();
    }
    x.dispose();
  });

  test('a ConvModule with GroupNorm and ReLU, or ReLU alone, dispatches no relu kernel', () => {
    const x = randn([1, 4, 8, 8], { device: 'webgpu' });
    for (const gnGroups of [2, undefined]) {
      const layer = new ConvModule(4, 6, 3, { padding: 1, gnGroups, relu: true, device: 'webgpu', random: new Random(1) });
      const dispatched = labels(() => layer.forward(x));
      expect(dispatched.filter((l) => /relu/i.test(l))).toEqual([gnGroups ? 'groupNorm+relu' : 'conv2d+relu']);
      layer.dispose();
    }
    x.dispose();
  });

  test('convNormRelu folds a frozen BN into the conv and the ReLU into its store', async () => {
    const conv = new Conv2d(3, 4, 3, { padding: 1, bias: false, device: 'webgpu', random: new Random(2) });
    const bn = new FrozenBatchNorm2d(4, { device: 'webgpu' });
    const x = randn([1, 3, 16, 16], { device: 'webgpu' });
    expect(labels(() => convNormRelu(conv, bn, x))).toContain('conv2d+relu');
    const [fused, reference] = [convNormRelu(conv, bn, x), relu(bn.forward(conv.forward(x)))];
    expectClose(await fused.toArray(), await reference.toArray(), { atol: 1e-5, rtol: 1e-5 });
    dispose([x, fused, reference]);
    conv.dispose();
    bn.dispose();
  });
});
