// HRNetV2 and HRFPN against a PyTorch rendering of mmdetection's code (test/fixtures/hrnet_reference.py, which
// says how the fixtures were made): HRNet-W32's state-dict keys, shapes and parameter counts; the outputs of a
// narrow HRNet + HRFPN with the fixture's weights on both devices; the stage shapes; BN with frozen statistics
// and a trained affine (gradcheck); errors.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { Random, dispose, mul, sum, tensor, type Device, type Tensor } from '../src/index.js';
import { loadSafetensors } from '../src/io/safetensors.js';
import { HrFpn } from '../src/nn/hrfpn.js';
import { HrNet } from '../src/nn/hrnet.js';
import { initTensor, normal } from '../src/nn/init.js';
import type { Module } from '../src/nn/module.js';
import { FrozenBatchNorm2d } from '../src/nn/norm.js';
import { expectClose, gradcheck } from './util.js';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), 'fixtures');

interface KeyFixture {
  counts: Record<'backbone' | 'neck', { parameters: number; buffers: number; num_batches_tracked: number }>;
  keys: { key: string; shape: number[] }[];
}

const prefixed = (prefix: string, m: Module): [string, number[]][] => [...m.stateDict()].map(([k, t]) => [`${prefix}.${k}`, [...t.shape]]);

describe('HRNet-W32 + HRFPN (256, stride 2, 5 levels) has mmdetection\'s keys and counts', () => {
  test('every state-dict key and shape, in order; parameters and buffers per part', () => {
    const fixture = JSON.parse(readFileSync(join(FIXTURES, 'hrnet_w32_keys.json'), 'utf8')) as KeyFixture;
    const backbone = new HrNet({ widths: [32, 64, 128, 256], random: new Random(1) });
    const neck = new HrFpn({ inChannels: backbone.outChannels, outChannels: 256, numOuts: 5, stride: 2, random: new Random(2) });
    // mmdet's BN also saves num_batches_tracked, which loading skips (FrozenBatchNorm2d.ignoredStateKeys).
    const theirs = fixture.keys.filter((k) => !k.key.endsWith('num_batches_tracked')).map((k) => [k.key, k.shape]);
    expect([...prefixed('backbone', backbone), ...prefixed('neck', neck)]).toEqual(theirs);
    expect(fixture.counts.backbone.num_batches_tracked).toBe(305);
    for (const [name, m] of [['backbone', backbone], ['neck', neck]] as const) {
      const ours = m.parameterCount();
      expect({ parameters: ours.parameters, buffers: ours.buffers }, name).toEqual({ parameters: fixture.counts[name].parameters, buffers: fixture.counts[name].buffers });
      // The configs' BN: requires_grad=True, so every parameter trains (the statistics are buffers).
      expect(ours.trainable, name).toBe(ours.parameters);
    }
    expect(backbone.parameterCount().parameters).toBe(29_305_536);
    expect(neck.parameterCount().parameters).toBe(3_073_536);
    backbone.dispose();
    neck.dispose();
  });
});

describe('a narrow HRNet (4, 8, 16, 32) + HRFPN (16) with the fixture\'s weights gives PyTorch\'s outputs', () => {
  const file = loadSafetensors(join(FIXTURES, 'hrnet_tiny.safetensors'));
  const get = (key: string, device: Device): Tensor => {
    const t = file.tensors[key];
    return tensor(t.data, [...t.shape], { dtype: 'float32', device });
  };
  const part = (prefix: string) => new Map(Object.keys(file.tensors).filter((k) => k.startsWith(`${prefix}.`)).map((k) => [k.slice(prefix.length + 1), get(k, 'cpu')]));

  for (const device of ['cpu', 'webgpu'] as const) {
    test(`on ${device}: stage shapes, the four branches and the five levels`, async () => {
      const backbone = new HrNet({ widths: [4, 8, 16, 32], device });
      const neck = new HrFpn({ inChannels: backbone.outChannels, outChannels: 16, numOuts: 5, stride: 2, device });
      const [b, n] = [part('backbone'), part('neck')];
      await backbone.loadStateDict(b); // strict: every key present on both sides
      await neck.loadStateDict(n);
      dispose([...b.values(), ...n.values()]);
      const x = get('input', device);
      const branches = backbone.forward(x);
      expect(branches.map((t) => t.shape)).toEqual([[1, 4, 16, 16], [1, 8, 8, 8], [1, 16, 4, 4], [1, 32, 2, 2]]);
      const levels = neck.forward(branches);
      expect(levels.map((t) => t.shape)).toEqual([[1, 16, 8, 8], [1, 16, 4, 4], [1, 16, 2, 2], [1, 16, 1, 1], [1, 16, 1, 1]]);
      // Float32 through ~40 convs (sums of up to 2304 terms) on both sides, in different orders; values are O(1–10).
      const tol = { atol: 1e-4, rtol: 1e-4 };
      for (const [i, t] of branches.entries()) expectClose(await t.toArray(), file.tensors[`out.backbone.${i}`].data, tol, `branch ${i}`);
      for (const [i, t] of levels.entries()) expectClose(await t.toArray(), file.tensors[`out.neck.${i}`].data, tol, `level ${i}`);
      dispose([x, branches, levels]);
      backbone.dispose();
      neck.dispose();
    });
  }
});

