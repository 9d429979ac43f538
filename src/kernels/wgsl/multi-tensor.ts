/**
 * Multi-tensor kernels: one dispatch works on a pack of tensors of different sizes, so that an optimizer step over a
 * model's ~100 parameters costs a few dozen dispatches instead of several per parameter. PyTorch's fused optimizers
 * hand their kernels lists of pointers; WGSL has no arrays of buffers, so each tensor of a pack is a binding of its
 * own and a pack holds as many tensors as `maxStorageBuffersPerShaderStage` leaves room for (at most 8: the
 * per-tensor uniforms are two vec4s).
 *
 * Tiling: a G × count grid of 256-wide workgroups. Row y of the grid is tensor y of the pack; its G workgroups
 * stride over the tensor's elements (i, i + 256·G, …). A `switch` on the row picks the tensor's bindings: the row
 * index is uniform over a workgroup, so the branches cost nothing in divergence. On a CPU adapter G is small,
 * since each workgroup there has a fixed cost (see `gridStride1d`).
 *
 * One template (`packKernel`) and three instances: the sum of squares of the gradients (partial sums per
 * workgroup, folded by `clipScaleKernel` into the norm and the clipping scale), the SGD update and the AdamW
 * update, both in place on the parameter and its state. `reference/optimizer-update.ts` is the definition.
 */
import { wgslType, type DType } from '../../tensor/dtype.js';
import type { DeviceInfo, Program } from '../program.js';
import type { AdamWStep, PerTensor } from '../reference/optimizer-update.js';
import { ParamWriter, storage, uniform, WORKGROUP_1D as WG, workgroupTree } from './common.js';

const MAX_PACK = 8;

/** One binding of each tensor in a pack: its WGSL name, and whether the kernel writes it. */
interface PackBinding {
  name: string;
  write: boolean;
}

/** How many tensors fit in one dispatch when each needs `perTensor` bindings and the pack shares `shared` more. */
export function packSize(device: DeviceInfo, perTensor: number, shared: number): number {
  const size = Math.min(MAX_PACK, Math.floor((device.limits.maxStorageBuffersPerShaderStage - shared) / perTensor));
  if (size < 1) throw new Error(`multi-tensor kernel: ${perTensor} + ${shared} storage buffers exceed this adapter's ${device.limits.maxStorageBuffersPerShaderStage} per shader stage`);
  return size;
}

/** Workgroups per tensor: enough for the largest tensor of the pack, capped. */
function workgroupsPerTensor(sizes: readonly number[], device: DeviceInfo): number {
  return Math.max(1, Math.min(device.cpu ? 8 : 1024, Math.ceil(Math.max(...sizes) / WG)));
}

/**
 * The uniform of a pack: its tensors' sizes, learning rates and weight decays, then the instance's scalars (f32,
 * in the order its `scalars` names them).
 */
function packParams(sizes: readonly number[], hyper: readonly PerTensor[] | null, scalars: readonly number[]): Uint32Array {
  const pad = (values: number[]) => [...values, ...Array(MAX_PACK - values.length).fill(0)];
  const perTensor = hyper ?? sizes.map(() => ({ lr: 0, weightDecay: 0 }));
  return new ParamWriter()
    .u32(...pad([...sizes]))
    .f32(...pad(perTensor.map((h) => h.lr)))
    .f32(...pad(perTensor.map((h) => h.weightDecay)))
    .f32(...scalars)
    .u32(0)
    .finish();
}

/**
 * The template. `body(k)` is the WGSL run for element `i` of tensor k, with the tensor's bindings named
 * `${name}${k}` and its uniforms `n(k)`, `lr(k)`, `wd(k)` in scope; `shared` bindings follow the pack's.
 * `declarations` go at module scope, `setup` and `finish` run once per invocation around the loop (the sum of
 * squares reduces there). The program has no params: `packParams` writes them, so that a caller may reuse one
 * program for every step (the values change, the WGSL does not).
 */
