// conv2dFused: relu?(conv2d(x, W)·s + b), a conv and the frozen BN after it (and its ReLU) in the conv kernels.
// It must equal the separate ops (conv2d, mul, add, relu) bit for bit, values and gradients, on the adapter and in
// float64; each pass must match the float64 reference under every GEMM schedule, split-K included; pass float64
// gradchecks, twice; dispatch no mul; and report bad factors by name.
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { gpuDevice } from '../src/backend/launch.js';
import type { ConvGeometry } from '../src/kernels/conv-geometry.js';
import { conv2dForward, conv2dInputGrad, conv2dWeightGrad } from '../src/kernels/reference/conv2d.js';
import { weightGradShape } from '../src/kernels/wgsl/conv2d.js';
import { gemmTarget, type GemmTarget } from '../src/kernels/wgsl/gemm.js';
import { Random, add, dispose, grad, mul, randn, relu, reshape, sum, tensor, type Device, type Tensor } from '../src/index.js';
import { conv2d, conv2dFused, conv2dGeometry, type Conv2dOptions } from '../src/ops/conv2d.js';
import { conv2dForwardGpu, conv2dInputGradGpu, conv2dWeightGradGpu, tilesFor } from '../src/ops/conv2d-gpu.js';
import { Conv2d } from '../src/nn/conv.js';
import { FrozenBatchNorm2d } from '../src/nn/norm.js';
import { convNorm } from '../src/nn/resnet.js';
import { smallConv } from './conv-shapes.js';
import { dispatchedKernels, expectClose, gradcheck } from './util.js';

type Case = { x: number[]; w: number[]; options: Conv2dOptions; withBias: boolean; relu: boolean };
type Values = { x: Float64Array; w: Float64Array; b: Float64Array; s: Float64Array; up: Float64Array };

const count = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** Float32-representable values, so that float32 and float64 runs see the same numbers; factors near a BN's. */
function valuesFor(c: Case, g: ConvGeometry, random: Random): Values {
  const v = (n: number, lo = 0, hi = 0) => Float64Array.from(Float32Array.from({ length: n }, () => (hi > lo ? random.uniform(lo, hi) : random.normal())));
  return { x: v(count(c.x)), w: v(count(c.w)), b: v(g.outChannels), s: v(g.outChannels, 0.2, 2), up: v(g.batch * g.outChannels * g.outH * g.outW) };
}

/** y and the gradients of <up, y> for x, w and b on one device (float32 on the adapter, float64 on the CPU); s is a constant. */
async function evaluate(device: Device, c: Case, v: Values, f: (x: Tensor, w: Tensor, b: Tensor | null, s: Tensor) => Tensor) {
  const dtype = device === 'cpu' ? 'float64' : 'float32';
  const make = (data: Float64Array, shape: number[], requiresGrad: boolean) => tensor(data, shape, { device, dtype, requiresGrad });
  const x = make(v.x, c.x, true);
  const w = make(v.w, c.w, true);
  const b = c.withBias ? make(v.b, [c.w[0]!], true) : null;
  const s = make(v.s, [c.w[0]!], false);
  const y = f(x, w, b, s);
  const up = make(v.up, y.shape as number[], false);
  y.backward(up);
  const read = async (t: Tensor | null | undefined) => (t ? Array.from(await t.toArray()) : []);
  const result = { y: await read(y), dx: await read(x.grad), dw: await read(w.grad), db: await read(b?.grad) };
  dispose([x, w, b, s, y, up, x.grad, w.grad, b?.grad]);
  return result;
}

const fused = (c: Case) => (x: Tensor, w: Tensor, b: Tensor | null, s: Tensor) => conv2dFused(x, w, b, { ...c.options, scale: s, relu: c.relu });
const composed = (c: Case) => (x: Tensor, w: Tensor, b: Tensor | null, s: Tensor) => {
  const channels = [1, s.size, 1, 1];
  const scaled = mul(conv2d(x, w, null, c.options), reshape(s, channels));
  const y = b ? add(scaled, reshape(b, channels)) : scaled;
  return c.relu ? relu(y) : y;
};

const geometry = fc.record({ conv: smallConv, withBias: fc.boolean(), relu: fc.boolean(), seed: fc.nat() })
  .map(({ conv, withBias, relu, seed }) => ({ c: { ...conv, withBias, relu } satisfies Case, seed }));

