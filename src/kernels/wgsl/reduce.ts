/**
 * Reduction over one axis of a tensor viewed as [outer, R, inner]. Two schedules from one template:
 *   per-thread    — one invocation per output walks its R inputs (many outputs, or short R; also argmax);
 *   per-workgroup — one 256-wide workgroup per output: each invocation folds a strided share of R, then a
 *                   tree in workgroup memory combines the 256 partial results (few outputs, long R).
 */
import { wgslType, type DType } from '../../tensor/dtype.js';
import type { ReduceOp } from '../reference/reduce.js';
import type { DeviceInfo, Program } from '../program.js';
import { blockGrid, gridStride1d, kernel1d, ParamWriter, storage, uniform } from './common.js';

const IDENTITY: Record<Exclude<ReduceOp, 'argmax'>, (T: string) => string> = {
  sum: (T) => `${T}(0)`,
  max: (T) => (T === 'f32' ? '-3.4028234663852886e38' : T === 'i32' ? '-2147483648' : '0u'),
  min: (T) => (T === 'f32' ? '3.4028234663852886e38' : T === 'i32' ? '2147483647' : '4294967295u'),
};
const COMBINE: Record<Exclude<ReduceOp, 'argmax'>, string> = { sum: 'acc + v', max: 'max(acc, v)', min: 'min(acc, v)' };

const WG = 256;

export function reduceKernel(op: ReduceOp, dtype: DType, outer: number, r: number, inner: number, device: DeviceInfo): Program {
  const T = wgslType(dtype);
  const outputs = outer * inner;
  const params = new ParamWriter().u32(outputs, r, inner).finish();
  const header = `
struct Params { n: u32, r: u32, inner: u32 }
${storage(0, 'x', dtype)}
${storage(1, 'out', op === 'argmax' ? 'int32' : dtype, true)}
${uniform(2)}`;

  if (op === 'argmax') {
    // NaN compares false with everything, so "v > best || (v != v && best == best)" keeps the first NaN, as NumPy does.
    const code = `${header}
${kernel1d('p.n', `  let base = (i / p.inner) * p.r * p.inner + i % p.inner;
  var best = x[base];
  var arg = 0;
  for (var k = 1u; k < p.r; k++) {
    let v = x[base + k * p.inner];
    if (v > best || (v != v && best == best)) { best = v; arg = i32(k); }
  }
  out[i] = arg;`)}`;
    return { label: op, code, params, workgroups: gridStride1d(outputs, device) };
  }

  const identity = IDENTITY[op](T);
  const combine = COMBINE[op];
  const perWorkgroup = r >= 512 && outputs < 4096;
  if (!perWorkgroup) {
    const code = `${header}
${kernel1d('p.n', `  let base = (i / p.inner) * p.r * p.inner + i % p.inner;
  var acc: ${T} = ${identity};
  for (var k = 0u; k < p.r; k++) {
    let v = x[base + k * p.inner];
    acc = ${combine};
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
  var acc: ${T} = ${identity};
  if (valid) {
    for (var k = lid; k < p.r; k += ${WG}u) {
      let v = x[base + k * p.inner];
      acc = ${combine};
    }
  }
  partial[lid] = acc;
  workgroupBarrier();
  for (var half = ${WG / 2}u; half > 0u; half = half / 2u) {
    if (lid < half) {
      let v = partial[lid + half];
      let acc = partial[lid];
      partial[lid] = ${combine};
    }
    workgroupBarrier();
  }
  if (valid && lid == 0u) { out[o] = partial[0]; }
}`;
  return { label: op, code, params, workgroups: blockGrid(outputs) };
}
