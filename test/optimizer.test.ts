// SGD and AdamW, the learning-rate schedule and the recipes, gradient clipping, and Tensor.assign (which the
// optimizer updates through).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { add, memory, mul, sum, tensor, tidy, toSync, zeros, type Device, type Tensor as T } from '../src/index.js';
import type { NamedParameter } from '../src/nn/module.js';
import { clipGradNorm } from '../src/train/clip.js';
import { REFERENCE_SGD, SGD, type Optimizer, type ParamGroup, type SGDOptions } from '../src/train/optimizer.js';
import { lrAt, referenceSchedule } from '../src/train/schedule.js';
import { RECIPES, defaultDecayEpochs } from '../src/train/recipes.js';
import { ADAMW_DEFAULTS, AdamW, type AdamWOptions } from '../src/train/adamw.js';
import { expectClose } from './util.js';

type Case = { device: Device; dtype: 'float32' | 'float64'; tol: { atol: number; rtol: number } };
const CASES: Case[] = [
  { device: 'cpu', dtype: 'float64', tol: { atol: 1e-12, rtol: 1e-12 } },
  { device: 'cpu', dtype: 'float32', tol: { atol: 1e-6, rtol: 1e-5 } },
  { device: 'webgpu', dtype: 'float32', tol: { atol: 1e-6, rtol: 1e-5 } },
];

const param = (name: string, group: ParamGroup, values: number[], c: Case): NamedParameter => ({
  name,
  group,
  tensor: tensor(values, { device: c.device, dtype: c.dtype, requiresGrad: true }),
});

/** loss = Σ c·p + ½ p², so that ∂loss/∂p = c + p depends on the current parameters. */
function backwardOnce(params: readonly NamedParameter[], coeffs: Record<string, number[]>): void {
  tidy(() => {
    const terms = params.map((p) => {
      const c = tensor(coeffs[p.name], { device: p.tensor.device, dtype: p.tensor.dtype });
      return sum(add(mul(c, p.tensor), mul(mul(p.tensor, p.tensor), 0.5)));
    });
    terms.reduce((a, b) => add(a, b)).backward();
  });
}

/** `steps` updates, each after a backward pass of `backwardOnce` with that step's coefficients. */
function runSteps(optimizer: Optimizer, params: readonly NamedParameter[], steps: readonly Record<string, number[]>[]): void {
  for (const step of steps) {
    backwardOnce(params, step);
    optimizer.step();
    optimizer.zeroGrad();
  }
}

/** PyTorch's SGD (dampening 0, no Nesterov), element by element in float64. */
function referenceSgd(init: Record<string, number[]>, groups: Record<string, ParamGroup>, coeffs: Record<string, number[]>[], o: SGDOptions): Record<string, number[]> {
  const p = structuredClone(init);
  const buf: Record<string, number[]> = {};
  for (const c of coeffs) {
    for (const name of Object.keys(p)) {
      const g = o.groups[groups[name]] ?? {};
      const lr = o.lr * (g.lrMult ?? 1);
      const wd = g.weightDecay ?? o.weightDecay;
      const d = p[name].map((x, i) => c[name][i] + x + wd * x);
      buf[name] = buf[name] ? buf[name].map((b, i) => o.momentum * b + d[i]) : d;
      p[name] = p[name].map((x, i) => x - lr * buf[name][i]);
    }
  }
  return p;
}

describe('Tensor.assign', () => {
  it('moves the tensor onto the source storage and frees its own', async () => {
    const target = tensor([1, 2, 3], { device: 'webgpu' });
    const source = tensor([4, 5, 6], { device: 'webgpu' });
    const before = memory().buffersInUse;
    target.assign(source);
    expect(memory().buffersInUse).toBe(before - 1);
    source.dispose();
    expect(Array.from(await target.toArray())).toEqual([4, 5, 6]);
    expect(memory().buffersInUse).toBe(before - 1);
    target.dispose();
    expect(memory().buffersInUse).toBe(before - 2);
  });

  it('rejects a different shape, dtype or device, and tensors with history', () => {
    const leaf = tensor([1, 2], { requiresGrad: true });
    expect(() => leaf.assign(tensor([1, 2, 3]))).toThrow('assign: source [3] float32 does not match target [2] float32');
    expect(() => leaf.assign(tensor([1, 2], { dtype: 'float64' }))).toThrow('does not match target [2] float32');
    expect(() => leaf.assign(tensor([1, 2], { device: 'webgpu' }))).toThrow("assign: source is on 'webgpu' but the target is on 'cpu'");
    expect(() => mul(leaf, 2).assign(tensor([1, 2]))).toThrow('only leaves can be assigned');
  });
});

