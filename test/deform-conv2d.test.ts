// Deformable convolution: torchvision golden vectors on both devices, WGSL against the reference on random
// shapes, float64 gradchecks, chunking, and errors.
//
// Tolerances (|a − b| ≤ atol + rtol·|b|):
// - cpu float64 vs torchvision float64: atol = rtol = 1e-10 (only the summation order differs);
// - float32 (cpu or webgpu) vs float64: rtol 1e-4, atol 2e-6·√(terms), where `terms` is the longest reduction
//   behind an output (Cin·KH·KW for y; N·OH·OW for weight/bias; (C/G)·Cout for offset/mask; taps·Cout·… for x).
//   Offsets reach ±14 here, so rounding the offset to float32 moves a sample by up to 1e-6 pixels; that is the
//   dominant error and it stays well below these bounds.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { deformChunking } from '../src/ops/deform-conv2d-gpu.js';
import { deformConv2d, type DeformConv2dOptions } from '../src/ops/deform-conv2d.js';
import { Random, dispose, memory, mul, noGrad, sum, tensor, tidy, type Device, type Tensor } from '../src/index.js';
import { loadGolden, type GoldenTensor } from './golden.js';
import { expectClose, fromGolden, gradcheck } from './util.js';

type Name = 'x' | 'offset' | 'weight' | 'bias' | 'mask';
const NAMES: Name[] = ['x', 'offset', 'weight', 'bias', 'mask'];

interface Problem {
  inputs: Partial<Record<Name | 'upstream', GoldenTensor>>;
  stride: number;
  padding: number;
  dilation: number;
}

interface Result {
  y: Float64Array;
  grads: Partial<Record<Name, Float64Array>>;
}

/** Forward, then backward seeded with `upstream`; everything read back as float64 and disposed. */
async function run(problem: Problem, device: Device, dtype: 'float32' | 'float64'): Promise<Result> {
  const t = tidy(() => {
    const inputs: Partial<Record<Name, Tensor>> = {};
    for (const name of NAMES) {
      const g = problem.inputs[name];
      if (g) inputs[name] = fromGolden(g, device, dtype, true);
    }
    const options: DeformConv2dOptions = { stride: problem.stride, padding: problem.padding, dilation: problem.dilation, mask: inputs.mask };
    const y = deformConv2d(inputs.x!, inputs.offset!, inputs.weight!, inputs.bias, options);
    y.backward(fromGolden(problem.inputs.upstream!, device, dtype));
    return { inputs, y };
  });
  const grads: Result['grads'] = {};
  for (const [name, x] of Object.entries(t.inputs)) grads[name as Name] = Float64Array.from(await x.grad!.toArray());
  const out = { y: Float64Array.from(await t.y.toArray()), grads };
  for (const x of [...Object.values(t.inputs), ...Object.values(t.inputs).map((x) => x.grad!), t.y]) x.dispose();
  return out;
}

/** The longest reduction behind each result, for the float32 tolerance. */
function terms(p: Problem): Record<Name | 'y', number> {
  const [n, cin] = p.inputs.x!.shape;
  const [cout, cw, kh, kw] = p.inputs.weight!.shape;
  const [, oc, oh, ow] = p.inputs.offset!.shape;
  const groups = oc / (2 * kh * kw);
  const gathered = (cin / groups) * (cout * cw) / cin;
  return { y: cw * kh * kw, weight: n * oh * ow, bias: n * oh * ow, offset: gathered, mask: gathered, x: kh * kw * cout * 4 };
}

const F64 = { atol: 1e-10, rtol: 1e-10 };
const f32 = (n: number) => ({ atol: 2e-6 * Math.sqrt(n), rtol: 1e-4 });

function compare(actual: Result, expected: Result, tol: (name: Name | 'y') => { atol: number; rtol: number }, label: string): void {
  expectClose(actual.y, expected.y, tol('y'), `${label} y`);
  for (const name of NAMES) {
    if (!expected.grads[name]) continue;
    expectClose(actual.grads[name]!, expected.grads[name]!, tol(name), `${label} grad ${name}`);
  }
}

