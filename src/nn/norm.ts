/**
 * Normalisation layers: GroupNorm (the SMPR head's) and FrozenBatchNorm2d (the backbone's: mmdet's BN with
 * requires_grad=False and norm_eval=True, i.e. a fixed per-channel affine map).
 */
import { add, div, mul, sqrt, sub } from '../ops/elementwise.js';
import { groupNorm } from '../ops/group-norm.js';
import { reshape } from '../ops/shape.js';
import { withGradDisabled } from '../tensor/engine.js';
import { keep, tidy } from '../tensor/scope.js';
import { shapeStr } from '../tensor/shape.js';
import type { Storage } from '../tensor/storage.js';
import type { Tensor } from '../tensor/tensor.js';
import { constant, initTensor, type InitOptions } from './init.js';
import { Module, type Buffer, type Parameter } from './module.js';

export interface NormOptions extends InitOptions {
  eps?: number;
}

export class GroupNorm extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter;
  readonly eps: number;

  constructor(readonly groups: number, readonly channels: number, options: NormOptions = {}) {
    super();
    if (!Number.isInteger(groups) || groups < 1 || channels % groups !== 0) {
      throw new Error(`GroupNorm: ${channels} channels do not divide into ${groups} groups`);
    }
    this.eps = options.eps ?? 1e-5;
    this.weight = this.addParameter('weight', initTensor([channels], constant(1), options), 'norm');
    this.bias = this.addParameter('bias', initTensor([channels], constant(0), options), 'norm');
  }

  forward(x: Tensor): Tensor {
    return groupNorm(x, this.groups, this.weight.tensor, this.bias.tensor, this.eps);
  }
}

/**
 * y = x·scale + shift per channel, with scale = weight / √(running_var + eps) and shift = bias − running_mean·scale.
 *
 * All four tensors are saved under PyTorch's BN names. weight and bias are registered as permanently frozen
 * parameters (mmdet keeps them as parameters with requires_grad=False, so they count in its parameter total);
 * the running statistics are buffers. scale and shift are computed once per set of values and cached; loading a
 * checkpoint or moving the module changes the storage under them, which the cache notices.
 */
export class FrozenBatchNorm2d extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter;
  readonly runningMean: Buffer;
  readonly runningVar: Buffer;
  readonly eps: number;
  protected override readonly ignoredStateKeys = ['num_batches_tracked'];
  private cache: { sources: Storage[]; scale: Tensor; shift: Tensor } | null = null;

  constructor(readonly channels: number, options: NormOptions = {}) {
    super();
    this.eps = options.eps ?? 1e-5;
    this.weight = this.addParameter('weight', initTensor([channels], constant(1), options), 'norm', true);
    this.bias = this.addParameter('bias', initTensor([channels], constant(0), options), 'norm', true);
    this.runningMean = this.addBuffer('running_mean', initTensor([channels], constant(0), options));
    this.runningVar = this.addBuffer('running_var', initTensor([channels], constant(1), options));
  }

  private affine(): { scale: Tensor; shift: Tensor } {
    const inputs = [this.weight.tensor, this.bias.tensor, this.runningMean.tensor, this.runningVar.tensor];
    // Keyed on storage: loading swaps the storage under the same tensors, moving swaps the tensors.
    const sources = inputs.map((t) => t.storage('FrozenBatchNorm2d'));
    if (this.cache && this.cache.sources.every((s, i) => s === sources[i])) return this.cache;
    this.dropCache();
    const [w, b, mean, variance] = inputs;
    const { scale, shift } = withGradDisabled(() =>
      tidy(() => {
        const scale = div(w, sqrt(add(variance, this.eps)));
        const shift = sub(b, mul(mean, scale));
        const asChannels = [1, this.channels, 1, 1];
        return { scale: reshape(scale, asChannels), shift: reshape(shift, asChannels) };
      }),
    );
    this.cache = { sources, scale: keep(scale), shift: keep(shift) };
    return this.cache;
  }

  forward(x: Tensor): Tensor {
    if (x.rank !== 4 || x.shape[1] !== this.channels) {
      throw new Error(`FrozenBatchNorm2d: input ${shapeStr(x.shape)} should be [N, ${this.channels}, H, W]`);
    }
    const { scale, shift } = this.affine();
    return add(mul(x, scale), shift);
  }

  private dropCache(): void {
    this.cache?.scale.dispose();
    this.cache?.shift.dispose();
    this.cache = null;
  }

  protected override disposeOwn(): void {
    this.dropCache();
    super.disposeOwn();
  }
}
