/**
 * Losses: sigmoid focal loss and BCE with logits share one fused elementwise kernel (BCE is the focal loss with
 * γ = 0 and no α), with a fused backward for the logits; targets get no gradient. BCE's optional weight is an
 * ordinary (broadcasting) mul; L1 is a composition of engine ops.
 */
import { cpuBackend } from '../backend/cpu-backend.js';
import { runKernel, type DeviceKernel } from '../backend/device-kernel.js';
import { gpuDevice, launch } from '../backend/launch.js';
import { cachedProgram } from '../backend/program-cache.js';
import { emptyGpu } from '../backend/webgpu-backend.js';
import { checkNonNegative } from '../errors.js';
import { focalLossBackward, focalLossForward, type FocalParams } from '../kernels/reference/focal-loss.js';
import { focalLossKernel, type FocalPass } from '../kernels/wgsl/focal-loss.js';
import { isFloat } from '../tensor/dtype.js';
import { gradEnabled } from '../tensor/engine.js';
import { broadcastShapes, shapeStr, shapesEqual } from '../tensor/shape.js';
import { cpuData, type Tensor } from '../tensor/tensor.js';
import { abs, mul, sub } from './elementwise.js';
import { commonDevice, composite, record } from './record.js';
import { mean, sum } from './reduce.js';

export type Reduction = 'none' | 'sum' | 'mean';

function gpuFocal(pass: FocalPass, inputs: Tensor[], params: FocalParams, scale = 1): Tensor {
  const out = emptyGpu(inputs[0].shape, 'float32', pass === 'forward' ? 'focalLoss' : 'focalLossBackward');
  const device = gpuDevice();
  const scalarGrad = pass === 'backward' && inputs[2].size === 1;
  const key = `focalLoss ${pass}|${out.size}|${params.alpha},${params.gamma}|${scale}|${scalarGrad}`;
  launch(cachedProgram(device, key, () => focalLossKernel(pass, out.size, params, device, scale, scalarGrad)), [...inputs, out]);
  return out;
}

const FORWARD: DeviceKernel<[Tensor, Tensor, FocalParams], Tensor> = {
  cpu: (logits, targets, params) =>
    cpuBackend.fromArray(focalLossForward(cpuData(logits), cpuData(targets), params, logits.dtype), logits.shape, logits.dtype, 'focalLoss'),
  webgpu: (logits, targets, params) => gpuFocal('forward', [logits, targets], params),
};

/** g: the upstream gradient, per element or (for a reduced loss) one value; scale: 1, or 1/n for a mean. */
const BACKWARD: DeviceKernel<[Tensor, Tensor, Tensor, FocalParams, number], Tensor> = {
  cpu: (g, logits, targets, params, scale) =>
    cpuBackend.fromArray(
      focalLossBackward(cpuData(g), cpuData(logits), cpuData(targets), params, scale, logits.dtype),
      logits.shape, logits.dtype, 'focalLossBackward',
    ),
  webgpu: (g, logits, targets, params, scale) => gpuFocal('backward', [logits, targets, g], params, scale),
};

function checkPair(op: string, a: Tensor, b: Tensor, names: [string, string]): void {
  if (!shapesEqual(a.shape, b.shape)) throw new Error(`${op}: ${names[0]} ${shapeStr(a.shape)} and ${names[1]} ${shapeStr(b.shape)} must have the same shape`);
  if (a.dtype !== b.dtype || !isFloat(a.dtype)) throw new Error(`${op}: ${names[0]} and ${names[1]} must be floats of one dtype, got ${a.dtype} and ${b.dtype}`);
}

function checkReduction(op: string, reduction: Reduction): void {
  if (reduction !== 'none' && reduction !== 'sum' && reduction !== 'mean') {
    throw new Error(`${op}: reduction must be 'none', 'sum' or 'mean', got '${reduction}'`);
  }
}

/**
 * The weight must broadcast to the loss's own shape: one that broadcast it larger ([2, 1, 3] for [2, 3]) silently
 * made the loss larger, and its mean a mean over copies (torch's in-place multiply refuses it).
 */
