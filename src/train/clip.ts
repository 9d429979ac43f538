/**
 * Gradient clipping by global L2 norm, as torch.nn.utils.clip_grad_norm_ (reference §6: max norm 35 for the
 * ResNet configs). ‖g‖ is the norm of all gradients taken as one vector, and every gradient is multiplied by
 * min(1, max / (‖g‖ + 1e-6)). The scale stays a tensor — deciding "clip or not" on the host would need a
 * readback every step — and the norm is returned so that a caller who reads back anyway can log it.
 *
 * The trainer does not call this: it hands `clipScale`'s [‖g‖, s] to the optimizer, whose fused update scales the
 * gradients as it reads them. This is the torch-like API for a loop written by hand.
 */
import { noGrad } from '../autograd/index.js';
import { mul } from '../ops/elementwise.js';
import { clipScale } from '../ops/multi-tensor.js';
import { narrow, reshape } from '../ops/shape.js';
import { keep, tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';

/** Replaces the `.grad` of `params` with rescaled copies (not in place) and returns the pre-clipping norm (a scalar the caller owns). */
export function clipGradNorm(params: readonly Tensor[], maxNorm: number): Tensor {
  if (!(maxNorm > 0)) throw new Error(`clipGradNorm: max norm must be > 0, got ${maxNorm}`);
  const withGrad = params.filter((p) => p.grad);
  if (!withGrad.length) throw new Error(`clipGradNorm: none of the ${params.length} parameters has a gradient; call backward() first`);
  return noGrad(() =>
    tidy(() => {
      const clip = clipScale(withGrad.map((p) => p.grad!), maxNorm);
      const norm = reshape(narrow(clip, 0, 0, 1), []);
      const scale = reshape(narrow(clip, 0, 1, 1), []);
      for (const p of withGrad) {
        const old = p.grad!;
        p.grad = keep(mul(old, scale));
        old.dispose();
      }
      return norm;
    }),
  );
}
