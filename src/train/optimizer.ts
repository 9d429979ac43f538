/**
 * The optimizers' common part (parameters checked once, grouped hyper-parameters, gradients cleared), and SGD.
 *
 * SGD with momentum and weight decay, in PyTorch's formulation (dampening 0, no Nesterov):
 *
 *     d = g + wd·p;   buf = μ·buf + d   (buf = d on the first step);   p ← p − lr·buf
 *
 * Parameters come in groups ('weight' | 'bias' | 'norm') so that each group can scale the learning rate and
 * override the weight decay, as mmdetection's `paramwise_options` does (reference §6: non-norm biases get lr×2
 * and no decay; norm parameters and the per-level scales train like ordinary weights).
 *
 * A step is one fused multi-tensor op over every parameter that has a gradient (ops/multi-tensor.ts): on WebGPU a
 * few dozen dispatches for a whole model, in place on the parameters and their state, with no readback; the
 * gradient-clipping scale, when given, is applied inside the same kernels.
 */
import { checkNonNegative } from '../errors.js';
import type { NamedParameter, ParamGroup } from '../nn/module.js';
import { noGrad } from '../autograd/index.js';
import { zerosLike } from '../ops/creation.js';
import { toSync } from '../ops/device.js';
import { cast } from '../ops/elementwise.js';
import { sgdUpdate_ } from '../ops/multi-tensor.js';
import { keep } from '../tensor/scope.js';
import { shapeStr, shapesEqual } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';
import { RECIPES } from './recipes.js';

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

/** The reference configuration (reference §6): `RECIPES.reference`'s lr, momentum 0.9, weight decay 1e-4, biases lr×2 and no decay. */
export const REFERENCE_SGD: SGDOptions = {
  lr: RECIPES.reference.lr,
  momentum: 0.9,
  weightDecay: 1e-4,
  groups: { bias: { lrMult: 2, weightDecay: 0 } },
};

/** What every optimizer shares: its parameters, their groups' hyper-parameters, and clearing gradients. */
export abstract class Optimizer {
  /** The learning rate of the next `step()` (before group multipliers); a schedule sets it every iteration. */
  lr: number;
  readonly weightDecay: number;
  readonly params: readonly NamedParameter[];
  protected readonly groups: Partial<Record<ParamGroup, GroupOptions>>;

  protected constructor(readonly name: string, params: readonly NamedParameter[], lr: number, weightDecay: number, groups: Partial<Record<ParamGroup, GroupOptions>>) {
    checkNonNegative(name, 'lr', lr);
    checkNonNegative(name, 'weight decay', weightDecay);
    for (const [group, g] of Object.entries(groups)) {
      if (g?.lrMult !== undefined) checkNonNegative(name, `the ${group} group's lrMult`, g.lrMult);
      if (g?.weightDecay !== undefined) checkNonNegative(name, `the ${group} group's weight decay`, g.weightDecay);
    }
    if (!Array.isArray(params)) throw new Error(`${name}: params must be an array of named parameters (module.trainableParameters()), got ${typeof params}`);
    const seen = new Set<string>();
    for (const p of params) {
      if (!(p?.tensor instanceof Tensor)) throw new Error(`${name}: params must be { name, tensor, group } entries (module.trainableParameters()), got ${p?.constructor?.name ?? String(p)}`);
      if (seen.has(p.name)) throw new Error(`${name}: parameter name '${p.name}' appears twice`);
      seen.add(p.name);
      if (!p.tensor.requiresGrad) throw new Error(`${name}: parameter '${p.name}' (shape ${shapeStr(p.tensor.shape)}) does not require grad`);
      if (p.tensor.gradFn) throw new Error(`${name}: parameter '${p.name}' is the result of an op ('${p.tensor.op}'), not a leaf`);
    }
    this.lr = lr;
    this.weightDecay = weightDecay;
    this.groups = groups;
    this.params = params;
  }

  /** The effective learning rate and weight decay of a group at the current `lr`. */
  hyperparameters(group: ParamGroup): { lr: number; weightDecay: number } {
    const g = this.groups[group] ?? {};
    return { lr: this.lr * (g.lrMult ?? 1), weightDecay: g.weightDecay ?? this.weightDecay };
  }

  /**
   * One update of every parameter that has a gradient; parameters without one (unused this step) are skipped.
   * `clip` is `clipScale`'s [‖g‖, s]: the gradients are taken as s·g (gradient clipping without rewriting them).
   */
  abstract step(clip?: Tensor | null): void;

