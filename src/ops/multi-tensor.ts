/**
 * The optimizer step as fused multi-tensor ops: the global gradient norm with its clipping scale, and the SGD and
 * AdamW updates of every parameter at once (definition: kernels/reference/optimizer-update.ts; WGSL:
 * kernels/wgsl/multi-tensor.ts).
 *
 * These are the engine's only in-place ops. Elsewhere nothing is written in place, so that autograd may keep any
 * tensor it saw; but parameters and optimizer state are leaves outside every graph, owned by the optimizer, and
 * rewriting them in place is what keeps a step at a few dozen dispatches and its memory flat. GPU work is ordered,
 * so the forward and backward dispatches recorded before the update read the old values.
 */
import { runKernel, type DeviceKernel } from '../backend/device-kernel.js';
import { gpuDevice, launch } from '../backend/launch.js';
import { cachedProgram } from '../backend/program-cache.js';
import { emptyGpu } from '../backend/webgpu-backend.js';
import { adamwUpdate, sgdUpdate, sumOfSquares, type AdamWStep, type PerTensor } from '../kernels/reference/optimizer-update.js';
import {
  ADAMW_BINDINGS, adamwKernel, adamwParams, clipScaleKernel, packSize, partialsPerPack, sgdBindings, sgdKernel, sgdParams, sumOfSquaresKernel,
} from '../kernels/wgsl/multi-tensor.js';
import { tensor } from './creation.js';
import { optionValue } from './window-options.js';
import { cpuData, type Tensor } from '../tensor/tensor.js';

/** Consecutive runs of at most `size` indices into a list of `count`. */
function packs(count: number, size: number): number[][] {
  const out: number[][] = [];
  for (let start = 0; start < count; start += size) out.push(Array.from({ length: Math.min(size, count - start) }, (_, i) => start + i));
  return out;
}

/** Every list as long as the first; each tensor the size of its row's first, and all of one dtype and device. */
function checkLists(op: string, lists: Record<string, readonly (Tensor | null)[]>): void {
  const [[firstName, first]] = Object.entries(lists) as [string, readonly Tensor[]][];
  const lead = first[0];
  for (const [name, list] of Object.entries(lists)) {
    if (list.length !== first.length) throw new Error(`${op}: ${list.length} ${name} for ${first.length} ${firstName}`);
    list.forEach((t, i) => {
      if (t && lead && (t.size !== first[i]!.size || t.dtype !== lead.dtype || t.device !== lead.device)) {
        throw new Error(`${op}: ${name}[${i}] is ${t.size} ${t.dtype} on ${t.device}, expected ${first[i]!.size} ${lead.dtype} on ${lead.device}`);
      }
    });
  }
}

/**
 * The update's numbers and its clip scale: a NaN or negative lr or weight decay spoils every parameter silently,
 * and a clip tensor that is not [‖g‖, s] beside the parameters is read out of bounds (robust access gives 0s).
 */
/** A step's scalar, the range it must lie in ([low, high) unless `openLow`: (low, high]), for checkUpdate. */
type Ranged = [value: number, low: number, high: number, openLow?: boolean];

function checkUpdate(op: string, params: readonly Tensor[], hyper: readonly PerTensor[], numbers: Record<string, Ranged>, clip: Tensor | null): void {
  if (hyper.length !== params.length) throw new Error(`${op}: ${hyper.length} hyper-parameter sets for ${params.length} params`);
  const bad = hyper.findIndex((h) => ![h?.lr, h?.weightDecay].every((v) => Number.isFinite(v) && v >= 0));
  if (bad >= 0) throw new Error(`${op}: hyper[${bad}] must have a finite lr and weightDecay ≥ 0, got ${optionValue(hyper[bad])}`);
  for (const [name, [value, low, high, openLow]] of Object.entries(numbers)) {
    const inside = openLow ? value > low && value <= high : value >= low && value < high;
    if (!inside) throw new Error(`${op}: ${name} must be in ${openLow ? `(${low}, ${high}]` : `[${low}, ${high})`}, got ${value}`);
  }
  const lead = params[0];
  if (clip && lead && (clip.size !== 2 || clip.dtype !== lead.dtype || clip.device !== lead.device)) {
    throw new Error(`${op}: clip must be clipScale's [norm, scale], a 2-element ${lead.dtype} tensor on ${lead.device}; got ${clip.size} ${clip.dtype} on ${clip.device}`);
  }
}

const CLIP_SCALE: DeviceKernel<[readonly Tensor[], number], Tensor> = {
  cpu(grads, maxNorm) {
    const norm = Math.sqrt(sumOfSquares(grads.map((t) => cpuData(t))));
    const scale = maxNorm > 0 ? Math.min(1, maxNorm / (norm + 1e-6)) : 1;
    return tensor([norm, scale], { dtype: grads[0]!.dtype, device: 'cpu' });
  },
  webgpu(grads, maxNorm) {
    const device = gpuDevice();
    const dtype = grads[0]!.dtype;
    const groups = packs(grads.length, packSize(device, 1, 1)).map((pack) => pack.map((i) => grads[i]!));
    const total = groups.reduce((n, pack) => n + partialsPerPack(pack.map((g) => g.size), device), 0);
    const partials = emptyGpu([total], dtype, 'sumOfSquares');
    let offset = 0;
    for (const pack of groups) {
      const sizes = pack.map((g) => g.size);
      launch(cachedProgram(device, `sumOfSquares|${dtype}|${sizes}|${offset}`, () => sumOfSquaresKernel(dtype, sizes, device, offset)), [...pack, partials]);
      offset += partialsPerPack(sizes, device);
    }
    const out = emptyGpu([2], dtype, 'clipScale');
    launch(clipScaleKernel(dtype, total, maxNorm), [partials, out]);
    partials.dispose();
    return out;
  },
};

