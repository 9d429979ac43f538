/**
 * Bilinear resampling (align_corners=False) over [planes, H, W] and its adjoint; one invocation per element
 * written (`kernel1d`: on CPU adapters each loops over several). Both passes take their taps from the one WGSL function `tap`, the twin of the
 * reference's bilinearTap, so the adjoint is exactly the transpose of the forward in float32 as well.
 *   forward — each output pixel blends its four taps;
 *   adjoint — gather form (no atomics): each input pixel visits the outputs that can read it and sums their
 *             gradients times the weight they gave it. Along an axis those outputs are the o with
 *             i0(o) ∈ {r − 1, r}, a run found from the inverse of s(o) = scale·(o + ½) − ½, widened by one on
 *             each side against rounding; a visited output that does not read r gets weight 0. The run is about
 *             2/scale + 3 long, so an 8× upsampling visits ~19² outputs per input pixel.
 */
import type { BilinearDims } from '../reference/upsample-bilinear.js';
import type { DeviceInfo, Program } from '../program.js';
import { gridStride1d, kernel1d, ParamWriter, storage, uniform } from './common.js';

export type BilinearPass = 'forward' | 'adjoint';

const SHARED = `
struct Params { n: u32, height: u32, width: u32, outHeight: u32, outWidth: u32, scaleH: f32, scaleW: f32 }
${storage(0, 'src', 'float32')}
${storage(1, 'out', 'float32', true)}
${uniform(2)}

struct Tap { i0: u32, i1: u32, frac: f32 }

fn tap(o: u32, scale: f32, size: u32) -> Tap {
  let s = max(scale * (f32(o) + 0.5) - 0.5, 0.0);
  let i0 = min(u32(s), size - 1u);
  return Tap(i0, min(i0 + 1u, size - 1u), s - f32(i0));
}

// The weight output o gives input pixel r along one axis.
fn weightOf(t: Tap, r: u32) -> f32 {
  return select(0.0, 1.0 - t.frac, t.i0 == r) + select(0.0, t.frac, t.i1 == r);
}

// The first and one-past-last outputs along an axis that can read input pixel r.
fn readers(r: u32, scale: f32, outSize: u32) -> vec2<u32> {
  let lo = i32(floor((f32(r) - 0.5) / scale - 0.5)) - 1;
  let hi = i32(ceil((f32(r) + 1.5) / scale - 0.5)) + 1;
  return vec2<u32>(u32(max(lo, 0)), u32(clamp(hi, 0, i32(outSize))));
}`;

const FORWARD = `  let ow = i % p.outWidth;
  let oh = (i / p.outWidth) % p.outHeight;
  let base = (i / (p.outWidth * p.outHeight)) * p.height * p.width;
  let r = tap(oh, p.scaleH, p.height);
  let c = tap(ow, p.scaleW, p.width);
  let top = (1.0 - c.frac) * src[base + r.i0 * p.width + c.i0] + c.frac * src[base + r.i0 * p.width + c.i1];
  let bottom = (1.0 - c.frac) * src[base + r.i1 * p.width + c.i0] + c.frac * src[base + r.i1 * p.width + c.i1];
  out[i] = (1.0 - r.frac) * top + r.frac * bottom;`;

const ADJOINT = `  let w = i % p.width;
  let h = (i / p.width) % p.height;
  let outBase = (i / (p.width * p.height)) * p.outHeight * p.outWidth;
  let rows = readers(h, p.scaleH, p.outHeight);
  let cols = readers(w, p.scaleW, p.outWidth);
  var acc = 0.0;
  for (var oh = rows.x; oh < rows.y; oh++) {
    let wr = weightOf(tap(oh, p.scaleH, p.height), h);
    if (wr == 0.0) { continue; }
    var row = 0.0;
    for (var ow = cols.x; ow < cols.y; ow++) {
      row += weightOf(tap(ow, p.scaleW, p.width), w) * src[outBase + oh * p.outWidth + ow];
    }
    acc += wr * row;
  }
  out[i] = acc;`;

/** Bindings: src, out. Forward: src is the input, out the resampled map; adjoint: src is the gradient of the map. */
export function upsampleBilinearKernel(pass: BilinearPass, d: BilinearDims, device: DeviceInfo): Program {
  const n = d.planes * (pass === 'forward' ? d.outHeight * d.outWidth : d.height * d.width);
  const code = `${SHARED}
${kernel1d('p.n', pass === 'forward' ? FORWARD : ADJOINT)}`;
  const params = new ParamWriter().u32(n, d.height, d.width, d.outHeight, d.outWidth).f32(d.scaleH, d.scaleW).finish();
  const label = pass === 'forward' ? 'upsampleBilinear2d' : 'upsampleBilinear2dBackward';
  return { label, code, params, workgroups: gridStride1d(n, device) };
}