describe('SGD', () => {
  it('follows buf = μ·buf + g, p −= lr·buf on a hand-checked sequence', () => {
    const p = tensor([0], { dtype: 'float64', requiresGrad: true });
    const sgd = new SGD([{ name: 'p', tensor: p, group: 'weight' }], { lr: 0.1, momentum: 0.9, weightDecay: 0 });
    const seen: number[] = [];
    for (let i = 0; i < 3; i++) {
      p.grad = tensor([1], { dtype: 'float64' });
      sgd.step();
      sgd.zeroGrad();
      seen.push(p.toArraySync()[0]);
    }
    // buf: 1, 1.9, 2.71; p: −0.1, −0.29, −0.561.
    expectClose(seen, [-0.1, -0.29, -0.561], { atol: 1e-15, rtol: 1e-14 }, 'parameter');
  });

  for (const c of CASES) {
    it(`matches PyTorch's update with reference parameter groups over 5 steps (${c.device}, ${c.dtype})`, async () => {
      const init = { 'conv.weight': [0.5, -1, 2, 0.25], 'conv.bias': [0.1, -0.2], 'gn.weight': [1, 1.5], 'gn.bias': [0, 0.3] };
      const groups: Record<string, ParamGroup> = { 'conv.weight': 'weight', 'conv.bias': 'bias', 'gn.weight': 'norm', 'gn.bias': 'norm' };
      const params = Object.entries(init).map(([name, v]) => param(name, groups[name], v, c));
      // The optimizer takes its momentum and groups from its defaults; the reference spells the intended values out
      // (reference §6: momentum 0.9, non-norm biases lr×2 and no decay), so that a wrong default cannot pass on both sides.
      const sgd = new SGD(params, { lr: 0.05, weightDecay: 0.01 });
      const coeffs = Array.from({ length: 5 }, (_, s) => Object.fromEntries(Object.entries(init).map(([name, v]) => [name, v.map((_, i) => Math.sin(3 * s + i + name.length))])));
      runSteps(sgd, params, coeffs);
      const expected = referenceSgd(init, groups, coeffs, { lr: 0.05, momentum: 0.9, weightDecay: 0.01, groups: { bias: { lrMult: 2, weightDecay: 0 } } });
      for (const p of params) expectClose(await p.tensor.toArray(), expected[p.name], c.tol, p.name);
      sgd.dispose();
    });
  }

  it("defaults to the reference's lr 0.02, momentum 0.9 and weight decay 1e-4 (reference §6)", () => {
    expect(REFERENCE_SGD).toEqual({ lr: 0.02, momentum: 0.9, weightDecay: 1e-4, groups: { bias: { lrMult: 2, weightDecay: 0 } } });
    const sgd = new SGD([]);
    expect(sgd.lr).toBe(0.02);
    expect(sgd.momentum).toBe(0.9);
    expect(sgd.weightDecay).toBe(1e-4);
  });

  it('uses lr×2 and no decay for biases and normal settings for norm parameters by default', () => {
    const sgd = new SGD([]);
    sgd.lr = 0.01;
    expect(sgd.hyperparameters('weight')).toEqual({ lr: 0.01, weightDecay: 1e-4 });
    expect(sgd.hyperparameters('bias')).toEqual({ lr: 0.02, weightDecay: 0 });
    expect(sgd.hyperparameters('norm')).toEqual({ lr: 0.01, weightDecay: 1e-4 });
  });

  it('leaves parameters without a gradient untouched', () => {
    const c = CASES[0];
    const used = param('used', 'weight', [1, 2], c);
    const unused = param('unused', 'weight', [3, 4], c);
    const sgd = new SGD([used, unused]);
    used.tensor.grad = tensor([1, 1], { dtype: 'float64' });
    sgd.step();
    expect(Array.from(unused.tensor.toArraySync())).toEqual([3, 4]);
    expect(Object.keys(sgd.stateDict())).toEqual(['momentum.used']);
  });

  it('steps on webgpu without a readback, and memory stays flat over 10 steps', () => {
    const c = CASES[2];
    const params = [param('w', 'weight', [1, 2, 3, 4, 5, 6], c), param('b', 'bias', [0.5, -0.5], c)];
    const sgd = new SGD(params);
    const coeffs = { w: [1, -1, 2, -2, 3, -3], b: [0.1, 0.2] };
    const start = memory();
    const after: { bytes: number; buffers: number }[] = [];
    for (let i = 0; i < 10; i++) {
      backwardOnce(params, coeffs);
      const readbacks = memory().readbacks;
      sgd.step();
      expect(memory().readbacks, 'step read back from the GPU').toBe(readbacks);
      sgd.zeroGrad();
      after.push({ bytes: memory().bytesInUse, buffers: memory().buffersInUse });
    }
    // The first step adds the momentum buffers (one per parameter); after that nothing may grow.
    expect(after[0].buffers).toBe(start.buffersInUse + params.length);
    for (const m of after) expect(m).toEqual(after[0]);
    sgd.dispose();
    for (const p of params) p.tensor.dispose();
    expect(memory().buffersInUse).toBe(start.buffersInUse - params.length);
  });

  it('zeroGrad disposes the gradients', () => {
    const p = param('p', 'weight', [1], CASES[0]);
    const grad = tensor([2], { dtype: 'float64' });
    p.tensor.grad = grad;
    new SGD([p]).zeroGrad();
    expect(p.tensor.grad).toBeNull();
    expect(grad.disposed).toBe(true);
  });

  it('resumes from a state dict as if it had never stopped (saved on webgpu, loaded via the cpu)', async () => {
    const c = CASES[2];
    const init = { w: [1, -2, 3], b: [0.5] };
    const coeffs = { w: [0.3, 0.1, -0.2], b: [1] };
    const make = () => Object.entries(init).map(([name, v]) => param(name, name === 'b' ? 'bias' : 'weight', v, c));
    const a = make();
    const sgdA = new SGD(a);
    for (let i = 0; i < 3; i++) {
      backwardOnce(a, coeffs);
      sgdA.step();
      sgdA.zeroGrad();
    }
    // What a checkpoint round trip does: read back to plain arrays, later rebuild CPU tensors.
    const saved = await Promise.all(Object.entries(sgdA.stateDict()).map(async ([name, t]) => [name, await t.toArray(), t.shape] as const));
    const b = await Promise.all(a.map(async (p) => ({ ...p, tensor: tensor(await p.tensor.toArray(), { device: c.device, requiresGrad: true }) })));
    const sgdB = new SGD(b);
    const loaded = Object.fromEntries(saved.map(([name, data, shape]) => [name, tensor(data, shape)]));
    sgdB.loadStateDict(loaded);
    for (const [sgd, params] of [[sgdA, a], [sgdB, b]] as const) {
      backwardOnce(params, coeffs);
      sgd.step();
      sgd.zeroGrad();
    }
    for (let i = 0; i < a.length; i++) expectClose(await b[i].tensor.toArray(), await a[i].tensor.toArray(), { atol: 0, rtol: 0 }, a[i].name);
    expect(Object.values(loaded).every((t) => !t.disposed), 'loadStateDict must copy, not take ownership').toBe(true);
    sgdA.dispose();
    sgdB.dispose();
  });

  it('loadStateDict moves CPU state onto the parameter device', async () => {
    const p = { name: 'w', group: 'weight' as const, tensor: tensor([1, 2], { device: 'webgpu', requiresGrad: true }) };
    const sgd = new SGD([p], { lr: 1, momentum: 0.5, weightDecay: 0 });
    sgd.loadStateDict({ 'momentum.w': tensor([10, 20]) });
    expect(sgd.stateDict()['momentum.w'].device).toBe('webgpu');
    p.tensor.grad = toSync(tensor([0, 0]), 'webgpu');
    sgd.step();
    // buf = 0.5·[10, 20] + 0 = [5, 10]; p = [1, 2] − [5, 10].
    expect(Array.from(await p.tensor.toArray())).toEqual([-4, -8]);
    sgd.dispose();
  });

  it('rejects state for unknown parameters or of the wrong shape', () => {
    const sgd = new SGD([param('w', 'weight', [1, 2], CASES[0])]);
    expect(() => sgd.loadStateDict({ 'momentum.v': zeros([2], { dtype: 'float64' }) })).toThrow("SGD.loadStateDict: no parameter named 'v' (state key 'momentum.v')");
    expect(() => sgd.loadStateDict({ 'momentum.w': zeros([3], { dtype: 'float64' }) })).toThrow("'momentum.w' has shape [3] but the parameter has [2]");
    expect(() => sgd.loadStateDict({ w: zeros([2], { dtype: 'float64' }) })).toThrow("SGD.loadStateDict: unknown state key 'w'");
  });

  it('rejects bad parameters and hyperparameters', () => {
    const c = CASES[0];
    expect(() => new SGD([param('w', 'weight', [1], c), param('w', 'bias', [1], c)])).toThrow("parameter name 'w' appears twice");
    expect(() => new SGD([{ name: 'x', group: 'weight', tensor: tensor([1]) }])).toThrow("parameter 'x' (shape [1]) does not require grad");
    const leaf = tensor([1], { requiresGrad: true });
    expect(() => new SGD([{ name: 'y', group: 'weight', tensor: mul(leaf, 2) }])).toThrow("parameter 'y' is the result of an op ('mul')");
    expect(() => new SGD([], { momentum: 1 })).toThrow('momentum must be in [0, 1), got 1');
    expect(() => new SGD([], { lr: -1 })).toThrow('SGD: lr must be a finite number ≥ 0, got -1');
    expect(() => new SGD([], { lr: Infinity })).toThrow('SGD: lr must be a finite number ≥ 0, got Infinity');
    expect(() => new SGD([], { weightDecay: NaN })).toThrow('SGD: weight decay must be a finite number ≥ 0, got NaN');
    expect(() => new AdamW([], { groups: { bias: { lrMult: NaN } } })).toThrow("AdamW: the bias group's lrMult must be a finite number ≥ 0, got NaN");
    expect(() => new SGD([], { groups: { norm: { weightDecay: -1 } } })).toThrow("SGD: the norm group's weight decay must be a finite number ≥ 0, got -1");
    expect(() => new SGD([tensor([1], { requiresGrad: true })] as unknown as NamedParameter[])).toThrow('SGD: params must be { name, tensor, group } entries (module.trainableParameters()), got Tensor');
  });

  it('a learning rate a schedule set to NaN or below 0 is refused at the step, leaving the parameters as they were (they became NaN)', () => {
    for (const Optim of [SGD, AdamW]) {
      const p = param('w', 'weight', [1, 2], CASES[0]);
      const optimizer = new Optim([p], { lr: 0.1 });
      backwardOnce([p], { w: [1, 1] });
      for (const lr of [NaN, -0.1]) {
        optimizer.lr = lr;
        expect(() => optimizer.step(), Optim.name).toThrow(`${Optim.name}: lr must be a finite number ≥ 0, got ${lr}`);
      }
      expect(Array.from(p.tensor.toArraySync())).toEqual([1, 2]);
      if (optimizer instanceof AdamW) expect(optimizer.steps, 'a refused step is not counted').toBe(0);
    }
  });

  it('optimizer state that is not a tensor, or a step count on the GPU, is named (a TypeError, or a toArraySync error, before)', () => {
    const p = param('w', 'weight', [1, 2], CASES[0]);
    expect(() => new SGD([p]).loadStateDict({ 'momentum.w': new Float32Array(2) as unknown as T })).toThrow("SGD.loadStateDict: 'momentum.w' is not a tensor (Float32Array)");
    const adamw = new AdamW([p]);
    expect(() => adamw.loadStateDict({ 'exp_avg.w': zeros([2]), 'exp_avg_sq.w': 0 as unknown as T })).toThrow("AdamW.loadStateDict: 'exp_avg_sq.w' is not a tensor (Number)");
    expect(() => adamw.loadStateDict({ step: tensor([3], { device: 'webgpu' }) })).toThrow("AdamW.loadStateDict: 'step' must be a one-element CPU tensor, as stateDict() gives it; got [1] on webgpu");
  });
});

