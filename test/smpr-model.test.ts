// The SMPR network: presets and their level arithmetic, output shapes (tiny on both devices, r50 on the CPU,
// hrnet_w32 on webgpu), parameter names and counts against the authors' architecture, the head's initialisation,
// the detaches in the head (exact zeros where no gradient may flow), and gradients reaching every trainable
// parameter.
import { describe, expect, test } from 'vitest';
import { Random, add, dispose, mul, relu, sum, tensor, type Device, type Tensor } from '../src/index.js';
import { conv2d } from '../src/ops/conv2d.js';
import { deformConv2d } from '../src/ops/deform-conv2d.js';
import { groupNorm } from '../src/ops/group-norm.js';
import { initTensor, normal } from '../src/nn/init.js';
import type { Module } from '../src/nn/module.js';
import { ConvModule } from '../src/nn/conv-module.js';
import { PRESETS, levelShapes, smprConfig } from '../src/smpr/config.js';
import { HRFPN_LEVELS } from '../src/smpr/levels.js';
import { SmprHead, type HeadOutput } from '../src/smpr/head.js';
import { SmprModel, authorsR50PafpnParameters, parameterBreakdown, parameterReport } from '../src/smpr/model.js';
import { SPECIALISE_AFTER } from '../src/backend/program-cache.js';
import { expectClose } from './util.js';

const tiny = smprConfig('tiny');

function images(device: Device, n = 2, size = 128, seed = 11): Tensor {
  return initTensor([n, 3, size, size], normal(1), { device, random: new Random(seed) });
}

/** Every output tensor of a forward pass, heatmap included when present. */
function outputs(out: HeadOutput): Tensor[] {
  const levels = out.levels.flatMap((l) => [l.clsLogits, l.scoreLogits, l.initPose, l.refinePose]);
  return out.heatmapLogits ? [...levels, out.heatmapLogits] : levels;
}

const total = (ts: Tensor[]): Tensor => ts.map((t) => sum(t)).reduce((a, b) => add(a, b));

async function maxAbs(t: Tensor | null): Promise<number> {
  if (!t) return 0;
  return Array.from(await t.toArray()).reduce((m, v) => Math.max(m, Math.abs(v)), 0);
}

