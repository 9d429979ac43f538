/**
 * Max pooling kernels over [planes, H, W]; both are one invocation per element, 256 per workgroup.
 *   forward  — one invocation per output scans its clipped window and writes the maximum and its plane index;
 *   backward — gather form: one invocation per input pixel visits the outputs whose windows contain it (at most
 *              ⌈kh/sh⌉·⌈kw/sw⌉) and sums the gradients of those that chose it. Every pixel is written exactly
 *              once, so overlapping windows need no atomics (WGSL has no float atomics).
 */
import type { Pool2dDims } from '../reference/pool.js';
import { gridStride1d, kernel1d, ParamWriter, storage, uniform } from './common.js';

const PARAMS = `struct Params { n: u32, height: u32, width: u32, outHeight: u32, outWidth: u32,
  kh: u32, kw: u32, sh: u32, sw: u32, ph: u32, pw: u32 }`;

function params(n: number, d: Pool2dDims): Uint32Array {
  return new ParamWriter().u32(n, d.height, d.width, d.outHeight, d.outWidth, ...d.kernel, ...d.stride, ...d.padding).finish();
}

/** Bindings: x, y, indices (int32). */
export function maxPool2dForwardKernel(dims: Pool2dDims) {
  const n = dims.planes * dims.outHeight * dims.outWidth;
  const code = `
${PARAMS}
${storage(0, 'x', 'float32')}
${storage(1, 'y', 'float32', true)}
${storage(2, 'indices', 'int32', true)}
${uniform(3)}
${kernel1d('p.n', `  let ow = i % p.outWidth;
  let oh = (i / p.outWidth) % p.outHeight;
  let base = (i / (p.outWidth * p.outHeight)) * p.height * p.width;
  let h0 = i32(oh * p.sh) - i32(p.ph);
  let w0 = i32(ow * p.sw) - i32(p.pw);
  let hs = u32(max(h0, 0));
  let ws = u32(max(w0, 0));
  let he = u32(min(h0 + i32(p.kh), i32(p.height)));
  let we = u32(min(w0 + i32(p.kw), i32(p.width)));
  var arg = hs * p.width + ws;
  var best = x[base + arg];
  for (var h = hs; h < he; h++) {
    for (var w = ws; w < we; w++) {
      let v = x[base + h * p.width + w];
      if (v > best || v != v) {
        best = v;
        arg = h * p.width + w;
      }
    }
  }
  y[i] = best;
  indices[i] = i32(arg);`)}`;
  return { code, params: params(n, dims), workgroups: gridStride1d(n) };
}

/** Bindings: g, indices, dx. */
export function maxPool2dBackwardKernel(dims: Pool2dDims) {
  const n = dims.planes * dims.height * dims.width;
  // The first output along one axis whose window reaches coordinate c: ⌈(c + pad − k + 1) / s⌉, at least 0.
  const first = (c: string, pad: string, k: string, s: string) =>
    `u32(max(i32(${c} + ${pad}) - i32(${k}) + i32(${s}), 0)) / ${s}`;
  const code = `
${PARAMS}
${storage(0, 'g', 'float32')}
${storage(1, 'indices', 'int32')}
${storage(2, 'dx', 'float32', true)}
${uniform(3)}
${kernel1d('p.n', `  let w = i % p.width;
  let h = (i / p.width) % p.height;
  let outBase = (i / (p.width * p.height)) * p.outHeight * p.outWidth;
  let me = i32(h * p.width + w);
  let ohEnd = min((h + p.ph) / p.sh + 1u, p.outHeight);
  let owEnd = min((w + p.pw) / p.sw + 1u, p.outWidth);
  var acc = 0.0;
  for (var oh = ${first('h', 'p.ph', 'p.kh', 'p.sh')}; oh < ohEnd; oh++) {
    for (var ow = ${first('w', 'p.pw', 'p.kw', 'p.sw')}; ow < owEnd; ow++) {
      let o = outBase + oh * p.outWidth + ow;
      if (indices[o] == me) { acc += g[o]; }
    }
  }
  dx[i] = acc;`)}`;
  return { code, params: params(n, dims), workgroups: gridStride1d(n) };
}
