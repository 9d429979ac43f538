// The layer library: initialisers, the Module bookkeeping (names, state dicts, devices, freezing), the layers
// against plain-TypeScript formulas, ResNet names and counts against torchvision's, and the FPN/PAFPN dataflow
// against a direct re-implementation of reference section 1.2.
import { describe, expect, test } from 'vitest';
import { Random, add, dispose, mul, sum, tensor, type Device, type Tensor } from '../src/index.js';
import { conv2d } from '../src/ops/conv2d.js';
import { Conv2d } from '../src/nn/conv.js';
import { ConvModule } from '../src/nn/conv-module.js';
import { ModuleList } from '../src/nn/container.js';
import { DeformConv2d } from '../src/nn/deform-conv.js';
import { Fpn } from '../src/nn/fpn.js';
import { biasForPrior, constant, fans, initTensor, kaimingNormal, normal, xavierUniform } from '../src/nn/init.js';
import { Module } from '../src/nn/module.js';
import { FrozenBatchNorm2d, GroupNorm } from '../src/nn/norm.js';
import { ResNet, convNorm, type ResNetDepth } from '../src/nn/resnet.js';
import { Scale } from '../src/nn/scale.js';
import { expectClose } from './util.js';

const seeded = (seed: number) => ({ random: new Random(seed) });

function stats(values: ArrayLike<number>): { mean: number; std: number; maxAbs: number } {
  let s = 0;
  let s2 = 0;
  let maxAbs = 0;
  for (let i = 0; i < values.length; i++) {
    s += values[i];
    s2 += values[i] * values[i];
    maxAbs = Math.max(maxAbs, Math.abs(values[i]));
  }
  const mean = s / values.length;
  return { mean, std: Math.sqrt(s2 / values.length - mean * mean), maxAbs };
}

describe('initialisers', () => {
  test('fans of a conv weight are PyTorch\'s', () => {
    expect(fans([64, 3, 7, 7])).toEqual({ fanIn: 147, fanOut: 3136 });
    expect(fans([8, 4])).toEqual({ fanIn: 4, fanOut: 8 });
    expect(() => fans([5])).toThrow(/rank ≥ 2.*\[5\]/);
  });

  test('xavierUniform stays inside gain·√(6/(fan_in+fan_out)) and has its variance', () => {
    const shape = [64, 32, 3, 3];
    const bound = Math.sqrt(6 / (32 * 9 + 64 * 9));
    const s = stats(xavierUniform()(shape, new Random(1)));
    expect(s.maxAbs).toBeLessThanOrEqual(bound);
    // U(−a, a) has std a/√3; 18432 samples put the estimate within ~1% of it.
    expect(Math.abs(s.std / (bound / Math.sqrt(3)) - 1)).toBeLessThan(0.03);
  });

  test('kaimingNormal(fan_out, relu) has std √2/√fan_out', () => {
    const s = stats(kaimingNormal({ mode: 'fan_out' })([64, 16, 3, 3], new Random(2)));
    expect(Math.abs(s.std / (Math.SQRT2 / Math.sqrt(64 * 9)) - 1)).toBeLessThan(0.03);
    expect(Math.abs(s.mean)).toBeLessThan(0.01);
  });

  test('normal and constant; the prior bias is −log(99) for p = 0.01', () => {
    expect(Math.abs(stats(normal(0.01)([10000], new Random(3))).std / 0.01 - 1)).toBeLessThan(0.03);
    expect(Array.from(constant(2.5)([3], new Random(0)))).toEqual([2.5, 2.5, 2.5]);
    expect(biasForPrior(0.01)).toBeCloseTo(-4.59512, 5);
  });

  test('the same seed gives the same tensor', () => {
    const a = initTensor([5, 4], normal(1), seeded(7)).toArraySync();
    const b = initTensor([5, 4], normal(1), seeded(7)).toArraySync();
    const c = initTensor([5, 4], normal(1), seeded(8)).toArraySync();
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(Array.from(a)).not.toEqual(Array.from(c));
  });
});

class Block extends Module {
  readonly conv: Conv2d;
  readonly bn: FrozenBatchNorm2d;
  constructor(seed: number, device: Device = 'cpu', channels = 4) {
    super();
    this.conv = this.addModule('conv', new Conv2d(3, channels, 3, { padding: 1, device, random: new Random(seed) }));
    this.bn = this.addModule('bn', new FrozenBatchNorm2d(channels, { device }));
  }
  forward(x: Tensor): Tensor {
    return this.bn.forward(this.conv.forward(x));
  }
}

class Net extends Module {
  readonly scale: Scale;
  readonly body: ModuleList<Block>;
  constructor(seed: number, device: Device = 'cpu', channels = 4) {
    super();
    this.scale = this.addModule('scale', new Scale(2, { device }));
    this.body = this.addModule('body', new ModuleList([new Block(seed, device, channels), new Block(seed + 1, device, channels)]));
  }
}