function checkWeight(op: string, weight: Tensor, like: Tensor): void {
  if (!shapesEqual(broadcastShapes(op, weight.shape, like.shape), like.shape)) {
    throw new Error(`${op}: weight ${shapeStr(weight.shape)} must broadcast to the loss's shape ${shapeStr(like.shape)}`);
  }
  if (weight.dtype !== like.dtype) throw new Error(`${op}: weight is ${weight.dtype} but the loss is ${like.dtype}`);
}

function reduce(loss: Tensor, reduction: Reduction): Tensor {
  return reduction === 'none' ? loss : reduction === 'sum' ? sum(loss) : mean(loss);
}

/**
 * The focal loss and its reduction as one op: the fused backward kernel reads the single upstream value of a
 * summed or averaged loss directly, rather than a broadcast copy of it (which would cost more than the kernel).
 */
function focalLoss(op: string, logits: Tensor, targets: Tensor, params: FocalParams, reduction: Reduction): Tensor {
  checkPair(op, logits, targets, ['logits', 'targets']);
  checkReduction(op, reduction);
  const device = commonDevice(op, [logits, targets]);
  return record(op, [logits, targets], () => {
    const loss = runKernel(device, FORWARD, logits, targets, params);
    if (reduction === 'none') return loss;
    const reduced = reduce(loss, reduction);
    loss.dispose();
    return reduced;
  }, (g) => {
    if (gradEnabled()) throw new Error(`${op}: double backward is not supported (the backward pass is a fused kernel)`);
    return [runKernel(device, BACKWARD, g, logits, targets, params, reduction === 'mean' ? 1 / logits.size : 1), null];
  });
}

export interface FocalLossOptions {
  /** Weight of positives (negatives get 1 − α); α < 0 disables the weighting. Default 0.25. */
  alpha?: number;
  /** Focusing exponent on 1 − p_t. Default 2. */
  gamma?: number;
  /** Default 'none', as torchvision. */
  reduction?: Reduction;
}

/**
 * torchvision.ops.sigmoid_focal_loss: −α_t·(1 − p_t)^γ·log(p_t) per element, p = σ(logits). Targets may be soft
 * (in [0, 1]). Finite for any finite logits, including ±100.
 */
export function sigmoidFocalLoss(logits: Tensor, targets: Tensor, options: FocalLossOptions = {}): Tensor {
  const { alpha = 0.25, gamma = 2, reduction = 'none' } = options;
  checkNonNegative('sigmoidFocalLoss', 'gamma', gamma);
  // A negative alpha is torchvision's "no weighting" (as the BCE below uses it): only a non-finite one is refused.
  if (!Number.isFinite(alpha)) throw new Error(`sigmoidFocalLoss: alpha must be finite, got ${alpha}`);
  return focalLoss('sigmoidFocalLoss', logits, targets, { alpha, gamma }, reduction);
}

export interface WeightedLossOptions {
  /** Multiplies the elementwise loss (broadcast), e.g. a mask or per-element weights. */
  weight?: Tensor | null;
  /** Default 'mean', as torch. */
  reduction?: Reduction;
}

/** torch.nn.functional.binary_cross_entropy_with_logits: max(x, 0) − x·t + log(1 + e^(−|x|)), times weight. */
export function bceWithLogits(logits: Tensor, targets: Tensor, options: WeightedLossOptions = {}): Tensor {
  const { weight, reduction = 'mean' } = options;
  const bce = { alpha: -1, gamma: 0 };
  if (!weight) return focalLoss('bceWithLogits', logits, targets, bce, reduction);
  checkReduction('bceWithLogits', reduction);
  checkWeight('bceWithLogits', weight, logits);
  return composite([logits, targets, weight], () => reduce(mul(focalLoss('bceWithLogits', logits, targets, bce, 'none'), weight), reduction));
}

/** torch.nn.functional.l1_loss: |pred − target|, times weight (for masked or OKS-weighted regression). */
export function l1Loss(pred: Tensor, target: Tensor, options: WeightedLossOptions = {}): Tensor {
  const { weight, reduction = 'mean' } = options;
  checkPair('l1Loss', pred, target, ['pred', 'target']);
  checkReduction('l1Loss', reduction);
  if (weight) checkWeight('l1Loss', weight, pred);
  return composite(weight ? [pred, target, weight] : [pred, target], () => {
    const loss = abs(sub(pred, target));
    return reduce(weight ? mul(loss, weight) : loss, reduction);
  });
}
