/**
 * Nearest-neighbour upsampling by an integer factor s over [planes, H, W] and its adjoint; one invocation per
 * element written (`kernel1d`: on CPU adapters each loops over several).
 *   forward — each output pixel copies its source x[⌊h/s⌋, ⌊w/s⌋];
 *   adjoint — each input pixel sums its s×s block of the upstream gradient (gather form: no atomics).
 */
import { wgslType, type DType } from '../../tensor/dtype.js';
import type { UpsampleDims } from '../reference/upsample.js';
import type { DeviceInfo, Program } from '../program.js';
import { gridStride1d, kernel1d, ParamWriter, storage, uniform } from './common.js';

export type UpsamplePass = 'forward' | 'adjoint';

export function upsampleNearestKernel(pass: UpsamplePass, { planes, height, width, scale }: UpsampleDims, dtype: DType, device: DeviceInfo): Program {
  const n = planes * height * width * (pass === 'forward' ? scale * scale : 1);
  const body = pass === 'forward'
    ? `  let outW = p.width * p.scale;
  let w = i % outW;
  let rest = i / outW;
  let h = rest % (p.height * p.scale);
  let plane = rest / (p.height * p.scale);
  out[i] = src[(plane * p.height + h / p.scale) * p.width + w / p.scale];`
    : `  let w = i % p.width;
  let rest = i / p.width;
  let outW = p.width * p.scale;
  let corner = (rest * p.scale) * outW + w * p.scale;
  var acc = ${wgslType(dtype)}(0);
  for (var a = 0u; a < p.scale; a++) {
    for (var b = 0u; b < p.scale; b++) { acc += src[corner + a * outW + b]; }
  }
  out[i] = acc;`;
  const code = `
struct Params { n: u32, height: u32, width: u32, scale: u32 }
${storage(0, 'src', dtype)}
${storage(1, 'out', dtype, true)}
${uniform(2)}
${kernel1d('p.n', `${body}`)}`;
  const label = pass === 'forward' ? 'upsampleNearest2d' : 'upsampleNearest2dBackward';
  return { label, code, params: new ParamWriter().u32(n, height, width, scale).finish(), workgroups: gridStride1d(n, device) };
}