  /** The parameters that have a gradient this step; the first thing a step asks, before it changes anything. */
  protected withGrad(): NamedParameter[] {
    // `lr` is a public field that schedules set every step: a NaN or negative one would spoil every parameter silently.
    checkNonNegative(this.name, 'lr', this.lr);
    return this.params.filter((p) => p.tensor.grad);
  }

  /** The optimizer's state by key (`momentum.<parameter>`, …): its own tensors, to read, not to dispose. */
  abstract stateDict(): Record<string, Tensor>;

  /** Replaces the state with copies of `state` (on each parameter's device); missing entries start fresh. */
  abstract loadStateDict(state: Record<string, Tensor>): void;

  /** Disposes every gradient and clears `.grad`, ready for the next backward pass. */
  zeroGrad(): void {
    for (const p of this.params) {
      p.tensor.grad?.dispose();
      p.tensor.grad = null;
    }
  }

  /** Disposes the optimizer's state (the parameters and their gradients are the caller's). */
  abstract dispose(): void;
}

/** A parameter by name, or an error naming the optimizer and the key it came from. */
export function parameterFor(optimizer: Optimizer, key: string, name: string, saved: Tensor): Tensor {
  if (!(saved instanceof Tensor)) throw new Error(`${optimizer.name}.loadStateDict: '${key}' is not a tensor (${(saved as unknown)?.constructor?.name ?? String(saved)})`);
  const { shape } = saved;
  const param = optimizer.params.find((p) => p.name === name)?.tensor;
  if (!param) throw new Error(`${optimizer.name}.loadStateDict: no parameter named '${name}' (state key '${key}')`);
  if (!shapesEqual(shape, param.shape)) {
    throw new Error(`${optimizer.name}.loadStateDict: '${key}' has shape ${shapeStr(shape)} but the parameter has ${shapeStr(param.shape)}`);
  }
  return param;
}

/** A copy of a saved state tensor on the parameter's device and dtype, owned by the caller (outside any scope). */
export function stateCopy(saved: Tensor, param: Tensor): Tensor {
  return noGrad(() => {
    const onDevice = saved.device === param.device ? saved : toSync(saved, param.device);
    const copy = keep(cast(onDevice, param.dtype));
    if (onDevice !== saved) onDevice.dispose();
    return copy;
  });
}

const MOMENTUM = 'momentum.';

export class SGD extends Optimizer {
  readonly momentum: number;
  /** Momentum buffers by parameter name, created on a parameter's first step. Owned here, outside any tidy scope. */
  private readonly buffers = new Map<string, Tensor>();

  constructor(params: readonly NamedParameter[], options: Partial<SGDOptions> = {}) {
    const { lr, momentum, weightDecay, groups } = { ...REFERENCE_SGD, ...options };
    super('SGD', params, lr, weightDecay, groups);
    if (!(momentum >= 0 && momentum < 1)) throw new Error(`SGD: momentum must be in [0, 1), got ${momentum}`);
    this.momentum = momentum;
  }

  step(clip: Tensor | null = null): void {
    const active = this.withGrad();
    noGrad(() => {
      // A buffer starting at zero makes the first step's b = g, as PyTorch's.
      if (this.momentum) for (const p of active) if (!this.buffers.has(p.name)) this.buffers.set(p.name, keep(zerosLike(p.tensor)));
      sgdUpdate_(
        active.map((p) => p.tensor),
        active.map((p) => p.tensor.grad!),
        active.map((p) => this.buffers.get(p.name) ?? null),
        active.map((p) => this.hyperparameters(p.group)),
        this.momentum,
        clip,
      );
    });
  }

  /** The momentum buffers as `momentum.<parameter>` (only parameters that have taken a step). */
  stateDict(): Record<string, Tensor> {
    return Object.fromEntries([...this.buffers].map(([name, t]) => [MOMENTUM + name, t]));
  }

  /** Parameters absent from `state` start with no momentum, as on a first step. */
  loadStateDict(state: Record<string, Tensor>): void {
    const entries = Object.entries(state).map(([key, saved]) => {
      if (!key.startsWith(MOMENTUM)) throw new Error(`SGD.loadStateDict: unknown state key '${key}' (SGD keeps only ${MOMENTUM}<parameter>)`);
      return { name: key.slice(MOMENTUM.length), saved, param: parameterFor(this, key, key.slice(MOMENTUM.length), saved) };
    });
    this.dispose();
    for (const { name, saved, param } of entries) this.buffers.set(name, stateCopy(saved, param));
  }

  dispose(): void {
    for (const t of this.buffers.values()) t.dispose();
    this.buffers.clear();
  }
}