describe('deformConv2d: torchvision golden vectors', () => {
  const golden = loadGolden('deform_conv2d.json');
  const configs = [['cpu', 'float64'], ['cpu', 'float32'], ['webgpu', 'float32']] as const;

  for (const c of golden.cases) {
    const problem: Problem = { inputs: c.inputs, stride: c.params.stride, padding: c.params.padding, dilation: c.params.dilation };
    const expected: Result = {
      y: Float64Array.from(c.outputs.y.data),
      grads: Object.fromEntries(Object.entries(c.grads).map(([k, v]) => [k, Float64Array.from(v.data)])),
    };
    for (const [device, dtype] of configs) {
      it(`${c.name} (${JSON.stringify(c.params)}${c.inputs.mask ? ', mask' : ''}) on ${device} ${dtype}`, async () => {
        expect(Object.keys(c.grads).sort()).toEqual(NAMES.filter((n) => c.inputs[n]).sort());
        const n = terms(problem);
        compare(await run(problem, device, dtype), expected, (name) => (dtype === 'float64' ? F64 : f32(n[name])), c.name);
      });
    }
  }
});

// ---- random problems ------------------------------------------------------------------------------------------

interface Spec {
  n: number;
  groups: number;
  perGroup: number;
  weightGroups: number;
  outPerGroup: number;
  h: number;
  w: number;
  kh: number;
  kw: number;
  stride: number;
  padding: number;
  dilation: number;
  mask: boolean;
  bias: boolean;
  /** How far offsets reach: 2 keeps most samples near their tap, 30 throws most outside the image. */
  reach: number;
  /** Offsets exactly integral (then every sample sits on a grid point, incl. the −1 and H cut-offs). */
  integral: boolean;
  seed: number;
}

const outSize = (n: number, k: number, s: Spec) => Math.floor((n + 2 * s.padding - s.dilation * (k - 1) - 1) / s.stride) + 1;

const specArb: fc.Arbitrary<Spec> = fc.record({
  n: fc.integer({ min: 1, max: 2 }),
  groups: fc.integer({ min: 1, max: 3 }),
  perGroup: fc.integer({ min: 1, max: 2 }),
  weightGroups: fc.constantFrom(1, 2),
  outPerGroup: fc.integer({ min: 1, max: 2 }),
  h: fc.integer({ min: 1, max: 6 }),
  w: fc.integer({ min: 1, max: 6 }),
  kh: fc.integer({ min: 1, max: 3 }),
  kw: fc.integer({ min: 1, max: 3 }),
  stride: fc.integer({ min: 1, max: 2 }),
  padding: fc.integer({ min: 0, max: 2 }),
  dilation: fc.integer({ min: 1, max: 2 }),
  mask: fc.boolean(),
  bias: fc.boolean(),
  reach: fc.constantFrom(1, 3, 30),
  integral: fc.boolean(),
  seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
}).filter((s) => (s.groups * s.perGroup) % s.weightGroups === 0 && outSize(s.h, s.kh, s) >= 1 && outSize(s.w, s.kw, s) >= 1);

/**
 * Float32-representable inputs for a spec. Offsets are either integers or an integer plus a fraction in
 * [0.05, 0.95]: tap positions are integers, so samples then sit on grid points exactly or keep at least 0.05
 * away from them, where bilinear sampling is not differentiable (the offset gradient jumps) and float32 and
 * float64 could fall on different sides.
 */
function randomProblem(s: Spec, offsetFraction: [number, number] = [0.05, 0.95]): Problem {
  const r = new Random(s.seed);
  const cin = s.groups * s.perGroup;
  const cout = s.weightGroups * s.outPerGroup;
  const oh = outSize(s.h, s.kh, s);
  const ow = outSize(s.w, s.kw, s);
  const taps = s.kh * s.kw;
  const make = (shape: number[], value: () => number): GoldenTensor => ({ shape, data: Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => Math.fround(value())) });
  const offset = () => {
    const whole = Math.round(r.uniform(-s.reach, s.reach));
    return s.integral ? whole : whole + (r.next() < 0.5 ? 1 : -1) * r.uniform(...offsetFraction);
  };
  return {
    inputs: {
      x: make([s.n, cin, s.h, s.w], () => r.normal()),
      offset: make([s.n, 2 * s.groups * taps, oh, ow], offset),
      weight: make([cout, cin / s.weightGroups, s.kh, s.kw], () => r.normal()),
      ...(s.bias ? { bias: make([cout], () => r.normal()) } : {}),
      ...(s.mask ? { mask: make([s.n, s.groups * taps, oh, ow], () => r.uniform(-0.5, 1.5)) } : {}),
      upstream: make([s.n, cout, oh, ow], () => r.normal()),
    },
    stride: s.stride,
    padding: s.padding,
    dilation: s.dilation,
  };
}