describe('Module bookkeeping', () => {
  test('names are dotted paths in PyTorch order: own parameters, own buffers, then children', () => {
    const net = new Net(1);
    expect([...net.stateDict().keys()]).toEqual([
      'scale.scale',
      'body.0.conv.weight', 'body.0.conv.bias',
      'body.0.bn.weight', 'body.0.bn.bias', 'body.0.bn.running_mean', 'body.0.bn.running_var',
      'body.1.conv.weight', 'body.1.conv.bias',
      'body.1.bn.weight', 'body.1.bn.bias', 'body.1.bn.running_mean', 'body.1.bn.running_var',
    ]);
    expect([...net.namedBuffers()].map(([n]) => n)).toEqual(['body.0.bn.running_mean', 'body.0.bn.running_var', 'body.1.bn.running_mean', 'body.1.bn.running_var']);
    expect(net.stateDict().get('body.1.conv.weight')!.shape).toEqual([4, 3, 3, 3]);
    expect(net.stateDict().get('scale.scale')!.shape).toEqual([]);
    net.dispose();
  });

  test('groups, frozen flags, counts and the optimizer\'s view', () => {
    const net = new Net(1);
    const byName = new Map(net.namedParameters());
    expect(byName.get('body.0.conv.weight')!.group).toBe('weight');
    expect(byName.get('body.0.conv.bias')!.group).toBe('bias');
    expect(byName.get('body.0.bn.weight')!.group).toBe('norm');
    expect(byName.get('scale.scale')!.group).toBe('weight');
    // BN affines are frozen parameters: counted, never trained.
    expect(byName.get('body.0.bn.weight')!.frozen).toBe(true);
    expect(byName.get('body.0.bn.weight')!.tensor.requiresGrad).toBe(false);
    const conv = 4 * 3 * 9 + 4;
    expect(net.parameterCount()).toEqual({ parameters: 1 + 2 * (conv + 8), trainable: 1 + 2 * conv, buffers: 2 * 8 });
    expect(net.trainableParameters().map((p) => p.name)).toEqual(['scale.scale', 'body.0.conv.weight', 'body.0.conv.bias', 'body.1.conv.weight', 'body.1.conv.bias']);
    net.body.at(0).freeze();
    expect(net.parameterCount().trainable).toBe(1 + conv);
    expect(byName.get('body.0.conv.weight')!.tensor.requiresGrad).toBe(false);
    net.dispose();
  });

  test('train/eval reaches every submodule', () => {
    const net = new Net(1);
    net.eval();
    expect([...net.namedModules()].every(([, m]) => !m.training)).toBe(true);
    net.train();
    expect([...net.namedModules()].every(([, m]) => m.training)).toBe(true);
    net.dispose();
  });

  test('freezing a parameter drops the gradient it holds', () => {
    // An optimizer built before a freeze must not step on a gradient left from before it.
    const net = new Net(1);
    const weight = new Map(net.namedParameters()).get('body.0.conv.weight')!;
    weight.tensor.grad = tensor(new Float32Array(weight.tensor.size), weight.shape);
    expect(weight.grad).not.toBeNull();
    net.body.at(0).freeze();
    expect(weight.grad).toBeNull();
    net.dispose();
  });

  test('registration errors name the module and the name', () => {
    class Bad extends Module {
      constructor(name: string) {
        super();
        this.addModule('a', new Scale());
        this.addModule(name, new Scale());
      }
    }
    expect(() => new Bad('a')).toThrow(/Bad: the name 'a' is already registered/);
    expect(() => new Bad('b.c')).toThrow(/Bad: invalid name 'b.c'/);
  });
});

