/**
 * The reference definition of the fused optimizer kernels, element by element on typed arrays (float32 or float64),
 * in place, as the WGSL instances in `wgsl/multi-tensor.ts` compute them:
 *
 *   sum of squares   Σ g²  over every gradient of the step (for the global norm of gradient clipping)
 *   SGD              g' = s·g + wd·p;   b ← μ·b + g';   p ← p − lr·b
 *   AdamW            g' = s·g;   m ← β₁·m + (1 − β₁)·g';   v ← β₂·v + (1 − β₂)·g'²;
 *                    p ← p·(1 − lr·wd) − (lr / c₁)·m / (√(v / c₂) + ε)
 *
 * s is the clipping scale min(1, max / (‖g‖ + 1e-6)) (1 without clipping), and c₁ = 1 − β₁ᵗ, c₂ = 1 − β₂ᵗ the
 * bias corrections of step t. A momentum buffer that starts at zero makes SGD's first step b = g', as PyTorch's.
 */
import type { TypedArray } from '../../tensor/dtype.js';

export interface PerTensor {
  lr: number;
  weightDecay: number;
}

export function sumOfSquares(grads: readonly TypedArray[]): number {
  let total = 0;
  for (const g of grads) for (let i = 0; i < g.length; i++) total += g[i]! * g[i]!;
  return total;
}

export function sgdUpdate(p: TypedArray, g: TypedArray, b: TypedArray | null, h: PerTensor & { momentum: number; scale: number }): void {
  for (let i = 0; i < p.length; i++) {
    const d = h.scale * g[i]! + h.weightDecay * p[i]!;
    let direction = d;
    if (b) direction = b[i] = h.momentum * b[i]! + d;
    p[i] = p[i]! - h.lr * direction;
  }
}

export interface AdamWStep extends PerTensor {
  beta1: number;
  beta2: number;
  eps: number;
  /** 1 − β₁ᵗ and 1 − β₂ᵗ. */
  correction1: number;
  correction2: number;
  scale: number;
}

export function adamwUpdate(p: TypedArray, g: TypedArray, m: TypedArray, v: TypedArray, h: AdamWStep): void {
  for (let i = 0; i < p.length; i++) {
    const grad = h.scale * g[i]!;
    m[i] = h.beta1 * m[i]! + (1 - h.beta1) * grad;
    v[i] = h.beta2 * v[i]! + (1 - h.beta2) * grad * grad;
    p[i] = p[i]! * (1 - h.lr * h.weightDecay) - ((h.lr / h.correction1) * m[i]!) / (Math.sqrt(v[i]! / h.correction2) + h.eps);
  }
}
