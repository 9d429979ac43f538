// Losses: sigmoid focal loss and BCE with logits against the torchvision/torch golden cases on cpu float64,
// cpu float32 and webgpu; the WGSL kernels against the reference on random inputs; α = 0 and 1; saturation at
// ±100; float64 gradchecks; L1 with weights; bad parameters.
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { Random, dispose, tensor, type Device, type Tensor } from '../src/index.js';
import { bceWithLogits, l1Loss, sigmoidFocalLoss, type Reduction } from '../src/ops/losses.js';
import { loadGolden, type GoldenCase } from './golden.js';
import { expectClose, fromGolden, gradcheck } from './util.js';

// float64 must agree with torch's float64 to rounding. float32: |a − b| ≤ 1e-4 + 1e-4·|b|; the summed cases add
// up to 612 terms of size ≤ ~20, whose float32 rounding (~1e-7 relative each) stays far below that.
const CONFIGS = [
  { device: 'cpu', dtype: 'float64', tol: { atol: 1e-10, rtol: 1e-9 } },
  { device: 'cpu', dtype: 'float32', tol: { atol: 1e-4, rtol: 1e-4 } },
  { device: 'webgpu', dtype: 'float32', tol: { atol: 1e-4, rtol: 1e-4 } },
] as const;

function values(n: number, seed: number, low: number, high: number): Float64Array {
  const random = new Random(seed);
  // Float32-representable, so both devices see the same inputs.
  return Float64Array.from(Float32Array.from({ length: n }, () => random.uniform(low, high)));
}

async function checkGolden(file: string, loss: (logits: Tensor, targets: Tensor, c: GoldenCase) => Tensor): Promise<void> {
  for (const { device, dtype, tol } of CONFIGS) {
    for (const c of loadGolden(file).cases) {
      const logits = fromGolden(c.inputs.logits, device, dtype, true);
      const targets = fromGolden(c.inputs.targets, device, dtype);
      const y = loss(logits, targets, c);
      y.backward(fromGolden(c.inputs.upstream, device, dtype));
      expectClose(await y.toArray(), c.outputs.y.data, tol, `${c.name} on ${device} ${dtype}: y`);
      expectClose(await logits.grad!.toArray(), c.grads.logits.data, tol, `${c.name} on ${device} ${dtype}: dlogits`);
      dispose([logits, targets, y, logits.grad]);
    }
  }
}

describe('golden cases', () => {
  test('sigmoidFocalLoss (torchvision.ops.sigmoid_focal_loss), every case on every device', async () => {
    await checkGolden('sigmoid_focal_loss.json', (logits, targets, c) => sigmoidFocalLoss(logits, targets, c.params));
  });

  test('bceWithLogits (F.binary_cross_entropy_with_logits), every case on every device', async () => {
    await checkGolden('bce_with_logits.json', (logits, targets, c) => bceWithLogits(logits, targets, { reduction: c.params.reduction }));
  });
});

/** The loss and the logits' gradient for a random upstream on one device, for float32-representable inputs. */
async function focalOn(device: Device, logits: Float64Array, targets: Float64Array, seed: number, alpha: number, gamma: number, reduction: Reduction) {
  const dtype = device === 'cpu' ? 'float64' : 'float32';
  const x = tensor(logits, [logits.length], { device, dtype, requiresGrad: true });
  const t = tensor(targets, [targets.length], { device, dtype });
  const y = sigmoidFocalLoss(x, t, { alpha, gamma, reduction });
  y.backward(tensor(values(y.size, seed, -2, 2), y.shape, { device, dtype }));
  const result = { loss: await y.toArray(), grad: await x.grad!.toArray() };
  dispose([x, t, y, x.grad]);
  return result;
}

