/**
 * Fused GroupNorm kernels, one workgroup per (n, group), in two schedules:
 *
 * 'subgroup' (CPU adapters with subgroups: lavapipe) — a workgroup is one subgroup of SIMD lanes. Each lane walks
 * a lane-strided share of the group and `subgroupAdd` combines the lanes in registers: no workgroup memory, no
 * barriers. On lavapipe a barrier switches every SIMD thread of the workgroup, and the 256-wide schedule below
 * spent most of its time there (docs/speed.md: GroupNorm(32) on 1×256×25×25, forward and backward, went from
 * 4.33 to 1.70 ms with this schedule). The statistics take two passes (the mean of x − x₀, x₀ the group's first value, then
 * Σ(x − mean)²: as accurate as Welford's, without its division per element); the backward walks the group's
 * channels one after another.
 *
 * 'workgroup' (GPUs) — one 256-wide workgroup; the M = (C/G)·S values of a group are contiguous and each
 * invocation walks a stride-256 share of them (adjacent invocations read adjacent words), then a tree in
 * workgroup memory combines the 256 partial results:
 *
 * Forward: each invocation runs Welford's update over its share (count, mean, M2); the tree merges pairs with
 * Chan's formula. This is one pass over x and stays accurate when |mean| ≫ std (E[x²] − E[x]² in f32 would
 * lose every digit at mean 100, std 0.1). The same workgroup then writes y = x̂·γ + β, and (mean, rstd) for
 * the backward pass.
 *
 * Backward: the workgroup splits into `slots` segments of `lanes` invocations (slots = C/G rounded up to a
 * power of two, at most 256; more channels take several rounds); each segment sums Σ g·x̂ and Σ g over one
 * channel and a segmented tree finishes them, so a round costs log2(lanes) barriers for all its channels,
 * however small the spatial size. Those per-channel sums are written out as the per-sample terms of dγ and dβ;
 * their γ-weighted totals (one more tree) are the two group means of the dx formula, applied in a final pass.
 * Weight and bias are optional: variants are generated without their bindings.
 *
 * With `relu` (groupNormRelu) the forward stores relu(y), and the backward masks each g as it reads it, as relu's
 * rule does (0 where the output is ≤ 0), reading the output beside g: a ReLU after a GroupNorm then costs no
 * dispatch, no tensor and no write of its own, forward or backward.
 */
import type { GroupNormDims } from '../reference/group-norm.js';
import { RELU_WGSL } from '../elementwise-ops.js';
import type { DeviceInfo, Program } from '../program.js';
import { blockGrid, gridStride1d, kernel1d, ParamWriter, storage, uniform, WORKGROUP_1D as WG, workgroupTree } from './common.js';

/** 'subgroup' with its lane count, or 'workgroup'. */
export type GroupNormSchedule = { kind: 'subgroup'; lanes: number } | { kind: 'workgroup' };

/** The schedule for a device: subgroups on a CPU adapter that has them, workgroup trees elsewhere. */
export function groupNormSchedule(device: DeviceInfo): GroupNormSchedule {
  return device.cpu && device.subgroups && device.lanes > 0 ? { kind: 'subgroup', lanes: device.lanes } : { kind: 'workgroup' };
}

const ENTRY = `@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let ng = wid.y * nwg.x + wid.x;
  if (ng >= p.blocks) { return; }
  let base = ng * p.count;
  let firstChannel = (ng % p.groups) * p.perGroup;`;

function params(dims: GroupNormDims, eps: number): Uint32Array {
  const perGroup = dims.channels / dims.groups;
  const slots = 2 ** Math.ceil(Math.log2(Math.min(perGroup, WG)));
  return new ParamWriter()
    .u32(dims.batch * dims.groups, dims.groups, perGroup, dims.spatial, perGroup * dims.spatial)
    .f32(eps)
    .u32(WG / slots)
    .finish();
}

/** eps is used by the forward kernel, lanes (invocations per channel) by the backward. */
const PARAMS = 'struct Params { blocks: u32, groups: u32, perGroup: u32, spatial: u32, count: u32, eps: f32, lanes: u32 }';

/** The entry point of the 'subgroup' schedule: `lane` in place of `lid`, the workgroup `lanes` wide. */
const subgroupEntry = (lanes: number): string => ENTRY.replace(`@workgroup_size(${WG})`, `@workgroup_size(${lanes})`).replace(
  '@builtin(local_invocation_index) lid: u32',
  '@builtin(subgroup_invocation_id) lane: u32',
);

/** The end of both forward schedules: (mean, rstd) to `stats`, then y = x̂·γ + β (or its relu) over the invocation's share. */
const normalized = (index: string, stride: string, affine: string, relu: boolean): string => `  if (${index} == 0u) {
    stats[2u * ng] = mu;
    stats[2u * ng + 1u] = rstd;
  }
  for (var k = ${index}; k < p.count; k += ${stride}) {
    let c = firstChannel + k / p.spatial;
    let v = (x[base + k] - mu) * rstd${affine};
    y[base + k] = ${relu ? 'relu(v)' : 'v'};
  }
}`;

