/**
 * Reference GroupNorm, forward and backward (the CPU half of the fused kernel). x is [N, C, spatial...] viewed
 * as [N, G, C/G, S]; each (n, g) block of M = (C/G)·S values is normalised by its own mean and biased variance
 * (as torch), then the per-channel affine y = x̂·γ_c + β_c.
 *
 * The statistics are computed in two passes (mean, then Σ(x − mean)²) in double precision: the definition
 * that the one-pass WGSL kernel is checked against.
 */
import { typedArrayFor, type DType, type TypedArray } from '../../tensor/dtype.js';

export interface GroupNormDims {
  batch: number;
  channels: number;
  groups: number;
  /** Product of the dimensions after C (1 for a [N, C] input). */
  spatial: number;
}

/** y, and stats = [N, G, 2] holding (mean, 1/√(var + eps)) per group for the backward pass. */
export function groupNormForward(
  x: TypedArray, weight: TypedArray | null, bias: TypedArray | null, dims: GroupNormDims, eps: number, dtype: DType,
): { y: TypedArray; stats: TypedArray } {
  const { batch, channels, groups, spatial } = dims;
  const perGroup = channels / groups;
  const m = perGroup * spatial;
  const y = typedArrayFor(dtype, x.length);
  const stats = typedArrayFor(dtype, batch * groups * 2);
  for (let ng = 0; ng < batch * groups; ng++) {
    const base = ng * m;
    let sum = 0;
    for (let k = 0; k < m; k++) sum += x[base + k];
    const mean = sum / m;
    let squares = 0;
    for (let k = 0; k < m; k++) squares += (x[base + k] - mean) ** 2;
    const rstd = 1 / Math.sqrt(squares / m + eps);
    stats[2 * ng] = mean;
    stats[2 * ng + 1] = rstd;
    for (let k = 0; k < m; k++) {
      const c = (ng % groups) * perGroup + Math.floor(k / spatial);
      y[base + k] = (x[base + k] - mean) * rstd * (weight ? weight[c] : 1) + (bias ? bias[c] : 0);
    }
  }
  return { y, stats };
}

/**
 * With x̂ the normalised input and ĝ = g·γ_c the gradient reaching x̂, per group:
 *   dx = rstd · (ĝ − mean(ĝ) − x̂ · mean(ĝ·x̂)).
 * The per-(n, c) sums Σ_s g·x̂ and Σ_s g are the batch terms of dγ and dβ, and also give the two group means
 * (weighted by γ_c), so they are computed once and returned as dWeight, dBias of shape [N, C].
 */
export function groupNormBackward(
  g: TypedArray, x: TypedArray, stats: TypedArray, weight: TypedArray | null, dims: GroupNormDims, dtype: DType,
): { dx: TypedArray; dWeight: TypedArray; dBias: TypedArray } {
  const { batch, channels, groups, spatial } = dims;
  const perGroup = channels / groups;
  const m = perGroup * spatial;
  const dx = typedArrayFor(dtype, x.length);
  const dWeight = typedArrayFor(dtype, batch * channels);
  const dBias = typedArrayFor(dtype, batch * channels);
  for (let ng = 0; ng < batch * groups; ng++) {
    const [mean, rstd] = [stats[2 * ng], stats[2 * ng + 1]];
    const gamma = (ch: number) => (weight ? weight[(ng % groups) * perGroup + ch] : 1);
    let sumG = 0; // Σ ĝ over the group
    let sumGXhat = 0; // Σ ĝ·x̂ over the group
    for (let ch = 0; ch < perGroup; ch++) {
      const base = (ng * perGroup + ch) * spatial;
      let a = 0;
      let b = 0;
      for (let s = 0; s < spatial; s++) {
        a += g[base + s] * (x[base + s] - mean) * rstd;
        b += g[base + s];
      }
      dWeight[ng * perGroup + ch] = a;
      dBias[ng * perGroup + ch] = b;
      sumGXhat += gamma(ch) * a;
      sumG += gamma(ch) * b;
    }
    for (let k = 0; k < m; k++) {
      const i = ng * m + k;
      const xhat = (x[i] - mean) * rstd;
      dx[i] = rstd * (gamma(Math.floor(k / spatial)) * g[i] - sumG / m - (xhat * sumGXhat) / m);
    }
  }
  return { dx, dWeight, dBias };
}

/**
 * dγ and dβ: their per-sample terms ([N, C] each, from groupNormBackward) summed over the batch, in batch order and
 * in float64, rounded once (as the reference sum over axis 0 adds them).
 */
export function groupNormBatchTotals(dWeight: TypedArray, dBias: TypedArray, dims: GroupNormDims, dtype: DType): { weight: TypedArray; bias: TypedArray } {
  const total = (perSample: TypedArray) => {
    const out = typedArrayFor(dtype, dims.channels);
    for (let c = 0; c < dims.channels; c++) {
      let s = 0;
      for (let n = 0; n < dims.batch; n++) s += perSample[n * dims.channels + c];
      out[c] = s;
    }
    return out;
  };
  return { weight: total(dWeight), bias: total(dBias) };
}
