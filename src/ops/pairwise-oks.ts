/**
 * `pairwiseOks`: the OKS of every predicted pose against every person of its image, as one fused op (formula and
 * conventions in kernels/reference/pairwise-oks.ts). SMPR's assigner calls it on detached poses every training
 * step; composed from elementwise ops it would hold five [N, L, P, K] intermediates on the device (for r50 at
 * 800², 2 images and 20 people: 72 MB for the coordinate differences, 36 MB for each of the others). It has no gradient: it scores poses, it is not trained through.
 */
import { cpuBackend } from '../backend/cpu-backend.js';
import { runKernel, type DeviceKernel } from '../backend/device-kernel.js';
import { gpuDevice, launch } from '../backend/launch.js';
import { emptyGpu } from '../backend/webgpu-backend.js';
import { oksKappa, pairwiseOks as pairwiseOksReference, type PairwiseOksDims } from '../kernels/reference/pairwise-oks.js';
import { pairwiseOksKernel } from '../kernels/wgsl/pairwise-oks.js';
import { isFloat } from '../tensor/dtype.js';
import { gradEnabled } from '../tensor/engine.js';
import { shapeStr, shapesEqual, type Shape } from '../tensor/shape.js';
import { cpuData, type Tensor } from '../tensor/tensor.js';
import { tensor } from './creation.js';
import { commonDevice, record } from './record.js';

type Inputs = [poses: Tensor, people: Tensor, visible: Tensor, area: Tensor, valid: Tensor, kappa: Tensor];

const KERNEL: DeviceKernel<[Inputs, PairwiseOksDims], Tensor> = {
  cpu: (inputs, dims) => {
    const [poses, people, visible, area, valid, kappa] = inputs.map((t) => cpuData(t));
    return cpuBackend.fromArray(pairwiseOksReference(poses, people, visible, area, valid, kappa, dims, inputs[0].dtype), [dims.batch, dims.poses, dims.people], inputs[0].dtype, 'pairwiseOks');
  },
  webgpu: (inputs, dims) => {
    const out = emptyGpu([dims.batch, dims.poses, dims.people], 'float32', 'pairwiseOks');
    launch(pairwiseOksKernel(dims, gpuDevice()), [...inputs, out]);
    return out;
  },
};

/**
 * poses [N, L, K, 2] (pixels), people [N, P, K, 2], visible [N, P, K] (1 where labelled), area [N, P], valid [N, P]
 * (0 on padding rows), one σ per keypoint → [N, L, P]: OKS in [0, 1], −1 against padding.
 */
export function pairwiseOks(poses: Tensor, people: Tensor, visible: Tensor, area: Tensor, valid: Tensor, sigmas: readonly number[]): Tensor {
  const op = 'pairwiseOks';
  if (poses.rank !== 4 || poses.shape[3] !== 2) throw new Error(`${op}: poses must be [N, L, K, 2], got ${shapeStr(poses.shape)}`);
  const [N, L, K] = poses.shape;
  if (people.rank !== 4 || people.shape[0] !== N || people.shape[2] !== K || people.shape[3] !== 2) {
    throw new Error(`${op}: people must be [N, P, K, 2] = [${N}, P, ${K}, 2] for poses ${shapeStr(poses.shape)}, got ${shapeStr(people.shape)}`);
  }
  const P = people.shape[1];
  const expect = (name: string, t: Tensor, shape: Shape) => {
    if (!shapesEqual(t.shape, shape)) throw new Error(`${op}: ${name} must be ${shapeStr(shape)} for people ${shapeStr(people.shape)}, got ${shapeStr(t.shape)}`);
  };
  expect('visible', visible, [N, P, K]);
  expect('area', area, [N, P]);
  expect('valid', valid, [N, P]);
  if (sigmas.length !== K) throw new Error(`${op}: expected ${K} sigmas (one per keypoint), got ${sigmas.length}`);
  const inputs = [poses, people, visible, area, valid];
  if (inputs.some((t) => t.dtype !== poses.dtype) || !isFloat(poses.dtype)) {
    throw new Error(`${op}: every input must be of one float dtype, got ${inputs.map((t) => t.dtype).join(', ')}`);
  }
  if (gradEnabled() && inputs.some((t) => t.requiresGrad)) throw new Error(`${op}: has no gradient; pass detached poses (or call it under noGrad)`);
  const device = commonDevice(op, inputs);
  const kappa = tensor(oksKappa(sigmas), [K], { device, dtype: poses.dtype });
  const out = record(op, [...inputs, kappa], () => runKernel(device, KERNEL, [poses, people, visible, area, valid, kappa], { batch: N, poses: L, people: P, keypoints: K }), () => []);
  kappa.dispose();
  return out;
}
