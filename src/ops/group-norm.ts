/**
 * GroupNorm as one fused op: a single kernel computes each (sample, group)'s mean and variance and normalises,
 * and a single kernel computes dx together with the per-sample terms of dγ and dβ (summed over the batch here).
 * The forward keeps (mean, rstd) per group for the backward pass when a gradient is needed.
 */
import { cpuBackend } from '../backend/cpu-backend.js';
import { runKernel, type DeviceKernel } from '../backend/device-kernel.js';
import { gpuDevice, launch } from '../backend/launch.js';
import { emptyGpu } from '../backend/webgpu-backend.js';
import { groupNormBackward, groupNormForward, type GroupNormDims } from '../kernels/reference/group-norm.js';
import { groupNormBackwardKernel, groupNormForwardKernel, groupNormSchedule, type GroupNormSchedule } from '../kernels/wgsl/group-norm.js';
import { isFloat } from '../tensor/dtype.js';
import { gradEnabled } from '../tensor/engine.js';
import { shapeStr, sizeOf } from '../tensor/shape.js';
import { cpuData, type Tensor } from '../tensor/tensor.js';
import { commonDevice, record } from './record.js';
import { sum } from './reduce.js';
import { reshape } from './shape.js';

/** Forces a kernel schedule (tests run both on one adapter); null: the device's own (`groupNormSchedule`). */
export const groupNormKernels: { schedule: GroupNormSchedule | null } = { schedule: null };

const schedule = (): GroupNormSchedule => groupNormKernels.schedule ?? groupNormSchedule(gpuDevice());

/** The optional affine tensors have no binding when absent. */
const present = (tensors: (Tensor | null)[]): Tensor[] => tensors.filter((t): t is Tensor => t !== null);

const FORWARD: DeviceKernel<[Tensor, Tensor | null, Tensor | null, GroupNormDims, number], { y: Tensor; stats: Tensor }> = {
  cpu(x, weight, bias, dims, eps) {
    const { y, stats } = groupNormForward(cpuData(x), weight && cpuData(weight), bias && cpuData(bias), dims, eps, x.dtype);
    return {
      y: cpuBackend.fromArray(y, x.shape, x.dtype, 'groupNorm'),
      stats: cpuBackend.fromArray(stats, [dims.batch, dims.groups, 2], x.dtype, 'groupNorm'),
    };
  },
  webgpu(x, weight, bias, dims, eps) {
    const y = emptyGpu(x.shape, x.dtype, 'groupNorm');
    const stats = emptyGpu([dims.batch, dims.groups, 2], x.dtype, 'groupNorm');
    launch(groupNormForwardKernel(dims, eps, weight !== null, bias !== null, schedule()), present([x, weight, bias, y, stats]));
    return { y, stats };
  },
};

type Grads = { dx: Tensor; dWeight: Tensor; dBias: Tensor };

const BACKWARD: DeviceKernel<[Tensor, Tensor, Tensor, Tensor | null, GroupNormDims], Grads> = {
  cpu(g, x, stats, weight, dims) {
    const r = groupNormBackward(cpuData(g), cpuData(x), cpuData(stats), weight && cpuData(weight), dims, x.dtype);
    const perSample = [dims.batch, dims.channels];
    return {
      dx: cpuBackend.fromArray(r.dx, x.shape, x.dtype, 'groupNormBackward'),
      dWeight: cpuBackend.fromArray(r.dWeight, perSample, x.dtype, 'groupNormBackward'),
      dBias: cpuBackend.fromArray(r.dBias, perSample, x.dtype, 'groupNormBackward'),
    };
  },
  webgpu(g, x, stats, weight, dims) {
    const perSample = [dims.batch, dims.channels];
    const grads = {
      dx: emptyGpu(x.shape, x.dtype, 'groupNormBackward'),
      dWeight: emptyGpu(perSample, x.dtype, 'groupNormBackward'),
      dBias: emptyGpu(perSample, x.dtype, 'groupNormBackward'),
    };
    launch(groupNormBackwardKernel(dims, weight !== null, schedule()), present([g, x, stats, weight, grads.dx, grads.dWeight, grads.dBias]));
    return grads;
  },
};

function checkAffine(name: string, t: Tensor | null, x: Tensor, channels: number): void {
  if (t && (t.rank !== 1 || t.shape[0] !== channels || t.dtype !== x.dtype)) {
    throw new Error(`groupNorm: ${name} must be a ${x.dtype} vector of length ${channels} (the channels of input ${shapeStr(x.shape)}), got ${t.dtype} ${shapeStr(t.shape)}`);
  }
}

/** Sums a per-sample partial gradient over the batch when `param` wants it (a batch of one is a view), and frees the partials. */
function batchTotal(param: Tensor | null, perSample: Tensor): Tensor | null {
  const total = !param?.requiresGrad ? null : perSample.shape[0] === 1 ? reshape(perSample, [perSample.shape[1]!]) : sum(perSample, 0);
  perSample.dispose();
  return total;
}

/**
 * torch.nn.functional.group_norm: x is [N, C, ...]; C/groups consecutive channels share a mean and (biased)
 * variance over those channels and all trailing dimensions. weight and bias (length C) are optional.
 */
export function groupNorm(x: Tensor, groups: number, weight: Tensor | null = null, bias: Tensor | null = null, eps = 1e-5): Tensor {
  if (x.rank < 2) throw new Error(`groupNorm: input must be [N, C, ...], got ${shapeStr(x.shape)}`);
  if (!isFloat(x.dtype)) throw new Error(`groupNorm: needs a floating-point input, got ${x.dtype}`);
  const [batch, channels] = x.shape;
  if (!Number.isInteger(groups) || groups < 1 || channels % groups !== 0) {
    throw new Error(`groupNorm: input ${shapeStr(x.shape)} has ${channels} channels, which ${groups} groups do not divide`);
  }
  checkAffine('weight', weight, x, channels);
  checkAffine('bias', bias, x, channels);
  const inputs = present([x, weight, bias]);
  const device = commonDevice('groupNorm', inputs);
  const dims: GroupNormDims = { batch, channels, groups, spatial: sizeOf(x.shape.slice(2)) };

  let stats!: Tensor;
  const y = record('groupNorm', inputs, () => {
    const out = runKernel(device, FORWARD, x, weight, bias, dims, eps);
    stats = out.stats;
    return out.y;
  }, (g) => {
    if (gradEnabled()) throw new Error('groupNorm: double backward is not supported (the backward pass is a fused kernel)');
    const { dx, dWeight, dBias } = runKernel(device, BACKWARD, g, x, stats, weight, dims);
    const grads = [dx, batchTotal(weight, dWeight), batchTotal(bias, dBias)];
    return grads.filter((_, k) => [x, weight, bias][k] !== null);
  });
  return y;
}
