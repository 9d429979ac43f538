/**
 * The affine gather (see reference/window.ts): output coordinates o map to input coordinates
 * c_d = shift_d + o_d·step_d, read at Σ c_d·coef_d, or `fill` outside [0, bound_d). One invocation per output.
 *
 * Two forms of one template (program-cache.ts's `specialisedProgram` picks): the spec as parameters, one pipeline
 * for all; or the spec as constant arrays. An invocation finds its coordinates by dividing by the output's sizes,
 * and an integer division by a runtime value is a loop of its own on a CPU adapter (lavapipe's SIMD lanes divide
 * one at a time), where constants let the compiler unroll the dimensions, divide by multiplying and drop the terms
 * a broadcast or a permute zeroes. Broadcasting a scalar's gradient to 8×32×32×32 on lavapipe: 5.7 ms with the
 * spec as parameters, 0.24 ms with it as constants.
 */
import { wgslType, type DType } from '../../tensor/dtype.js';
import { sizeOf, type Shape } from '../../tensor/shape.js';
import type { WindowSpec } from '../reference/window.js';
import type { DeviceInfo, Program, ProgramForm } from '../program.js';
import { dimAt, DIMS_TYPE, gridStride1d, kernel1d, ParamWriter, storage, uniform } from './common.js';

export function windowKernel(outShape: Shape, spec: WindowSpec, dtype: DType, device: DeviceInfo, form: ProgramForm): Program {
  const T = wgslType(dtype);
  const fill = new ParamWriter();
  if (T === 'f32') fill.f32(spec.fill);
  else fill.i32(spec.fill);
  const fillBits = fill.finish()[0]!;
  const n = sizeOf(outShape);
  const rank = outShape.length;
  const bindings = `${storage(0, 'x', dtype)}\n${storage(1, 'out', dtype, true)}`;
  // A scalar has no dimension to map (and WGSL no empty array): it is a copy.
  if (rank === 0) return { label: 'window', code: `${bindings}\n${kernel1d('1u', '  out[i] = x[0];')}`, workgroups: [1] };

  const fields = { shape: outShape, coef: spec.coef, shift: spec.shift, step: spec.step, bound: spec.bound };
  let declarations: string;
  let at: (field: keyof typeof fields) => string;
  let params: Uint32Array | undefined;
  if (form === 'general') {
    params = new ParamWriter().u32(n, rank, fillBits).align16()
      .dims(outShape).dims(spec.coef).dims(spec.shift).dims(spec.step).dims(spec.bound).finish();
    declarations = `struct Params { n: u32, rank: u32, fill: u32, ${Object.keys(fields).map((f) => `${f}: ${DIMS_TYPE}`).join(', ')} }\n${uniform(2)}`;
    at = (field) => `bitcast<i32>(${dimAt(field, 'u32(d)')})`;
  } else {
    const array = (values: readonly number[]) => `array<i32, ${rank}>(${values.map((v) => `${v}i`).join(', ')})`;
    declarations = Object.entries(fields).map(([field, values]) => `const ${field.toUpperCase()} = ${array(values)};`).join('\n');
    at = (field) => `${field.toUpperCase()}[d]`;
  }
  // The fill's bits, read through a runtime value: a NaN or ±Inf constant is a WGSL error.
  const fillValue = form === 'general' ? 'p.fill' : `(${fillBits}u | (i & 0u))`;
  const code = `
${bindings}
${declarations}
${kernel1d(form === 'general' ? 'p.n' : `${n}u`, `  var rest = i;
  var src = 0i;
  var inside = true;
  for (var d = ${form === 'general' ? 'i32(p.rank)' : rank} - 1; d >= 0; d--) {
    let size = u32(${at('shape')});
    let o = i32(rest % size);
    rest = rest / size;
    let c = ${at('shift')} + o * ${at('step')};
    inside = inside && c >= 0 && c < ${at('bound')};
    src += c * ${at('coef')};
  }
  if (inside) { out[i] = x[u32(src)]; } else { out[i] = bitcast<${T}>(${fillValue}); }`)}`;
  return { label: 'window', code, params, workgroups: gridStride1d(n, device) };
}
