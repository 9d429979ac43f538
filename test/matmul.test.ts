// matmul: WGSL (every schedule of the GEMM template, split-K included) against the reference on random shapes with
// transposes and batch broadcasting; float64 gradchecks, first and second order; errors.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { gpuDevice } from '../src/backend/launch.js';
import { emptyGpu } from '../src/backend/webgpu-backend.js';
import { matmul as matmulRef, type MatmulDims } from '../src/kernels/reference/matmul.js';
import { chooseTile, gemmKernel, gemmTarget, type GemmTarget, type GemmTile } from '../src/kernels/wgsl/gemm.js';
import { matmulKernel, matmulOperands } from '../src/kernels/wgsl/matmul.js';
import { Random, add, dispose, grad, matmul, mul, randn, sum, tensor, webgpu, zeros, type Tensor } from '../src/index.js';
import { expectClose, gradcheck } from './util.js';

/** float32 against float64: a sum of k products of O(1) values; 2e-6 per term on top of 1e-4 relative. */
const f32 = (k: number) => ({ atol: 2e-6 * Math.max(1, k), rtol: 1e-4 });

function values(count: number, random: Random): Float32Array {
  return Float32Array.from({ length: count }, () => random.normal());
}

/** The workgroup-memory schedule a GPU gets, with a given amount of workgroup storage. */
/** Random operands for d on the GPU, and their product computed by the float64 reference. */
function operands(d: MatmulDims, seed: number): { ag: Tensor; bg: Tensor; expected: ArrayLike<number> } {
  const random = new Random(seed);
  const a = values((d.sharedA ? 1 : d.batch) * d.m * d.k, random);
  const b = values((d.sharedB ? 1 : d.batch) * d.k * d.n, random);
  return {
    ag: tensor(a, [a.length], { device: 'webgpu' }),
    bg: tensor(b, [b.length], { device: 'webgpu' }),
    expected: matmulRef(Float64Array.from(a), Float64Array.from(b), d, 'float64'),
  };
}

const gpu = (maxWorkgroupStorage: number): GemmTarget => ({ ...gemmTarget(gpuDevice()), cpu: false, maxWorkgroupStorage });

const buf = (t: Tensor): GPUBuffer => t.storage().buffer;

/** Runs one instance of the template with a given tile; C has `splits` partial slices. */
function runGemm(a: Tensor, b: Tensor, d: MatmulDims, tile: GemmTile, maxGroupsPerDim?: number): Tensor {
  const out = emptyGpu([tile.splits, d.batch, d.m, d.n], 'float32', 'matmul');
  const kernel = gemmKernel(matmulOperands(d), d, tile, maxGroupsPerDim);
  webgpu().dispatch(kernel, { buffers: [buf(a), buf(b), buf(out)], params: kernel.params, workgroups: kernel.workgroups });
  return out;
}

const dims = fc.record({
  batch: fc.integer({ min: 1, max: 3 }),
  m: fc.integer({ min: 1, max: 40 }),
  n: fc.integer({ min: 1, max: 70 }),
  k: fc.integer({ min: 1, max: 50 }),
  transA: fc.boolean(),
  transB: fc.boolean(),
  sharedA: fc.boolean(),
  sharedB: fc.boolean(),
});

/** Runs random shapes through the template with the tile `tileFor` picks, against the float64 reference. */
async function randomShapes(tileFor: (d: MatmulDims) => GemmTile, numRuns: number): Promise<void> {
  await fc.assert(fc.asyncProperty(dims, fc.nat(), async (d, seed) => {
    const { ag, bg, expected } = operands(d, seed);
    const c = runGemm(ag, bg, d, tileFor(d));
    expectClose(await c.toArray(), expected, f32(d.k), JSON.stringify(d));
    dispose([ag, bg, c]);
  }), { numRuns });
}

