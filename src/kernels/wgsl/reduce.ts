/**
 * Reduction over one axis of a tensor viewed as [outer, R, inner]. Two schedules from one template:
 *   per-thread    — one invocation per output walks its R inputs (many outputs, or short R; also argmax);
 *   per-workgroup — one 256-wide workgroup per output: each invocation folds a strided share of R, then a
 *                   tree in workgroup memory combines the 256 partial results (few outputs, long R).
 */
import { wgslType, type DType } from '../../tensor/dtype.js';
import type { ReduceOp } from '../reference/reduce.js';
import type { DeviceInfo, Program } from '../program.js';
import { IS_NAN_WGSL } from '../elementwise-ops.js';
import { blockGrid, gridStride1d, kernel1d, ParamWriter, storage, uniform, WORKGROUP_1D as WG, workgroupTree } from './common.js';

/**
 * `acc` and `v` combined. A float max or min is NaN when either is, as in PyTorch and the CPU reference (WGSL's
 * max and min leave NaN undefined). They start from the first element folded, not from an identity: ±Inf is no
 * WGSL constant, and ±FLT_MAX would turn a max over −Inf into −3.4e38.
 */
function combine(op: Exclude<ReduceOp, 'argmax'>, T: string): string {
  if (op === 'sum') return 'acc + v';
  return T === 'f32' ? `select(${op}(acc, v), acc + v, isNan(acc) || isNan(v))` : `${op}(acc, v)`;
}


export function reduceKernel(op: ReduceOp, dtype: DType, outer: number, r: number, inner: number, device: DeviceInfo): Program {
  const T = wgslType(dtype);
  const outputs = outer * inner;
  const params = new ParamWriter().u32(outputs, r, inner).finish();
  const header = `
struct Params { n: u32, r: u32, inner: u32 }
${storage(0, 'x', dtype)}
${storage(1, 'out', op === 'argmax' ? 'int32' : dtype, true)}
${uniform(2)}
${IS_NAN_WGSL}`;

  if (op === 'argmax') {
    // The first NaN wins and stays, as in NumPy (a NaN compares false with everything; told by its bits, since a
    // compiler may fold \`v != v\` to false).
    const better = T === 'f32' ? 'v > best || (isNan(v) && !isNan(best))' : 'v > best';
    const code = `${header}
${kernel1d('p.n', `  let base = (i / p.inner) * p.r * p.inner + i % p.inner;
  var best = x[base];
  var arg = 0;
  for (var k = 1u; k < p.r; k++) {
    let v = x[base + k * p.inner];
    if (${better}) { best = v; arg = i32(k); }
  }
  out[i] = arg;`)}`;
    return { label: op, code, params, workgroups: gridStride1d(outputs, device) };
  }

  const fold = combine(op, T);
  // A sum starts at 0; max and min at the first element of the invocation's share (r ≥ 1: reduce.ts refuses an
  // empty axis for them, and the per-workgroup schedule has r ≥ 512, so every lane's share holds one).
  const sumOnly = op === 'sum';
  const perWorkgroup = r >= 512 && outputs < 4096;
  if (!perWorkgroup) {
    const code = `${header}
${kernel1d('p.n', `  let base = (i / p.inner) * p.r * p.inner + i % p.inner;
  var acc: ${T} = ${sumOnly ? `${T}(0)` : 'x[base]'};
  for (var k = ${sumOnly ? 0 : 1}u; k < p.r; k++) {
    let v = x[base + k * p.inner];
    acc = ${fold};
  }
  out[i] = acc;`)}`;
    return { label: op, code, params, workgroups: gridStride1d(outputs, device) };
  }

  const code = `${header}
var<workgroup> partial: array<${T}, ${WG}>;
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let o = wid.y * nwg.x + wid.x;
  let valid = o < p.n;
  let base = (o / p.inner) * p.r * p.inner + o % p.inner;
  var acc: ${T} = ${T}(0);
  if (valid) {
    acc = ${sumOnly ? `${T}(0)` : 'x[base + lid * p.inner]'};
    for (var k = lid + ${sumOnly ? 0 : WG}u; k < p.r; k += ${WG}u) {
      let v = x[base + k * p.inner];
      acc = ${fold};
    }
  }
  partial[lid] = acc;${workgroupTree(`let v = partial[o];
      let acc = partial[lid];
      partial[lid] = ${fold};`)}
  if (valid && lid == 0u) { out[o] = partial[0]; }
}`;
  return { label: op, code, params, workgroups: blockGrid(outputs) };
}