describe('state dicts and devices', () => {
  test('a loaded module holds the checkpoint\'s values; its tensors keep their identity', async () => {
    const a = new Net(1);
    const b = new Net(2);
    const weight = b.body.at(0).conv.weight.tensor;
    const result = await b.loadStateDict(a.stateDict());
    expect(result).toEqual({ missing: [], unexpected: [] });
    expect(b.body.at(0).conv.weight.tensor).toBe(weight);
    for (const [k, t] of a.stateDict()) expect(Array.from(b.stateDict().get(k)!.toArraySync()), k).toEqual(Array.from(t.toArraySync()));
    // The copy is independent of the source.
    a.dispose();
    expect(b.body.at(0).conv.weight.tensor.toArraySync().length).toBe(108);
    b.dispose();
  });

  test('a plain-object checkpoint in float64 loads into a float32 model; num_batches_tracked is accepted', async () => {
    const a = new Net(1);
    const state: Record<string, Tensor> = {};
    for (const [k, t] of a.stateDict()) state[k] = tensor(Float64Array.from(t.toArraySync()), t.shape, { dtype: 'float64' });
    state['body.0.bn.num_batches_tracked'] = tensor([0], { dtype: 'int32' });
    const b = new Net(2);
    await b.loadStateDict(state);
    expect(b.body.at(1).conv.weight.tensor.dtype).toBe('float32');
    // The values are converted, not only relabelled: a float64 buffer under a float32 tensor computes in float64 on the CPU.
    expect(b.body.at(1).conv.weight.tensor.toArraySync()).toBeInstanceOf(Float32Array);
    expect(Array.from(b.body.at(1).conv.weight.tensor.toArraySync())).toEqual(Array.from(a.body.at(1).conv.weight.tensor.toArraySync()));
    dispose(state);
    a.dispose();
    b.dispose();
  });

  test('state that is not a map of tensors is named, not a TypeError from comparing shapes', async () => {
    const conv = new Conv2d(3, 4, 1);
    await expect(conv.loadStateDict({ weight: new Float32Array(12), bias: 2 } as unknown as Record<string, Tensor>)).rejects.toThrow(
      "loadStateDict (Conv2d): not tensors: 'weight' (Float32Array), 'bias' (Number)",
    );
    await expect(conv.loadStateDict(null as unknown as Record<string, Tensor>)).rejects.toThrow('loadStateDict (Conv2d): expected a Map or record of tensors, got null');
    conv.dispose();
  });

  test('Conv2d refuses channel and group counts that are not positive integers when built, not at the first forward', () => {
    // 0 input channels made an infinite init bound, −1 a typed-array RangeError, groups 1.5 a weight of 2 channels per group.
    expect(() => new Conv2d(0, 4, 3)).toThrow('Conv2d: inChannels must be a positive integer, got 0');
    expect(() => new Conv2d(3, -1, 3)).toThrow('Conv2d: outChannels must be a positive integer, got -1');
    expect(() => new Conv2d(3, 3, 3, { groups: 1.5 })).toThrow('Conv2d: groups must be a positive integer, got 1.5');
  });

  test('DeformConv2d checks its counts as Conv2d does', () => {
    expect(() => new DeformConv2d(0, 4, 3)).toThrow('DeformConv2d: inChannels must be a positive integer, got 0');
    expect(() => new DeformConv2d(3, -1, 3)).toThrow('DeformConv2d: outChannels must be a positive integer, got -1');
    expect(() => new DeformConv2d(4, 4, 3, { deformGroups: 0 })).toThrow('DeformConv2d: deformGroups must be a positive integer, got 0');
  });

  test('FrozenBatchNorm2d refuses a NaN or negative eps, which made every output NaN', () => {
    expect(() => new FrozenBatchNorm2d(4, { eps: Number.NaN })).toThrow('FrozenBatchNorm2d: eps must be a finite number ≥ 0, got NaN');
    expect(() => new FrozenBatchNorm2d(4, { eps: -1 })).toThrow('FrozenBatchNorm2d: eps must be a finite number ≥ 0, got -1');
  });

  test('missing, unexpected and mis-shaped keys are errors naming the keys and shapes; a failed load changes nothing', async () => {
    const net = new Net(1);
    const before = Array.from(net.body.at(0).conv.weight.tensor.toArraySync());
    const other = new Net(3, 'cpu', 5);
    await expect(net.loadStateDict(other.stateDict())).rejects.toThrow(
      "shape mismatch for 'body.0.conv.weight': checkpoint has [5, 3, 3, 3], model has [4, 3, 3, 3]",
    );
    expect(Array.from(net.body.at(0).conv.weight.tensor.toArraySync())).toEqual(before);

    const state = new Map(new Net(2).stateDict());
    state.delete('body.1.bn.running_var');
    state.set('fc.weight', tensor([1, 2]));
    await expect(net.loadStateDict(state)).rejects.toThrow(/1 missing key\(s\): body\.1\.bn\.running_var; 1 unexpected key\(s\): fc\.weight/);
    expect(Array.from(net.body.at(0).conv.weight.tensor.toArraySync())).toEqual(before);
    // Non-strict loads what matches and reports the rest.
    const result = await net.loadStateDict(state, { strict: false });
    expect(result).toEqual({ missing: ['body.1.bn.running_var'], unexpected: ['fc.weight'] });
    expect(Array.from(net.body.at(0).conv.weight.tensor.toArraySync())).toEqual(Array.from(state.get('body.0.conv.weight')!.toArraySync()));
    net.dispose();
    other.dispose();
  });

  test('shape mismatches past the third are counted: with four, one more', async () => {
    const net = new Net(1);
    const shaped = [...net.stateDict()].filter(([, t]) => t.size > 1).map(([k]) => k);
    const withWrong = (n: number) => new Map([...net.stateDict()].map(([k, t]) => [k, shaped.slice(0, n).includes(k) ? tensor([0]) : t]));
    await expect(net.loadStateDict(withWrong(4))).rejects.toThrow(/, model has \[[\d, ]+\]; 1 more shape mismatches$/);
    const three = await net.loadStateDict(withWrong(3)).catch((e: Error) => e.message);
    expect(three).toMatch(/, model has \[[\d, ]+\]$/);
    net.dispose();
  });

  test('to(webgpu) and back keeps values, flags and gradients off frozen tensors', async () => {
    const net = new Net(4);
    const values = new Map([...net.stateDict()].map(([k, t]) => [k, Array.from(t.toArraySync())]));
    await net.to('webgpu');
    expect(net.device).toBe('webgpu');
    for (const [k, t] of net.stateDict()) expect(t.device, k).toBe('webgpu');
    expect(net.body.at(0).conv.weight.tensor.requiresGrad).toBe(true);
    expect(net.body.at(0).bn.weight.tensor.requiresGrad).toBe(false);
    await net.to('cpu');
    for (const [k, t] of net.stateDict()) expect(Array.from(t.toArraySync()), k).toEqual(values.get(k));
    net.dispose();
  });

  test('dispose frees every tensor', () => {
    const net = new Net(1);
    const tensors = [...net.stateDict().values()];
    net.dispose();
    expect(tensors.every((t) => t.disposed)).toBe(true);
  });
});

