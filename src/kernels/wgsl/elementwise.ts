/**
 * One template for every elementwise kernel (unary, binary, where, cast). Each operand is read in one of three
 * ways, chosen per call so the common cases pay no index arithmetic:
 *   same    — the operand has the output's shape: read element i;
 *   scalar  — one element, read element 0;
 *   strided — broadcast: decompose i into output coordinates and dot them with the operand's strides
 *             (0 along broadcast dimensions).
 * One invocation per output element on a GPU, 256 per workgroup; each loops over several where the grid is
 * capped (CPU adapters: `gridStride1d` in common.ts).
 */
import { wgslType, type DType } from '../../tensor/dtype.js';
import { broadcastStrides, shapesEqual, sizeOf, type Shape } from '../../tensor/shape.js';
import type { DeviceInfo, Program } from '../program.js';
import { IS_NAN_WGSL } from '../elementwise-ops.js';
import { dimAt, DIMS_TYPE, gridStride1d, kernel1d, ParamWriter, storage, uniform } from './common.js';

export interface Operand {
  /** The name the expression uses for this operand's value. */
  name: string;
  dtype: DType;
  shape: Shape;
}

type ReadMode = 'same' | 'scalar' | 'strided';

function readMode(shape: Shape, outShape: Shape): ReadMode {
  if (shapesEqual(shape, outShape)) return 'same';
  if (sizeOf(shape) === 1) return 'scalar';
  return 'strided';
}

/** The program for `out = expr(operands...)`. */
export function elementwiseKernel(label: string, operands: Operand[], outShape: Shape, outDtype: DType, expr: string, device: DeviceInfo): Program {
  const modes = operands.map((o) => readMode(o.shape, outShape));
  const strided = operands.map((_, k) => k).filter((k) => modes[k] === 'strided');
  const rank = outShape.length;
  const T = wgslType(outDtype);

  const params = new ParamWriter().u32(sizeOf(outShape), rank).align16().dims(outShape);
  for (const k of strided) params.dims(broadcastStrides(operands[k].shape, outShape));

  const fields = ['n: u32', 'rank: u32', `shape: ${DIMS_TYPE}`, ...strided.map((k) => `stride${k}: ${DIMS_TYPE}`)];
  const bindings = operands.map((o, k) => storage(k, `in${k}`, o.dtype));
  const reads = operands.map((o, k) => {
    const index = modes[k] === 'same' ? 'i' : modes[k] === 'scalar' ? '0u' : `idx${k}`;
    return `  let ${o.name} = in${k}[${index}];`;
  });
  const decompose = strided.length === 0 ? '' : `
  var rest = i;
  ${strided.map((k) => `var idx${k} = 0u;`).join(' ')}
  for (var d = i32(p.rank) - 1; d >= 0; d--) {
    let size = ${dimAt('shape', 'u32(d)')};
    let c = rest % size;
    rest = rest / size;
    ${strided.map((k) => `idx${k} += c * ${dimAt(`stride${k}`, 'u32(d)')};`).join('\n    ')}
  }`;

  const code = `
struct Params { ${fields.join(', ')} }
${bindings.join('\n')}
${storage(operands.length, 'out', outDtype, true)}
${uniform(operands.length + 1)}
alias T = ${T};
${IS_NAN_WGSL}
${kernel1d('p.n', `${decompose}
${reads.join('\n')}
  out[i] = ${expr};`)}`;
  return { label, code, params: params.finish(), workgroups: gridStride1d(sizeOf(outShape), device) };
}