describe('the WGSL kernels match the float64 reference', () => {
  test('random logits (some saturated), hard and soft targets, α, γ and reductions', async () => {
    const arb = fc.record({
      n: fc.integer({ min: 1, max: 300 }),
      // 0 and 1 are the edges of the α_t weighting (α ≥ 0 turns it on): α = 0 drops the positives entirely.
      alpha: fc.constantFrom(-1, 0, 0.25, 0.5, 0.9, 1),
      gamma: fc.constantFrom(0, 0.5, 1, 1.5, 2, 3),
      reduction: fc.constantFrom<Reduction>('none', 'sum', 'mean'),
      soft: fc.boolean(),
      seed: fc.nat(),
    });
    await fc.assert(
      fc.asyncProperty(arb, async ({ n, alpha, gamma, reduction, soft, seed }) => {
        const logits = values(n, seed, -30, 30).map((v, i) => (i % 17 === 0 ? Math.sign(v) * 100 : v));
        const targets = values(n, seed + 1, 0, 1).map((v) => (soft ? v : Math.round(v)));
        const gpu = await focalOn('webgpu', logits, targets, seed + 2, alpha, gamma, reduction);
        const ref = await focalOn('cpu', logits, targets, seed + 2, alpha, gamma, reduction);
        // Per element the loss and gradient are sums of terms up to ~|x| ≤ 100 (ce), computed with f32 exp and
        // pow (a few ulps each): relative 1e-4, and 2e-5 absolute where terms of that size cancel. A sum adds
        // up to 300 such values: 1e-4 absolute.
        expectClose(gpu.loss, ref.loss, { atol: reduction === 'none' ? 2e-5 : 1e-4, rtol: 1e-4 }, 'loss');
        expectClose(gpu.grad, ref.grad, { atol: 2e-5, rtol: 1e-4 }, 'dlogits');
      }),
      { numRuns: 30 },
    );
  });
});

describe('α at the edges of [0, 1]', () => {
  for (const device of ['cpu', 'webgpu'] as const) {
    test(`α = 0 gives a positive no loss and no gradient, and a negative its unweighted loss (α = 1 the reverse) on ${device}`, async () => {
      // α_t = α·t + (1 − α)·(1 − t) whenever α ≥ 0, so α = 0 is a real weighting (not "off", which is α < 0):
      // positives (t = 1) weigh exactly 0 and negatives exactly 1, i.e. they keep the α = −1 (unweighted) values.
      const x = [1.5, -0.5, 2, -3];
      const t = [1, 1, 0, 0];
      const lossAndGrad = async (alpha: number) => {
        const logits = tensor(x, [4], { device, requiresGrad: true });
        const y = sigmoidFocalLoss(logits, tensor(t, [4], { device }), { alpha, gamma: 2, reduction: 'none' });
        y.backward(tensor([1, 1, 1, 1], [4], { device }));
        const result = [...(await y.toArray()), ...(await logits.grad!.toArray())];
        dispose([logits, y, logits.grad]);
        return result;
      };
      const [unweighted, alpha0, alpha1] = [await lossAndGrad(-1), await lossAndGrad(0), await lossAndGrad(1)];
      // Entries: loss of each element, then its gradient. The products by 0 and 1 are exact.
      const keep = (positive: boolean) => unweighted.map((v, i) => ((t[i % 4] === 1) === positive ? v : 0));
      expect(unweighted.every((v) => v !== 0)).toBe(true);
      expectClose(alpha0, keep(false), { atol: 0, rtol: 0 }, 'α = 0');
      expectClose(alpha1, keep(true), { atol: 0, rtol: 0 }, 'α = 1');
    });
  }
});