describe('configs', () => {
  test('presets validate, and the level sizes are ceil(input / stride)', () => {
    for (const name of Object.keys(PRESETS) as (keyof typeof PRESETS)[]) expect(() => smprConfig(name)).not.toThrow();
    expect(levelShapes(smprConfig('r50'), 800, 1216)).toEqual([[100, 152], [50, 76], [25, 38], [13, 19], [7, 10]]);
    expect(levelShapes(tiny, 128, 128)).toEqual([[16, 16], [8, 8], [4, 4]]);
    expect(tiny.levels.map((l) => l.stride)).toEqual([8, 16, 32]);
    expect(tiny.levels[2].range[1]).toBeGreaterThanOrEqual(1e8);
  });

  test('bad configs are errors naming the field', () => {
    expect(() => smprConfig('r50', { levels: PRESETS.r50.levels.slice(0, 2) })).toThrow(/SmprConfig 'r50': needs at least 3 levels/);
    expect(() => smprConfig('r50', { levels: [PRESETS.r50.levels[1], ...PRESETS.r50.levels.slice(1)] })).toThrow(/level 0 has stride 16/);
    expect(() => smprConfig('tiny', { inputSize: 100 })).toThrow(/inputSize 100 is not a multiple of 32/);
    // A typo was kept beside the real field and read by nothing: inputSize stayed 128.
    expect(() => smprConfig('tiny', { inputSiz: 64 } as object)).toThrow(/^smprConfig: unknown field 'inputSiz' \(a config has name, .*inputSize/);
    expect(() => smprConfig('tiny', { frozenStages: 7 })).toThrow(/frozenStages must be an integer in \[−1, 4\], got 7/);
    expect(() => smprConfig('tiny', { gnGroups: 5 })).toThrow(/SmprConfig 'tiny': gnGroups 5 must divide width 32/);
    expect(() => smprConfig('tiny', { gnGroups: 32 })).toThrow(/SmprConfig 'tiny': gnGroups 32 must divide .*heatmapChannels 16/);
    expect(() => smprConfig('tiny', { gradClip: -1 })).toThrow(/SmprConfig 'tiny': gradClip must be a number ≥ 0, got -1/);
    expect(() => smprConfig('tiny', { inputSize: 8192 })).toThrow(/SmprConfig 'tiny': inputSize 8192 is outside \[32, 4096\]/);
    expect(() => smprConfig('tiny', { levels: HRFPN_LEVELS.slice(0, 3) })).toThrow(/SmprConfig 'tiny': pooled \(HRFPN\) levels need the hrfpn neck/);
    const tiny = PRESETS.tiny.levels;
    const ranged = (...ranges: [number, number][]) => tiny.map((level, i) => ({ ...level, range: ranges[i]! }));
    expect(() => smprConfig('tiny', { levels: ranged([64, 1e8], [32, 64], [-1, 32]) })).toThrow(/SmprConfig 'tiny': level 1's range starts at 32, not where level 0's ends \(100000000\)/);
    expect(() => smprConfig('tiny', { levels: ranged([-1, 32], [40, 64], [64, 1e8]) })).toThrow(/SmprConfig 'tiny': level 1's range starts at 40, not where level 0's ends \(32\): the ranges must follow each other/);
    expect(() => smprConfig('tiny', { levels: ranged([-1, 32], [32, 32], [32, 1e8]) })).toThrow(/SmprConfig 'tiny': level 1's range must be \[low, high\] with low < high, got \[32,32\]/);
    expect(() => new SmprModel(smprConfig('tiny', { deformGroups: 3 }))).toThrow(/width 32 is not divisible by deformGroups 3/);
    // The bounds are inclusive: a 4096-px crop and frozen stage 4 (the whole ResNet) are allowed.
    expect(smprConfig('tiny', { inputSize: 4096 }).inputSize).toBe(4096);
    expect(smprConfig('tiny', { inputSize: 32 }).inputSize).toBe(32);
    expect(smprConfig('r50', { frozenStages: 4 }).frozenStages).toBe(4);
    // A group-norm backbone: a stage narrower than gnGroups takes one group per channel (GroupNorm(min(G, C), C)),
    // so 8 channels under 16 groups is fine, while 24 channels under 16 groups is not.
    expect(() => smprConfig('tiny', { gnGroups: 16, baseChannels: 8 })).not.toThrow();
    expect(() => smprConfig('tiny', { gnGroups: 16, baseChannels: 24 })).toThrow(/SmprConfig 'tiny': gnGroups 16 do not divide the backbone's 24 channels/);
    // ResNet-50's bottlenecks are 4× wider: 2·16 = 32 channels in layer4 (there only) do not split into 24 groups.
    expect(() => smprConfig('r50', { backboneNorm: 'group', baseChannels: 2, gnGroups: 24, width: 48, heatmapChannels: 24 })).toThrow(/gnGroups 24 do not divide the backbone's 32 channels/);
  });

  test("neck 'fpn' builds mmdet's plain FPN, without the bottom-up path or ReLUs that 'pafpn' has", () => {
    // `--neck fpn` (Table I's ablation) is only a config field: a model that ignored it would train PAFPN silently.
    // The keys show the bottom-up path; each ConvModule says whether a ReLU follows it.
    const neckOf = (neck: 'fpn' | 'pafpn') => {
      const model = new SmprModel(smprConfig('tiny', { neck }));
      const bottomUp = [...model.neck.stateDict().keys()].filter((k) => /^(downsample|pafpn)_convs\./.test(k));
      const relus = [...model.neck.namedModules()].flatMap(([, m]) => (m instanceof ConvModule ? [m.relu] : []));
      model.dispose();
      return { bottomUp: bottomUp.length, relus };
    };
    const fpn = neckOf('fpn');
    const pafpn = neckOf('pafpn');
    expect(fpn).toEqual({ bottomUp: 0, relus: Array(6).fill(false) }); // 3 lateral + 3 level convs
    expect(pafpn).toEqual({ bottomUp: 8, relus: Array(10).fill(true) }); // + 2 downsample and 2 pafpn convs, weight and bias each
  });
});

describe('tiny preset forward', () => {
  test('per-level output shapes on the cpu; heatmap only in training or when asked; unpadded inputs are errors', () => {
    const model = new SmprModel(tiny, { random: new Random(1) });
    const x = images('cpu', 2);
    const out = model.forward(x);
    const sizes = levelShapes(tiny, 128, 128);
    out.levels.forEach((l, i) => {
      const [h, w] = sizes[i];
      expect([l.clsLogits.shape, l.scoreLogits.shape, l.initPose.shape, l.refinePose.shape], `level ${i}`).toEqual([
        [2, 1, h, w], [2, 1, h, w], [2, 34, h, w], [2, 34, h, w],
      ]);
    });
    expect(out.heatmapLogits!.shape).toEqual([2, 17, 16, 16]);
    model.eval();
    const small = images('cpu', 1, 64);
    const evalOut = model.forward(small);
    expect(evalOut.levels.map((l) => l.refinePose.shape)).toEqual([[1, 34, 8, 8], [1, 34, 4, 4], [1, 34, 2, 2]]);
    expect(evalOut.heatmapLogits).toBeNull();
    const asked = model.forward(small, { heatmap: true });
    expect(asked.heatmapLogits!.shape).toEqual([1, 17, 8, 8]);
    const unpadded = images('cpu', 1, 112);
    expect(() => model.forward(unpadded)).toThrow(/SmprModel: images \[1, 3, 112, 112\] should be \[N, 3, H, W\] with H and W multiples of 32/);
    dispose([x, small, unpadded, outputs(out), outputs(evalOut), outputs(asked)]);
    model.dispose();
  });
});

describe('tiny preset on webgpu', () => {
  // One model and one input shape for both tests: WebGPU pipelines are compiled per conv shape, and lavapipe
  // compiles slowly, so the second test reuses the first one's.
  let gpu: SmprModel;
  const x = () => images('webgpu', 1);

  test('the same weights give the same outputs as on the cpu; forward time on this device', async () => {
    const cpu = new SmprModel(tiny, { random: new Random(2) });
    gpu = new SmprModel(tiny, { device: 'webgpu', random: new Random(2) });
    const xc = images('cpu', 1);
    const xg = x();
    const expected = outputs(cpu.forward(xc));
    // The warm-up compiles the pipelines, the general ones and then those a shape gets from its SPECIALISE_AFTER-th
    // use on (program-cache.ts); the pass after it is the steady-state time, and the program a training loop runs.
    for (let use = 1; use <= SPECIALISE_AFTER; use++) dispose(outputs(gpu.forward(xg)));
    await gpu.head.clsOut.weight.tensor.toArray();
    const start = performance.now();
    const got = outputs(gpu.forward(xg));
    await got[got.length - 1].toArray();
    const ms = performance.now() - start;
    console.log(`tiny SMPR forward, 1×3×128×128, training mode (heatmap included), webgpu: ${ms.toFixed(0)} ms`);
    // Both float32; the devices sum in different orders through ~20 layers of ≤ 300-term reductions, and the
    // outputs are O(1) (cls logits near −4.6): 1e-4 absolute + 1e-4 relative.
    for (let i = 0; i < got.length; i++) expectClose(await got[i].toArray(), expected[i].toArraySync(), { atol: 1e-4, rtol: 1e-4 }, `output ${i}`);
    dispose([xc, xg, expected, got]);
    cpu.dispose();
  });

  test('gradients from the sum of all outputs reach every trainable parameter', async () => {
    const xg = x();
    const out = outputs(gpu.forward(xg));
    total(out).backward();
    const trainable = gpu.trainableParameters();
    // tiny freezes no stage and normalises its backbone with GroupNorm: every parameter trains.
    const expected = [...gpu.namedParameters()].map(([n]) => n);
    expect(trainable.map((p) => p.name)).toEqual(expected);
    for (const p of trainable) expect(await maxAbs(p.tensor.grad), p.name).toBeGreaterThan(0);
    dispose([xg, out]);
    gpu.dispose();
  });
});

describe('the head\'s wiring', () => {
  test('matches reference 2.1 written out with the ops (float64, random weights and scales)', async () => {
    const dtype = 'float64';
    const head = new SmprHead({ width: 8, towerConvs: 2, gnGroups: 4, deformGroups: 2, heatmapChannels: 4, numKeypoints: 3, numLevels: 2, priorProb: 0.01, dtype });
    // Large random weights, distinct scales and biases, so that offsets move the DCN samples and a swapped
    // connection, scale or level shows.
    const random = new Random(21);
    const checkpoint = new Map<string, Tensor>();
    for (const [k, t] of head.stateDict()) {
      checkpoint.set(k, tensor(Float64Array.from({ length: t.size }, () => random.normal(0, 0.5)), t.shape, { dtype }));
    }
    await head.loadStateDict(checkpoint);
    const p = (k: string) => checkpoint.get(k)!;
    const pad1 = { padding: 1 };
    const block = (x: Tensor, name: string) => relu(groupNorm(conv2d(x, p(`${name}.conv.weight`), null, pad1), 4, p(`${name}.gn.weight`), p(`${name}.gn.bias`)));
    const out = (x: Tensor, name: string) => conv2d(x, p(`${name}.weight`), p(`${name}.bias`), pad1);

    const features = [[6, 5], [3, 3]].map(([h, w], i) => initTensor([2, 8, h, w], normal(1), { dtype, random: new Random(30 + i) }));
    const got = head.forward(features, { heatmap: true });
    for (const [l, x] of features.entries()) {
      const cls = block(block(x, 'cls_convs.0'), 'cls_convs.1');
      const reg = block(block(x, 'reg_convs.0'), 'reg_convs.1');
      const init = mul(out(reg, 'fcos_reg'), p(`scales_1.${l}.scale`));
      const offset = conv2d(init, p('feature_adaption.conv_offset.weight'), null);
      const regRef = relu(deformConv2d(reg, offset, p('feature_adaption.conv_adaption_reg.weight'), null, pad1));
      const clsRef = relu(deformConv2d(cls, offset, p('feature_adaption.conv_adaption_cls.weight'), null, pad1));
      const expected = {
        clsLogits: out(clsRef, 'fcos_cls'),
        scoreLogits: out(regRef, 'fcos_rescore'),
        initPose: init,
        refinePose: add(init, mul(out(regRef, 'fcos_refine_out'), p(`scales_2.${l}.scale`))),
      };
      for (const key of ['clsLogits', 'scoreLogits', 'initPose', 'refinePose'] as const) {
        expectClose(got.levels[l][key].toArraySync(), expected[key].toArraySync(), { atol: 1e-12, rtol: 1e-12 }, `level ${l} ${key}`);
      }
    }
    const heatmap = out(block(block(features[0], 'hm_convs.0'), 'hm_convs.1'), 'hm_out');
    expect(got.heatmapLogits!.shape).toEqual([2, 3, 6, 5]);
    expectClose(got.heatmapLogits!.toArraySync(), heatmap.toArraySync(), { atol: 1e-12, rtol: 1e-12 }, 'heatmap');
    head.dispose();
  });
});

/** Names of the parameters of `module` whose gradient is non-zero somewhere. */
async function withGradient(module: Module): Promise<Set<string>> {
  const names = new Set<string>();
  for (const [name, p] of module.namedParameters()) if ((await maxAbs(p.grad)) > 0) names.add(name);
  return names;
}

describe('the detaches in the head', () => {
  // The init branch: its output conv and its per-level scales. Nothing else in the head feeds only init.
  const initBranch = (name: string) => name.startsWith('bbox_head.fcos_reg.') || name.startsWith('bbox_head.scales_1.');

  test('no gradient reaches the init branch from the cls, score or refine outputs (through the DCNs, the offset conv or the residual)', async () => {
    const model = new SmprModel(tiny, { random: new Random(4) });
    const x = images('cpu', 1, 64);
    const out = model.forward(x);
    total(out.levels.flatMap((l) => [l.clsLogits, l.scoreLogits, l.refinePose])).backward();
    const reached = await withGradient(model);
    for (const [name, p] of model.namedParameters()) {
      if (initBranch(name)) expect(await maxAbs(p.grad), name).toBe(0);
    }
    // ...while the offset conv, the DCNs, the towers, the refine branch and the backbone do learn from them.
    for (const name of ['bbox_head.feature_adaption.conv_offset.weight', 'bbox_head.feature_adaption.conv_adaption_reg.weight',
      'bbox_head.feature_adaption.conv_adaption_cls.weight', 'bbox_head.reg_convs.0.conv.weight', 'bbox_head.cls_convs.1.gn.weight',
      'bbox_head.fcos_refine_out.weight', 'bbox_head.scales_2.0.scale', 'bbox_head.fcos_rescore.bias', 'neck.lateral_convs.0.conv.weight',
      'backbone.conv1.weight']) {
      expect(reached.has(name), name).toBe(true);
    }
    dispose([x, outputs(out)]);
    model.dispose();
  });

  test('the init output trains the init branch, the reg tower and below, and nothing after init', async () => {
    const model = new SmprModel(tiny, { random: new Random(5) });
    const x = images('cpu', 1, 64);
    const out = model.forward(x);
    total(out.levels.map((l) => l.initPose)).backward();
    const reached = await withGradient(model);
    for (const [name, p] of model.namedParameters()) {
      const upstream = name.startsWith('bbox_head.reg_convs.') || name.startsWith('neck.') || name.startsWith('backbone.');
      const expected = initBranch(name) || (upstream && !p.frozen);
      expect(reached.has(name), name).toBe(expected);
    }
    dispose([x, outputs(out)]);
    model.dispose();
  });
});

describe('r50 (the authors\' SMPR-R50-PAFPN)', () => {
  const r50 = smprConfig('r50');
  let model: SmprModel;

  test('has the authors\' parameter count, part by part, and mmdet\'s keys', () => {
    model = new SmprModel(r50, { random: new Random(6) });
    expect(parameterBreakdown(model)).toEqual(authorsR50PafpnParameters());
    expect(authorsR50PafpnParameters().backbone).toBe(23_508_032);
    console.log(parameterReport(model));
    const state = model.stateDict();
    const shapes: [string, number[]][] = [
      ['backbone.layer4.2.bn3.running_var', [2048]],
      ['neck.lateral_convs.0.conv.weight', [256, 512, 1, 1]],
      ['neck.fpn_convs.4.conv.weight', [256, 256, 3, 3]],
      ['neck.pafpn_convs.1.conv.bias', [256]],
      ['bbox_head.cls_convs.3.conv.weight', [256, 256, 3, 3]],
      ['bbox_head.reg_convs.0.gn.weight', [256]],
      ['bbox_head.hm_convs.1.conv.weight', [128, 128, 3, 3]],
      ['bbox_head.hm_out.bias', [17]],
      ['bbox_head.fcos_cls.weight', [1, 256, 3, 3]],
      ['bbox_head.fcos_reg.weight', [34, 256, 3, 3]],
      ['bbox_head.fcos_rescore.bias', [1]],
      ['bbox_head.scales_1.4.scale', []],
      ['bbox_head.scales_2.0.scale', []],
      ['bbox_head.feature_adaption.conv_offset.weight', [72, 34, 1, 1]],
      ['bbox_head.feature_adaption.conv_adaption_cls.weight', [256, 256, 3, 3]],
      ['bbox_head.fcos_refine_out.bias', [34]],
    ];
    for (const [k, shape] of shapes) expect(state.get(k)?.shape, k).toEqual(shape);
    for (const k of ['bbox_head.cls_convs.0.conv.bias', 'bbox_head.feature_adaption.conv_offset.bias', 'bbox_head.feature_adaption.conv_adaption_reg.bias']) {
      expect(state.has(k), k).toBe(false);
    }
    // frozen_stages=1: the stem and layer1 do not train; nor does any BN.
    const frozen = [...model.namedParameters()].filter(([, p]) => p.frozen).map(([n]) => n);
    expect(frozen.every((n) => n.startsWith('backbone.'))).toBe(true);
    expect(frozen).toContain('backbone.layer1.2.conv3.weight');
    expect(frozen).not.toContain('backbone.layer2.0.conv1.weight');
  });

  test('initialisation follows reference 2.2', async () => {
    const state = model.stateDict();
    const values = (k: string) => Array.from(state.get(k)!.toArraySync());
    const std = (k: string) => {
      const v = values(k);
      const mean = v.reduce((a, b) => a + b, 0) / v.length;
      return Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length);
    };
    const prior = -Math.log(99);
    expectClose(values('bbox_head.fcos_cls.bias'), [prior], { atol: 1e-6, rtol: 0 }, 'cls prior');
    expectClose(values('bbox_head.hm_out.bias'), new Array(17).fill(prior), { atol: 1e-6, rtol: 0 }, 'heatmap prior');
    for (const k of ['bbox_head.fcos_reg.bias', 'bbox_head.fcos_refine_out.bias', 'bbox_head.fcos_rescore.bias', 'neck.fpn_convs.2.conv.bias']) {
      expect(Math.max(...values(k).map(Math.abs)), k).toBe(0);
    }
    expect(Array.from(values('bbox_head.scales_1.3.scale'))).toEqual([1]);
    expect(Array.from(values('bbox_head.reg_convs.2.gn.weight')).every((v) => v === 1)).toBe(true);
    // Sample std within 3% of the target (≥ 20k samples each, except the offset conv's 2448: 5%).
    for (const [k, target, tol] of [
      ['bbox_head.cls_convs.0.conv.weight', 0.01, 0.03],
      ['bbox_head.feature_adaption.conv_adaption_reg.weight', 0.01, 0.03],
      ['bbox_head.feature_adaption.conv_offset.weight', 0.1, 0.05],
      ['bbox_head.fcos_reg.weight', 0.01, 0.03],
      ['backbone.layer3.0.conv2.weight', Math.SQRT2 / Math.sqrt(256 * 9), 0.03],
    ] as const) {
      expect(Math.abs(std(k) / target - 1), k).toBeLessThan(tol);
    }
  });

  test('the level sizes at 800×800 follow from the config; the architecture runs at reduced width', () => {
    model.dispose();
    // A full-width forward takes ~20 s on the CPU reference, so r50's shapes are checked from the config, and its
    // structure (caffe bottlenecks, frozen stage 1, PAFPN with P6/P7, 5 levels) runs at 1/8 width.
    expect(levelShapes(r50, 800, 800)).toEqual([[100, 100], [50, 50], [25, 25], [13, 13], [7, 7]]);
    const narrow = new SmprModel(smprConfig('r50', { baseChannels: 8, width: 32, gnGroups: 8, heatmapChannels: 16 }), { random: new Random(7) });
    narrow.eval();
    const x = images('cpu', 1, 64);
    const out = narrow.forward(x);
    const sizes = levelShapes(r50, 64, 64);
    expect(sizes).toEqual([[8, 8], [4, 4], [2, 2], [1, 1], [1, 1]]);
    out.levels.forEach((l, i) => {
      const [h, w] = sizes[i];
      expect([l.clsLogits.shape, l.scoreLogits.shape, l.initPose.shape, l.refinePose.shape]).toEqual([[1, 1, h, w], [1, 1, h, w], [1, 34, h, w], [1, 34, h, w]]);
    });
    expect(out.heatmapLogits).toBeNull();
    dispose([x, outputs(out)]);
    narrow.dispose();
  });
});


describe('hrnet_w32 (the authors\' SMPR-HRNet-W32: HRNetV2-W32 + HRFPN)', () => {
  const hrnet = smprConfig('hrnet_w32');

  test('levels, config checks, and the authors\' head on top', () => {
    // HRFPN pools the stride-4 map in floor mode: at 800 px P7 is ⌈⌊200/16⌋/2⌉ = 6, not the 7 of stride-2 steps.
    expect(levelShapes(hrnet, 800, 800)).toEqual([[100, 100], [50, 50], [25, 25], [13, 13], [6, 6]]);
    expect(levelShapes(hrnet, 64, 96)).toEqual([[8, 12], [4, 6], [2, 3], [1, 2], [1, 1]]);
    expect(hrnet.normalization).toEqual(PRESETS.r50.normalization);
    expect(hrnet.gradClip).toBe(0);
    expect(PRESETS.hrnet_w48.hrnetWidths).toEqual([48, 96, 192, 384]);
    expect(() => smprConfig('hrnet_w32', { neck: 'pafpn' })).toThrow("SmprConfig 'hrnet_w32': the HRNet backbone and the 'hrfpn' neck go together (depth hrnet, neck pafpn)");
    expect(() => smprConfig('hrnet_w32', { inputSize: 32 })).toThrow("SmprConfig 'hrnet_w32': inputSize 32 is below 64, the least that gives HRFPN's 5 levels a pixel each");
    expect(() => smprConfig('hrnet_w32', { hrnetWidths: [32, 64] })).toThrow("SmprConfig 'hrnet_w32': hrnetWidths must be 4 positive integers, got [32,64]");
    expect(() => smprConfig('hrnet_w32', { hrnetWidths: [32, 64.5, 128, 256] })).toThrow("SmprConfig 'hrnet_w32': hrnetWidths must be 4 positive integers, got [32,64.5,128,256]");
    expect(() => smprConfig('hrnet_w32', { levels: PRESETS.r50.levels })).toThrow("SmprConfig 'hrnet_w32': HRFPN level 0 must pool the stride-4 map by 1, got undefined");
    expect(() => smprConfig('r50', { levels: PRESETS.hrnet_w32.levels })).toThrow("SmprConfig 'r50': pooled (HRFPN) levels need the hrfpn neck");
  });

  test('the network\'s maps are the sizes the targets assume, where HRFPN rounds differently (160 px: P7 1×1, not 2×2)', async () => {
    const narrow = new SmprModel(smprConfig('hrnet_w32', { hrnetWidths: [4, 8, 16, 32], width: 16, gnGroups: 8, heatmapChannels: 16 }), { device: 'webgpu', random: new Random(3) });
    narrow.eval();
    const x = images('webgpu', 1, 160);
    const out = narrow.forward(x);
    expect(levelShapes(hrnet, 160, 160)).toEqual([[20, 20], [10, 10], [5, 5], [3, 3], [1, 1]]);
    expect(out.levels.map((l) => l.clsLogits.shape.slice(2))).toEqual(levelShapes(hrnet, 160, 160));
    dispose([x, outputs(out)]);
    narrow.dispose();
  });

  test('forward and backward on webgpu at 64×64: level shapes, every parameter trains and gets a gradient; counts', async () => {
    const model = new SmprModel(hrnet, { device: 'webgpu', random: new Random(12) });
    // Backbone and neck: the PyTorch rendering of mmdet's code (test/hrnet.test.ts); the head is r50's.
    expect(parameterBreakdown(model)).toEqual({
      backbone: 29_305_536,
      neck: 3_073_536,
      head: authorsR50PafpnParameters().head,
      total: 29_305_536 + 3_073_536 + authorsR50PafpnParameters().head,
    });
    expect(model.backbone.constructor.name).toBe('HrNet');
    const x = images('webgpu', 1, 64);
    const out = model.forward(x);
    const sizes = levelShapes(hrnet, 64, 64);
    out.levels.forEach((l, i) => {
      const [h, w] = sizes[i];
      expect([l.clsLogits.shape, l.initPose.shape, l.refinePose.shape], `level ${i}`).toEqual([[1, 1, h, w], [1, 34, h, w], [1, 34, h, w]]);
    });
    expect(out.heatmapLogits?.shape).toEqual([1, 17, 8, 8]);
    total(outputs(out)).backward();
    // BN affines train too (requires_grad=True); only the running statistics, buffers, do not.
    const trainable = model.trainableParameters();
    expect(trainable.map((p) => p.name)).toEqual([...model.namedParameters()].map(([n]) => n));
    expect(trainable.map((p) => p.name)).toContain('backbone.stage4.2.fuse_layers.3.0.2.1.weight');
    for (const p of trainable) expect(await maxAbs(p.tensor.grad), p.name).toBeGreaterThan(0);
    dispose([x, outputs(out)]);
    model.dispose();
  });
});