describe('lrAt', () => {
  const ipe = 1000;
  const s = referenceSchedule(ipe);

  it('holds lr/3 for the first 500 iterations, then decays ×0.1 at epochs 80 and 90', () => {
    const at = (iter: number) => lrAt(s, iter);
    expect(at(0)).toBeCloseTo(0.02 / 3, 15);
    expect(at(499)).toBeCloseTo(0.02 / 3, 15);
    expect(at(500)).toBe(0.02);
    expect(at(80 * ipe - 1)).toBe(0.02);
    expect(at(80 * ipe)).toBeCloseTo(0.002, 15);
    expect(at(90 * ipe - 1)).toBeCloseTo(0.002, 15);
    expect(at(90 * ipe)).toBeCloseTo(0.0002, 15);
    expect(at(100 * ipe - 1)).toBeCloseTo(0.0002, 15);
  });

  it('applies a decay during warmup when an epoch is shorter than the warmup', () => {
    expect(lrAt({ ...s, itersPerEpoch: 10, decayEpochs: [2] }, 25)).toBeCloseTo((0.02 * 0.1) / 3, 15);
  });

  it('is non-increasing after warmup', () => {
    fc.assert(fc.property(fc.integer({ min: 500, max: 120 * ipe }), fc.integer({ min: 1, max: 5000 }), (iter, later) => lrAt(s, iter + later) <= lrAt(s, iter)));
  });

  it('rejects bad iterations and epoch lengths', () => {
    expect(() => lrAt(s, -1)).toThrow('lrAt: iteration must be an integer ≥ 0, got -1');
    expect(() => lrAt(s, 1.5)).toThrow('got 1.5');
    expect(() => lrAt(referenceSchedule(0), 3)).toThrow('itersPerEpoch must be an integer ≥ 1, got 0');
  });
});