// Layers against formulas. float64 CPU: rounding only (1e-12); webgpu float32: 1e-5 on O(1) values.
const DEVICES = [
  { device: 'cpu', dtype: 'float64', tol: { atol: 1e-12, rtol: 1e-12 } },
  { device: 'webgpu', dtype: 'float32', tol: { atol: 1e-5, rtol: 1e-5 } },
] as const;

describe('layers', () => {
  for (const { device, dtype, tol } of DEVICES) {
    test(`FrozenBatchNorm2d is (x − mean)/√(var + eps)·w + b, with no gradient to its tensors, on ${device}`, async () => {
      const c = 3;
      const bn = new FrozenBatchNorm2d(c, { device, dtype, eps: 1e-3 });
      const checkpoint = {
        weight: tensor([1.5, -0.5, 2], { dtype }),
        bias: tensor([0.1, 0.2, -0.3], { dtype }),
        running_mean: tensor([1, -2, 0.5], { dtype }),
        running_var: tensor([4, 0.25, 1], { dtype }),
      };
      await bn.loadStateDict(checkpoint);
      const random = new Random(5);
      const xs = Float64Array.from({ length: 2 * c * 4 }, () => random.normal());
      const x = tensor(xs, [2, c, 2, 2], { device, dtype, requiresGrad: true });
      const y = bn.forward(x);
      const w = [1.5, -0.5, 2], b = [0.1, 0.2, -0.3], m = [1, -2, 0.5], v = [4, 0.25, 1];
      const expected = Array.from(xs, (xi, i) => {
        const ch = Math.floor(i / 4) % c;
        return ((xi - m[ch]) / Math.sqrt(v[ch] + 1e-3)) * w[ch] + b[ch];
      });
      expectClose(await y.toArray(), expected, tol, 'y');
      sum(y).backward();
      expectClose(await x.grad!.toArray(), Array.from(xs, (_, i) => w[Math.floor(i / 4) % c] / Math.sqrt(v[Math.floor(i / 4) % c] + 1e-3)), tol, 'dx');
      expect([bn.weight.grad, bn.bias.grad]).toEqual([null, null]);
      dispose([x, y, x.grad, checkpoint]);
      bn.dispose();
    });
  }

  test('FrozenBatchNorm2d computes its affine once, and again after a load', async () => {
    const bn = new FrozenBatchNorm2d(2);
    const x = tensor([1, 2, 3, 4], [1, 2, 1, 2]);
    expect(Array.from(bn.forward(x).toArraySync())).toEqual(Array.from(Float32Array.from([1, 2, 3, 4].map((v) => v / Math.sqrt(1 + 1e-5)))));
    const cached = (bn as unknown as { cache: { scale: Tensor } }).cache.scale;
    bn.forward(x);
    expect((bn as unknown as { cache: { scale: Tensor } }).cache.scale).toBe(cached);
    await bn.loadStateDict({ weight: tensor([2, 2]), bias: tensor([1, 1]), running_mean: tensor([0, 0]), running_var: tensor([1, 1]) }, {});
    const y = bn.forward(x).toArraySync();
    expectClose(y, [1, 2, 3, 4].map((v) => (2 * v) / Math.sqrt(1 + 1e-5) + 1), { atol: 1e-6, rtol: 1e-6 }, 'after load');
    expect(cached.disposed).toBe(true);
    bn.dispose();
  });

  for (const trainAffine of [false, true]) {
    test(`a ${trainAffine ? 'trained-affine' : 'frozen'} BN folded into its conv (convNorm) is the conv then the BN: values and every gradient, float64`, async () => {
      const random = new Random(trainAffine ? 12 : 11);
      const opts = { dtype: 'float64' as const, random };
      const conv = new Conv2d(3, 4, 3, { stride: 2, padding: 1, bias: trainAffine, ...opts });
      const bn = new FrozenBatchNorm2d(4, { ...opts, trainAffine });
      const values = (n: number, lo: number) => Float64Array.from({ length: n }, () => lo + random.uniform(0, 1));
      await bn.loadStateDict({
        weight: tensor(values(4, 0.5), { dtype: 'float64' }),
        bias: tensor(values(4, -0.5), { dtype: 'float64' }),
        running_mean: tensor(values(4, -0.5), { dtype: 'float64' }),
        running_var: tensor(values(4, 0.2), { dtype: 'float64' }),
      });
      const x = tensor(values(2 * 3 * 7 * 7, -1), [2, 3, 7, 7], { dtype: 'float64', requiresGrad: true });
      const r = tensor(values(2 * 4 * 4 * 4, -1), [2, 4, 4, 4], { dtype: 'float64' });
      const leaves = [x, conv.weight.tensor, ...(conv.bias ? [conv.bias.tensor] : []), ...(trainAffine ? [bn.weight.tensor, bn.bias.tensor] : [])];
      const run = async (y: Tensor) => {
        for (const t of leaves) t.grad = null;
        sum(mul(y, r)).backward();
        return { y: y.toArraySync(), grads: leaves.map((t) => t.grad!.toArraySync()) };
      };
      const unfolded = await run(bn.forward(conv.forward(x)));
      const folded = await run(convNorm(conv, bn, x));
      expectClose(folded.y, unfolded.y, { atol: 1e-12, rtol: 1e-12 }, 'y');
      folded.grads.forEach((g, i) => expectClose(g, unfolded.grads[i]!, { atol: 1e-12, rtol: 1e-12 }, `grad ${i}`));
      expect(() => convNorm(conv, new FrozenBatchNorm2d(5), x)).toThrow(/convNorm: a conv with 4 outputs cannot feed a BN of 5 channels/);
      conv.dispose();
      bn.dispose();
    });
  }

  test('Conv2d and GroupNorm wire their tensors to the ops; bad channel counts are errors', () => {
    const conv = new Conv2d(4, 6, [3, 1], { stride: 2, padding: [1, 0], groups: 2, ...seeded(1) });
    expect(conv.weight.shape).toEqual([6, 2, 3, 1]);
    const x = initTensor([1, 4, 5, 5], normal(1), seeded(2));
    const direct = conv2d(x, conv.weight.tensor, conv.bias!.tensor, { stride: 2, padding: [1, 0], groups: 2 });
    expect(Array.from(conv.forward(x).toArraySync())).toEqual(Array.from(direct.toArraySync()));
    expect(() => new Conv2d(4, 6, 3, { groups: 4 })).toThrow(/Conv2d: 4 input and 6 output channels must both divide into 4 groups/);
    const gn = new GroupNorm(2, 4);
    expect([gn.weight.shape, gn.bias.shape, gn.weight.group]).toEqual([[4], [4], 'norm']);
    expect(() => new GroupNorm(3, 4)).toThrow(/GroupNorm: 4 channels do not divide into 3 groups/);
    conv.dispose();
    gn.dispose();
  });

  test('Scale multiplies by a trained scalar; ConvModule is conv → GN → ReLU with a bias only without GN', () => {
    const s = new Scale(3);
    const x = tensor([1, -2], { requiresGrad: true });
    const y = s.forward(x);
    expect(Array.from(y.toArraySync())).toEqual([3, -6]);
    sum(y).backward();
    expect(Array.from(s.scale.grad!.toArraySync())).toEqual([-1]);
    const withGn = new ConvModule(4, 8, 3, { gnGroups: 4, relu: true });
    expect([...withGn.stateDict().keys()]).toEqual(['conv.weight', 'gn.weight', 'gn.bias']);
    const plain = new ConvModule(4, 8, 1, { relu: true });
    expect([...plain.stateDict().keys()]).toEqual(['conv.weight', 'conv.bias']);
    const out = plain.forward(initTensor([1, 4, 3, 3], normal(1), seeded(3))).toArraySync();
    expect(Math.min(...out)).toBeGreaterThanOrEqual(0);
    s.dispose();
    withGn.dispose();
    plain.dispose();
  });

  test('DeformConv2d checks the offset channels against its groups', () => {
    const dcn = new DeformConv2d(8, 4, 3, { padding: 1, deformGroups: 2, bias: false });
    expect(dcn.offsetChannels).toBe(36);
    expect([...dcn.stateDict().keys()]).toEqual(['weight']);
    const x = initTensor([1, 8, 4, 4], normal(1), seeded(1));
    expect(() => dcn.forward(x, initTensor([1, 18, 4, 4], normal(1), seeded(2)))).toThrow(
      /DeformConv2d: offset \[1, 18, 4, 4\] should have 36 channels \(2 × 3×3 taps × 2 groups\)/,
    );
    expect(dcn.forward(x, initTensor([1, 36, 4, 4], normal(1), seeded(2))).shape).toEqual([1, 4, 4, 4]);
    expect(() => new DeformConv2d(6, 4, 3, { deformGroups: 4 })).toThrow(/6 input channels do not divide into 4 deformable groups/);
    dcn.dispose();
  });
});

