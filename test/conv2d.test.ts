// conv2d: PyTorch golden cases on both devices, WGSL against the reference on random geometries (every schedule
// of the GEMM template), a pipeline per geometry, float64 gradchecks including double backward, and the errors.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ConvGeometry } from '../src/kernels/conv-geometry.js';
import { conv2dForward, conv2dInputGrad, conv2dWeightGrad } from '../src/kernels/reference/conv2d.js';
import { gpuDevice } from '../src/backend/launch.js';
import { forwardShape, weightGradShape } from '../src/kernels/wgsl/conv2d.js';
import { chooseTile, gemmTarget, type GemmTarget } from '../src/kernels/wgsl/gemm.js';
import { conv2d, conv2dGeometry, conv2dOutputSize, type Conv2dOptions } from '../src/ops/conv2d.js';
import { conv2dForwardGpu, conv2dInputGradGpu, conv2dWeightBiasGradGpu, conv2dWeightGradGpu, tilesFor, type TileChooser } from '../src/ops/conv2d-gpu.js';
import { Random, add, dispose, grad, memory, mul, ones, randn, sum, tensor, tidy, webgpu, zeros } from '../src/index.js';
import { loadGolden, type GoldenCase } from './golden.js';
import { dispatchedKernels, expectClose, expectSameBitsEveryUse, fromGolden, gradcheck } from './util.js';

const F64 = { atol: 1e-10, rtol: 1e-10 };
/**
 * float32 against float64: each output is a sum of `terms` products of O(1) values, each rounding costs ~6e-8
 * of the running sum, so allow 2e-6 per term on top of 1e-4 relative.
 */
const f32 = (terms: number) => ({ atol: 2e-6 * terms, rtol: 1e-4 });

/** Reduction lengths of the forward pass, the input gradient and the weight (and bias) gradient. */
const terms = (g: ConvGeometry) => ({
  y: (g.inChannels / g.groups) * g.kernelH * g.kernelW,
  x: (g.outChannels / g.groups) * g.kernelH * g.kernelW,
  weight: g.batch * g.outH * g.outW,
});

describe('conv2d golden (PyTorch)', () => {
  const { cases } = loadGolden<{ cases: GoldenCase[] }>('conv2d.json');
  const configs = [
    { device: 'cpu', dtype: 'float64' },
    { device: 'cpu', dtype: 'float32' },
    { device: 'webgpu', dtype: 'float32' },
  ] as const;
  for (const c of cases) {
    for (const { device, dtype } of configs) {
      it(`${c.name} ${JSON.stringify(c.params)} on ${device} ${dtype}`, async () => {
        const x = fromGolden(c.inputs.x, device, dtype, true);
        const w = fromGolden(c.inputs.weight, device, dtype, true);
        const b = c.inputs.bias ? fromGolden(c.inputs.bias, device, dtype, true) : null;
        const upstream = fromGolden(c.inputs.upstream, device, dtype);
        const g = conv2dGeometry(x.shape, w.shape, c.params);
        const n = terms(g);
        const tol = (t: number) => (dtype === 'float64' ? F64 : f32(t));
        const y = conv2d(x, w, b, c.params);
        expectClose(await y.toArray(), c.outputs.y.data, tol(n.y), 'y');
        y.backward(upstream);
        expectClose(await x.grad!.toArray(), c.grads.x.data, tol(n.x), 'grad x');
        expectClose(await w.grad!.toArray(), c.grads.weight.data, tol(n.weight), 'grad weight');
        if (b) expectClose(await b.grad!.toArray(), c.grads.bias.data, tol(n.weight), 'grad bias');
        dispose([x, w, b, upstream, y, x.grad, w.grad, b?.grad]);
      });
    }
  }
});

// ---- WGSL against the reference ---------------------------------------------------------------------------------