function packKernel(spec: {
  label: string;
  dtype: DType;
  sizes: readonly number[];
  device: DeviceInfo;
  perTensor: readonly PackBinding[];
  shared: readonly PackBinding[];
  /** Names of the extra f32 uniforms shared by the pack, in order. */
  scalars: readonly string[];
  body: (k: number) => string;
  declarations?: string;
  setup?: string;
  finish?: string;
}): Program {
  const count = spec.sizes.length;
  const G = workgroupsPerTensor(spec.sizes, spec.device);
  const bindings: string[] = [];
  let binding = 0;
  for (let k = 0; k < count; k++) {
    for (const b of spec.perTensor) bindings.push(storage(binding++, `${b.name}${k}`, spec.dtype, b.write));
  }
  for (const b of spec.shared) bindings.push(storage(binding++, b.name, spec.dtype, b.write));
  const T = wgslType(spec.dtype);
  const cases = spec.sizes
    .map((_, k) => `    case ${k}u: {
      for (var i = wid.x * ${WG}u + lid; i < n(${k}u); i += ${G * WG}u) {
${spec.body(k)}
      }
    }`)
    .join('\n');
  const code = `
struct Params { n: array<vec4<u32>, 2>, lr: array<vec4<f32>, 2>, wd: array<vec4<f32>, 2>, ${spec.scalars.map((name) => `${name}: f32`).join(', ')}${spec.scalars.length ? ',' : ''} pad: u32 }
${bindings.join('\n')}
${uniform(binding)}
fn n(k: u32) -> u32 { return p.n[k / 4u][k % 4u]; }
fn lr(k: u32) -> ${T} { return ${T}(p.lr[k / 4u][k % 4u]); }
fn wd(k: u32) -> ${T} { return ${T}(p.wd[k / 4u][k % 4u]); }
${spec.declarations ?? ''}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
${spec.setup ?? ''}
  switch wid.y {
${cases}
    default: {}
  }
${spec.finish ?? ''}
}`;
  return { label: spec.label, code, workgroups: [G, count] };
}

/**
 * Partial sums of squares of a pack of gradients: workgroup (x, k) writes Σ g² over its share of tensor k to
 * `partials[offset + k·G + x]`. `partialsPerPack` tells the caller how many slots a pack takes.
 */
export function sumOfSquaresKernel(dtype: DType, sizes: readonly number[], device: DeviceInfo, offset: number): Program {
  const G = workgroupsPerTensor(sizes, device);
  const T = wgslType(dtype);
  const program = packKernel({
    label: 'sumOfSquares', dtype, sizes, device,
    perTensor: [{ name: 'g', write: false }],
    shared: [{ name: 'partials', write: true }],
    scalars: [],
    declarations: `var<workgroup> tree: array<${T}, ${WG}>;`,
    setup: `  var acc = ${T}(0);`,
    body: (k) => `        let v = g${k}[i];
        acc += v * v;`,
    finish: `  tree[lid] = acc;${workgroupTree('tree[lid] += tree[o];')}
  if (lid == 0u) { partials[${offset}u + wid.y * ${G}u + wid.x] = tree[0]; }`,
  });
  return { ...program, params: packParams(sizes, null, []) };
}

/** Slots of the partials buffer that `sumOfSquaresKernel` fills for a pack of these sizes. */
export function partialsPerPack(sizes: readonly number[], device: DeviceInfo): number {
  return sizes.length * workgroupsPerTensor(sizes, device);
}

/**
 * Folds the partial sums into [‖g‖, s] with s = min(1, maxNorm / (‖g‖ + 1e-6)) as torch.nn.utils.clip_grad_norm_;
 * s = 1 when maxNorm is 0 (no clipping). One workgroup.
 */
export function clipScaleKernel(dtype: DType, partials: number, maxNorm: number): Program {
  const T = wgslType(dtype);
  const scale = maxNorm > 0 ? `min(${T}(1), ${T}(p.maxNorm) / (norm + ${T}(1e-6)))` : `${T}(1)`;
  const code = `
struct Params { count: u32, maxNorm: f32 }
@group(0) @binding(0) var<storage, read> partials: array<${T}>;
@group(0) @binding(1) var<storage, read_write> out: array<${T}>;
${uniform(2)}
var<workgroup> tree: array<${T}, ${WG}>;
@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_index) lid: u32) {
  var acc = ${T}(0);
  for (var i = lid; i < p.count; i += ${WG}u) { acc += partials[i]; }
  tree[lid] = acc;${workgroupTree('tree[lid] += tree[o];')}
  if (lid == 0u) {
    let norm = sqrt(tree[0]);
    out[0] = norm;
    out[1] = ${scale};
  }
}`;
  return { label: 'clipScale', code, params: new ParamWriter().u32(partials).f32(maxNorm).finish(), workgroups: [1, 1] };
}

