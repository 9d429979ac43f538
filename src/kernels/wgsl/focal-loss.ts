/**
 * Fused sigmoid focal loss (see reference/focal-loss.ts for the formulas and why they are overflow-free).
 * Elementwise: one invocation per element (`kernel1d`: on CPU adapters each loops over several). One template gives the kernels: the forward
 * writes the loss, the backward writes scale · upstream · dloss/dlogit; both call the same `focal` function,
 * and the shader compiler drops the half that a kernel does not use. For a summed or averaged loss the
 * backward reads the single upstream value directly (scale 1 or 1/n), instead of a broadcast copy of it.
 */
import type { DeviceInfo, Program } from '../program.js';
import { gridStride1d, kernel1d, ParamWriter, storage, uniform } from './common.js';
import type { FocalParams } from '../reference/focal-loss.js';

export type FocalPass = 'forward' | 'backward';

/** Horner form of 1 + s²/3 + s⁴/5 + … + s¹⁴/15 (the series of atanh(s)/s), in the variable s2 = s². */
const ATANH_SERIES = Array.from({ length: 8 }, (_, k) => 1 / (2 * k + 1))
  .reduceRight((inner, c) => (inner ? `${c} + s2 * (${inner})` : `${c}`), '');

const FOCAL = `
// log(1 + e) for e in [0, 1], as 2·atanh(s) with s = e / (2 + e) ≤ 1/3. log(1 + e) would round 1 + e first and
// WGSL's log is only accurate to an absolute 2^-21 near 1, which ruins small losses of confident predictions;
// the series shrinks by s² ≤ 1/9 per term, so 8 terms reach float32 precision for every e.
fn log1pSmall(e: f32) -> f32 {
  let s = e / (2.0 + e);
  let s2 = s * s;
  return 2.0 * s * (${ATANH_SERIES});
}

// (loss, dloss/dx) for logit x and target t.
fn focal(x: f32, t: f32) -> vec2<f32> {
  let e = exp(-abs(x));
  let r = 1.0 / (1.0 + e);
  let sigPos = select(e * r, r, x >= 0.0);
  let sigNeg = select(r, e * r, x >= 0.0);
  let ce = max(x, 0.0) - x * t + log1pSmall(e);
  let m = sigPos * (1.0 - t) + sigNeg * t;
  let mGamma = select(select(0.0, 1.0, p.gamma == 0.0), pow(m, p.gamma), m > 0.0);
  let mGammaMinus1PQ = select(0.0, mGamma * (sigPos * sigNeg / m), m > 0.0);
  let alphaT = select(1.0, p.alpha * t + (1.0 - p.alpha) * (1.0 - t), p.alpha >= 0.0);
  return alphaT * vec2<f32>(ce * mGamma, (sigPos - t) * mGamma - p.gamma * (2.0 * t - 1.0) * ce * mGammaMinus1PQ);
}`;

/**
 * Bindings: logits, targets, [upstream for the backward], out. The backward's upstream holds one value per
 * element, or one for all when `sharedUpstream`.
 */
export function focalLossKernel(pass: FocalPass, n: number, { alpha, gamma }: FocalParams, device: DeviceInfo, scale = 1, sharedUpstream = false): Program {
  const inputs = pass === 'forward' ? ['logits', 'targets'] : ['logits', 'targets', 'upstream'];
  const value = pass === 'forward'
    ? 'focal(logits[i], targets[i]).x'
    : `p.scale * upstream[${sharedUpstream ? '0u' : 'i'}] * focal(logits[i], targets[i]).y`;
  const code = `
struct Params { n: u32, alpha: f32, gamma: f32, scale: f32 }
${inputs.map((name, k) => storage(k, name, 'float32')).join('\n')}
${storage(inputs.length, 'out', 'float32', true)}
${uniform(inputs.length + 1)}
${FOCAL}
${kernel1d('p.n', `  out[i] = ${value};`)}`;
  const label = pass === 'forward' ? 'focalLoss' : 'focalLossBackward';
  return { label, code, params: new ParamWriter().u32(n).f32(alpha, gamma, scale).finish(), workgroups: gridStride1d(n, device) };
}
