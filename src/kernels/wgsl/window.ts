/**
 * The affine gather (see reference/window.ts): output coordinates o map to input coordinates
 * c_d = shift_d + o_d·step_d, read at Σ c_d·coef_d, or `fill` outside [0, bound_d). One invocation per output.
 */
import { wgslType, type DType } from '../../tensor/dtype.js';
import { sizeOf, type Shape } from '../../tensor/shape.js';
import type { WindowSpec } from '../reference/window.js';
import type { DeviceInfo, Program } from '../program.js';
import { dimAt, DIMS_TYPE, gridStride1d, kernel1d, ParamWriter, storage, uniform } from './common.js';

export function windowKernel(outShape: Shape, spec: WindowSpec, dtype: DType, device: DeviceInfo): Program {
  const T = wgslType(dtype);
  const fill = new ParamWriter();
  if (T === 'f32') fill.f32(spec.fill);
  else fill.i32(spec.fill);
  const fillBits = fill.finish()[0];
  const params = new ParamWriter()
    .u32(sizeOf(outShape), outShape.length, fillBits)
    .align16()
    .dims(outShape).dims(spec.coef).dims(spec.shift).dims(spec.step).dims(spec.bound)
    .finish();
  const code = `
struct Params { n: u32, rank: u32, fill: u32, shape: ${DIMS_TYPE}, coef: ${DIMS_TYPE}, shift: ${DIMS_TYPE}, step: ${DIMS_TYPE}, bound: ${DIMS_TYPE} }
${storage(0, 'x', dtype)}
${storage(1, 'out', dtype, true)}
${uniform(2)}
${kernel1d('p.n', `  var rest = i;
  var src = 0i;
  var inside = true;
  for (var d = i32(p.rank) - 1; d >= 0; d--) {
    let size = ${dimAt('shape', 'u32(d)')};
    let o = i32(rest % size);
    rest = rest / size;
    let c = bitcast<i32>(${dimAt('shift', 'u32(d)')}) + o * bitcast<i32>(${dimAt('step', 'u32(d)')});
    inside = inside && c >= 0 && c < i32(${dimAt('bound', 'u32(d)')});
    src += c * i32(${dimAt('coef', 'u32(d)')});
  }
  if (inside) { out[i] = x[u32(src)]; } else { out[i] = bitcast<${T}>(p.fill); }`)}`;
  return { label: 'window', code, params, workgroups: gridStride1d(sizeOf(outShape), device) };
}