/** `fn grad(i)`, the backward kernels' g[i]: as given, or masked by relu's rule on the output y. */
const gradient = (relu: boolean): string => relu
  ? `${RELU_WGSL}
fn grad(i: u32) -> f32 { return reluBackward(g[i], y[i]); }`
  : 'fn grad(i: u32) -> f32 { return g[i]; }';

/** The end of both backward schedules: dx from the group totals Σγ·g·x̂ and Σγ·g, over the invocation's share. */
const inputGradient = (index: string, stride: string, sumGXhat: string, sumG: string, gamma: (c: string) => string): string => `  let meanGXhat = ${sumGXhat} / f32(p.count);
  let meanG = ${sumG} / f32(p.count);
  for (var k = ${index}; k < p.count; k += ${stride}) {
    let xhat = (x[base + k] - mu) * rstd;
    dx[base + k] = rstd * (${gamma('firstChannel + k / p.spatial')} * grad(base + k) - meanG - xhat * meanGXhat);
  }
}`;

/** Bindings: x, [weight], [bias], y, stats. */
export function groupNormForwardKernel(dims: GroupNormDims, eps: number, hasWeight: boolean, hasBias: boolean, relu: boolean, schedule: GroupNormSchedule): Program {
  const label = relu ? 'groupNorm+relu' : 'groupNorm';
  const inputs = ['x', ...(hasWeight ? ['weight'] : []), ...(hasBias ? ['bias'] : [])];
  const affine = `${hasWeight ? ' * weight[c]' : ''}${hasBias ? ' + bias[c]' : ''}`;
  const header = `
${PARAMS}
${inputs.map((name, k) => storage(k, name, 'float32')).join('\n')}
${storage(inputs.length, 'y', 'float32', true)}
${storage(inputs.length + 1, 'stats', 'float32', true)}
${uniform(inputs.length + 2)}
${relu ? RELU_WGSL : ''}`;
  if (schedule.kind === 'subgroup') {
    const L = schedule.lanes;
    const code = `enable subgroups;
${header}
${subgroupEntry(L)}
  // Summed relative to the group's first value, so that a large common offset costs no precision.
  let shift = x[base];
  var shifted = 0.0;
  for (var k = lane; k < p.count; k += ${L}u) { shifted += x[base + k] - shift; }
  let mu = shift + subgroupAdd(shifted) / f32(p.count);
  var squares = 0.0;
  for (var k = lane; k < p.count; k += ${L}u) {
    let d = x[base + k] - mu;
    squares += d * d;
  }
  let rstd = 1.0 / sqrt(subgroupAdd(squares) / f32(p.count) + p.eps);
${normalized('lane', `${L}u`, affine, relu)}`;
    return { label, code, params: params(dims, eps), workgroups: blockGrid(dims.batch * dims.groups) };
  }
  const code = `${header}
var<workgroup> wCount: array<f32, ${WG}>;
var<workgroup> wMean: array<f32, ${WG}>;
var<workgroup> wM2: array<f32, ${WG}>;
${ENTRY}
  var count = 0.0;
  var mean = 0.0;
  var m2 = 0.0;
  for (var k = lid; k < p.count; k += ${WG}u) {
    let v = x[base + k];
    count += 1.0;
    let d = v - mean;
    mean += d / count;
    m2 += d * (v - mean);
  }
  wCount[lid] = count;
  wMean[lid] = mean;
  wM2[lid] = m2;${workgroupTree(`let nb = wCount[o];
      if (nb > 0.0) {
        let na = wCount[lid];
        let n = na + nb;
        let d = wMean[o] - wMean[lid];
        wMean[lid] += d * (nb / n);
        wM2[lid] += wM2[o] + d * d * (na * nb / n);
        wCount[lid] = n;
      }`)}
  let mu = wMean[0];
  let rstd = 1.0 / sqrt(wM2[0] / f32(p.count) + p.eps);
${normalized('lid', `${WG}u`, affine, relu)}`;
  return { label, code, params: params(dims, eps), workgroups: blockGrid(dims.batch * dims.groups) };
}

