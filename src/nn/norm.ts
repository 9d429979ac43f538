/**
 * Normalisation layers: GroupNorm (the SMPR head's) and FrozenBatchNorm2d (the backbones': mmdet's BN with
 * norm_eval=True, whose running statistics never change — a per-channel affine map; its own affine weight and
 * bias are frozen too with requires_grad=False, the ResNet configs, or trained, the HRNet configs).
 */
import { checkNonNegative } from '../errors.js';
import { add, addRelu, div, mul, sqrt, sub } from '../ops/elementwise.js';
import { groupNorm, groupNormRelu } from '../ops/group-norm.js';
import { reshape } from '../ops/shape.js';
import { withGradDisabled } from '../tensor/engine.js';
import { keep, tidy } from '../tensor/scope.js';
import { shapeStr } from '../tensor/shape.js';
import type { Storage } from '../tensor/storage.js';
import type { Tensor } from '../tensor/tensor.js';
import { constant, initTensor, type InitOptions } from './init.js';
import { Module, type ModuleBuffer, type Parameter } from './module.js';

export interface NormOptions extends InitOptions {
  eps?: number;
}

export interface BatchNormOptions extends NormOptions {
  /** Train weight and bias (mmdet's requires_grad=True); the running statistics stay frozen either way. */
  trainAffine?: boolean;
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

  /** relu(forward(x)), fused into the norm's kernels. */
  forwardRelu(x: Tensor): Tensor {
    return groupNormRelu(x, this.groups, this.weight.tensor, this.bias.tensor, this.eps);
  }
}

/**
 * y = x·scale + shift per channel, with scale = weight / √(running_var + eps) and shift = bias − running_mean·scale.
 *
 * All four tensors are saved under PyTorch's BN names; the running statistics are buffers. weight and bias are
 * parameters (mmdet keeps them as parameters even when frozen, so they count in its parameter total), frozen
 * unless `trainAffine`. What depends on frozen tensors only is computed once per set of values and cached:
 * scale and shift for a frozen affine, 1/√(running_var + eps) and running_mean for a trained one, whose scale and
 * shift are then two small ops per forward through which the gradient reaches weight and bias. Loading a
 * checkpoint or moving the module changes the storage under the cached sources, which the cache notices.
 */
export class FrozenBatchNorm2d extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter;
  readonly runningMean: ModuleBuffer;
  readonly runningVar: ModuleBuffer;
  readonly eps: number;
  readonly trainAffine: boolean;
  protected override readonly ignoredStateKeys = ['num_batches_tracked'];
  /** Frozen affine: the whole scale and shift. Trained affine: scale holds 1/√(var + eps), its frozen factor; no shift. */
  private cache: { sources: Storage[]; scale: Tensor; shift: Tensor | null } | null = null;

  constructor(readonly channels: number, options: BatchNormOptions = {}) {
    super();
    this.eps = options.eps ?? 1e-5;
    // As groupNorm's: a NaN or negative eps turned every output NaN.
    checkNonNegative('FrozenBatchNorm2d', 'eps', this.eps);
    this.trainAffine = options.trainAffine ?? false;
    this.weight = this.addParameter('weight', initTensor([channels], constant(1), options), 'norm', !this.trainAffine);
    this.bias = this.addParameter('bias', initTensor([channels], constant(0), options), 'norm', !this.trainAffine);
    this.runningMean = this.addBuffer('running_mean', initTensor([channels], constant(0), options));
    this.runningVar = this.addBuffer('running_var', initTensor([channels], constant(1), options));
  }

  /** What depends on frozen tensors only, cached on their storage. */
  private frozenPart(): { scale: Tensor; shift: Tensor | null } {
    const stats = [this.runningMean.tensor, this.runningVar.tensor];
    const inputs = this.trainAffine ? stats : [this.weight.tensor, this.bias.tensor, ...stats];
    // Keyed on storage: loading swaps the storage under the same tensors, moving swaps the tensors.
    const sources = inputs.map((t) => t.storage('FrozenBatchNorm2d'));
    if (this.cache && this.cache.sources.length === sources.length && this.cache.sources.every((s, i) => s === sources[i])) return this.cache;
    this.dropCache();
    const [mean, variance] = stats;
    const { scale, shift } = withGradDisabled(() =>
      tidy(() => {
        const invStd = div(1, sqrt(add(variance, this.eps)));
        if (this.trainAffine) return { scale: invStd, shift: null };
        const scale = mul(this.weight.tensor, invStd);
        return { scale, shift: sub(this.bias.tensor, mul(mean, scale)) };
      }),
    );
    this.cache = { sources, scale: keep(scale), shift: shift && keep(shift) };
    return this.cache;
  }

  /**
   * The per-channel map y = x·scale + shift, as two [C] tensors: cached when frozen; two small ops each call
   * when the affine is trained, through which the gradient reaches weight and bias.
   */
  affine(): { scale: Tensor; shift: Tensor } {
    const frozen = this.frozenPart();
    if (frozen.shift) return { scale: frozen.scale, shift: frozen.shift };
    const scale = mul(this.weight.tensor, frozen.scale);
    return { scale, shift: sub(this.bias.tensor, mul(this.runningMean.tensor, scale)) };
  }

  forward(x: Tensor): Tensor {
    return this.map(x, add);
  }

  /** relu(forward(x)), the ReLU in the shift's add (addRelu). */
  forwardRelu(x: Tensor): Tensor {
    return this.map(x, addRelu);
  }

  /** x·scale + shift per channel, the shift added by `shiftBy` (add, or addRelu). */
  private map(x: Tensor, shiftBy: (a: Tensor, b: Tensor) => Tensor): Tensor {
    if (x.rank !== 4 || x.shape[1] !== this.channels) {
      throw new Error(`FrozenBatchNorm2d: input ${shapeStr(x.shape)} should be [N, ${this.channels}, H, W]`);
    }
    const { scale, shift } = this.affine();
    const channels = [1, this.channels, 1, 1];
    return shiftBy(mul(x, reshape(scale, channels)), reshape(shift, channels));
  }

  private dropCache(): void {
    this.cache?.scale.dispose();
    this.cache?.shift?.dispose();
    this.cache = null;
  }

  protected override disposeOwn(): void {
    this.dropCache();
    super.disposeOwn();
  }
}