/** Conv/BN parameter elements of a torchvision ResNet without fc, from the architecture. */
function resnetParameterCount(depth: ResNetDepth): { params: number; bnChannels: number } {
  const bottleneck = depth >= 50;
  const layers = { 18: [2, 2, 2, 2], 34: [3, 4, 6, 3], 50: [3, 4, 6, 3], 101: [3, 4, 23, 3] }[depth];
  let convs = 3 * 64 * 49;
  let bnChannels = 64;
  let inplanes = 64;
  layers.forEach((blocks, stage) => {
    const planes = 64 * 2 ** stage;
    const out = bottleneck ? 4 * planes : planes;
    for (let b = 0; b < blocks; b++) {
      convs += bottleneck ? inplanes * planes + 9 * planes * planes + planes * out : 9 * inplanes * planes + 9 * planes * planes;
      bnChannels += bottleneck ? 2 * planes + out : 2 * planes;
      if (b === 0 && (stage > 0 || inplanes !== out)) {
        convs += inplanes * out;
        bnChannels += out;
      }
      inplanes = out;
    }
  });
  return { params: convs + 2 * bnChannels, bnChannels };
}

describe('ResNet', () => {
  test('the first-principles counts match torchvision\'s published totals minus fc', () => {
    // torchvision: resnet18 11,689,512 and resnet50 25,557,032 parameters, fc = 512·1000+1000 and 2048·1000+1000.
    expect(resnetParameterCount(18).params).toBe(11_689_512 - 513_000);
    expect(resnetParameterCount(50).params).toBe(25_557_032 - 2_049_000);
    expect(resnetParameterCount(50).params).toBe(23_508_032);
  });

  const cases = [
    {
      depth: 18 as const,
      keys: 100, // 20 convs + 20 BNs × 4 (torchvision's 122 less fc and num_batches_tracked)
      present: ['conv1.weight', 'bn1.running_mean', 'layer1.0.conv1.weight', 'layer1.1.bn2.bias', 'layer2.0.downsample.0.weight',
        'layer2.0.downsample.1.running_var', 'layer3.1.conv2.weight', 'layer4.1.bn2.running_var'],
      absent: ['layer1.0.downsample.0.weight', 'layer1.0.conv3.weight', 'fc.weight'],
      shapes: { 'conv1.weight': [64, 3, 7, 7], 'layer2.0.conv1.weight': [128, 64, 3, 3], 'layer4.0.downsample.0.weight': [512, 256, 1, 1] },
    },
    {
      depth: 50 as const,
      keys: 265, // 53 convs + 53 BNs × 4 (torchvision's 320 less fc and num_batches_tracked)
      present: ['conv1.weight', 'bn1.weight', 'layer1.0.conv1.weight', 'layer1.0.downsample.0.weight', 'layer2.0.downsample.1.weight',
        'layer3.5.conv3.weight', 'layer4.2.bn3.running_var', 'layer4.2.bn3.running_mean'],
      absent: ['layer1.1.downsample.0.weight', 'layer4.3.conv1.weight', 'fc.bias'],
      shapes: { 'layer1.0.conv3.weight': [256, 64, 1, 1], 'layer3.0.conv2.weight': [256, 256, 3, 3], 'layer4.2.bn3.running_var': [2048] },
    },
  ];
  for (const c of cases) {
    test(`ResNet-${c.depth} has torchvision's keys, shapes and parameter count`, () => {
      const net = new ResNet({ depth: c.depth, ...seeded(1) });
      const state = net.stateDict();
      expect(state.size).toBe(c.keys);
      for (const k of c.present) expect(state.has(k), k).toBe(true);
      for (const k of c.absent) expect(state.has(k), k).toBe(false);
      for (const [k, shape] of Object.entries(c.shapes)) expect(state.get(k)!.shape, k).toEqual(shape);
      const { params, bnChannels } = resnetParameterCount(c.depth);
      expect(net.parameterCount()).toEqual({ parameters: params, trainable: params - 2 * bnChannels, buffers: 2 * bnChannels });
      expect(net.outChannels).toEqual(c.depth === 18 ? [128, 256, 512] : [512, 1024, 2048]);
      net.dispose();
    });
  }

  test('caffe style strides the first 1×1 of a downsampling bottleneck, pytorch style the 3×3', () => {
    const stride = (net: ResNet, name: string) => (new Map(net.namedModules()).get(name) as Conv2d).stride;
    const layers = [1, 1, 1, 1] as const;
    const caffe = new ResNet({ depth: 50, layers, baseChannels: 8, style: 'caffe' });
    const pytorch = new ResNet({ depth: 50, layers, baseChannels: 8, style: 'pytorch' });
    expect([stride(caffe, 'layer2.0.conv1'), stride(caffe, 'layer2.0.conv2')]).toEqual([[2, 2], [1, 1]]);
    expect([stride(pytorch, 'layer2.0.conv1'), stride(pytorch, 'layer2.0.conv2')]).toEqual([[1, 1], [2, 2]]);
    expect(stride(caffe, 'layer2.0.downsample.0')).toEqual([2, 2]);
    caffe.dispose();
    pytorch.dispose();
  });

  for (const device of ['cpu', 'webgpu'] as const) {
    test(`outputs C3–C5 at strides 8/16/32; frozen stages get no gradient (${device})`, async () => {
      const net = new ResNet({ depth: 18, layers: [1, 1, 1, 1], baseChannels: 8, frozenStages: 1, device, ...seeded(3) });
      const x = initTensor([2, 3, 64, 96], normal(1), { device, ...seeded(4) });
      const [c3, c4, c5] = net.forward(x);
      expect([c3.shape, c4.shape, c5.shape]).toEqual([[2, 16, 8, 12], [2, 32, 4, 6], [2, 64, 2, 3]]);
      sum(add(add(sum(c3), sum(c4)), sum(c5))).backward();
      for (const [name, p] of net.namedParameters()) {
        const frozenStage = name.startsWith('conv1.') || name.startsWith('layer1.') || p.group === 'norm';
        expect(p.frozen, name).toBe(frozenStage);
        if (frozenStage) expect(p.grad, name).toBeNull();
        else expect(stats(await p.grad!.toArray()).maxAbs, name).toBeGreaterThan(0);
      }
      dispose([x, c3, c4, c5]);
      net.dispose();
    });
  }

  test("frozen stages freeze the stem's norm too, whichever norm it is (mmdet's norm1)", () => {
    for (const norm of ['affine-bn', 'group'] as const) {
      const net = new ResNet({ depth: 18, layers: [1, 1, 1, 1], baseChannels: 8, frozenStages: 0, norm, ...seeded(3) });
      const stem = [...net.namedParameters()].filter(([name]) => name.startsWith('bn1.') || name.startsWith('conv1.'));
      expect(stem.length, norm).toBeGreaterThan(1);
      for (const [name, p] of stem) expect(p.frozen, `${norm}: ${name}`).toBe(true);
      expect([...net.namedParameters()].some(([name, p]) => name.startsWith('layer1.') && !p.frozen), norm).toBe(true);
      net.dispose();
    }
  });

  test('bad options are errors', () => {
    expect(() => new ResNet({ depth: 20 as ResNetDepth })).toThrow(/ResNet: depth must be one of 18, 34, 50, 101, got 20/);
    expect(() => new ResNet({ depth: 18, layers: [1, 0, 1, 1] })).toThrow(/layers must be 4 positive block counts/);
    expect(() => new ResNet({ depth: 18, frozenStages: 5 })).toThrow(/frozenStages must be an integer in \[−1, 4\], got 5/);
  });
});