/** Bindings: g, x, stats, [weight], [y: the output, with relu], dx, dWeight [N, C], dBias [N, C]. */
export function groupNormBackwardKernel(dims: GroupNormDims, hasWeight: boolean, relu: boolean, schedule: GroupNormSchedule): Program {
  const label = relu ? 'groupNorm+relu backward' : 'groupNormBackward';
  const inputs = ['g', 'x', 'stats', ...(hasWeight ? ['weight'] : []), ...(relu ? ['y'] : [])];
  const gamma = (c: string) => (hasWeight ? `weight[${c}]` : '1.0');
  const header = `
${PARAMS}
${inputs.map((name, k) => storage(k, name, 'float32')).join('\n')}
${storage(inputs.length, 'dx', 'float32', true)}
${storage(inputs.length + 1, 'dWeight', 'float32', true)}
${storage(inputs.length + 2, 'dBias', 'float32', true)}
${uniform(inputs.length + 3)}
${gradient(relu)}`;
  if (schedule.kind === 'subgroup') {
    const L = schedule.lanes;
    const code = `enable subgroups;
${header}
${subgroupEntry(L)}
  let mu = stats[2u * ng];
  let rstd = stats[2u * ng + 1u];
  var sumG = 0.0;
  var sumGXhat = 0.0;
  for (var ch = 0u; ch < p.perGroup; ch++) {
    let start = base + ch * p.spatial;
    var a = 0.0;
    var b = 0.0;
    for (var s = lane; s < p.spatial; s += ${L}u) {
      let gv = grad(start + s);
      a += gv * (x[start + s] - mu) * rstd;
      b += gv;
    }
    let channelGXhat = subgroupAdd(a);
    let channelG = subgroupAdd(b);
    if (lane == 0u) {
      dWeight[ng * p.perGroup + ch] = channelGXhat;
      dBias[ng * p.perGroup + ch] = channelG;
    }
    sumGXhat += ${gamma('firstChannel + ch')} * channelGXhat;
    sumG += ${gamma('firstChannel + ch')} * channelG;
  }
${inputGradient('lane', `${L}u`, 'sumGXhat', 'sumG', gamma)}`;
    return { label, code, params: params(dims, 0), workgroups: blockGrid(dims.batch * dims.groups) };
  }
  const code = `${header}
var<workgroup> wA: array<f32, ${WG}>;
var<workgroup> wB: array<f32, ${WG}>;
${ENTRY}
  let mu = stats[2u * ng];
  let rstd = stats[2u * ng + 1u];
  let lane = lid % p.lanes;
  var sumG = 0.0;
  var sumGXhat = 0.0;
  for (var round = 0u; round < p.perGroup; round += ${WG}u / p.lanes) {
    let ch = round + lid / p.lanes;
    var a = 0.0;
    var b = 0.0;
    if (ch < p.perGroup) {
      let start = base + ch * p.spatial;
      for (var s = lane; s < p.spatial; s += p.lanes) {
        let gv = grad(start + s);
        a += gv * (x[start + s] - mu) * rstd;
        b += gv;
      }
    }
    wA[lid] = a;
    wB[lid] = b;${workgroupTree(`wA[lid] += wA[o];
      wB[lid] += wB[o];`, 'p.lanes / 2u', 'lane')}
    if (lane == 0u && ch < p.perGroup) {
      dWeight[ng * p.perGroup + ch] = wA[lid];
      dBias[ng * p.perGroup + ch] = wB[lid];
      sumGXhat += ${gamma('firstChannel + ch')} * wA[lid];
      sumG += ${gamma('firstChannel + ch')} * wB[lid];
    }
    // No barrier before the next round: the tree ended with one, and from there to the next tree's first
    // barrier each invocation reads and writes only its own slots (a head reads the total in its own).
  }
  // Only segment heads hold nonzero sums; one more tree gives the group totals.
  wA[lid] = sumGXhat;
  wB[lid] = sumG;${workgroupTree(`wA[lid] += wA[o];
    wB[lid] += wB[o];`)}
${inputGradient('lid', `${WG}u`, 'wA[0]', 'wB[0]', gamma)}`;
  return { label, code, params: params(dims, 0), workgroups: blockGrid(dims.batch * dims.groups) };
}

/**
 * Bindings: dWeight [N, C], dBias [N, C] (the backward kernel's per-sample terms), then their totals over the
 * batch, [C] each. Invocation c adds up column c of both, in batch order as a sum over axis 0 would: one dispatch
 * where two reductions took one each.
 */
export function groupNormBatchTotalsKernel(dims: GroupNormDims, device: DeviceInfo): Program {
  const code = `
struct Params { channels: u32, batch: u32 }
${storage(0, 'dWeight', 'float32')}
${storage(1, 'dBias', 'float32')}
${storage(2, 'weightTotal', 'float32', true)}
${storage(3, 'biasTotal', 'float32', true)}
${uniform(4)}
${kernel1d('p.channels', `  var w = 0.0;
  var b = 0.0;
  for (var n = 0u; n < p.batch; n++) {
    w += dWeight[n * p.channels + i];
    b += dBias[n * p.channels + i];
  }
  weightTotal[i] = w;
  biasTotal[i] = b;`)}`;
  return { label: 'groupNormBatchTotals', code, params: new ParamWriter().u32(dims.channels, dims.batch).finish(), workgroups: gridStride1d(dims.channels, device) };
}
