/**
 * SGD with momentum and weight decay, in PyTorch's formulation (dampening 0, no Nesterov):
 *
 *     d = g + wd·p;   buf = μ·buf + d   (buf = d on the first step);   p ← p − lr·buf
 *
 * Parameters come in groups ('weight' | 'bias' | 'norm') so that each group can scale the learning rate and
 * override the weight decay, as mmdetection's `paramwise_options` does (reference §6: non-norm biases get lr×2
 * and no decay; norm parameters and the per-level scales train like ordinary weights).
 *
 * The update is a handful of engine ops per parameter on the parameter's own device, with no readback. Nothing
 * is written in place: each step computes new tensors and `Tensor.assign` moves the parameter onto the new
 * storage, so the old storage goes back to the pool and memory stays flat from step to step.
 */
import type { NamedParameter, ParamGroup } from '../nn/module.js';
import { detach, noGrad } from '../autograd/index.js';
import { toSync } from '../ops/device.js';
import { add, cast, mul, sub } from '../ops/elementwise.js';
import { keep, tidy } from '../tensor/scope.js';
import { shapeStr, shapesEqual } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';

/** A trainable tensor as a module hands it to the optimizer (`Module.trainableParameters()`). */
export type ParamRecord = NamedParameter;
export type { ParamGroup };

export interface GroupOptions {
  /** Multiplies the learning rate for this group. */
  lrMult?: number;
  /** Replaces the optimizer's weight decay for this group. */
  weightDecay?: number;
}

export interface SGDOptions {
  lr: number;
  momentum: number;
  weightDecay: number;
  groups: Partial<Record<ParamGroup, GroupOptions>>;
}

/** The reference configuration (reference §6): lr 0.02, momentum 0.9, weight decay 1e-4, biases lr×2 and no decay. */
export const REFERENCE_SGD: SGDOptions = {
  lr: 0.02,
  momentum: 0.9,
  weightDecay: 1e-4,
  groups: { bias: { lrMult: 2, weightDecay: 0 } },
};

export class SGD {
  /** The learning rate of the next `step()` (before group multipliers); a schedule sets it every iteration. */
  lr: number;
  readonly momentum: number;
  readonly weightDecay: number;
  readonly params: readonly ParamRecord[];
  private readonly groups: Partial<Record<ParamGroup, GroupOptions>>;
  /** Momentum buffers by parameter name, created on a parameter's first step. Owned here, outside any tidy scope. */
  private readonly buffers = new Map<string, Tensor>();

  constructor(params: readonly ParamRecord[], options: Partial<SGDOptions> = {}) {
    const { lr, momentum, weightDecay, groups } = { ...REFERENCE_SGD, ...options };
    if (!(lr >= 0)) throw new Error(`SGD: lr must be ≥ 0, got ${lr}`);
    if (!(momentum >= 0 && momentum < 1)) throw new Error(`SGD: momentum must be in [0, 1), got ${momentum}`);
    if (!(weightDecay >= 0)) throw new Error(`SGD: weight decay must be ≥ 0, got ${weightDecay}`);
    const seen = new Set<string>();
    for (const p of params) {
      if (seen.has(p.name)) throw new Error(`SGD: parameter name '${p.name}' appears twice`);
      seen.add(p.name);
      if (!p.tensor.requiresGrad) throw new Error(`SGD: parameter '${p.name}' (shape ${shapeStr(p.tensor.shape)}) does not require grad`);
      if (p.tensor.gradFn) throw new Error(`SGD: parameter '${p.name}' is the result of an op ('${p.tensor.op}'), not a leaf`);
    }
    this.lr = lr;
    this.momentum = momentum;
    this.weightDecay = weightDecay;
    this.groups = groups;
    this.params = params;
  }

  /** The effective learning rate and weight decay of a group at the current `lr`. */
  hyperparameters(group: ParamGroup): { lr: number; weightDecay: number } {
    const g = this.groups[group] ?? {};
    return { lr: this.lr * (g.lrMult ?? 1), weightDecay: g.weightDecay ?? this.weightDecay };
  }

  /** One update of every parameter that has a gradient. Parameters without one (unused this step) are skipped. */
  step(): void {
    noGrad(() => {
      for (const p of this.params) {
        const grad = p.tensor.grad;
        if (!grad) continue;
        const { lr, weightDecay } = this.hyperparameters(p.group);
        tidy(() => {
          const d = weightDecay ? add(grad, mul(p.tensor, weightDecay)) : grad;
          let direction = d;
          if (this.momentum) {
            const old = this.buffers.get(p.name);
            // Storage is never written in place, so a view of `d` is as good as PyTorch's clone.
            direction = keep(old ? add(mul(old, this.momentum), d) : detach(d));
            old?.dispose();
            this.buffers.set(p.name, direction);
          }
          p.tensor.assign(sub(p.tensor, mul(direction, lr)));
        });
      }
    });
  }

  /** Disposes every gradient and clears `.grad`, ready for the next backward pass. */
  zeroGrad(): void {
    for (const p of this.params) {
      p.tensor.grad?.dispose();
      p.tensor.grad = null;
    }
  }

  /**
   * The momentum buffers keyed by parameter name (only parameters that have taken a step). The tensors are the
   * optimizer's own: read them (e.g. to write a checkpoint), do not dispose them.
   */
  stateDict(): Record<string, Tensor> {
    return Object.fromEntries(this.buffers);
  }

  /**
   * Replaces the momentum buffers with copies of `state` (on each parameter's device, converted between float
   * types). Parameters absent from `state` start with no momentum, as on a first step.
   */
  loadStateDict(state: Record<string, Tensor>): void {
    const byName = new Map(this.params.map((p) => [p.name, p]));
    const unknown = Object.keys(state).filter((name) => !byName.has(name));
    if (unknown.length) throw new Error(`SGD.loadStateDict: no parameter named ${unknown.map((n) => `'${n}'`).join(', ')}`);
    for (const [name, saved] of Object.entries(state)) {
      const param = byName.get(name)!.tensor;
      if (!shapesEqual(saved.shape, param.shape)) {
        throw new Error(`SGD.loadStateDict: momentum for '${name}' has shape ${shapeStr(saved.shape)} but the parameter has ${shapeStr(param.shape)}`);
      }
    }
    this.clearState();
    noGrad(() => {
      for (const [name, saved] of Object.entries(state)) {
        const param = byName.get(name)!.tensor;
        const onDevice = saved.device === param.device ? saved : toSync(saved, param.device);
        const copy = keep(cast(onDevice, param.dtype));
        if (onDevice !== saved) onDevice.dispose();
        this.buffers.set(name, copy);
      }
    });
  }

  /** Disposes the momentum buffers (the parameters and their gradients are the caller's). */
  dispose(): void {
    this.clearState();
  }

  private clearState(): void {
    for (const t of this.buffers.values()) t.dispose();
    this.buffers.clear();
  }
}
