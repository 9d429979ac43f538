/**
 * GroupNorm as one fused op: a single kernel computes each (sample, group)'s mean and variance and normalises,
 * and a single kernel computes dx together with the per-sample terms of dγ and dβ, which one more sums over the
 * batch. The forward keeps (mean, rstd) per group for the backward pass when a gradient is needed.
 *
 * groupNormRelu is relu(groupNorm(...)) in the same two kernels: the forward stores relu(y), the backward masks the
 * incoming gradient with that output as relu's rule does. On the CPU the reference composes the same way.
 */
import { cpuBackend } from '../backend/cpu-backend.js';
import { runKernel, type DeviceKernel } from '../backend/device-kernel.js';
import { gpuDevice, launch } from '../backend/launch.js';
import { cachedProgram } from '../backend/program-cache.js';
import { emptyGpu } from '../backend/webgpu-backend.js';
import { checkNonNegative } from '../errors.js';
import { groupNormBackward, groupNormBatchTotals, groupNormForward, type GroupNormDims } from '../kernels/reference/group-norm.js';
import { groupNormBackwardKernel, groupNormBatchTotalsKernel, groupNormForwardKernel, groupNormSchedule, type GroupNormSchedule } from '../kernels/wgsl/group-norm.js';
import { BINARY, reluInPlace } from '../kernels/elementwise-ops.js';
import { isFloat } from '../tensor/dtype.js';
import { gradEnabled } from '../tensor/engine.js';
import { shapeStr, sizeOf } from '../tensor/shape.js';
import type { Device } from '../tensor/storage.js';
import { cpuData, type Tensor } from '../tensor/tensor.js';
import { commonDevice, record } from './record.js';
import { sum } from './reduce.js';
import { reshape } from './shape.js';

/** Forces a kernel schedule (tests run both on one adapter); null: the device's own (`groupNormSchedule`). */
export const groupNormKernels: { schedule: GroupNormSchedule | null } = { schedule: null };

const schedule = (): GroupNormSchedule => groupNormKernels.schedule ?? groupNormSchedule(gpuDevice());

/** The cache key of a GroupNorm program: its pass, dims, schedule and switches (eps, affine tensors). */
const programKey = (pass: string, dims: GroupNormDims, s: GroupNormSchedule, ...switches: unknown[]): string =>
  `groupNorm ${pass}|${dims.batch},${dims.channels},${dims.groups},${dims.spatial}|${s.kind === 'subgroup' ? s.lanes : 'workgroup'}|${switches.join(',')}`;

/** The optional affine tensors have no binding when absent. */
const present = (tensors: (Tensor | null)[]): Tensor[] => tensors.filter((t): t is Tensor => t !== null);

const FORWARD: DeviceKernel<[Tensor, Tensor | null, Tensor | null, GroupNormDims, number, boolean], { y: Tensor; stats: Tensor }> = {
  cpu(x, weight, bias, dims, eps, relu) {
    const { y, stats } = groupNormForward(cpuData(x), weight && cpuData(weight), bias && cpuData(bias), dims, eps, x.dtype);
    if (relu) reluInPlace(y);
    return {
      y: cpuBackend.fromArray(y, x.shape, x.dtype, relu ? 'groupNormRelu' : 'groupNorm'),
      stats: cpuBackend.fromArray(stats, [dims.batch, dims.groups, 2], x.dtype, 'groupNorm'),
    };
  },
  webgpu(x, weight, bias, dims, eps, relu) {
    const y = emptyGpu(x.shape, x.dtype, relu ? 'groupNormRelu' : 'groupNorm');
    const stats = emptyGpu([dims.batch, dims.groups, 2], x.dtype, 'groupNorm');
    const s = schedule();
    const program = cachedProgram(gpuDevice(), programKey('forward', dims, s, eps, weight !== null, bias !== null, relu), () => groupNormForwardKernel(dims, eps, weight !== null, bias !== null, relu, s));
    launch(program, present([x, weight, bias, y, stats]));
    return { y, stats };
  },
};

type Grads = { dx: Tensor; dWeight: Tensor; dBias: Tensor };

/** `y`, groupNormRelu's output, masks the gradient; null for a plain groupNorm. */
const BACKWARD: DeviceKernel<[Tensor, Tensor, Tensor, Tensor | null, Tensor | null, GroupNormDims], Grads> = {
  cpu(g, x, stats, weight, y, dims) {
    const [gData, yData] = [cpuData(g), y && cpuData(y)];
    const masked = yData ? gData.map((v, i) => BINARY.reluBackward.cpu(v, yData[i]!)) : gData;
    const r = groupNormBackward(masked, cpuData(x), cpuData(stats), weight && cpuData(weight), dims, x.dtype);
    const perSample = [dims.batch, dims.channels];
    return {
      dx: cpuBackend.fromArray(r.dx, x.shape, x.dtype, 'groupNormBackward'),
      dWeight: cpuBackend.fromArray(r.dWeight, perSample, x.dtype, 'groupNormBackward'),
      dBias: cpuBackend.fromArray(r.dBias, perSample, x.dtype, 'groupNormBackward'),
    };
  },
  webgpu(g, x, stats, weight, y, dims) {
    const perSample = [dims.batch, dims.channels];
    const grads = {
      dx: emptyGpu(x.shape, x.dtype, 'groupNormBackward'),
      dWeight: emptyGpu(perSample, x.dtype, 'groupNormBackward'),
      dBias: emptyGpu(perSample, x.dtype, 'groupNormBackward'),
    };
    const s = schedule();
    const program = cachedProgram(gpuDevice(), programKey('backward', dims, s, weight !== null, y !== null), () => groupNormBackwardKernel(dims, weight !== null, y !== null, s));
    launch(program, present([g, x, stats, weight, y, grads.dx, grads.dWeight, grads.dBias]));
    return grads;
  },
};