/**
 * The adapter's own schedule, and the workgroup-memory tiles a GPU gets, with 2 and 32 KiB of workgroup storage.
 * The instances (how elements of A, B and C are addressed) are the same under every schedule, and the schedules
 * themselves are tested on random shapes in matmul.test.ts; here the random geometries run on the adapter's own
 * schedule, and a few fixed ones on the others (each conv shape compiles its own pipelines, and the
 * workgroup-memory ones take seconds each on lavapipe).
 */
const TARGETS: Record<string, (device: GemmTarget) => GemmTarget> = {
  native: (device) => device,
  'workgroup 2 KiB': (device) => ({ ...device, cpu: false, maxWorkgroupStorage: 2048 }),
  'workgroup 32 KiB': (device) => ({ ...device, cpu: false, maxWorkgroupStorage: Math.min(32768, device.maxWorkgroupStorage) }),
};

/** float32 values that are exact in float64 too, so that the reference sees the same inputs. */
function values(count: number, random: Random): Float32Array {
  return Float32Array.from({ length: count }, () => random.normal());
}

/** Runs the three WGSL kernels for a geometry (or only the forward) and compares each with the float64 reference. */
async function compareWithReference(g: ConvGeometry, withBias: boolean, seed: number, tiles: TileChooser, forwardOnly = false): Promise<void> {
  const random = new Random(seed);
  const x = values(g.batch * g.inChannels * g.height * g.width, random);
  const w = values(g.outChannels * (g.inChannels / g.groups) * g.kernelH * g.kernelW, random);
  const b = withBias ? values(g.outChannels, random) : null;
  const dy = values(g.batch * g.outChannels * g.outH * g.outW, random);
  const f64 = (a: Float32Array) => Float64Array.from(a);
  const gpu = (a: Float32Array, shape: number[]) => tensor(a, shape, { device: 'webgpu' });
  const xg = gpu(x, [g.batch, g.inChannels, g.height, g.width]);
  const wg = gpu(w, [g.outChannels, g.inChannels / g.groups, g.kernelH, g.kernelW]);
  const bg = b && gpu(b, [g.outChannels]);
  const dyg = gpu(dy, [g.batch, g.outChannels, g.outH, g.outW]);
  const n = terms(g);
  const y = conv2dForwardGpu(xg, wg, bg, g, {}, tiles);
  expectClose(await y.toArray(), conv2dForward(f64(x), f64(w), b && f64(b), g, 'float64'), f32(n.y), 'forward');
  if (!forwardOnly) {
    const dx = conv2dInputGradGpu(dyg, wg, g, null, tiles);
    const dw = conv2dWeightGradGpu(dyg, xg, g, null, tiles);
    expectClose(await dx.toArray(), conv2dInputGrad(f64(dy), f64(w), g, 'float64'), f32(n.x), 'input grad');
    const dwExpected = conv2dWeightGrad(f64(dy), f64(x), g, 'float64');
    expectClose(await dw.toArray(), dwExpected, f32(n.weight), 'weight grad');
    // The same GEMM with the bias gradient as its last column: dw as before, db = Σ dy over batch and space.
    const [dw2, db] = conv2dWeightBiasGradGpu(dyg, xg, g, tiles);
    const plane = g.outH * g.outW;
    const dbExpected = new Float64Array(g.outChannels);
    dy.forEach((v, i) => (dbExpected[Math.floor(i / plane) % g.outChannels] += v));
    expectClose(await dw2.toArray(), dwExpected, f32(n.weight), 'weight grad beside the bias');
    expectClose(await db.toArray(), dbExpected, f32(n.weight), 'bias grad');
    dispose([dx, dw, dw2, db]);
  }
  dispose([xg, wg, bg, dyg, y]);
}