// A direct float64 re-implementation of reference 1.2, with its own convolution, to check the neck's wiring.
type Map3 = { c: number; h: number; w: number; data: Float64Array };

function refConv(x: Map3, weight: Float64Array, bias: Float64Array, cout: number, k: number, stride: number): Map3 {
  const pad = (k - 1) / 2;
  const h = Math.floor((x.h + 2 * pad - k) / stride) + 1;
  const w = Math.floor((x.w + 2 * pad - k) / stride) + 1;
  const data = new Float64Array(cout * h * w);
  for (let o = 0; o < cout; o++) {
    for (let i = 0; i < h; i++) {
      for (let j = 0; j < w; j++) {
        let s = bias[o];
        for (let c = 0; c < x.c; c++) {
          for (let a = 0; a < k; a++) {
            for (let b = 0; b < k; b++) {
              const y = i * stride - pad + a;
              const z = j * stride - pad + b;
              if (y >= 0 && y < x.h && z >= 0 && z < x.w) s += weight[((o * x.c + c) * k + a) * k + b] * x.data[(c * x.h + y) * x.w + z];
            }
          }
        }
        data[(o * h + i) * w + j] = s;
      }
    }
  }
  return { c: cout, h, w, data };
}

const refAdd = (a: Map3, b: Map3): Map3 => ({ ...a, data: a.data.map((v, i) => v + b.data[i]) });
const refRelu = (a: Map3): Map3 => ({ ...a, data: a.data.map((v) => Math.max(v, 0)) });
const refUp = (a: Map3): Map3 => {
  const data = new Float64Array(a.c * 4 * a.h * a.w);
  for (let c = 0; c < a.c; c++) for (let i = 0; i < 2 * a.h; i++) for (let j = 0; j < 2 * a.w; j++) {
    data[(c * 2 * a.h + i) * 2 * a.w + j] = a.data[(c * a.h + (i >> 1)) * a.w + (j >> 1)];
  }
  return { c: a.c, h: 2 * a.h, w: 2 * a.w, data };
};