describe('saturated logits (±100) give finite, exact losses and gradients', () => {
  // [logit, target, loss, dloss/dlogit] with α = 0.25, γ = 2: a saturated correct prediction costs (and moves)
  // nothing; a saturated wrong one costs α_t·100 and has gradient α_t·(p − t).
  const cases = [
    [100, 1, 0, 0],
    [-100, 0, 0, 0],
    [-100, 1, 25, -0.25],
    [100, 0, 75, 0.75],
  ];
  for (const device of ['cpu', 'webgpu'] as const) {
    test(`focal loss on ${device}`, async () => {
      const logits = tensor(cases.map((c) => c[0]), [4], { device, requiresGrad: true });
      const y = sigmoidFocalLoss(logits, tensor(cases.map((c) => c[1]), [4], { device }), { reduction: 'none' });
      y.backward(tensor([1, 1, 1, 1], [4], { device }));
      expectClose(await y.toArray(), cases.map((c) => c[2]), { atol: 1e-6, rtol: 1e-6 }, 'loss');
      expectClose(await logits.grad!.toArray(), cases.map((c) => c[3]), { atol: 1e-6, rtol: 1e-6 }, 'dlogits');
      dispose([logits, y, logits.grad]);
    });

    test(`tiny losses of confident, correct predictions keep their relative accuracy (${device})`, async () => {
      // log(1 + e^(−|x|)) for e^(−|x|) ≪ 1: float32 would round 1 + e first. Relative 1e-5 leaves room for
      // WGSL's exp (accurate to 3 + 2|x| ulps) and nothing for a rounded 1 + e (relative error up to 1e-3 here).
      const x = [8, 10, 12, 15, 20, -10];
      const t = [1, 1, 1, 1, 1, 0];
      const y = bceWithLogits(tensor(x, [6], { device }), tensor(t, [6], { device }), { reduction: 'none' });
      const exact = x.map((v) => Math.log1p(Math.exp(-Math.abs(v)))); // ce = log(1 + e^(−|x|)) when the label is right
      expectClose(await y.toArray(), exact, { atol: 0, rtol: 1e-5 }, 'bce');
      dispose(y);
    });

    test(`soft targets, γ < 1 and BCE on ${device} stay finite`, async () => {
      const x = [100, -100, 100, -100, 88, -88];
      const t = [0.5, 0.5, 1, 0, 1e-3, 0.999];
      for (const make of [
        (l: Tensor, tt: Tensor) => sigmoidFocalLoss(l, tt, { gamma: 0.5, alpha: -1 }),
        (l: Tensor, tt: Tensor) => sigmoidFocalLoss(l, tt, { gamma: 2, reduction: 'sum' }),
        (l: Tensor, tt: Tensor) => bceWithLogits(l, tt, { reduction: 'sum' }),
      ]) {
        const logits = tensor(x, [6], { device, requiresGrad: true });
        const y = make(logits, tensor(t, [6], { device }));
        y.backward(tensor(new Float32Array(y.size).fill(1), y.shape, { device }));
        for (const v of [...(await y.toArray()), ...(await logits.grad!.toArray())]) expect(Number.isFinite(v)).toBe(true);
        dispose([logits, y, logits.grad]);
      }
    });
  }
});

describe('float64 gradchecks', () => {
  const make = (n: number, seed: number, low: number, high: number, requiresGrad = true) =>
    tensor(values(n, seed, low, high), [n], { dtype: 'float64', requiresGrad });

  test('focal loss with soft targets, several α, γ and reductions', () => {
    const targets = make(9, 2, 0, 1, false);
    for (const [alpha, gamma, reduction] of [[0.25, 2, 'sum'], [-1, 1.5, 'mean'], [0.7, 0.5, 'sum'], [0.25, 0, 'mean']] as const) {
      gradcheck((x) => sigmoidFocalLoss(x, targets, { alpha, gamma, reduction }), [make(9, 1, -4, 4)]);
    }
  });

  test('BCE with logits, with a weight that also gets a gradient', () => {
    gradcheck((x, w) => bceWithLogits(x, make(9, 3, 0, 1, false), { weight: w, reduction: 'sum' }), [make(9, 4, -5, 5), make(9, 5, 0, 2)]);
  });

  test('L1 with a broadcast weight', () => {
    const target = tensor(values(12, 7, -1, 1), [4, 3], { dtype: 'float64' });
    const pred = tensor(values(12, 8, -1, 1), [4, 3], { dtype: 'float64', requiresGrad: true });
    const weight = tensor(values(4, 9, 0, 1), [4, 1], { dtype: 'float64', requiresGrad: true });
    gradcheck((p, w) => l1Loss(p, target, { weight: w, reduction: 'mean' }), [pred, weight]);
  });
});