/** Random geometries, kept small: every one compiles its own pipelines. */
const geometry = fc.record({
  n: fc.integer({ min: 1, max: 3 }),
  groups: fc.integer({ min: 1, max: 3 }),
  cinG: fc.integer({ min: 1, max: 4 }),
  coutG: fc.integer({ min: 1, max: 5 }),
  kh: fc.integer({ min: 1, max: 4 }),
  kw: fc.integer({ min: 1, max: 3 }),
  stride: fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 2 })),
  dilation: fc.tuple(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 3 })),
  padding: fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 3 })),
  extra: fc.tuple(fc.integer({ min: 0, max: 6 }), fc.integer({ min: 0, max: 5 })),
}).map((r) => {
  // The smallest input the (dilated) kernel fits in once padded, plus some.
  const size = (k: number, d: number, p: number, e: number) => Math.max(1, d * (k - 1) + 1 - 2 * p) + e;
  const options: Conv2dOptions = { stride: r.stride, dilation: r.dilation, padding: r.padding, groups: r.groups };
  const h = size(r.kh, r.dilation[0], r.padding[0], r.extra[0]);
  const w = size(r.kw, r.dilation[1], r.padding[1], r.extra[1]);
  return conv2dGeometry([r.n, r.cinG * r.groups, h, w], [r.coutG * r.groups, r.cinG, r.kh, r.kw], options);
});