describe('recipes', () => {
  it("the reference recipe is the authors' (reference §6): SGD lr 0.02 for 32 images, warm-up 500, ×0.1 at epochs 80 and 90 of 100", () => {
    expect(RECIPES.reference).toEqual({ optimizer: 'sgd', lr: 0.02, batchSize: 32, warmupIters: 500, poseWeights: 'oks', epochs: 100, decayEpochs: [80, 90] });
  });

  it('the scratch recipe is the README\'s: AdamW lr 2e-3, batch 8, warm-up 100, 9 epochs, decay left to defaultDecayEpochs', () => {
    expect(RECIPES.scratch).toEqual({ optimizer: 'adamw', lr: 2e-3, batchSize: 8, warmupIters: 100, poseWeights: 'oks', epochs: 9, decayEpochs: [] });
  });

  it('defaultDecayEpochs decays at round(7/9) and round(8/9) of the run, once each, and never at or past its end', () => {
    expect(defaultDecayEpochs(9)).toEqual([7, 8]); // the scratch recipe's 9 epochs: the README's --decay 7,8
    expect(defaultDecayEpochs(100)).toEqual([78, 89]); // 77.8 and 88.9 rounded
    expect(defaultDecayEpochs(5)).toEqual([4]); // 3.9 and 4.4 both round to 4: one decay, not two
    expect(defaultDecayEpochs(1)).toEqual([]); // both round to 1, the end of a 1-epoch run: no decay
  });
});

