/**
 * Pooling kernels over [planes, H, W]: one template for the forward pass and one for the backward, each
 * instanced for max and average pooling. Every kernel is one invocation per element written (`kernel1d`: on CPU adapters each loops over several).
 *   forward  — one invocation per output scans its window clipped to the input; max keeps the maximum and its
 *              plane index, average the sum, divided by kh·kw at the end (padded positions count as zeros);
 *   backward — gather form: one invocation per input pixel visits the outputs whose windows contain it (at most
 *              ⌈kh/sh⌉·⌈kw/sw⌉) and sums what each sends it: max, the gradient of an output that chose this
 *              pixel; average, every output's gradient over kh·kw. Every pixel is written exactly once, so
 *              overlapping windows need no atomics (WGSL has no float atomics).
 */
import { IS_NAN_WGSL } from '../elementwise-ops.js';
import type { Pool2dDims } from '../reference/pool.js';
import type { DeviceInfo, Program } from '../program.js';
import { gridStride1d, kernel1d, ParamWriter, storage, uniform } from './common.js';

const PARAMS = `struct Params { n: u32, height: u32, width: u32, outHeight: u32, outWidth: u32,
  kh: u32, kw: u32, sh: u32, sw: u32, ph: u32, pw: u32 }`;

function params(n: number, d: Pool2dDims): Uint32Array {
  return new ParamWriter().u32(n, d.height, d.width, d.outHeight, d.outWidth, ...d.kernel, ...d.stride, ...d.padding).finish();
}

/** What a pooling kind adds to the templates: its bindings, and the WGSL around and inside the loops. */
interface PoolKind {
  forwardBindings: string;
  /** Before the window loop; `first` is the window's first pixel within the plane. */
  start: string;
  /** Per pixel `v` at plane index `at`. */
  visit: string;
  finish: string;
  backwardBindings: string;
  /** Per output `o` whose window holds this pixel (`me`, its plane index): adds to `acc`. */
  gather: string;
}

const MAX: PoolKind = {
  forwardBindings: `${storage(0, 'x', 'float32')}
${storage(1, 'y', 'float32', true)}
${storage(2, 'indices', 'int32', true)}
${uniform(3)}`,
  start: `var arg = first;
  var best = x[base + first];`,
  visit: `if (v > best || isNan(v)) {
        best = v;
        arg = at;
      }`,
  finish: `y[i] = best;
  indices[i] = i32(arg);`,
  backwardBindings: `${storage(0, 'g', 'float32')}
${storage(1, 'indices', 'int32')}
${storage(2, 'dx', 'float32', true)}
${uniform(3)}`,
  gather: 'if (indices[o] == i32(me)) { acc += g[o]; }',
};

const AVERAGE: PoolKind = {
  forwardBindings: `${storage(0, 'x', 'float32')}
${storage(1, 'y', 'float32', true)}
${uniform(2)}`,
  start: 'var sum = 0.0;',
  visit: 'sum += v;',
  finish: 'y[i] = sum / f32(p.kh * p.kw);',
  backwardBindings: `${storage(0, 'g', 'float32')}
${storage(1, 'dx', 'float32', true)}
${uniform(2)}`,
  gather: 'acc += g[o];',
};

function forwardKernel(label: string, kind: PoolKind, dims: Pool2dDims, device: DeviceInfo): Program {
  const n = dims.planes * dims.outHeight * dims.outWidth;
  const code = `
${PARAMS}
${kind.forwardBindings}
${IS_NAN_WGSL}
${kernel1d('p.n', `  let ow = i % p.outWidth;
  let oh = (i / p.outWidth) % p.outHeight;
  let base = (i / (p.outWidth * p.outHeight)) * p.height * p.width;
  let h0 = i32(oh * p.sh) - i32(p.ph);
  let w0 = i32(ow * p.sw) - i32(p.pw);
  let hs = u32(max(h0, 0));
  let ws = u32(max(w0, 0));
  let he = u32(min(h0 + i32(p.kh), i32(p.height)));
  let we = u32(min(w0 + i32(p.kw), i32(p.width)));
  let first = hs * p.width + ws;
  ${kind.start}
  for (var h = hs; h < he; h++) {
    for (var w = ws; w < we; w++) {
      let at = h * p.width + w;
      let v = x[base + at];
      ${kind.visit}
    }
  }
  ${kind.finish}`)}`;
  return { label, code, params: params(n, dims), workgroups: gridStride1d(n, device) };
}

function backwardKernel(label: string, kind: PoolKind, dims: Pool2dDims, scale: string, device: DeviceInfo): Program {
  const n = dims.planes * dims.height * dims.width;
  // The first output along one axis whose window reaches coordinate c: ⌈(c + pad − k + 1) / s⌉, at least 0.
  const first = (c: string, pad: string, k: string, s: string) =>
    `u32(max(i32(${c} + ${pad}) - i32(${k}) + i32(${s}), 0)) / ${s}`;
  const code = `
${PARAMS}
${kind.backwardBindings}
${kernel1d('p.n', `  let w = i % p.width;
  let h = (i / p.width) % p.height;
  let outBase = (i / (p.width * p.height)) * p.outHeight * p.outWidth;
  let me = h * p.width + w;
  let ohEnd = min((h + p.ph) / p.sh + 1u, p.outHeight);
  let owEnd = min((w + p.pw) / p.sw + 1u, p.outWidth);
  var acc = 0.0;
  for (var oh = ${first('h', 'p.ph', 'p.kh', 'p.sh')}; oh < ohEnd; oh++) {
    for (var ow = ${first('w', 'p.pw', 'p.kw', 'p.sw')}; ow < owEnd; ow++) {
      let o = outBase + oh * p.outWidth + ow;
      ${kind.gather}
    }
  }
  dx[i] = acc${scale};`)}`;
  return { label, code, params: params(n, dims), workgroups: gridStride1d(n, device) };
}

/** Bindings: x, y, indices (int32). */
export const maxPool2dForwardKernel = (dims: Pool2dDims, device: DeviceInfo) => forwardKernel('maxPool2d', MAX, dims, device);

/** Bindings: g, indices, dx. */
export const maxPool2dBackwardKernel = (dims: Pool2dDims, device: DeviceInfo) => backwardKernel('maxPool2dBackward', MAX, dims, '', device);

/** Bindings: x, y. */
export const avgPool2dForwardKernel = (dims: Pool2dDims, device: DeviceInfo) => forwardKernel('avgPool2d', AVERAGE, dims, device);

/** The adjoint of the average (its gradient). Bindings: g, dx. */
export const avgPool2dAdjointKernel = (dims: Pool2dDims, device: DeviceInfo) =>
  backwardKernel('avgPool2dBackward', AVERAGE, dims, ' / f32(p.kh * p.kw)', device);