describe('conv2d WGSL matches the reference', () => {
  it('random geometries', async () => {
    const target = gemmTarget(gpuDevice());
    await fc.assert(fc.asyncProperty(geometry, fc.boolean(), fc.nat(), (g, withBias, seed) =>
      compareWithReference(g, withBias, seed, tilesFor(target))), { numRuns: 12 });
  });

  // Shapes that the random ones do not reach: several tiles per side with ragged edges, the 1×1 GEMM variant,
  // split-K of the weight gradient, and the other schedules (128×128 tiles with 32 KiB).
  const fixed: [string, number[], number[], Conv2dOptions, string[]][] = [
    ['3×3 over several tiles, ragged', [2, 12, 13, 11], [36, 12, 3, 3], { padding: 1 }, ['native']],
    ['1×1 stride 1 (plain GEMM), grouped', [2, 16, 9, 7], [20, 8, 1, 1], { groups: 2 }, ['native']],
    ['1×1 stride 2 (not the GEMM variant)', [1, 6, 9, 8], [5, 6, 1, 1], { stride: 2 }, ['native']],
    ['long reduction, split-K weight grad', [4, 3, 24, 20], [4, 3, 3, 3], { padding: 1 }, ['native']],
    ['depthwise', [2, 8, 10, 9], [8, 1, 3, 3], { groups: 8, padding: 1, stride: 2 }, ['native']],
    ['grouped, strided, dilated', [2, 6, 11, 9], [9, 2, 3, 2], { groups: 3, stride: [2, 1], padding: [2, 1], dilation: [1, 2] }, ['workgroup 2 KiB']],
    ['wide', [1, 8, 16, 16], [130, 8, 2, 2], { padding: [1, 0], dilation: [2, 1] }, ['workgroup 32 KiB']],
  ];
  for (const [name, xs, ws, options, schedules] of fixed) {
    it(`${name}: x ${xs.join('×')}, w ${ws.join('×')}, ${JSON.stringify(options)} (${schedules.join(', ')})`, async () => {
      const g = conv2dGeometry(xs, ws, options);
      for (const schedule of schedules) await compareWithReference(g, true, 7, tilesFor(TARGETS[schedule](gemmTarget(gpuDevice()))));
    });
  }

  // Each pass's pipeline is cached under a key made of the geometry and the tile (conv2d-gpu.ts): a geometry
  // field missing from it would hand a problem the pipeline compiled for another that differs only in that
  // field. So, back to back in one process, a base problem and, for each field, one that differs from it in that
  // field alone (outH and outW follow from the others, so each variant keeps them: stride 4 gives 2×2 outputs
  // throughout), all on one fixed tile, lest a different tile choice tell the keys apart instead. The three
  // passes share the key function, so the forward alone shows a missing field; dilation W (once missing from the
  // key, unnoticed) runs both gradients too. Forward only for the rest: each variant compiles its own pipelines,
  // ~0.1 s each on lavapipe.
  it('problems differing in one geometry field each get their own pipelines', async () => {
    type Params = { n: number; cin: number; h: number; w: number; cout: number; kh: number; kw: number; stride: [number, number]; padding: [number, number]; dilation: [number, number]; groups: number };
    const base: Params = { n: 1, cin: 2, h: 8, w: 8, cout: 2, kh: 3, kw: 3, stride: [4, 4], padding: [1, 1], dilation: [1, 1], groups: 1 };
    const variants: [keyof ConvGeometry, Partial<Params>][] = [
      ['batch', { n: 2 }], ['inChannels', { cin: 4 }], ['height', { h: 7 }], ['width', { w: 7 }], ['outChannels', { cout: 4 }],
      ['kernelH', { kh: 4 }], ['kernelW', { kw: 4 }], ['strideH', { stride: [5, 4] }], ['strideW', { stride: [4, 5] }],
      ['padH', { padding: [0, 1] }], ['padW', { padding: [1, 0] }], ['dilationH', { dilation: [2, 1] }], ['dilationW', { dilation: [1, 2] }],
      ['groups', { groups: 2 }],
    ];
    const geometryOf = (p: Params) =>
      conv2dGeometry([p.n, p.cin, p.h, p.w], [p.cout, p.cin / p.groups, p.kh, p.kw], { stride: p.stride, padding: p.padding, dilation: p.dilation, groups: p.groups });
    const g0 = geometryOf(base);
    const tile = chooseTile(forwardShape(g0), false, gemmTarget(gpuDevice()));
    await compareWithReference(g0, true, 1, () => tile);
    for (const [field, change] of variants) {
      const g = geometryOf({ ...base, ...change });
      expect(Object.keys(g).filter((k) => g[k as keyof ConvGeometry] !== g0[k as keyof ConvGeometry]), field).toEqual([field]);
      await compareWithReference(g, true, 1, () => tile, field !== 'dilationW');
    }
  });

  // A shape's first uses run the general programs (the geometry as uniforms), later ones the specialised (as
  // constants): the same fused multiply-adds in the same order, so the same bits, split-K partials included, in the
  // adapter's own schedule and in the workgroup-memory one a GPU trains with.
  it('the general and the specialised programs give the same bits, in all three passes and both schedules', async () => {
    const sameBits = async (g: ConvGeometry, seed: number, tiles: TileChooser) => {
      const random = new Random(seed);
      const gpu = (shape: number[]) => tensor(values(shape.reduce((a, b) => a * b, 1), random), shape, { device: 'webgpu' });
      const [x, w, b, dy] = [gpu([g.batch, g.inChannels, g.height, g.width]), gpu([g.outChannels, g.inChannels / g.groups, g.kernelH, g.kernelW]), gpu([g.outChannels]), gpu([g.batch, g.outChannels, g.outH, g.outW])];
      await expectSameBitsEveryUse(async () => {
        const [weightWithBias, biasGrad] = conv2dWeightBiasGradGpu(dy, x, g, tiles);
        const passes = { forward: conv2dForwardGpu(x, w, b, g, {}, tiles), inputGrad: conv2dInputGradGpu(dy, w, g, null, tiles), weightGrad: conv2dWeightGradGpu(dy, x, g, null, tiles), weightWithBias, biasGrad };
        const read = Object.fromEntries(await Promise.all(Object.entries(passes).map(async ([name, t]) => [name, await t.toArray()] as const)));
        dispose(Object.values(passes));
        return read;
      });
      dispose([x, w, b, dy]);
    };
    const long = conv2dGeometry([4, 3, 24, 20], [4, 3, 3, 3], { padding: 1 });
    for (const [schedule, numRuns] of [['native', 4], ['workgroup 2 KiB', 1]] as const) {
      const tiles = tilesFor(TARGETS[schedule](gemmTarget(gpuDevice())));
      expect(tiles(weightGradShape(long), true).splits, schedule).toBeGreaterThan(1);
      expect(tiles(weightGradShape(long, true), true).splits, schedule).toBeGreaterThan(1);
      await sameBits(long, 1, tiles);
      await fc.assert(fc.asyncProperty(geometry, fc.nat(), (g, seed) => sameBits(g, seed, tiles)), { numRuns });
    }
  });

  it('the wide case does get 128×128 tiles with 32 KiB', () => {
    const g = conv2dGeometry([1, 8, 16, 16], [130, 8, 2, 2], { padding: [1, 0], dilation: [2, 1] });
    const tile = chooseTile(forwardShape(g), false, TARGETS['workgroup 32 KiB'](gemmTarget(gpuDevice())));
    expect([tile.staging, tile.wy * tile.rm, tile.wx * tile.rn]).toEqual(['workgroup', 128, 128]);
  });

  it('the long weight-gradient reduction is in fact split', () => {
    const g = conv2dGeometry([4, 3, 24, 20], [4, 3, 3, 3], { padding: 1 });
    for (const [name, f] of Object.entries(TARGETS)) expect(chooseTile(weightGradShape(g), true, f(gemmTarget(gpuDevice()))).splits, name).toBeGreaterThan(1);
  });
});

