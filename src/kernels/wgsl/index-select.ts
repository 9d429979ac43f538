/**
 * Gather rows along an axis ([outer, R, inner] → [outer, J, inner]) and its adjoint. WGSL has no float atomics, so
 * the adjoint is written in gather form: each output row r loops over the J indices and sums the rows that picked
 * r. That costs O(J) per output; fine for the index lists this engine gathers with. An index out of range (the op
 * checks indices only where they are on the CPU) reads all bits set, a NaN or −1, never another row; the adjoint
 * drops it.
 * Also the row-block copy used by concat: src [outer, Ri, inner] into dst [outer, Rtot, inner] at row `offset`.
 */
import { wgslType, type DType } from '../../tensor/dtype.js';
import type { DeviceInfo, Program } from '../program.js';
import { gridStride1d, kernel1d, ParamWriter, storage, uniform } from './common.js';

const HEADER = 'struct Params { n: u32, rows: u32, picked: u32, inner: u32 }';

export function indexSelectKernel(dtype: DType, outer: number, rows: number, inner: number, picked: number, device: DeviceInfo): Program {
  const params = new ParamWriter().u32(outer * picked * inner, rows, picked, inner).finish();
  const code = `
${HEADER}
${storage(0, 'x', dtype)}
${storage(1, 'index', 'int32')}
${storage(2, 'out', dtype, true)}
${uniform(3)}
${kernel1d('p.n', `  let inner = i % p.inner;
  let j = (i / p.inner) % p.picked;
  let o = i / (p.inner * p.picked);
  let r = index[j];
  let allBits = bitcast<${wgslType(dtype)}>(p.rows | 0xffffffffu); // from a runtime value: a NaN literal is a WGSL error
  out[i] = select(allBits, x[(o * p.rows + u32(r)) * p.inner + inner], r >= 0 && u32(r) < p.rows);`)}`;
  return { label: 'indexSelect', code, params, workgroups: gridStride1d(outer * picked * inner, device) };
}

export function indexAddKernel(dtype: DType, outer: number, rows: number, inner: number, picked: number, device: DeviceInfo): Program {
  const params = new ParamWriter().u32(outer * rows * inner, rows, picked, inner).finish();
  const code = `
${HEADER}
${storage(0, 'src', dtype)}
${storage(1, 'index', 'int32')}
${storage(2, 'out', dtype, true)}
${uniform(3)}
${kernel1d('p.n', `  let inner = i % p.inner;
  let r = (i / p.inner) % p.rows;
  let o = i / (p.inner * p.rows);
  var acc = ${wgslType(dtype)}(0);
  for (var j = 0u; j < p.picked; j++) {
    if (u32(index[j]) == r) { acc += src[(o * p.picked + j) * p.inner + inner]; }
  }
  out[i] = acc;`)}`;
  return { label: 'indexAdd', code, params, workgroups: gridStride1d(outer * rows * inner, device) };
}

export function copyRowsKernel(dtype: DType, outer: number, srcRows: number, dstRows: number, inner: number, offset: number, device: DeviceInfo): Program {
  const params = new ParamWriter().u32(outer * srcRows * inner, srcRows, dstRows, inner, offset).finish();
  const code = `
struct Params { n: u32, srcRows: u32, dstRows: u32, inner: u32, offset: u32 }
${storage(0, 'src', dtype)}
${storage(1, 'dst', dtype, true)}
${uniform(2)}
${kernel1d('p.n', `  let inner = i % p.inner;
  let r = (i / p.inner) % p.srcRows;
  let o = i / (p.inner * p.srcRows);
  dst[(o * p.dstRows + p.offset + r) * p.inner + inner] = src[i];`)}`;
  return { label: 'concat', code, params, workgroups: gridStride1d(outer * srcRows * inner, device) };
}