/** Bindings per tensor of the SGD update: parameter, gradient and, with momentum, the momentum buffer. */
export const sgdBindings = (momentum: boolean): number => (momentum ? 3 : 2);

/** The clipping scale s: `clip` holds [‖g‖, s] (`clipScaleKernel`); unclipped steps bind no such buffer. */
const clipBinding = (clipped: boolean): PackBinding[] => (clipped ? [{ name: 'clip', write: false }] : []);
const scaleOf = (clipped: boolean, T: string): string => (clipped ? 'clip[1]' : `${T}(1)`);

/**
 * In-place SGD over a pack: p, g[, b] per tensor, then `clip` ([‖g‖, s]) when `clipped`. The learning rates,
 * weight decays and μ are uniforms (`sgdParams`).
 */
export function sgdKernel(dtype: DType, sizes: readonly number[], device: DeviceInfo, momentum: boolean, clipped: boolean): Program {
  const T = wgslType(dtype);
  return packKernel({
    label: 'sgdUpdate', dtype, sizes, device,
    perTensor: [{ name: 'param', write: true }, { name: 'grad', write: false }, ...(momentum ? [{ name: 'buf', write: true }] : [])],
    shared: clipBinding(clipped),
    scalars: ['momentum'],
    body: (k) => `        let d = ${scaleOf(clipped, T)} * grad${k}[i] + wd(${k}u) * param${k}[i];
${momentum ? `        let direction = ${T}(p.momentum) * buf${k}[i] + d;
        buf${k}[i] = direction;` : '        let direction = d;'}
        param${k}[i] = param${k}[i] - lr(${k}u) * direction;`,
  });
}

/** The uniform of `sgdKernel` for one step. */
export const sgdParams = (sizes: readonly number[], hyper: readonly PerTensor[], momentum: number): Uint32Array => packParams(sizes, hyper, [momentum]);

/** Bindings per tensor of the AdamW update: parameter, gradient, first and second moments. */
export const ADAMW_BINDINGS = 4;

/** AdamW's scalars for one step: its betas and ε, and the bias corrections. */
type AdamWScalars = Omit<AdamWStep, keyof PerTensor | 'scale'>;
const ADAMW_SCALARS = ['beta1', 'beta2', 'eps', 'correction1', 'correction2'] as const satisfies readonly (keyof AdamWScalars)[];

/** In-place AdamW over a pack: p, g, m, v per tensor, then `clip` when `clipped`; the step's values are uniforms (`adamwParams`). */
export function adamwKernel(dtype: DType, sizes: readonly number[], device: DeviceInfo, clipped: boolean): Program {
  const T = wgslType(dtype);
  return packKernel({
    label: 'adamwUpdate', dtype, sizes, device,
    perTensor: [{ name: 'param', write: true }, { name: 'grad', write: false }, { name: 'm', write: true }, { name: 'v', write: true }],
    shared: clipBinding(clipped),
    scalars: ADAMW_SCALARS,
    body: (k) => `        let g = ${scaleOf(clipped, T)} * grad${k}[i];
        let mNew = ${T}(p.beta1) * m${k}[i] + (${T}(1) - ${T}(p.beta1)) * g;
        let vNew = ${T}(p.beta2) * v${k}[i] + (${T}(1) - ${T}(p.beta2)) * g * g;
        m${k}[i] = mNew;
        v${k}[i] = vNew;
        param${k}[i] = param${k}[i] * (${T}(1) - lr(${k}u) * wd(${k}u)) - (lr(${k}u) / ${T}(p.correction1)) * mNew / (sqrt(vNew / ${T}(p.correction2)) + ${T}(p.eps));`,
  });
}

/** The uniform of `adamwKernel` for one step. */
export const adamwParams = (sizes: readonly number[], hyper: readonly PerTensor[], step: AdamWScalars): Uint32Array =>
  packParams(sizes, hyper, ADAMW_SCALARS.map((name) => step[name]));