describe('clipGradNorm', () => {
  for (const c of CASES) {
    it(`scales all gradients by max/(‖g‖+1e-6) when the global norm exceeds max (${c.device}, ${c.dtype})`, async () => {
      const a = param('a', 'weight', [0, 0], c).tensor;
      const b = param('b', 'weight', [0], c).tensor;
      const opts = { device: c.device, dtype: c.dtype };
      a.grad = tensor([3, 4], opts);
      b.grad = tensor([12], opts);
      const norm = clipGradNorm([a, b], 6.5);
      expectClose(await norm.toArray(), [13], c.tol, 'norm');
      const scale = 6.5 / (13 + 1e-6);
      expectClose(await a.grad!.toArray(), [3 * scale, 4 * scale], c.tol, 'a.grad');
      expectClose(await b.grad!.toArray(), [12 * scale], c.tol, 'b.grad');
      norm.dispose();
    });

    it(`leaves gradients below the max unchanged (${c.device}, ${c.dtype})`, async () => {
      const a = param('a', 'weight', [0, 0], c).tensor;
      a.grad = tensor([3, 4], { device: c.device, dtype: c.dtype });
      clipGradNorm([a], 35).dispose();
      expectClose(await a.grad!.toArray(), [3, 4], { atol: 0, rtol: 0 }, 'a.grad');
    });
  }

  it('clips on webgpu without a readback or leaked buffers, and skips parameters without a gradient', () => {
    const c = CASES[2];
    const a = param('a', 'weight', [0, 0, 0], c).tensor;
    const unused = param('u', 'weight', [0], c).tensor;
    a.grad = tensor([1, 2, 3], { device: 'webgpu' });
    const before = memory();
    const norm = clipGradNorm([a, unused], 1);
    expect(memory().readbacks).toBe(before.readbacks);
    expect(memory().buffersInUse).toBe(before.buffersInUse + 1); // the returned norm
    expect(unused.grad).toBeNull();
    norm.dispose();
  });

  it('matches the reference formula on random gradients (cpu float64)', () => {
    fc.assert(
      fc.property(fc.array(fc.array(fc.double({ min: -50, max: 50, noNaN: true }), { minLength: 1, maxLength: 5 }), { minLength: 1, maxLength: 4 }), fc.double({ min: 0.1, max: 100, noNaN: true }), (grads, max) => {
        const params = grads.map((g) => {
          const p = zeros([g.length], { dtype: 'float64', requiresGrad: true });
          p.grad = tensor(g, { dtype: 'float64' });
          return p;
        });
        const norm = Math.hypot(...grads.flat());
        const scale = Math.min(1, max / (norm + 1e-6));
        expectClose(clipGradNorm(params, max).toArraySync(), [norm], { atol: 1e-12, rtol: 1e-12 }, 'norm');
        params.forEach((p, i) => expectClose(p.grad!.toArraySync(), grads[i].map((x) => x * scale), { atol: 1e-12, rtol: 1e-12 }, `grad ${i}`));
      }),
      { numRuns: 50 },
    );
  });

  it('rejects a bad max and parameters without gradients', () => {
    const p = zeros([1], { requiresGrad: true });
    expect(() => clipGradNorm([p], 0)).toThrow('clipGradNorm: max norm must be > 0, got 0');
    expect(() => clipGradNorm([p], 35)).toThrow('none of the 1 parameters has a gradient; call backward() first');
  });
});