type Totals = { weight: Tensor; bias: Tensor };

const BATCH_TOTALS: DeviceKernel<[Tensor, Tensor, GroupNormDims], Totals> = {
  cpu(dWeight, dBias, dims) {
    const totals = groupNormBatchTotals(cpuData(dWeight), cpuData(dBias), dims, dWeight.dtype);
    return {
      weight: cpuBackend.fromArray(totals.weight, [dims.channels], dWeight.dtype, 'groupNormBatchTotals'),
      bias: cpuBackend.fromArray(totals.bias, [dims.channels], dWeight.dtype, 'groupNormBatchTotals'),
    };
  },
  webgpu(dWeight, dBias, dims) {
    const totals = { weight: emptyGpu([dims.channels], dWeight.dtype, 'groupNormBatchTotals'), bias: emptyGpu([dims.channels], dWeight.dtype, 'groupNormBatchTotals') };
    const device = gpuDevice();
    launch(cachedProgram(device, `groupNorm totals|${dims.channels},${dims.batch}`, () => groupNormBatchTotalsKernel(dims, device)), [dWeight, dBias, totals.weight, totals.bias]);
    return totals;
  },
};

function checkAffine(op: string, name: string, t: Tensor | null, x: Tensor, channels: number): void {
  if (t && (t.rank !== 1 || t.shape[0] !== channels || t.dtype !== x.dtype)) {
    throw new Error(`${op}: ${name} must be a ${x.dtype} vector of length ${channels} (the channels of input ${shapeStr(x.shape)}), got ${t.dtype} ${shapeStr(t.shape)}`);
  }
}

/**
 * dγ and dβ for the affine tensors that want them: the per-sample terms summed over the batch, both in one kernel
 * where both are wanted (a batch of one is a view); frees the terms.
 */
function batchTotals(device: Device, dims: GroupNormDims, weight: Tensor | null, bias: Tensor | null, dWeight: Tensor, dBias: Tensor): (Tensor | null)[] {
  const wantsWeight = weight?.requiresGrad ?? false;
  const wantsBias = bias?.requiresGrad ?? false;
  let totals: (Tensor | null)[];
  if (wantsWeight && wantsBias && dims.batch > 1) {
    const both = runKernel(device, BATCH_TOTALS, dWeight, dBias, dims);
    totals = [both.weight, both.bias];
  } else {
    const total = (wanted: boolean, perSample: Tensor) => (!wanted ? null : dims.batch === 1 ? reshape(perSample, [dims.channels]) : sum(perSample, 0));
    totals = [total(wantsWeight, dWeight), total(wantsBias, dBias)];
  }
  dWeight.dispose();
  dBias.dispose();
  return totals;
}

/**
 * torch.nn.functional.group_norm: x is [N, C, ...]; C/groups consecutive channels share a mean and (biased)
 * variance over those channels and all trailing dimensions. weight and bias (length C) are optional.
 */
export function groupNorm(x: Tensor, groups: number, weight: Tensor | null = null, bias: Tensor | null = null, eps = 1e-5): Tensor {
  return groupNormOp('groupNorm', x, groups, weight, bias, eps, false);
}

/** relu(groupNorm(x, groups, weight, bias, eps)) in groupNorm's own kernels: the same values and gradients. */
export function groupNormRelu(x: Tensor, groups: number, weight: Tensor | null = null, bias: Tensor | null = null, eps = 1e-5): Tensor {
  return groupNormOp('groupNormRelu', x, groups, weight, bias, eps, true);
}

function groupNormOp(op: string, x: Tensor, groups: number, weight: Tensor | null, bias: Tensor | null, eps: number, relu: boolean): Tensor {
  if (x.rank < 2) throw new Error(`${op}: input must be [N, C, ...], got ${shapeStr(x.shape)}`);
  if (!isFloat(x.dtype)) throw new Error(`${op}: needs a floating-point input, got ${x.dtype}`);
  const [batch, channels] = x.shape;
  if (!Number.isInteger(groups) || groups < 1 || channels % groups !== 0) {
    throw new Error(`${op}: input ${shapeStr(x.shape)} has ${channels} channels, which ${groups} groups do not divide`);
  }
  // A negative or NaN eps makes the variance's square root NaN: refused here rather than found in the output.
  checkNonNegative(op, 'eps', eps);
  checkAffine(op, 'weight', weight, x, channels);
  checkAffine(op, 'bias', bias, x, channels);
  const inputs = present([x, weight, bias]);
  const device = commonDevice(op, inputs);
  const dims: GroupNormDims = { batch, channels, groups, spatial: sizeOf(x.shape.slice(2)) };

  let stats!: Tensor;
  const y = record(op, inputs, () => {
    const out = runKernel(device, FORWARD, x, weight, bias, dims, eps, relu);
    stats = out.stats;
    return out.y;
  }, (g, out) => {
    if (gradEnabled()) throw new Error(`${op}: double backward is not supported (the backward pass is a fused kernel)`);
    const { dx, dWeight, dBias } = runKernel(device, BACKWARD, g, x, stats, weight, relu ? out : null, dims);
    const grads = [dx, ...batchTotals(device, dims, weight, bias, dWeight, dBias)];
    return grads.filter((_, k) => [x, weight, bias][k] !== null);
  });
  return y;
}