describe('FrozenBatchNorm2d with a trained affine (the HRNet configs\' BN)', () => {
  test('weight and bias train, the statistics do not; float64 gradcheck of x, weight and bias', () => {
    const random = new Random(4);
    const bn = new FrozenBatchNorm2d(3, { dtype: 'float64', trainAffine: true, random });
    expect(bn.weight.frozen).toBe(false);
    expect(bn.trainableParameters().map((p) => p.name)).toEqual(['weight', 'bias']);
    const values = (n: number, lo: number) => Float64Array.from({ length: n }, () => lo + random.uniform(0, 1));
    bn.runningMean.tensor.assign(tensor(values(3, -0.5), [3], { dtype: 'float64' }));
    bn.runningVar.tensor.assign(tensor(values(3, 0.5), [3], { dtype: 'float64' }));
    bn.weight.tensor.assign(tensor(values(3, 0.5), [3], { dtype: 'float64' }));
    bn.bias.tensor.assign(tensor(values(3, -0.5), [3], { dtype: 'float64' }));
    const x = tensor(values(2 * 3 * 2 * 2, -1), [2, 3, 2, 2], { dtype: 'float64', requiresGrad: true });
    const r = tensor(values(24, -1), [2, 3, 2, 2], { dtype: 'float64' });
    gradcheck((x, w, b) => {
      void w;
      void b;
      return sum(mul(bn.forward(x), r));
    }, [x, bn.weight.tensor, bn.bias.tensor]);
    // y = (x − mean)/√(var + eps)·w + b, written out.
    const [m, v, w, b] = [bn.runningMean, bn.runningVar, bn.weight, bn.bias].map((s) => s.tensor.toArraySync());
    const y = bn.forward(x).toArraySync();
    const expected = Array.from(x.toArraySync(), (xi, i) => {
      const c = Math.floor(i / 4) % 3;
      return ((xi - m[c]) / Math.sqrt(v[c] + 1e-5)) * w[c] + b[c];
    });
    expectClose(y, expected, { atol: 1e-12, rtol: 1e-12 }, 'y');
    bn.dispose();
  });
});

describe('errors', () => {
  test('inputs the architecture cannot take', () => {
    const backbone = new HrNet({ widths: [2, 2, 2, 2] });
    const neck = new HrFpn({ inChannels: [2, 2, 2, 2], outChannels: 4, numOuts: 5, stride: 2 });
    expect(() => backbone.forward(initTensor([1, 3, 48, 64], normal(1)))).toThrow('HrNet: input [1, 3, 48, 64] should be [N, 3, H, W] with H and W multiples of 32');
    const small = backbone.forward(initTensor([1, 3, 32, 32], normal(1)));
    expect(() => neck.forward(small)).toThrow('HrFpn: level 4 pools the 8×8 map by 16: the input is too small for 5 levels');
    expect(() => neck.forward([small[0], small[2], small[2], small[3]])).toThrow("HrFpn: branch 1 is [1, 2, 2, 2], which upsampled by 2 does not match branch 0's 8×8");
    expect(() => new HrNet({ widths: [32, 64, 128] as unknown as [number, number, number, number] })).toThrow('HrNet: widths must be 4 positive integers, got [32, 64, 128]');
    dispose(small);
    backbone.dispose();
    neck.dispose();
  });
});