describe('l1Loss', () => {
  for (const device of ['cpu', 'webgpu'] as const) {
    test(`masked, weighted and reduced on ${device}`, async () => {
      const pred = tensor([[1, 2, 3], [4, 5, 6]], { device, requiresGrad: true });
      const target = tensor([[0, 4, 3], [4, 9, 5]], { device });
      const weight = tensor([[0.5], [0]], { device }); // the second row is masked out
      const expected: Record<Reduction, number[]> = { none: [0.5, 1, 0, 0, 0, 0], sum: [1.5], mean: [0.25] };
      for (const reduction of ['none', 'sum', 'mean'] as const) {
        const y = l1Loss(pred, target, { weight, reduction });
        expectClose(await y.toArray(), expected[reduction], { atol: 1e-7, rtol: 0 }, reduction);
        dispose(y);
      }
      const y = l1Loss(pred, target, { weight, reduction: 'sum' });
      y.backward();
      // sign(pred − target)·weight, and 0 where pred = target.
      expectClose(await pred.grad!.toArray(), [0.5, -0.5, 0, 0, 0, 0], { atol: 0, rtol: 0 }, 'dpred');
      const unweighted = l1Loss(pred, target);
      expect(await unweighted.item()).toBeCloseTo(8 / 6, 6); // (1 + 2 + 0 + 0 + 4 + 1) / 6
      dispose([pred, target, weight, y, unweighted, pred.grad]);
    });
  }
});

describe('errors', () => {
  const a = tensor(new Float32Array(6), [2, 3]);
  const b = tensor(new Float32Array(6), [3, 2]);

  test('shape mismatches name the op and both shapes', () => {
    expect(() => sigmoidFocalLoss(a, b)).toThrow('sigmoidFocalLoss: logits [2, 3] and targets [3, 2] must have the same shape');
    expect(() => bceWithLogits(a, b)).toThrow('bceWithLogits: logits [2, 3] and targets [3, 2] must have the same shape');
    expect(() => l1Loss(a, b)).toThrow('l1Loss: pred [2, 3] and target [3, 2] must have the same shape');
  });

  test('a weight must broadcast to the loss, not past it (a [2, 1, 3] weight made a [2, 2, 3] loss), and name the loss when it cannot', () => {
    expect(() => bceWithLogits(a, a, { weight: tensor(new Float32Array(6), [2, 1, 3]), reduction: 'none' })).toThrow("bceWithLogits: weight [2, 1, 3] must broadcast to the loss's shape [2, 3]");
    expect(() => l1Loss(a, a, { weight: tensor(new Float32Array(5), [5]) })).toThrow('l1Loss: shapes [5] and [2, 3] cannot be broadcast');
    expect(() => l1Loss(a, a, { weight: tensor(new Float64Array(3), [3]) })).toThrow('l1Loss: weight is float64 but the loss is float32');
    expect(bceWithLogits(a, a, { weight: tensor([1, 0, 1]), reduction: 'none' }).shape).toEqual([2, 3]);
  });

  test('dtypes, reduction, γ and α', () => {
    expect(() => sigmoidFocalLoss(a, tensor(new Float64Array(6), [2, 3]))).toThrow('sigmoidFocalLoss: logits and targets must be floats of one dtype, got float32 and float64');
    expect(() => bceWithLogits(a, a, { reduction: 'avg' as Reduction })).toThrow("bceWithLogits: reduction must be 'none', 'sum' or 'mean', got 'avg'");
    expect(() => sigmoidFocalLoss(a, a, { gamma: -1 })).toThrow(/^sigmoidFocalLoss: gamma must be a finite number ≥ 0, got -1$/);
    expect(() => sigmoidFocalLoss(a, a, { alpha: Number.NaN })).toThrow('sigmoidFocalLoss: alpha must be finite, got NaN');
  });

  test('double backward is refused', () => {
    const x = tensor([0.5, -1], { dtype: 'float64', requiresGrad: true });
    const y = sigmoidFocalLoss(x, tensor([1, 0], { dtype: 'float64' }), { reduction: 'sum' });
    expect(() => y.backward(undefined, { createGraph: true })).toThrow('sigmoidFocalLoss: double backward is not supported');
  });
});
