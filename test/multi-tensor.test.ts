// The fused multi-tensor optimizer ops: WGSL against the float64 reference on random packs (more tensors than one
// dispatch takes, sizes from 1 to past a workgroup's stride), dispatch counts, in-place semantics and pack limits.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { memory, tensor, type Tensor } from '../src/index.js';
import { adamwUpdate, sgdUpdate, sumOfSquares } from '../src/kernels/reference/optimizer-update.js';
import { gpuDevice } from '../src/backend/launch.js';
import type { DeviceInfo } from '../src/kernels/program.js';
import { packSize, partialsPerPack } from '../src/kernels/wgsl/multi-tensor.js';
import { adamwUpdate_, clipScale, sgdUpdate_ } from '../src/ops/multi-tensor.js';
import { Random } from '../src/tensor/random.js';
import { expectClose } from './util.js';

const F32 = { atol: 1e-6, rtol: 1e-5 };

/** A device description with only the storage-buffer limit that packing reads. */
const device = (maxStorageBuffersPerShaderStage: number, cpu: boolean): DeviceInfo => ({
  cpu, subgroups: false, lanes: 0,
  limits: { maxStorageBuffersPerShaderStage, maxStorageBufferBindingSize: 0, maxComputeWorkgroupStorageSize: 0, maxComputeInvocationsPerWorkgroup: 0 },
});

/** Random float64 arrays of the given sizes, from a seed. */
function arrays(sizes: readonly number[], seed: number, scale = 1): Float64Array[] {
  const rng = new Random(seed);
  return sizes.map((n) => Float64Array.from({ length: n }, () => scale * rng.normal()));
}

const onGpu = (values: readonly Float64Array[]): Tensor[] => values.map((v) => tensor(v, [v.length], { device: 'webgpu', dtype: 'float32' }));
const readAll = (ts: readonly Tensor[]) => Promise.all(ts.map((t) => t.toArray()));
const disposeAll = (...lists: (readonly (Tensor | null)[])[]) => lists.flat().forEach((t) => t?.dispose());

const sizesArb = fc.array(fc.integer({ min: 1, max: 3000 }), { minLength: 1, maxLength: 19 });

describe('clipScale', () => {
  it('gives [‖g‖, min(1, max/(‖g‖+1e-6))] of every tensor as one vector, on random packs (webgpu vs float64)', async () => {
    await fc.assert(
      fc.asyncProperty(sizesArb, fc.integer({ min: 0, max: 1e6 }), fc.constantFrom(0, 0.5, 1e3), async (sizes, seed, maxNorm) => {
        const grads = arrays(sizes, seed);
        const norm = Math.sqrt(sumOfSquares(grads));
        const gpu = onGpu(grads);
        const clip = clipScale(gpu, maxNorm);
        expectClose(await clip.toArray(), [norm, maxNorm > 0 ? Math.min(1, maxNorm / (norm + 1e-6)) : 1], F32, 'clip');
        disposeAll(gpu, [clip]);
      }),
      { numRuns: 12 },
    );
  });

  it('adds 1e-6 to the norm on webgpu, as torch does: ‖g‖ = 1e-3, max 1e-4 gives s = 1e-4/(1e-3 + 1e-6), not 0.1', async () => {
    // At ordinary norms the 1e-6 is below float32's rtol and any small constant passes; at ‖g‖ = 1e-3 it moves s by
    // 1e-3 relative, a hundred times F32's rtol.
    const grads = [Float64Array.from([6e-4]), Float64Array.from([8e-4, 0])];
    const gpu = onGpu(grads);
    const clip = clipScale(gpu, 1e-4);
    const norm = Math.hypot(Math.fround(6e-4), Math.fround(8e-4));
    // Relative only: F32's atol of 1e-6 would be 0.1% of this norm.
    expectClose(await clip.toArray(), [norm, 1e-4 / (norm + 1e-6)], { atol: 0, rtol: 1e-5 }, 'clip');
    disposeAll(gpu, [clip]);
  });

  it('folds more partial sums than its one workgroup has invocations (a model-sized list of gradients)', async () => {
    // 48 tensors of 2100 elements: 8 workgroups each on a CPU adapter (9 on a GPU), so 384 or more partials to fold.
    const sizes = Array.from({ length: 48 }, () => 2100);
    const perPack = packSize(gpuDevice(), 1, 1);
    const partials = Array.from({ length: Math.ceil(sizes.length / perPack) }, (_, i) =>
      partialsPerPack(sizes.slice(i * perPack, (i + 1) * perPack), gpuDevice())).reduce((a, b) => a + b, 0);
    expect(partials).toBeGreaterThan(256);
    const grads = arrays(sizes, 11);
    const norm = Math.sqrt(sumOfSquares(grads));
    const gpu = onGpu(grads);
    const clip = clipScale(gpu, 1);
    expectClose(await clip.toArray(), [norm, 1 / (norm + 1e-6)], F32, 'clip');
    disposeAll(gpu, [clip]);
  });

  it('agrees on cpu in float64 to rounding', () => {
    const grads = arrays([5, 1, 300], 3);
    const clip = clipScale(grads.map((g) => tensor(g, [g.length], { dtype: 'float64' })), 2);
    const norm = Math.hypot(...grads.flatMap((g) => [...g]));
    expectClose(clip.toArraySync(), [norm, 2 / (norm + 1e-6)], { atol: 1e-13, rtol: 1e-13 }, 'clip');
  });

  it('rejects an empty list, mismatched devices and a negative max', () => {
    expect(() => clipScale([], 1)).toThrow('clipScale: no gradients');
    expect(() => clipScale([tensor([1])], -1)).toThrow('clipScale: max norm must be ≥ 0, got -1');
    const g = tensor([1], { device: 'webgpu' });
    expect(() => clipScale([g, tensor([1, 2])], 1)).toThrow('clipScale: grads[1] is 2 float32 on cpu, expected 2 float32 on webgpu');
    g.dispose();
  });
});