describe('deformConv2d: WGSL against the reference', () => {
  it('matches the float64 reference on random shapes, offsets, masks and groups (forward and all gradients)', async () => {
    await fc.assert(fc.asyncProperty(specArb, async (s) => {
      const problem = randomProblem(s);
      const n = terms(problem);
      compare(await run(problem, 'webgpu', 'float32'), await run(problem, 'cpu', 'float64'), (name) => f32(n[name]), JSON.stringify(s));
    }), { numRuns: 40, seed: 20240611 });
  });

  it('gives the same results when the column matrix is split over images or over output rows', async () => {
    const s: Spec = { n: 3, groups: 2, perGroup: 2, weightGroups: 2, outPerGroup: 3, h: 7, w: 6, kh: 3, kw: 3, stride: 1, padding: 1, dilation: 1, mask: true, bias: true, reach: 3, integral: false, seed: 7 };
    const problem = randomProblem(s);
    const whole = await run(problem, 'webgpu', 'float32');
    const rowBytes = 4 * 6 * 4 * 9; // OW · Cin·KH·KW floats (more than Cout)
    const saved = deformChunking.maxBytes;
    try {
      for (const maxBytes of [2 * 7 * rowBytes, 3 * rowBytes, rowBytes]) {
        deformChunking.maxBytes = maxBytes;
        // Chunks of rows each round their part of the input gradient to float32 before adding them.
        compare(await run(problem, 'webgpu', 'float32'), whole, () => ({ atol: 1e-6, rtol: 1e-6 }), `maxBytes ${maxBytes}`);
      }
    } finally {
      deformChunking.maxBytes = saved;
    }
  });

  it('sums the input gradient exactly: samples piled onto three pixels give the same bits on every run, and each product\'s rounding only', async () => {
    // Every sample of both images lands on one of three points (a quarter-pixel grid, exact in float32): 1296
    // samples per image and channel, each pixel around a point reached by about 430 of them. Float atomics
    // would sum these in the order the invocations happen to run.
    const s: Spec = { n: 2, groups: 2, perGroup: 4, weightGroups: 1, outPerGroup: 8, h: 12, w: 12, kh: 3, kw: 3, stride: 1, padding: 1, dilation: 1, mask: true, bias: false, reach: 1, integral: false, seed: 11 };
    const problem = randomProblem(s);
    const points = [[3.25, 4.5], [7.5, 2.75], [9.25, 9.75]];
    const [, channels, oh, ow] = problem.inputs.offset!.shape;
    problem.inputs.offset!.data = problem.inputs.offset!.data.map((_, i) => {
      const [ox, oy, channel] = [i % ow, Math.floor(i / ow) % oh, Math.floor(i / (ow * oh)) % channels];
      const tap = Math.floor(channel / 2) % 9;
      const point = points[(ox + oy + tap) % 3];
      return channel % 2 === 0 ? point[0] - (oy - 1 + Math.floor(tap / 3)) : point[1] - (ox - 1 + (tap % 3));
    });
    const runs = [];
    for (let k = 0; k < 3; k++) runs.push((await run(problem, 'webgpu', 'float32')).grads.x!);
    for (const other of runs.slice(1)) expect(other).toEqual(runs[0]);
    // Against float64: the GEMM for gcol over Cout terms, the product with mask and corner weight, and the final
    // conversion round; the sum itself does not. Σ|terms| per element is the gradient of the absolute inputs.
    const exact = (await run(problem, 'cpu', 'float64')).grads.x!;
    const absolute = structuredClone(problem);
    for (const name of ['weight', 'mask', 'upstream'] as const) absolute.inputs[name]!.data = absolute.inputs[name]!.data.map(Math.abs);
    const scale = (await run(absolute, 'cpu', 'float64')).grads.x!;
    const cout = problem.inputs.weight!.shape[0];
    runs[0].forEach((v, i) => expect(Math.abs(v - exact[i]), `x[${i}]`).toBeLessThanOrEqual((cout + 8) * 2 ** -24 * scale[i]));
    expect(Math.max(...scale)).toBeGreaterThan(100);
  });

  it('makes the input gradient NaN where the upstream gradient holds a NaN or an infinity, rather than dropping it', async () => {
    const s: Spec = { n: 2, groups: 1, perGroup: 2, weightGroups: 1, outPerGroup: 2, h: 5, w: 5, kh: 3, kw: 3, stride: 1, padding: 1, dilation: 1, mask: false, bias: false, reach: 1, integral: false, seed: 4 };
    for (const bad of [NaN, Infinity]) {
      const problem = randomProblem(s);
      problem.inputs.upstream!.data[7] = bad;
      const { x } = (await run(problem, 'webgpu', 'float32')).grads;
      expect(x!.some(Number.isNaN), String(bad)).toBe(true);
    }
  });

  it('leaves only its results on the GPU: y, then one gradient per input (also when chunked)', () => {
    const s: Spec = { n: 2, groups: 2, perGroup: 1, weightGroups: 1, outPerGroup: 2, h: 5, w: 5, kh: 3, kw: 3, stride: 1, padding: 1, dilation: 1, mask: true, bias: true, reach: 2, integral: false, seed: 5 };
    const problem = randomProblem(s);
    const saved = deformChunking.maxBytes;
    // Not inside tidy, and calling the rule directly (not through `backward`): anything the op leaks shows.
    for (const maxBytes of [saved, 4 * 5 * 2 * 9 * 2 /* two output rows per chunk */]) {
      deformChunking.maxBytes = maxBytes;
      const [x, offset, weight, bias, mask, upstream] = (['x', 'offset', 'weight', 'bias', 'mask', 'upstream'] as const)
        .map((name) => fromGolden(problem.inputs[name]!, 'webgpu', 'float32', name !== 'upstream'));
      const before = memory().buffersInUse;
      try {
        const y = deformConv2d(x, offset, weight, bias, { padding: 1, mask });
        expect(memory().buffersInUse).toBe(before + 1);
        const grads = noGrad(() => y.gradFn!.backward(upstream));
        expect(grads.length).toBe(5);
        expect(memory().buffersInUse).toBe(before + 1 + 5);
        dispose([y, grads]);
      } finally {
        deformChunking.maxBytes = saved;
      }
      expect(memory().buffersInUse).toBe(before);
      dispose([x, offset, weight, bias, mask, upstream]);
    }
  });

  it('samples zeros for offsets far beyond the image (±1e30), with zero gradients for x and offset', async () => {
    const s: Spec = { n: 1, groups: 1, perGroup: 2, weightGroups: 1, outPerGroup: 2, h: 4, w: 5, kh: 3, kw: 3, stride: 1, padding: 1, dilation: 1, mask: true, bias: true, reach: 1, integral: false, seed: 3 };
    const problem = randomProblem(s);
    problem.inputs.offset!.data = problem.inputs.offset!.data.map((_, i) => (i % 3 === 0 ? 1e30 : i % 3 === 1 ? -1e30 : 3e9));
    for (const device of ['cpu', 'webgpu'] as const) {
      const { y, grads } = await run(problem, device, 'float32');
      const bias = problem.inputs.bias!.data;
      expectClose(y, y.map((_, i) => Math.fround(bias[Math.floor(i / 20)])), { atol: 0, rtol: 0 }, `${device} y`);
      for (const name of ['x', 'offset', 'weight', 'mask'] as const) expect(grads[name]!.every((v) => v === 0), `${device} grad ${name}`).toBe(true);
    }
  });
});