// ---- the op: autograd, float64 gradchecks, errors ----------------------------------------------------------------

describe('conv2d gradients (float64 central differences)', () => {
  const cases: [string, number[], number[], Conv2dOptions][] = [
    ['grouped, strided, dilated, padded', [2, 4, 5, 6], [4, 2, 3, 2], { groups: 2, stride: [2, 1], padding: [1, 0], dilation: [1, 2] }],
    ['1×1 stride 3', [1, 3, 7, 5], [2, 3, 1, 1], { stride: 3 }],
    ['padding larger than the kernel', [1, 2, 3, 3], [3, 2, 2, 2], { padding: 3, stride: 2 }],
  ];
  for (const [name, xs, ws, options] of cases) {
    it(name, () => {
      const random = new Random(3);
      const x = randn(xs, { dtype: 'float64', random, requiresGrad: true });
      const w = randn(ws, { dtype: 'float64', random, requiresGrad: true });
      const b = randn([ws[0]], { dtype: 'float64', random, requiresGrad: true });
      const g = conv2dGeometry(xs, ws, options);
      const r = randn([g.batch, g.outChannels, g.outH, g.outW], { dtype: 'float64', random });
      gradcheck((x, w, b) => sum(mul(conv2d(x, w, b, options), r)), [x, w, b]);
    });
  }

  it('double backward: the gradients are differentiable in x, w and the upstream gradient', () => {
    const random = new Random(5);
    const options: Conv2dOptions = { groups: 2, stride: 2, padding: 1, dilation: [2, 1] };
    const x = randn([2, 4, 6, 5], { dtype: 'float64', random, requiresGrad: true });
    const w = randn([2, 2, 2, 3], { dtype: 'float64', random, requiresGrad: true });
    const g = conv2dGeometry(x.shape, w.shape, options);
    const up = randn([g.batch, g.outChannels, g.outH, g.outW], { dtype: 'float64', random, requiresGrad: true });
    const sx = randn(x.shape, { dtype: 'float64', random });
    const sw = randn(w.shape, { dtype: 'float64', random });
    // f = <sx, dL/dx> + <sw, dL/dw> with L = <up, conv2d(x, w)>: its gradients exercise every second-order rule.
    gradcheck((x, w, up) => {
      const [gx, gw] = grad(sum(mul(conv2d(x, w, null, options), up)), [x, w], { createGraph: true });
      return add(sum(mul(gx!, sx)), sum(mul(gw!, sw)));
    }, [x, w, up]);
  });
});