describe('sgdUpdate_ and adamwUpdate_', () => {
  it('SGD matches the reference on random packs, with and without momentum and clipping', async () => {
    await fc.assert(
      fc.asyncProperty(sizesArb, fc.integer({ min: 0, max: 1e6 }), fc.constantFrom(0, 0.9), fc.boolean(), async (sizes, seed, momentum, clipped) => {
        const [p, g, b] = [arrays(sizes, seed), arrays(sizes, seed + 1), arrays(sizes, seed + 2)];
        const hyper = sizes.map((_, i) => ({ lr: 0.01 * (1 + (i % 3)), weightDecay: i % 2 ? 1e-4 : 0 }));
        const scale = clipped ? 0.37 : 1;
        const [gp, gg, gb] = [onGpu(p), onGpu(g), onGpu(b)];
        const clip = clipped ? tensor([2.7, scale], { device: 'webgpu' }) : null;
        sgdUpdate_(gp, gg, momentum ? gb : gb.map(() => null), hyper, momentum, clip);
        sizes.forEach((_, i) => sgdUpdate(p[i]!, g[i]!, momentum ? b[i]! : null, { ...hyper[i]!, momentum, scale }));
        (await readAll(gp)).forEach((v, i) => expectClose(v, p[i]!, F32, `param ${i}`));
        if (momentum) (await readAll(gb)).forEach((v, i) => expectClose(v, b[i]!, F32, `buffer ${i}`));
        disposeAll(gp, gg, gb, [clip]);
      }),
      { numRuns: 12 },
    );
  });

  it('AdamW matches the reference on random packs', async () => {
    await fc.assert(
      fc.asyncProperty(sizesArb, fc.integer({ min: 0, max: 1e6 }), fc.integer({ min: 1, max: 50 }), fc.boolean(), async (sizes, seed, t, clipped) => {
        const p = arrays(sizes, seed);
        const g = arrays(sizes, seed + 1);
        const m = arrays(sizes, seed + 2, 0.1);
        const v = arrays(sizes, seed + 3, 0.1).map((a) => a.map((x) => x * x));
        const hyper = sizes.map((_, i) => ({ lr: 1e-3 * (1 + (i % 2)), weightDecay: i % 3 ? 0.05 : 0 }));
        const step = { beta1: 0.9, beta2: 0.999, eps: 1e-8, correction1: 1 - 0.9 ** t, correction2: 1 - 0.999 ** t };
        const scale = clipped ? 0.5 : 1;
        const [gp, gg, gm, gv] = [onGpu(p), onGpu(g), onGpu(m), onGpu(v)];
        const clip = clipped ? tensor([2, scale], { device: 'webgpu' }) : null;
        adamwUpdate_(gp, gg, gm, gv, hyper, step, clip);
        sizes.forEach((_, i) => adamwUpdate(p[i]!, g[i]!, m[i]!, v[i]!, { ...step, ...hyper[i]!, scale }));
        for (const [gpu, ref, name] of [[gp, p, 'param'], [gm, m, 'm'], [gv, v, 'v']] as const) {
          (await readAll(gpu)).forEach((x, i) => expectClose(x, ref[i]!, F32, `${name} ${i}`));
        }
        disposeAll(gp, gg, gm, gv, [clip]);
      }),
      { numRuns: 12 },
    );
  });

  it('takes one dispatch per pack, writes in place and allocates nothing', () => {
    const sizes = Array.from({ length: 23 }, (_, i) => 10 + 97 * i);
    const [p, g, b] = [onGpu(arrays(sizes, 1)), onGpu(arrays(sizes, 2)), onGpu(arrays(sizes, 3))];
    const buffers = p.map((t) => t.storage().buffer);
    const before = memory();
    sgdUpdate_(p, g, b, sizes.map(() => ({ lr: 0.1, weightDecay: 0 })), 0.9, null);
    const perDispatch = packSize(gpuDevice(), 3, 1);
    expect(memory().dispatches - before.dispatches).toBe(Math.ceil(sizes.length / perDispatch));
    expect(memory().buffersInUse).toBe(before.buffersInUse);
    expect(p.map((t) => t.storage().buffer)).toEqual(buffers);
    disposeAll(p, g, b);
  });

  it('builds a pack\'s program once: SGD and AdamW steps with new values on the same tensors compile nothing and stay exact, each switch its own program', async () => {
    const sizes = [700, 3, 2500, 64, 1, 999, 256, 257, 40];
    const run = async (momentum: number, clipped: boolean, step: number) => {
      const [p, g, b] = [arrays(sizes, step), arrays(sizes, step + 1), arrays(sizes, step + 2)];
      const hyper = sizes.map((_, i) => ({ lr: 0.01 * step * (1 + (i % 3)), weightDecay: i % 2 ? 1e-4 * step : 0 }));
      const scale = clipped ? 0.25 * step : 1;
      const [gp, gg, gb] = [onGpu(p), onGpu(g), onGpu(b)];
      const clip = clipped ? tensor([1, scale], { device: 'webgpu' }) : null;
      sgdUpdate_(gp, gg, momentum ? gb : gb.map(() => null), hyper, momentum, clip);
      sizes.forEach((_, i) => sgdUpdate(p[i]!, g[i]!, momentum ? b[i]! : null, { ...hyper[i]!, momentum, scale }));
      (await readAll(gp)).forEach((v, i) => expectClose(v, p[i]!, F32, `momentum ${momentum}, clipped ${clipped}, step ${step}: param ${i}`));
      if (momentum) (await readAll(gb)).forEach((v, i) => expectClose(v, b[i]!, F32, `momentum ${momentum} step ${step}: buffer ${i}`));
      disposeAll(gp, gg, gb, [clip]);
    };
    const adamw = async (clipped: boolean, t: number) => {
      const [p, g, m] = [arrays(sizes, t), arrays(sizes, t + 1), arrays(sizes, t + 2, 0.1)];
      const v = arrays(sizes, t + 3, 0.1).map((a) => a.map((x) => x * x));
      const hyper = sizes.map((_, i) => ({ lr: 1e-3 * t * (1 + (i % 2)), weightDecay: i % 3 ? 0.05 : 0 }));
      const step = { beta1: 0.9, beta2: 0.999, eps: 1e-8, correction1: 1 - 0.9 ** t, correction2: 1 - 0.999 ** t };
      const scale = clipped ? 0.3 * t : 1;
      const [gp, gg, gm, gv] = [onGpu(p), onGpu(g), onGpu(m), onGpu(v)];
      const clip = clipped ? tensor([1, scale], { device: 'webgpu' }) : null;
      adamwUpdate_(gp, gg, gm, gv, hyper, step, clip);
      sizes.forEach((_, i) => adamwUpdate(p[i]!, g[i]!, m[i]!, v[i]!, { ...step, ...hyper[i]!, scale }));
      (await readAll(gp)).forEach((x, i) => expectClose(x, p[i]!, F32, `AdamW, clipped ${clipped}, step ${t}: param ${i}`));
      disposeAll(gp, gg, gm, gv, [clip]);
    };
    const switches = [[0.9, true], [0, true], [0.9, false], [0, false]] as const;
    for (const [momentum, clipped] of switches) await run(momentum, clipped, 1);
    for (const clipped of [true, false]) await adamw(clipped, 1);
    const compiled = memory().pipelinesCompiled; // not the number kept, which a compile past the bound leaves as it was
    for (const [momentum, clipped] of switches) await run(momentum === 0 ? 0 : 0.5, clipped, 2);
    for (const clipped of [true, false]) await adamw(clipped, 2);
    expect(memory().pipelinesCompiled).toBe(compiled);
  });

  it('sizes packs by the adapter limit, and refuses a limit too small for one tensor', () => {
    expect(packSize(device(16, true), 3, 1)).toBe(5);
    expect(packSize(device(8, false), 4, 1)).toBe(1);
    expect(packSize(device(1000, false), 1, 1)).toBe(8);
    expect(() => packSize(device(4, false), 4, 1)).toThrow('4 + 1 storage buffers exceed');
  });

  it('rejects lists that do not line up', () => {
    const p = [tensor([1, 2])];
    expect(() => sgdUpdate_(p, [], [null], [{ lr: 1, weightDecay: 0 }], 0, null)).toThrow('sgdUpdate_: 0 grads for 1 params');
    expect(() => sgdUpdate_(p, [tensor([1])], [null], [{ lr: 1, weightDecay: 0 }], 0, null)).toThrow('grads[0] is 1 float32 on cpu, expected 2 float32 on cpu');
    expect(() => sgdUpdate_(p, [tensor([1, 1])], [null], [{ lr: 1, weightDecay: 0 }], 0.9, null)).toThrow('momentum > 0 needs a buffer for every parameter');
  });

  it('rejects hyper-parameters that would spoil the parameters silently, and a clip tensor that is not [norm, scale]', () => {
    const p = [tensor([1, 2])];
    const g = [tensor([1, 1])];
    const step = { beta1: 0.9, beta2: 0.999, eps: 1e-8, correction1: 0.1, correction2: 0.001 };
    expect(() => sgdUpdate_(p, g, [null], [{ lr: Number.NaN, weightDecay: 0 }], 0, null)).toThrow('sgdUpdate_: hyper[0] must have a finite lr and weightDecay ≥ 0, got {"lr":NaN,"weightDecay":0}');
    expect(() => sgdUpdate_(p, g, [null], [{ lr: 0.1, weightDecay: -1 }], 0, null)).toThrow('sgdUpdate_: hyper[0] must have a finite lr and weightDecay ≥ 0');
    expect(() => sgdUpdate_(p, g, [tensor([0, 0])], [{ lr: 0.1, weightDecay: 0 }], 1, null)).toThrow('sgdUpdate_: momentum must be in [0, 1), got 1');
    expect(() => sgdUpdate_(p, g, [null], [{ lr: 0.1, weightDecay: 0 }], 0, tensor([1]))).toThrow('sgdUpdate_: clip must be clipScale\'s [norm, scale], a 2-element float32 tensor on cpu; got 1 float32 on cpu');
    const m = [tensor([0, 0])];
    const v = [tensor([0, 0])];
    expect(() => adamwUpdate_(p, g, m, v, [{ lr: 0.1, weightDecay: 0 }], { ...step, eps: 0 }, null)).toThrow(`adamwUpdate_: eps must be in (0, ${Number.MAX_VALUE}], got 0`);
    expect(() => adamwUpdate_(p, g, m, v, [{ lr: 0.1, weightDecay: 0 }], { ...step, correction1: 0 }, null)).toThrow('adamwUpdate_: correction1 must be in (0, 1], got 0');
    expect(Array.from(p[0]!.toArraySync()), 'nothing was updated').toEqual([1, 2]);
  });
});