describe('matmul kernel matches the reference', () => {
  it("random shapes and transposes, the adapter's own schedule", async () => {
    const target = gemmTarget(gpuDevice());
    await randomShapes((d) => chooseTile(d, false, target), 12);
  });

  // M, N and K are parameters, so one pipeline per tile and pair of transposes serves every shape: the GPU tiles
  // run on random shapes without compiling per shape (they take seconds each to compile on lavapipe). Short k
  // slabs (2 KiB of storage) for the random shapes, the real 16 and 32 KiB tiles on one shape each.
  it('random shapes and transposes, the workgroup-memory tiles of a GPU (square and skinny)', async () => {
    const square = chooseTile({ batch: 1, m: 64, n: 64, k: 64 }, false, gpu(2048));
    const skinny = chooseTile({ batch: 1, m: 4, n: 64, k: 64 }, false, gpu(2048));
    expect(skinny.wy).toBeLessThan(square.wy);
    await randomShapes((d) => (d.m <= 8 ? skinny : square), 10);
  });

  it('the 16 KiB (64×64) and 32 KiB (128×128) tiles', async () => {
    const d: MatmulDims = { batch: 2, m: 150, n: 133, k: 70, transA: false, transB: true };
    const { ag, bg, expected } = operands(d, 9);
    for (const [storage, side] of [[16384, 64], [32768, 128]]) {
      const tile = chooseTile(d, false, gpu(Math.min(storage, gemmTarget(gpuDevice()).maxWorkgroupStorage)));
      expect([tile.wy * tile.rm, tile.wx * tile.rn], `${storage} bytes`).toEqual([side, side]);
      expectClose(await runGemm(ag, bg, d, tile).toArray(), expected, f32(d.k), `${side}×${side} tiles`);
    }
    dispose([ag, bg]);
  });

  it("the subgroup schedule keeps its block within the target's maxBlock (SwiftShader: 64)", async () => {
    const native = gemmTarget(gpuDevice());
    const d: MatmulDims = { batch: 1, m: 96, n: 200, k: 40, transA: false, transB: false };
    const subgroup = { cpu: true, subgroups: true, lanes: 4, maxWorkgroupStorage: 16384, maxInvocations: 256 };
    const blocks = (maxBlock?: number) => {
      const tile = chooseTile(d, false, { ...subgroup, maxBlock });
      return tile.rm * tile.rn;
    };
    expect(blocks()).toBe(128); // this shape picks the largest block when nothing caps it
    expect(blocks(64)).toBeLessThanOrEqual(64);
    expect(blocks(16)).toBeLessThanOrEqual(16);
    if (native.cpu && native.subgroups) {
      // And the capped kernel runs on this adapter (its own lanes), giving the product.
      const { ag, bg, expected } = operands(d, 5);
      const tile = chooseTile(d, false, { ...native, maxBlock: 64 });
      expect(tile.rm * tile.rn).toBeLessThanOrEqual(64);
      expectClose(await runGemm(ag, bg, d, tile).toArray(), expected, f32(d.k), 'maxBlock 64');
      dispose([ag, bg]);
    }
  });

  it('split-K partials sum to the product, for every schedule', async () => {
    const d: MatmulDims = { batch: 2, m: 21, n: 37, k: 301, transA: true, transB: false };
    const { ag, bg, expected } = operands(d, 1);
    for (const [name, target] of [['native', gemmTarget(gpuDevice())], ['workgroup', gpu(2048)]] as const) {
      const tile = { ...chooseTile(d, true, target), splits: 3 };
      const partials = await runGemm(ag, bg, d, tile).toArray();
      const size = expected.length;
      const summed = Float64Array.from({ length: size }, (_, i) => partials[i] + partials[size + i] + partials[2 * size + i]);
      expectClose(summed, expected, f32(d.k), `${name} split in 3`);
    }
    dispose([ag, bg]);
  });

  it('tile columns wrap onto more grid rows past the per-dimension workgroup limit', async () => {
    const d: MatmulDims = { batch: 2, m: 9, n: 1100, k: 5, transA: false, transB: false };
    const { ag, bg, expected } = operands(d, 3);
    for (const [name, target] of [['native', gemmTarget(gpuDevice())], ['workgroup', gpu(2048)]] as const) {
      const tile = chooseTile(d, false, target);
      const tilesX = Math.ceil(d.n / (tile.wx * tile.rn));
      expect(tilesX, name).toBeGreaterThan(2);
      const kernel = gemmKernel(matmulOperands(d), d, tile, 2);
      expect(kernel.workgroups[0], name).toBeLessThanOrEqual(2);
      expectClose(await runGemm(ag, bg, d, tile, 2).toArray(), expected, f32(d.k), `${name}, at most 2 workgroups per row`);
    }
    dispose([ag, bg]);
  });

  it('a long reduction over few output tiles is split', () => {
    for (const [name, target] of [['native', gemmTarget(gpuDevice())], ['workgroup', gpu(16384)]] as const) {
      expect(chooseTile({ batch: 1, m: 16, n: 16, k: 4096 }, true, target).splits, name).toBeGreaterThan(1);
    }
  });

  it('a long reduction over enough output tiles to keep the device busy is not split', () => {
    for (const [name, target] of [['native', gemmTarget(gpuDevice())], ['workgroup', gpu(16384)]] as const) {
      expect(chooseTile({ batch: 4, m: 1024, n: 1024, k: 4096 }, true, target).splits, name).toBe(1);
    }
  });

  it('the backend kernel (matmulKernel) is one dispatch without splits', () => {
    const kernel = matmulKernel({ batch: 1, m: 16, n: 16, k: 4096, transA: false, transB: false }, gemmTarget(gpuDevice()));
    expect(kernel.workgroups[2]).toBe(1);
  });
});