describe('conv2d bias gradient', () => {
  it('comes from the weight gradient kernel (no reduction of its own), the same as the sum over dy', async () => {
    const random = new Random(12);
    const x = randn([2, 3, 9, 8], { device: 'webgpu', random, requiresGrad: true });
    const w = randn([5, 3, 3, 3], { device: 'webgpu', random, requiresGrad: true });
    const b = randn([5], { device: 'webgpu', random, requiresGrad: true });
    const y = conv2d(x, w, b, { padding: 1 });
    const up = randn(y.shape, { device: 'webgpu', random });
    const { kernels } = dispatchedKernels(() => y.backward(up));
    expect(kernels.map((k) => k.label).sort()).toEqual(['conv2d input grad', 'conv2d weight+bias grad']);
    const bySum = sum(up, [0, 2, 3]);
    expectClose(await b.grad!.toArray(), await bySum.toArray(), f32(2 * 9 * 8), 'db');
    dispose([x, w, b, y, up, bySum, x.grad, w.grad, b.grad]);
  });

  it('is differentiable with createGraph (the separate rules then), in float64', () => {
    const random = new Random(13);
    const options: Conv2dOptions = { stride: 2, padding: 1 };
    const x = randn([2, 2, 5, 5], { dtype: 'float64', random, requiresGrad: true });
    const w = randn([3, 2, 3, 3], { dtype: 'float64', random, requiresGrad: true });
    const b = randn([3], { dtype: 'float64', random, requiresGrad: true });
    const g = conv2dGeometry(x.shape, w.shape, options);
    const up = randn([g.batch, g.outChannels, g.outH, g.outW], { dtype: 'float64', random, requiresGrad: true });
    const [sw, sb] = [randn(w.shape, { dtype: 'float64', random }), randn([3], { dtype: 'float64', random })];
    // dL/dw and dL/db depend on x and the upstream gradient only (the conv is bilinear).
    gradcheck((x, up) => {
      const [gw, gb] = grad(sum(mul(conv2d(x, w, b, options), up)), [w, b], { createGraph: true });
      return add(sum(mul(gw!, sw)), sum(mul(gb!, sb)));
    }, [x, up]);
  });
});