/** PyTorch's AdamW (amsgrad off), element by element in float64. */
function referenceAdamW(init: Record<string, number[]>, groups: Record<string, ParamGroup>, coeffs: Record<string, number[]>[], o: AdamWOptions): Record<string, number[]> {
  const p = structuredClone(init);
  const m: Record<string, number[]> = {};
  const v: Record<string, number[]> = {};
  const [b1, b2] = o.betas;
  coeffs.forEach((c, s) => {
    const t = s + 1;
    for (const name of Object.keys(p)) {
      const g = o.groups[groups[name]] ?? {};
      const lr = o.lr * (g.lrMult ?? 1);
      const wd = g.weightDecay ?? o.weightDecay;
      const grad = p[name].map((x, i) => c[name][i] + x);
      m[name] = (m[name] ?? grad.map(() => 0)).map((mi, i) => b1 * mi + (1 - b1) * grad[i]);
      v[name] = (v[name] ?? grad.map(() => 0)).map((vi, i) => b2 * vi + (1 - b2) * grad[i] ** 2);
      p[name] = p[name].map((x, i) => x * (1 - lr * wd) - (lr * m[name][i]) / (1 - b1 ** t) / (Math.sqrt(v[name][i] / (1 - b2 ** t)) + o.eps));
    }
  });
  return p;
}