// ---- the op -----------------------------------------------------------------------------------------------------

/** Batch shapes that broadcast against each other. */
const BATCHES: [number[], number[]][] = [[[], []], [[2], []], [[], [3]], [[2, 1], [1, 3]], [[2, 3], [3]], [[1], [2]]];

describe('matmul op on webgpu matches float64 on the cpu', () => {
  it('random shapes, transposes and broadcast batches', async () => {
    await fc.assert(fc.asyncProperty(fc.constantFrom(...BATCHES), dims, fc.nat(), async ([batchA, batchB], d, seed) => {
      const random = new Random(seed);
      const aShape = [...batchA, ...(d.transA ? [d.k, d.m] : [d.m, d.k])];
      const bShape = [...batchB, ...(d.transB ? [d.n, d.k] : [d.k, d.n])];
      const a = values(aShape.reduce((x, y) => x * y, 1), random);
      const b = values(bShape.reduce((x, y) => x * y, 1), random);
      const options = { transA: d.transA, transB: d.transB };
      const expected = matmul(tensor(Float64Array.from(a), aShape), tensor(Float64Array.from(b), bShape), options);
      const actual = matmul(tensor(a, aShape, { device: 'webgpu' }), tensor(b, bShape, { device: 'webgpu' }), options);
      expect(actual.shape).toEqual(expected.shape);
      expectClose(await actual.toArray(), expected.toArraySync(), f32(d.k), `${aShape} · ${bShape} ${JSON.stringify(options)}`);
    }), { numRuns: 10 });
  });
});

describe('matmul gradients (float64 central differences)', () => {
  const cases: [string, number[], number[], { transA?: boolean; transB?: boolean }][] = [
    ['plain', [3, 4], [4, 5], {}],
    ['transA, broadcast batch', [2, 1, 4, 3], [3, 4, 2], { transA: true }],
    ['transB', [2, 3, 4], [5, 4], { transB: true }],
    ['both transposed', [4, 3], [2, 5, 4], { transA: true, transB: true }],
  ];
  for (const [name, aShape, bShape, options] of cases) {
    it(name, () => {
      const random = new Random(2);
      const a = randn(aShape, { dtype: 'float64', random, requiresGrad: true });
      const b = randn(bShape, { dtype: 'float64', random, requiresGrad: true });
      const r = randn(matmul(a, b, options).shape, { dtype: 'float64', random });
      gradcheck((a, b) => sum(mul(matmul(a, b, options), r)), [a, b]);
    });

    it(`${name}: double backward (gradients written with matmul are differentiable)`, () => {
      const random = new Random(4);
      const a = randn(aShape, { dtype: 'float64', random, requiresGrad: true });
      const b = randn(bShape, { dtype: 'float64', random, requiresGrad: true });
      const r = randn(matmul(a, b, options).shape, { dtype: 'float64', random });
      const sa = randn(aShape, { dtype: 'float64', random });
      const sb = randn(bShape, { dtype: 'float64', random });
      // f = <sa, dL/da> + <sb, dL/db> with L = <r, a·b>; its gradient goes through the rules' own matmuls.
      gradcheck((a, b) => {
        const [ga, gb] = grad(sum(mul(matmul(a, b, options), r)), [a, b], { createGraph: true });
        return add(sum(mul(ga!, sa)), sum(mul(gb!, sb)));
      }, [a, b]);
    });
  }
});

describe('matmul errors', () => {
  it('names the shapes', () => {
    expect(() => matmul(zeros([2, 3]), zeros([4, 5]))).toThrow(/matmul: inner dimensions differ: \[2, ?3\] · \[4, ?5\] \(3 vs 4\)/);
    expect(() => matmul(zeros([3]), zeros([3, 2]))).toThrow(/matmul: operands need rank ≥ 2/);
    expect(() => matmul(zeros([2, 2, 3]), zeros([3, 3, 2]))).toThrow(/matmul/);
    expect(() => matmul(zeros([2, 3]), zeros([3, 2], { dtype: 'float64' }))).toThrow(/matmul: needs two float tensors of one dtype/);
  });
});
