/**
 * AdamW (Loshchilov & Hutter), in PyTorch's formulation (`torch.optim.AdamW`, amsgrad off):
 *
 *     p ← p − lr·wd·p                                  (decoupled weight decay, before the moment update)
 *     m ← β₁·m + (1 − β₁)·g;   v ← β₂·v + (1 − β₂)·g²
 *     p ← p − lr · (m / (1 − β₁ᵗ)) / (√(v / (1 − β₂ᵗ)) + ε)
 *
 * t counts this optimizer's steps (from 1); it is saved with the moments so that a resumed run corrects the bias
 * as an uninterrupted one would. Not the reference's optimizer (that is SGD): an option for training from scratch,
 * where it learns faster at small batches (README, "The recipe").
 */
import { noGrad } from '../autograd/index.js';
import type { NamedParameter } from '../nn/module.js';
import { tensor, zerosLike } from '../ops/creation.js';
import { adamwUpdate_ } from '../ops/multi-tensor.js';
import { keep } from '../tensor/scope.js';
import { Tensor } from '../tensor/tensor.js';
import { shapeStr } from '../tensor/shape.js';
import { Optimizer, parameterFor, stateCopy, type GroupOptions, type ParamGroup } from './optimizer.js';

export interface AdamWOptions {
  lr: number;
  betas: readonly [number, number];
  eps: number;
  weightDecay: number;
  groups: Partial<Record<ParamGroup, GroupOptions>>;
}

/** PyTorch's defaults, except weight decay: 0.05 on weights, none on biases and norm parameters (common practice for from-scratch training). */
export const ADAMW_DEFAULTS: AdamWOptions = {
  lr: 1e-3,
  betas: [0.9, 0.999],
  eps: 1e-8,
  weightDecay: 0.05,
  groups: { bias: { weightDecay: 0 }, norm: { weightDecay: 0 } },
};

const EXP_AVG = 'exp_avg.';
const EXP_AVG_SQ = 'exp_avg_sq.';
const STEP = 'step';

export class AdamW extends Optimizer {
  readonly betas: readonly [number, number];
  readonly eps: number;
  /** Steps taken so far (t of the bias correction is `steps + 1` during a step). */
  steps = 0;
  private readonly moments = new Map<string, { m: Tensor; v: Tensor }>();

  constructor(params: readonly NamedParameter[], options: Partial<AdamWOptions> = {}) {
    const { lr, betas, eps, weightDecay, groups } = { ...ADAMW_DEFAULTS, ...options };
    super('AdamW', params, lr, weightDecay, groups);
    for (const beta of betas) if (!(beta >= 0 && beta < 1)) throw new Error(`AdamW: betas must be in [0, 1), got [${betas.join(', ')}]`);
    if (!(eps > 0)) throw new Error(`AdamW: eps must be > 0, got ${eps}`);
    this.betas = betas;
    this.eps = eps;
  }

  step(clip: Tensor | null = null): void {
    const active = this.withGrad();
    this.steps += 1;
    const [beta1, beta2] = this.betas;
    noGrad(() => {
      for (const p of active) {
        if (!this.moments.has(p.name)) this.moments.set(p.name, { m: keep(zerosLike(p.tensor)), v: keep(zerosLike(p.tensor)) });
      }
      const moments = active.map((p) => this.moments.get(p.name)!);
      adamwUpdate_(
        active.map((p) => p.tensor),
        active.map((p) => p.tensor.grad!),
        moments.map((s) => s.m),
        moments.map((s) => s.v),
        active.map((p) => this.hyperparameters(p.group)),
        { beta1, beta2, eps: this.eps, correction1: 1 - beta1 ** this.steps, correction2: 1 - beta2 ** this.steps },
        clip,
      );
    });
  }

  /** `exp_avg.<parameter>`, `exp_avg_sq.<parameter>` (PyTorch's names) and `step`, a scalar. */
  stateDict(): Record<string, Tensor> {
    const state: Record<string, Tensor> = {};
    for (const [name, { m, v }] of this.moments) {
      state[EXP_AVG + name] = m;
      state[EXP_AVG_SQ + name] = v;
    }
    this.stepTensor?.dispose();
    this.stepTensor = tensor([this.steps], { dtype: 'float64' });
    state[STEP] = this.stepTensor;
    return state;
  }

  private stepTensor: Tensor | null = null;

  loadStateDict(state: Record<string, Tensor>): void {
    const loaded = new Map<string, { m?: Tensor; v?: Tensor; param: Tensor }>();
    let steps = 0;
    for (const [key, saved] of Object.entries(state)) {
      if (key === STEP) {
        // stateDict() gives it on the CPU; read here synchronously, so it must be there.
        if (!(saved instanceof Tensor) || saved.device !== 'cpu' || saved.size !== 1) {
          throw new Error(`AdamW.loadStateDict: '${STEP}' must be a one-element CPU tensor, as stateDict() gives it; got ${saved instanceof Tensor ? `${shapeStr(saved.shape)} on ${saved.device}` : String(saved)}`);
        }
        steps = saved.toArraySync()[0];
        continue;
      }
      const prefix = [EXP_AVG, EXP_AVG_SQ].find((pre) => key.startsWith(pre));
      if (!prefix) throw new Error(`AdamW.loadStateDict: unknown state key '${key}' (expected ${EXP_AVG}<parameter>, ${EXP_AVG_SQ}<parameter> or ${STEP})`);
      const name = key.slice(prefix.length);
      const param = parameterFor(this, key, name, saved);
      const entry = loaded.get(name) ?? { param };
      entry[prefix === EXP_AVG ? 'm' : 'v'] = saved;
      loaded.set(name, entry);
    }
    for (const [name, entry] of loaded) {
      if (!entry.m || !entry.v) throw new Error(`AdamW.loadStateDict: '${name}' has only one of ${EXP_AVG}${name} and ${EXP_AVG_SQ}${name}`);
    }
    if (!Number.isInteger(steps) || steps < 0) throw new Error(`AdamW.loadStateDict: step must be an integer ≥ 0, got ${steps}`);
    this.dispose();
    this.steps = steps;
    for (const [name, { m, v, param }] of loaded) this.moments.set(name, { m: stateCopy(m!, param), v: stateCopy(v!, param) });
  }

  dispose(): void {
    for (const { m, v } of this.moments.values()) {
      m.dispose();
      v.dispose();
    }
    this.moments.clear();
    this.stepTensor?.dispose();
    this.stepTensor = null;
  }
}