describe('AdamW', () => {
  const init = { 'conv.weight': [0.5, -1, 2, 0.25], 'conv.bias': [0.1, -0.2], 'gn.weight': [1, 1.5] };
  const groups: Record<string, ParamGroup> = { 'conv.weight': 'weight', 'conv.bias': 'bias', 'gn.weight': 'norm' };
  const steps = Array.from({ length: 5 }, (_, s) => Object.fromEntries(Object.entries(init).map(([name, v]) => [name, v.map((_, i) => Math.cos(2 * s + i + name.length))])));

  for (const c of CASES) {
    it(`matches PyTorch's AdamW with decay on weights only over 5 steps (${c.device}, ${c.dtype})`, async () => {
      const params = Object.entries(init).map(([name, v]) => param(name, groups[name], v, c));
      // Betas, eps and the groups come from the optimizer's defaults; the reference takes the intended values as
      // literals (PyTorch's betas and eps; no decay on biases and norm parameters), so a wrong default fails here.
      const adam = new AdamW(params, { lr: 0.01, weightDecay: 0.1 });
      runSteps(adam, params, steps);
      const expected = referenceAdamW(init, groups, steps, { lr: 0.01, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.1, groups: { bias: { weightDecay: 0 }, norm: { weightDecay: 0 } } });
      for (const p of params) expectClose(await p.tensor.toArray(), expected[p.name], c.tol, p.name);
      adam.dispose();
    });
  }

  it("defaults to PyTorch's lr 1e-3, betas (0.9, 0.999) and eps 1e-8, with weight decay 0.05 on weights only", () => {
    expect(ADAMW_DEFAULTS).toEqual({ lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.05, groups: { bias: { weightDecay: 0 }, norm: { weightDecay: 0 } } });
    const adam = new AdamW([]);
    expect(adam.betas).toEqual([0.9, 0.999]);
    expect(adam.eps).toBe(1e-8);
    expect(adam.hyperparameters('weight')).toEqual({ lr: 1e-3, weightDecay: 0.05 });
    expect(adam.hyperparameters('bias')).toEqual({ lr: 1e-3, weightDecay: 0 });
    expect(adam.hyperparameters('norm')).toEqual({ lr: 1e-3, weightDecay: 0 });
  });

  it('resumes from its state dict (moments and step count) exactly', async () => {
    const c = CASES[2];
    const make = () => Object.entries(init).map(([name, v]) => param(name, groups[name], v, c));
    const a = make();
    const adamA = new AdamW(a, { lr: 0.01 });
    runSteps(adamA, a, steps.slice(0, 3));
    const saved = await Promise.all(Object.entries(adamA.stateDict()).map(async ([key, t]) => [key, tensor(await t.toArray(), t.shape, { dtype: t.dtype })] as const));
    expect(saved.map(([key]) => key).sort()).toEqual([...Object.keys(init).flatMap((n) => [`exp_avg.${n}`, `exp_avg_sq.${n}`]), 'step'].sort());
    const b = await Promise.all(a.map(async (p) => ({ ...p, tensor: tensor(await p.tensor.toArray(), { device: c.device, requiresGrad: true }) })));
    const adamB = new AdamW(b, { lr: 0.01 });
    adamB.loadStateDict(Object.fromEntries(saved));
    expect(adamB.steps).toBe(3);
    for (const [adam, params] of [[adamA, a], [adamB, b]] as const) runSteps(adam, params, [steps[3]]);
    for (let i = 0; i < a.length; i++) expectClose(await b[i].tensor.toArray(), await a[i].tensor.toArray(), { atol: 0, rtol: 0 }, a[i].name);
    adamA.dispose();
    adamB.dispose();
  });

  it('rejects bad hyperparameters and foreign state', () => {
    expect(() => new AdamW([], { betas: [0.9, 1] })).toThrow('AdamW: betas must be in [0, 1), got [0.9, 1]');
    expect(() => new AdamW([], { eps: 0 })).toThrow('AdamW: eps must be > 0, got 0');
    const adam = new AdamW([param('w', 'weight', [1, 2], CASES[0])]);
    expect(() => adam.loadStateDict({ 'momentum.w': zeros([2], { dtype: 'float64' }) })).toThrow("AdamW.loadStateDict: unknown state key 'momentum.w'");
    expect(() => adam.loadStateDict({ 'exp_avg.w': zeros([2], { dtype: 'float64' }) })).toThrow("'w' has only one of exp_avg.w and exp_avg_sq.w");
  });
});