describe('deformConv2d: float64 gradcheck on the CPU', () => {
  // Offsets keep their fractional part in [0.1, 0.9] so that no sample sits within the finite-difference step of
  // an integer position, where bilinear sampling (and torchvision's offset gradient) is not differentiable.
  const cases: Spec[] = [
    { n: 2, groups: 2, perGroup: 1, weightGroups: 1, outPerGroup: 2, h: 4, w: 5, kh: 3, kw: 3, stride: 2, padding: 1, dilation: 1, mask: true, bias: true, reach: 2, integral: false, seed: 11 },
    { n: 1, groups: 1, perGroup: 2, weightGroups: 2, outPerGroup: 1, h: 5, w: 6, kh: 2, kw: 3, stride: 1, padding: 0, dilation: 2, mask: false, bias: false, reach: 3, integral: false, seed: 12 },
  ];
  for (const s of cases) {
    it(`gradients of x, offset, weight${s.bias ? ', bias' : ''}${s.mask ? ', mask' : ''} (${s.kh}×${s.kw}, stride ${s.stride}, dilation ${s.dilation}, ${s.groups} offset groups, ${s.weightGroups} weight groups)`, () => {
      const p = randomProblem(s, [0.1, 0.9]);
      const t = (name: Name | 'upstream', grad = true) => fromGolden(p.inputs[name]!, 'cpu', 'float64', grad);
      const upstream = t('upstream', false);
      const inputs = [t('x'), t('offset'), t('weight'), ...(s.bias ? [t('bias')] : []), ...(s.mask ? [t('mask')] : [])];
      gradcheck((x, offset, weight, ...rest) => {
        const bias = s.bias ? rest[0] : null;
        const mask = s.mask ? rest[rest.length - 1] : null;
        return sum(mul(deformConv2d(x, offset, weight, bias, { stride: s.stride, padding: s.padding, dilation: s.dilation, mask }), upstream));
      }, inputs);
    });
  }
});