describe('FPN and PAFPN', () => {
  test('PAFPN keys follow mmdet; every conv is Xavier-uniform with bias 0', () => {
    const neck = new Fpn({ inChannels: [512, 1024, 2048], numOuts: 5, pathAggregation: true, relu: true, ...seeded(1) });
    const state = neck.stateDict();
    const keys = [...state.keys()];
    expect(keys.length).toBe(2 * (3 + 5 + 2 + 2));
    for (const k of ['lateral_convs.2.conv.weight', 'fpn_convs.0.conv.bias', 'fpn_convs.4.conv.weight', 'downsample_convs.1.conv.weight', 'pafpn_convs.1.conv.bias']) {
      expect(keys, k).toContain(k);
    }
    expect(state.get('lateral_convs.2.conv.weight')!.shape).toEqual([256, 2048, 1, 1]);
    const bound = Math.sqrt(6 / (2048 + 256));
    expect(stats(state.get('lateral_convs.2.conv.weight')!.toArraySync()).maxAbs).toBeLessThanOrEqual(bound);
    for (const [k, t] of state) if (k.endsWith('bias')) expect(stats(t.toArraySync()).maxAbs, k).toBe(0);
    neck.dispose();
  });

  for (const pathAggregation of [false, true]) {
    test(`${pathAggregation ? 'PAFPN (ReLU after every conv)' : 'FPN (no activation)'} matches reference 1.2 step by step`, async () => {
      const inChannels = [3, 4, 5];
      const width = 2;
      const neck = new Fpn({ inChannels, outChannels: width, numOuts: 5, pathAggregation, relu: pathAggregation, dtype: 'float64', ...seeded(2) });
      // Random biases, so that the ReLUs and the order of additions matter.
      const rand = new Random(9);
      const params = new Map<string, Float64Array>();
      for (const [k, t] of neck.stateDict()) {
        params.set(k, k.endsWith('bias') ? Float64Array.from({ length: t.size }, () => rand.normal()) : Float64Array.from(t.toArraySync()));
      }
      const checkpoint = new Map([...neck.stateDict()].map(([k, t]) => [k, tensor(params.get(k)!, t.shape, { dtype: 'float64' })]));
      await neck.loadStateDict(checkpoint);
      dispose([...checkpoint.values()]);
      const sizes = [[8, 12], [4, 6], [2, 3]];
      const inputs = inChannels.map((c, i) => initTensor([1, c, ...sizes[i]], normal(1), { dtype: 'float64', ...seeded(10 + i) }));
      const outs = neck.forward(inputs);

      const act = pathAggregation ? refRelu : (m: Map3) => m;
      const conv = (name: string, x: Map3, k: number, stride = 1) =>
        act(refConv(x, params.get(`${name}.conv.weight`)!, params.get(`${name}.conv.bias`)!, width, k, stride));
      const xs: Map3[] = inputs.map((t, i) => ({ c: inChannels[i], h: sizes[i][0], w: sizes[i][1], data: Float64Array.from(t.toArraySync()) }));
      const lat = xs.map((x, i) => conv(`lateral_convs.${i}`, x, 1));
      lat[1] = refAdd(lat[1], refUp(lat[2]));
      lat[0] = refAdd(lat[0], refUp(lat[1]));
      const inter = lat.map((l, i) => conv(`fpn_convs.${i}`, l, 3));
      let p: Map3[];
      if (pathAggregation) {
        inter[1] = refAdd(inter[1], conv('downsample_convs.0', inter[0], 3, 2));
        inter[2] = refAdd(inter[2], conv('downsample_convs.1', inter[1], 3, 2));
        p = [inter[0], conv('pafpn_convs.0', inter[1], 3), conv('pafpn_convs.1', inter[2], 3)];
      } else {
        p = inter;
      }
      p.push(conv('fpn_convs.3', p[2], 3, 2));
      p.push(conv('fpn_convs.4', refRelu(p[3]), 3, 2));

      expect(outs.map((o) => o.shape)).toEqual([[1, 2, 8, 12], [1, 2, 4, 6], [1, 2, 2, 3], [1, 2, 1, 2], [1, 2, 1, 1]]);
      outs.forEach((o, i) => expectClose(o.toArraySync(), p[i].data, { atol: 1e-12, rtol: 1e-12 }, `P${i + 3}`));
      dispose([inputs, outs]);
      neck.dispose();
    });
  }

  test('fewer output levels, and mismatched level sizes are errors', () => {
    const neck = new Fpn({ inChannels: [4, 8, 16], outChannels: 8, numOuts: 3, pathAggregation: true, relu: true });
    expect([...neck.stateDict().keys()].filter((k) => k.startsWith('fpn_convs')).length).toBe(6);
    const good = [[8, 8], [4, 4], [2, 2]].map(([h, w], i) => initTensor([1, 4 * 2 ** i, h, w], normal(1)));
    expect(neck.forward(good).map((o) => o.shape)).toEqual([[1, 8, 8, 8], [1, 8, 4, 4], [1, 8, 2, 2]]);
    const bad = [[6, 6], [3, 3], [2, 2]].map(([h, w], i) => initTensor([1, 4 * 2 ** i, h, w], normal(1)));
    expect(() => neck.forward(bad)).toThrow(/Fpn: input level 2 is \[1, 8, 2, 2\] and level 1 is \[1, 8, 3, 3\]/);
    // Heights that halve but widths that do not are as wrong (a crop padded in one direction only).
    const narrow = [[8, 6], [4, 4], [2, 2]].map(([h, w], i) => initTensor([1, 4 * 2 ** i, h, w], normal(1)));
    expect(() => neck.forward(narrow)).toThrow(/Fpn: input level 1 is \[1, 8, 4, 4\] and level 0 is \[1, 8, 8, 6\]/);
    expect(() => new Fpn({ inChannels: [4, 8, 16], numOuts: 2 })).toThrow(/numOuts \(2\) must be at least the number of input levels \(3\)/);
    // Without numOuts, mmdet's P3–P7 from C3–C5: two stride-2 extras.
    const defaults = new Fpn({ inChannels: [4, 8, 16], outChannels: 8 });
    expect(defaults.numOuts).toBe(5);
    expect([...defaults.stateDict().keys()].filter((k) => k.startsWith('fpn_convs') && k.endsWith('weight'))).toHaveLength(5);
    defaults.dispose();
    dispose([good, bad, narrow]);
    neck.dispose();
  });
});