describe('conv2d errors and sizes', () => {
  const x = zeros([1, 6, 5, 5]);
  const cases: [string, () => unknown, RegExp][] = [
    ['channels not matching the weight', () => conv2d(x, zeros([4, 2, 3, 3]), null, { groups: 2 }), /conv2d: input has 6 channels but weight expects 4 \(groups 2 × 2\)/],
    ['input channels not divisible by groups', () => conv2d(x, zeros([4, 2, 3, 3]), null, { groups: 4 }), /conv2d: input has 6 channels, not divisible by groups 4/],
    ['output channels not divisible by groups', () => conv2d(x, zeros([5, 2, 3, 3]), null, { groups: 3 }), /conv2d: weight has 5 output channels, not divisible by groups 3/],
    ['kernel larger than the padded input', () => conv2d(x, zeros([2, 6, 4, 4]), null, { dilation: 2 }), /conv2d: kernel 4×4 \(dilation 2×2, spanning 7×7\) is larger than the padded input 5×5/],
    ['rank', () => conv2d(zeros([6, 5, 5]), zeros([2, 6, 3, 3])), /conv2d: input must be \[N, C, H, W\]/],
    ['bias shape', () => conv2d(x, zeros([2, 6, 3, 3]), zeros([3])), /conv2d: bias must have shape \[2\]/],
    ['stride 0', () => conv2d(x, zeros([2, 6, 3, 3]), null, { stride: 0 }), /conv2d: stride must be an integer ≥ 1/],
    ['an option it does not take (torch\'s padding_mode)', () => conv2d(x, zeros([2, 6, 3, 3]), null, { paddingMode: 'reflect' } as Conv2dOptions), /conv2d: unknown option 'paddingMode'; it takes stride, padding, dilation, groups/],
    ['negative padding', () => conv2d(x, zeros([2, 6, 3, 3]), null, { padding: [-1, 0] }), /conv2d: padding must be an integer ≥ 0/],
    ['dtypes', () => conv2d(x, zeros([2, 6, 3, 3], { dtype: 'float64' })), /conv2d: input, weight and bias must share one float dtype/],
    // Options where the bias goes read as a bias of dtype undefined.
    ['options in the place of the bias', () => conv2d(x, zeros([2, 6, 3, 3]), { stride: 2 } as unknown as null), /conv2d: bias must be a tensor or null, got \{"stride":2\}; options come fourth/],
    // An object of a class is named by its class: a module there was dumped whole, weights and all (a million characters).
    ['a typed array in the place of the bias', () => conv2d(x, zeros([2, 6, 3, 3]), new Float32Array(2) as unknown as null), /conv2d: bias must be a tensor or null, got Float32Array; options come fourth: conv2d\(x, weight, bias, options\)$/],
    ['a long value is cut', () => conv2d(x, zeros([2, 6, 3, 3]), { stride: 'x'.repeat(1000) } as unknown as null), /got \{"stride":"x{189}…; options come fourth/],
    // JSON writes NaN as null, which is not what was given.
    ['a NaN stride is named NaN', () => conv2d(x, zeros([2, 6, 3, 3]), null, { stride: [1, Number.NaN] }), /conv2d: stride must be an integer ≥ 1 or a pair of them, got \[1,NaN\]$/],
  ];
  for (const [name, f, message] of cases) it(name, () => expect(f).toThrow(message));

  it('kernel exactly as large as the padded input is fine', () => {
    expect(conv2d(x, zeros([2, 6, 4, 4]), null, { dilation: 2, padding: 1 }).shape).toEqual([1, 2, 1, 1]);
  });

  for (const device of ['cpu', 'webgpu'] as const) {
    it(`an empty batch on ${device}: empty output and input gradient, zero weight and bias gradients`, async () => {
      const xe = zeros([0, 3, 5, 5], { device, requiresGrad: true });
      const w = ones([2, 3, 3, 3], { device, requiresGrad: true });
      const b = ones([2], { device, requiresGrad: true });
      const y = conv2d(xe, w, b, { padding: 1 });
      expect(y.shape).toEqual([0, 2, 5, 5]);
      y.backward(zeros(y.shape, { device }));
      expect(xe.grad!.shape).toEqual([0, 3, 5, 5]);
      expect(Array.from(await w.grad!.toArray())).toEqual(new Array(54).fill(0));
      expect(Array.from(await b.grad!.toArray())).toEqual([0, 0]);
    });
  }

  it('forward and backward on webgpu release every buffer they allocate', async () => {
    const x = randn([2, 4, 9, 9], { device: 'webgpu', requiresGrad: true });
    const w = randn([6, 2, 3, 3], { device: 'webgpu', requiresGrad: true });
    const b = randn([6], { device: 'webgpu', requiresGrad: true });
    // Warm up once so that pipelines and pool buckets exist before counting.
    const step = () => tidy(() => sum(mul(conv2d(x, w, b, { groups: 2, stride: 2, padding: 1 }), 3)).backward());
    step();
    dispose([x.grad, w.grad, b.grad]);
    [x.grad, w.grad, b.grad] = [null, null, null];
    const before = memory().buffersInUse;
    step();
    expect(memory().buffersInUse).toBe(before + 3);
    dispose([x.grad, w.grad, b.grad]);
    expect(memory().buffersInUse).toBe(before);
    await webgpu().sync();
  });

  it('output sizes follow torch', () => {
    expect(conv2dOutputSize(32, 3, 1, 1)).toBe(32);
    expect(conv2dOutputSize(32, 3, 2, 1)).toBe(16);
    expect(conv2dOutputSize(7, 3, 2, 0, 2)).toBe(2);
    expect(conv2dOutputSize(5, 1, 3)).toBe(2);
  });
});
