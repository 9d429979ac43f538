/**
 * The per-op NaN check (`setNanCheck('each-op')`): one grid-stride pass over an op's output that, where a value is
 * NaN or ±Inf, lowers `first[0]` to the op's sequence number with an atomic min. Reading `first` later tells which
 * op produced a non-finite value first, without a readback per op. A float is non-finite when its exponent bits
 * are all ones, which works for NaN too (WGSL's comparisons with NaN are not reliable after optimisation).
 */
import type { DeviceInfo, Program } from '../program.js';
import { gridStride1d, kernel1d, ParamWriter, uniform } from './common.js';

export function finiteCheckKernel(count: number, sequence: number, device: DeviceInfo): Program {
  const code = `
struct Params { n: u32, sequence: u32 }
@group(0) @binding(0) var<storage, read> x: array<u32>;
@group(0) @binding(1) var<storage, read_write> first: array<atomic<u32>>;
${uniform(2)}
${kernel1d('p.n', `    if ((x[i] & 0x7f800000u) == 0x7f800000u) { atomicMin(&first[0], p.sequence); }`)}`;
  return { label: 'finiteCheck', code, params: new ParamWriter().u32(count, sequence).finish(), workgroups: gridStride1d(count, device) };
}