describe('deformConv2d: errors', () => {
  const x = () => tensor(new Float32Array(2 * 4 * 5 * 5), [2, 4, 5, 5]);
  const w = () => tensor(new Float32Array(3 * 4 * 9), [3, 4, 3, 3]);
  const z = (...shape: number[]) => tensor(new Float32Array(shape.reduce((a, b) => a * b, 1)), shape);
  const cases: [string, () => unknown, RegExp][] = [
    ['offset spatial size does not match the output', () => deformConv2d(x(), z(2, 18, 5, 5), w()), /offset has shape \[2, 18, 5, 5\]; expected \[2, 18, 3, 3\]/],
    ['offset batch does not match', () => deformConv2d(x(), z(1, 18, 5, 5), w(), null, { padding: 1 }), /offset has shape \[1, 18, 5, 5\]; expected \[2, 18, 5, 5\]/],
    ['offset channels not a multiple of 2·KH·KW', () => deformConv2d(x(), z(2, 16, 3, 3), w()), /offset has 16 channels; expected a positive multiple of 2·3·3 = 18/],
    ['channels not divisible by offset groups', () => deformConv2d(x(), z(2, 54, 3, 3), w()), /input has 4 channels, not divisible by the 3 offset groups/],
    ['mask shape does not match', () => deformConv2d(x(), z(2, 36, 3, 3), w(), null, { mask: z(2, 9, 3, 3) }), /mask has shape \[2, 9, 3, 3\]; expected \[2, 18, 3, 3\]/],
    ['bias shape', () => deformConv2d(x(), z(2, 18, 3, 3), w(), z(4)), /bias has shape \[4\]; expected \[3\]/],
    ['weight channels', () => deformConv2d(x(), z(2, 18, 3, 3), z(3, 3, 3, 3)), /input has 4 channels but weight \[3, 3, 3, 3\] expects a multiple of 3/],
    ['kernel larger than the padded input', () => deformConv2d(x(), z(2, 18, 1, 1), w(), null, { dilation: 3 }), /does not fit input \[2, 4, 5, 5\]/],
    ['bad stride', () => deformConv2d(x(), z(2, 18, 3, 3), w(), null, { stride: 0 }), /stride must be an integer ≥ 1/],
    ['an option it does not take', () => deformConv2d(x(), z(2, 18, 3, 3), w(), null, { groups: 2 } as object), /deformConv2d: unknown option 'groups'; it takes stride, padding, dilation, mask/],
    ['mixed dtypes', () => deformConv2d(x(), tensor(new Float64Array(2 * 18 * 9), [2, 18, 3, 3]), w()), /share one float dtype/],
    // The GPU's GEMMs failed on it with a matmul error about a [.., 0, NaN] view.
    ['no output channels', () => deformConv2d(x(), z(2, 18, 3, 3), z(0, 4, 3, 3)), /deformConv2d: weight \[0, 4, 3, 3\] has no output channels/],
  ];
  for (const [label, f, message] of cases) it(label, () => expect(() => tidy(f)).toThrow(message));

  it('an empty batch gives an empty output and zero weight gradient on both devices (the GPU failed in concat)', async () => {
    for (const device of ['cpu', 'webgpu'] as const) {
      const e = (shape: number[], requiresGrad = false) => tensor(new Float32Array(shape.reduce((a, b) => a * b, 1)), shape, { device, requiresGrad });
      const weight = tensor(new Float32Array(3 * 4 * 9).fill(1), [3, 4, 3, 3], { device, requiresGrad: true });
      const y = deformConv2d(e([0, 4, 5, 5], true), e([0, 18, 3, 3]), weight);
      expect(y.shape, device).toEqual([0, 3, 3, 3]);
      sum(y).backward();
      expect(Array.from(await weight.grad!.toArray()), device).toEqual(new Array(3 * 4 * 9).fill(0));
    }
  });
});