describe('conv2dFused', () => {
  test('equals conv2d, mul, add (and relu) bit for bit, values and gradients, on the adapter and in float64', async () => {
    await fc.assert(fc.asyncProperty(geometry, async ({ c, seed }) => {
      const g = conv2dGeometry(c.x, c.w, c.options);
      const v = valuesFor(c, g, new Random(seed));
      const gpu = await evaluate('webgpu', c, v, fused(c));
      expect(gpu).toEqual(await evaluate('webgpu', c, v, composed(c)));
      const cpu = await evaluate('cpu', c, v, fused(c));
      expect(cpu).toEqual(await evaluate('cpu', c, v, composed(c)));
      for (const key of ['y', 'dx', 'dw', 'db'] as const) expectClose(gpu[key], cpu[key], { atol: 1e-4, rtol: 1e-4 }, key);
    }), { numRuns: 10 });
  });

  // The GPU schedules (workgroup-memory tiles) and split-K, each pass against the float64 reference.
  const TARGETS: Record<string, (device: GemmTarget) => GemmTarget> = {
    native: (device) => device,
    'workgroup 2 KiB': (device) => ({ ...device, cpu: false, maxWorkgroupStorage: 2048 }),
  };
  const cases: [string, number[], number[], Conv2dOptions][] = [
    ['3×3 over several tiles, ragged, grouped', [2, 12, 13, 11], [36, 6, 3, 3], { padding: 1, groups: 2 }],
    ['long reduction: a split-K weight gradient', [4, 3, 24, 20], [4, 3, 3, 3], { padding: 1 }],
    ['1×1, the plain GEMM, grouped', [2, 16, 9, 7], [20, 8, 1, 1], { groups: 2 }],
  ];
  for (const [name, xs, ws, options] of cases) {
    test(`${name}: every pass equals the reference, on both schedules`, async () => {
      const g = conv2dGeometry(xs, ws, options);
      const random = new Random(3);
      const f32 = (n: number) => Float32Array.from({ length: n }, () => random.normal());
      const [x, w, b, dy] = [f32(count(xs)), f32(count(ws)), f32(g.outChannels), f32(g.batch * g.outChannels * g.outH * g.outW)];
      const s = Float32Array.from({ length: g.outChannels }, () => random.uniform(0.2, 2));
      const plane = g.outH * g.outW;
      const channel = (i: number) => Math.floor(i / plane) % g.outChannels;
      const dyS = Float64Array.from(dy, (value, i) => value * s[channel(i)]!);
      const expected = {
        y: (conv2dForward(Float64Array.from(x), Float64Array.from(w), null, g, 'float64') as Float64Array).map((v, i) => v * s[channel(i)]! + b[channel(i)]!),
        dx: conv2dInputGrad(dyS, Float64Array.from(w), g, 'float64'),
        dw: conv2dWeightGrad(dyS, Float64Array.from(x), g, 'float64'),
      };
      const k = { y: count(ws.slice(1)), dx: (g.outChannels / g.groups) * g.kernelH * g.kernelW, dw: g.batch * g.outH * g.outW };
      const gpu = (a: Float32Array, shape: number[]) => tensor(a, shape, { device: 'webgpu' });
      const [xg, wg, bg, dyg, sg] = [gpu(x, xs), gpu(w, ws), gpu(b, [g.outChannels]), gpu(dy, [g.batch, g.outChannels, g.outH, g.outW]), gpu(s, [g.outChannels])];
      for (const schedule of Object.keys(TARGETS)) {
        const tiles = tilesFor(TARGETS[schedule]!(gemmTarget(gpuDevice())));
        if (name.startsWith('long')) expect(tiles(weightGradShape(g), true).splits, schedule).toBeGreaterThan(1);
        const passes = {
          y: conv2dForwardGpu(xg, wg, bg, g, { scale: sg }, tiles),
          dx: conv2dInputGradGpu(dyg, wg, g, sg, tiles),
          dw: conv2dWeightGradGpu(dyg, xg, g, sg, tiles),
        };
        for (const key of ['y', 'dx', 'dw'] as const) expectClose(await passes[key].toArray(), expected[key], { atol: 2e-6 * k[key] * 2, rtol: 1e-4 }, `${schedule} ${key}`);
        dispose(Object.values(passes));
      }
      dispose([xg, wg, bg, dyg, sg]);
    });
  }

  test('float64 gradients (central differences) in x, w and b, twice differentiable', () => {
    const random = new Random(8);
    const options: Conv2dOptions = { stride: [2, 1], padding: 1, groups: 2 };
    const x = randn([2, 4, 5, 4], { dtype: 'float64', random, requiresGrad: true });
    const w = randn([4, 2, 3, 3], { dtype: 'float64', random, requiresGrad: true });
    const b = randn([4], { dtype: 'float64', random, requiresGrad: true });
    const s = tensor([0.5, 1.5, -0.7, 2], [4], { dtype: 'float64' });
    const g = conv2dGeometry(x.shape, w.shape, options);
    const up = randn([g.batch, g.outChannels, g.outH, g.outW], { dtype: 'float64', random });
    for (const relu of [false, true]) gradcheck((x, w, b) => sum(mul(conv2dFused(x, w, b, { ...options, scale: s, relu }), up)), [x, w, b]);
    // Second order: f = <sx, dL/dx> + <sw, dL/dw> with L = <u, conv2dFused(x, w)>, differentiated in x, w and u.
    const u = randn(up.shape, { dtype: 'float64', random, requiresGrad: true });
    const [sx, sw] = [randn(x.shape, { dtype: 'float64', random }), randn(w.shape, { dtype: 'float64', random })];
    gradcheck((x, w, u) => {
      const [gx, gw] = grad(sum(mul(conv2dFused(x, w, null, { ...options, scale: s }), u)), [x, w], { createGraph: true });
      return add(sum(mul(gx!, sx)), sum(mul(gw!, sw)));
    }, [x, w, u]);
  });

  test('a factor that requires a gradient gets it (float64 central differences), through the composition', () => {
    const random = new Random(9);
    const x = randn([1, 3, 6, 6], { dtype: 'float64', random, requiresGrad: true });
    const w = randn([4, 3, 3, 3], { dtype: 'float64', random, requiresGrad: true });
    const s = tensor([0.5, 1.5, -0.7, 2], [4], { dtype: 'float64', requiresGrad: true });
    const up = randn([1, 4, 6, 6], { dtype: 'float64', random });
    gradcheck((x, w, s) => sum(mul(conv2dFused(x, w, null, { padding: 1, scale: s }), up)), [x, w, s]);
    dispose([x, w, s]);
  });

  test('one dispatch forward, and no mul in the backward', () => {
    const random = new Random(10);
    const x = randn([1, 2, 6, 6], { device: 'webgpu', random, requiresGrad: true });
    const w = randn([3, 2, 3, 3], { device: 'webgpu', random, requiresGrad: true });
    const s = tensor([0.5, 1.5, 2], [3], { device: 'webgpu' });
    const forward = dispatchedKernels(() => conv2dFused(x, w, null, { padding: 1, scale: s, relu: true }));
    expect(forward.kernels.map((k) => k.label)).toEqual(['conv2d+relu']);
    const backward = dispatchedKernels(() => sum(forward.result).backward());
    expect(backward.kernels.map((k) => k.label).filter((label) => label === 'mul')).toEqual([]);
    dispose([x, w, s, forward.result, backward.result, x.grad, w.grad]);
  });

  test('a frozen BN runs inside every conv (convNorm): one conv dispatch, the values of conv then BN', async () => {
    const conv = new Conv2d(64, 8, 3, { padding: 1, bias: false, device: 'webgpu', random: new Random(2) });
    const bn = new FrozenBatchNorm2d(8, { device: 'webgpu' });
    await bn.loadStateDict({
      weight: tensor([1, 2, 3, 4, 0.5, 0.25, 1, 2], { device: 'webgpu' }), bias: tensor([0, 1, -1, 0, 2, 0, 0, 1], { device: 'webgpu' }),
      running_mean: tensor([0, 0.5, 0, -0.5, 0, 0, 1, 0], { device: 'webgpu' }), running_var: tensor([1, 2, 0.5, 1, 1, 4, 1, 1], { device: 'webgpu' }),
    });
    // 4×4 outputs against 64·9 weights per channel: a conv where folding s into the weights would not pay.
    const x = randn([1, 64, 4, 4], { device: 'webgpu' });
    convNorm(conv, bn, x).dispose(); // the BN's affine, computed once and cached
    const { kernels, result } = dispatchedKernels(() => convNorm(conv, bn, x));
    expect(kernels.map((k) => k.label)).toEqual(['conv2d']);
    const reference = bn.forward(conv.forward(x));
    expectClose(await result.toArray(), await reference.toArray(), { atol: 1e-4, rtol: 1e-5 });
    dispose([x, result, reference]);
    conv.dispose();
    bn.dispose();
  });

  test('bad factors, fusions and options are errors that name conv2dFused', () => {
    const x = randn([1, 2, 5, 5]);
    const w = randn([3, 2, 3, 3]);
    const call = (options: object) => () => conv2dFused(x, w, null, options as Conv2dOptions);
    expect(call({ scale: tensor([1, 2]) })).toThrow('conv2dFused: scale must be a float32 tensor of shape [3] (one per output channel), got float32 [2]');
    expect(call({ scale: tensor([1, 2, 3], { dtype: 'float64' }) })).toThrow('conv2dFused: scale must be a float32 tensor of shape [3] (one per output channel), got float64 [3]');
    expect(call({ scale: [1, 2, 3] })).toThrow('conv2dFused: scale must be a tensor or null, got [1,2,3]');
    expect(call({ relu: 'yes' })).toThrow('conv2dFused: relu must be true or false, got "yes"');
    expect(call({ strides: 2 })).toThrow("conv2dFused: unknown option 'strides'; it takes stride, padding, dilation, groups, scale, relu");
    expect(call({ padding: -1 })).toThrow(/^conv2dFused: padding/);
    expect(() => conv2dFused(x, randn([3, 1, 3, 3]), null, {})).toThrow(/^conv2dFused: input has 2 channels but weight expects 1/);
    dispose([x, w]);
  });
});
