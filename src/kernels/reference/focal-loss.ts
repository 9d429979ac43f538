/**
 * Reference sigmoid focal loss (Lin et al., torchvision.ops.sigmoid_focal_loss), elementwise, with its
 * derivative. With p = σ(x), q = 1 − p = σ(−x) and a (soft) target t ∈ [0, 1]:
 *   ce   = max(x, 0) − x·t + log(1 + e^(−|x|))          (binary cross-entropy with logits, overflow-free)
 *   m    = 1 − p_t = p·(1 − t) + q·t                    (no cancellation, unlike 1 − (p·t + q·(1 − t)))
 *   α_t  = α·t + (1 − α)·(1 − t), or 1 when α < 0
 *   loss = α_t · ce · m^γ
 *   dloss/dx = α_t · [(p − t)·m^γ − γ·(2t − 1)·ce·m^(γ−1)·p·q]
 * m^(γ−1)·p·q is evaluated as m^γ·(p·q/m): p·q/m ≤ max(p, q) ≤ 1, and where m = 0 (a saturated, correct
 * prediction) the term's limit is 0. So nothing overflows at |x| = 100 and large-|x| values stay exact.
 * With α < 0 and γ = 0 this is plain BCE with logits: loss = ce, dloss/dx = p − t.
 */
import { typedArrayFor, type DType, type TypedArray } from '../../tensor/dtype.js';

export interface FocalParams {
  /** Weight of the positive class; < 0 disables the α_t factor. */
  alpha: number;
  gamma: number;
}

/** [loss, dloss/dx] for one logit and target. */
function focalTerms(x: number, t: number, { alpha, gamma }: FocalParams): [number, number] {
  const e = Math.exp(-Math.abs(x));
  const p = x >= 0 ? 1 / (1 + e) : e / (1 + e);
  const q = x >= 0 ? e / (1 + e) : 1 / (1 + e);
  const ce = Math.max(x, 0) - x * t + Math.log1p(e);
  const m = p * (1 - t) + q * t;
  const mGamma = m > 0 ? m ** gamma : gamma === 0 ? 1 : 0;
  const mGammaMinus1PQ = m > 0 ? mGamma * ((p * q) / m) : 0;
  const alphaT = alpha >= 0 ? alpha * t + (1 - alpha) * (1 - t) : 1;
  return [alphaT * ce * mGamma, alphaT * ((p - t) * mGamma - gamma * (2 * t - 1) * ce * mGammaMinus1PQ)];
}

export function focalLossForward(logits: TypedArray, targets: TypedArray, params: FocalParams, dtype: DType): TypedArray {
  const out = typedArrayFor(dtype, logits.length);
  for (let i = 0; i < out.length; i++) out[i] = focalTerms(logits[i], targets[i], params)[0];
  return out;
}

/**
 * The gradient for the logits: scale · g_i · dloss_i/dx_i, where the upstream gradient `g` holds one value per
 * element, or a single value shared by all (the gradient of a summed loss; scale 1/n for a mean).
 */
export function focalLossBackward(
  g: TypedArray, logits: TypedArray, targets: TypedArray, params: FocalParams, scale: number, dtype: DType,
): TypedArray {
  const out = typedArrayFor(dtype, logits.length);
  for (let i = 0; i < out.length; i++) out[i] = scale * g[g.length === 1 ? 0 : i] * focalTerms(logits[i], targets[i], params)[1];
  return out;
}