/**
 * [‖g‖, s]: the L2 norm of all `grads` taken as one vector and the clipping scale s = min(1, maxNorm / (‖g‖ + 1e-6))
 * of torch.nn.utils.clip_grad_norm_ (s = 1 for maxNorm 0). A tensor, so that "clip or not" needs no readback.
 */
export function clipScale(grads: readonly Tensor[], maxNorm: number): Tensor {
  if (!grads.length) throw new Error('clipScale: no gradients');
  if (!(maxNorm >= 0)) throw new Error(`clipScale: max norm must be ≥ 0, got ${maxNorm}`);
  checkLists('clipScale', { grads });
  return runKernel(grads[0]!.device, CLIP_SCALE, grads, maxNorm);
}

type SgdArgs = [params: readonly Tensor[], grads: readonly Tensor[], buffers: readonly (Tensor | null)[], hyper: readonly PerTensor[], momentum: number, clip: Tensor | null];

const SGD_UPDATE: DeviceKernel<SgdArgs, void> = {
  cpu(params, grads, buffers, hyper, momentum, clip) {
    const scale = clip ? cpuData(clip)[1]! : 1;
    params.forEach((p, i) => sgdUpdate(cpuData(p), cpuData(grads[i]!), buffers[i] ? cpuData(buffers[i]!) : null, { ...hyper[i]!, momentum, scale }));
  },
  webgpu(params, grads, buffers, hyper, momentum, clip) {
    const device = gpuDevice();
    const dtype = params[0]!.dtype;
    const withBuffer = momentum !== 0;
    for (const pack of packs(params.length, packSize(device, sgdBindings(withBuffer), 1))) {
      const tensors = pack.flatMap((i) => [params[i]!, grads[i]!, ...(withBuffer ? [buffers[i]!] : [])]);
      const sizes = pack.map((i) => params[i]!.size);
      // The WGSL depends on the pack's sizes and switches, not on the step's values: built once, its uniform each step.
      const program = cachedProgram(device, `sgdUpdate|${dtype}|${sizes}|${withBuffer}|${clip !== null}`, () => sgdKernel(dtype, sizes, device, withBuffer, clip !== null));
      launch({ ...program, params: sgdParams(sizes, pack.map((i) => hyper[i]!), momentum) }, clip ? [...tensors, clip] : tensors);
    }
  },
};

/**
 * SGD in place: p ← p − lr·b with b ← μ·b + s·g + wd·p for every parameter (b omitted for μ = 0). `clip` is
 * `clipScale`'s [‖g‖, s], or null for s = 1.
 */
export function sgdUpdate_(...args: SgdArgs): void {
  const [params, grads, buffers, hyper, momentum, clip] = args;
  checkLists('sgdUpdate_', { params, grads, buffers });
  checkUpdate('sgdUpdate_', params, hyper, { momentum: [momentum, 0, 1] }, clip);
  if (momentum && buffers.some((b) => !b)) throw new Error('sgdUpdate_: momentum > 0 needs a buffer for every parameter');
  if (params.length) runKernel(params[0]!.device, SGD_UPDATE, ...args);
}

type AdamWArgs = [params: readonly Tensor[], grads: readonly Tensor[], m: readonly Tensor[], v: readonly Tensor[], hyper: readonly PerTensor[], step: Omit<AdamWStep, 'lr' | 'weightDecay' | 'scale'>, clip: Tensor | null];

const ADAMW_UPDATE: DeviceKernel<AdamWArgs, void> = {
  cpu(params, grads, m, v, hyper, step, clip) {
    const scale = clip ? cpuData(clip)[1]! : 1;
    params.forEach((p, i) => adamwUpdate(cpuData(p), cpuData(grads[i]!), cpuData(m[i]!), cpuData(v[i]!), { ...step, ...hyper[i]!, scale }));
  },
  webgpu(params, grads, m, v, hyper, step, clip) {
    const device = gpuDevice();
    const dtype = params[0]!.dtype;
    for (const pack of packs(params.length, packSize(device, ADAMW_BINDINGS, 1))) {
      const tensors = pack.flatMap((i) => [params[i]!, grads[i]!, m[i]!, v[i]!]);
      const sizes = pack.map((i) => params[i]!.size);
      const program = cachedProgram(device, `adamwUpdate|${dtype}|${sizes}|${clip !== null}`, () => adamwKernel(dtype, sizes, device, clip !== null));
      launch({ ...program, params: adamwParams(sizes, pack.map((i) => hyper[i]!), step) }, clip ? [...tensors, clip] : tensors);
    }
  },
};

/** AdamW in place for every parameter (see the reference for the formula); `clip` as for `sgdUpdate_`. */
export function adamwUpdate_(...args: AdamWArgs): void {
  const [params, grads, m, v, hyper, step, clip] = args;
  checkLists('adamwUpdate_', { params, grads, m, v });
  // eps > 0 keeps the division finite; the corrections 1 − βᵗ are in (0, 1] for β in [0, 1) and t ≥ 1.
  checkUpdate('adamwUpdate_', params, hyper, {
    beta1: [step.beta1, 0, 1], beta2: [step.beta2, 0, 1], eps: [step.eps, 0, Number.MAX_VALUE, true],
    correction1: [step.correction1, 0, 1, true], correction2: [step.correction2, 0, 1, true],
  }, clip);
  if (params.length) runKernel(params[0]!.device, ADAMW_UPDATE, ...args);
}
