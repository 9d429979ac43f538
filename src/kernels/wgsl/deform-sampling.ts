/**
 * The sampling kernels of deformable convolution on WebGPU (the GEMMs around them are in deform-conv2d.ts).
 *
 * Schedule: one invocation per sample — (image, offset group, kernel tap, output pixel), pixel fastest — over
 * one chunk of images and output rows. The sample's position, mask value and four bilinear corners do not
 * depend on the channel, so each invocation resolves them once and then loops over the C/G channels of its
 * offset group; neighbouring invocations are neighbouring pixels, so reads of offsets/mask and reads and
 * writes of the column matrices coalesce. Two variants come from one template:
 *
 * - `im2col`: the deformable column matrix col[n, c·KH·KW + tap, pixel] = mask · bilinear(x[n, c], sample),
 *   laid out so that y = weight[Cout, Cin·KH·KW] · col is a plain GEMM (torchvision's layout).
 * - `backward`: from gcol = weightᵀ · grad, in one pass over the samples:
 *   · the offset and mask gradients, each a reduction over the group's channels held in registers (every
 *     (sample, direction) is owned by one invocation, so plain stores, no atomics);
 *   · the input gradient, scattered to the four corners. Offsets are free, so the set of samples that touch an
 *     input pixel is unknown in advance and the scatter cannot become a gather without first sorting the
 *     samples by destination. WGSL has no float atomics, so the add is a compare-exchange loop on the f32 bits
 *     (atomicCompareExchangeWeak on u32). Why this and not a deterministic reduction: building the inverse map
 *     (count, prefix-sum, fill) still needs atomics to place samples in their buckets, so summing in a fixed
 *     order needs a stable sort on top — several kernels, and a worst case (learned offsets converging on a few
 *     keypoints put thousands of samples in one bucket) that a per-bucket sort handles badly. The CAS scatter
 *     is one kernel and issues the same number of atomic adds as torchvision's CUDA col2im (which uses float
 *     atomicAdd), with the same price: the input gradient's rounding depends on the order in which the adds
 *     land, so it is reproducible only to float32 rounding (the forward pass and the other gradients are
 *     deterministic).
 *
 * Corner weights follow torchvision exactly (see reference/deform-conv2d.ts): the interpolation is cut off to 0
 * for y ≤ −1, y ≥ H, x ≤ −1, x ≥ W; the offset gradient's coordinate weights are not.
 */
import type { DeformConvGeometry } from '../reference/deform-conv2d.js';
import type { DeviceInfo, Program } from '../program.js';
import { gridStride1d, kernel1d, ParamWriter, storage, uniform } from './common.js';

/** A block of the output that one column matrix covers: images [n0, n0+nc), output rows [r0, r0+rc). */
export interface DeformChunk {
  n0: number;
  nc: number;
  r0: number;
  rc: number;
}

export type DeformPass = 'im2col' | 'backward';

const PARAMS = `struct Params {
  total: u32, lc: u32, kk: u32, og: u32, cg: u32, cin: u32, h: u32, w: u32, kw: u32, oh: u32, ow: u32,
  n0: u32, r0: u32, sh: u32, sw: u32, dh: u32, dw: u32, ph: i32, pw: i32,
}`;

/** WGSL for one deformable-sampling pass; shapes travel in the params, so each variant compiles once. */
export function deformSamplingKernel(pass: DeformPass, hasMask: boolean, g: DeformConvGeometry, chunk: DeformChunk, device: DeviceInfo): Program {
  const taps = g.kernelH * g.kernelW;
  const lc = chunk.rc * g.outW;
  const total = chunk.nc * g.offsetGroups * taps * lc;
  const params = new ParamWriter()
    .u32(total, lc, taps, g.offsetGroups, g.inChannels / g.offsetGroups, g.inChannels, g.height, g.width, g.kernelW, g.outH, g.outW)
    .u32(chunk.n0, chunk.r0, g.strideH, g.strideW, g.dilationH, g.dilationW)
    .i32(g.padH, g.padW)
    .finish();
  const buffers = ['x', 'offset', ...(hasMask ? ['mask'] : []), ...(pass === 'im2col' ? ['col'] : ['gcol'])];
  const bindings = buffers.map((name, b) => storage(b, name, 'float32', name === 'col'));
  if (pass === 'backward') {
    bindings.push(`@group(0) @binding(${buffers.length}) var<storage, read_write> gx: array<atomic<u32>>;`);
    bindings.push(storage(buffers.length + 1, 'gOffset', 'float32', true));
    if (hasMask) bindings.push(storage(buffers.length + 2, 'gMask', 'float32', true));
  }
  const code = `
${PARAMS}
${bindings.join('\n')}
${uniform(bindings.length)}

/** The four corners of a channel plane at flat indices idx (−1: outside the image, read as 0). */
fn corners(base: u32, idx: vec4<i32>) -> vec4<f32> {
  var v = vec4<f32>(0.0);
  if (idx.x >= 0) { v.x = x[base + u32(idx.x)]; }
  if (idx.y >= 0) { v.y = x[base + u32(idx.y)]; }
  if (idx.z >= 0) { v.z = x[base + u32(idx.z)]; }
  if (idx.w >= 0) { v.w = x[base + u32(idx.w)]; }
  return v;
}
${pass === 'backward' ? SCATTER_ADD : ''}
${kernel1d('p.total', `  let pix = i % p.lc;
  let tap = (i / p.lc) % p.kk;
  let grp = (i / (p.lc * p.kk)) % p.og;
  let nl = i / (p.lc * p.kk * p.og);
  let n = p.n0 + nl;
  let plane = p.oh * p.ow;
  let opix = p.r0 * p.ow + pix;
  let offsetAt = ((n * p.og + grp) * 2u * p.kk + 2u * tap) * plane + opix;
  let maskAt = ((n * p.og + grp) * p.kk + tap) * plane + opix;
  let sy = f32(i32((opix / p.ow) * p.sh + (tap / p.kw) * p.dh) - p.ph) + offset[offsetAt];
  let sx = f32(i32((opix % p.ow) * p.sw + (tap % p.kw) * p.dw) - p.pw) + offset[offsetAt + plane];
  let m = ${hasMask ? 'mask[maskAt]' : '1.0'};
  let hf = f32(p.h);
  let wf = f32(p.w);
  // Clamping keeps the integer conversion in range; a clamped sample has all four corners outside anyway.
  let cy = clamp(sy, -2.0, hf + 1.0);
  let cx = clamp(sx, -2.0, wf + 1.0);
  let ly = cy - floor(cy);
  let lx = cx - floor(cx);
  let hy = 1.0 - ly;
  let hx = 1.0 - lx;
  let y0 = i32(floor(cy));
  let x0 = i32(floor(cx));
  let h = i32(p.h);
  let w = i32(p.w);
  // Which of rows y0, y0+1 and columns x0, x0+1 lie in the image (parenthesised: \`a < b, c >\` would parse as a template).
  let rows = vec2<bool>((y0 >= 0) && (y0 < h), (y0 >= -1) && (y0 + 1 < h));
  let cols = vec2<bool>((x0 >= 0) && (x0 < w), (x0 >= -1) && (x0 + 1 < w));
  let at = y0 * w + x0;
  let idx = select(vec4<i32>(-1), vec4<i32>(at, at + 1, at + w, at + w + 1),
                   vec4<bool>(rows.x && cols.x, rows.x && cols.y, rows.y && cols.x, rows.y && cols.y));
  let inside = sy > -1.0 && sy < hf && sx > -1.0 && sx < wf;
  let wt = select(vec4<f32>(0.0), vec4<f32>(hy * hx, hy * lx, ly * hx, ly * lx), inside);
  let hw = p.h * p.w;
  let xBase = (n * p.cin + grp * p.cg) * hw;
  let colBase = ((nl * p.cin + grp * p.cg) * p.kk + tap) * p.lc + pix;
  let colStep = p.kk * p.lc;
${pass === 'im2col' ? IM2COL_BODY : BACKWARD_BODY(hasMask)}`)}`;
  return { label: `deformConv2d.${pass}`, code, params, workgroups: gridStride1d(total, device) };
}

const IM2COL_BODY = `  for (var c = 0u; c < p.cg; c++) {
    col[colBase + c * colStep] = m * dot(wt, corners(xBase + c * hw, idx));
  }`;

const BACKWARD_BODY = (hasMask: boolean) => `  // Corner weights of the interpolation's derivative along y and along x (no cut-off, as torchvision).
  let dyw = vec4<f32>(-hx, -lx, hx, lx);
  let dxw = vec4<f32>(-hy, hy, -ly, ly);
  let mw = m * wt;
  var accY = 0.0;
  var accX = 0.0;${hasMask ? '\n  var accM = 0.0;' : ''}
  for (var c = 0u; c < p.cg; c++) {
    let gs = gcol[colBase + c * colStep];
    let base = xBase + c * hw;
    let v = corners(base, idx);
    accY += dot(dyw, v) * gs;
    accX += dot(dxw, v) * gs;${hasMask ? '\n    accM += dot(wt, v) * gs;' : ''}
    for (var k = 0u; k < 4u; k++) {
      if (wt[k] != 0.0 && idx[k] >= 0) { scatterAdd(base + u32(idx[k]), mw[k] * gs); }
    }
  }
  gOffset[offsetAt] = m * accY;
  gOffset[offsetAt + plane] = m * accX;${hasMask ? '\n  gMask[maskAt] = accM;' : ''}`;

const SCATTER_ADD = `
/** gx[at] += value as a compare-exchange loop on the float's bits (WGSL has no float atomics). */
fn scatterAdd(at: u32, value: f32) {
  var old = atomicLoad(&gx[at]);
  loop {
    let r = atomicCompareExchangeWeak(&gx[at], old, bitcast<u32>(bitcast<f32>(old) + value));
    if (r.exchanged) { break; }
    old = r.old_value;
  }
}`;

/** Zeroes a buffer of n words: the input gradient that the backward pass scatters into. */
export function zeroFillKernel(n: number, device: DeviceInfo): Program {
  const code = `
struct Params { n: u32 }
${storage(0, 'out', 'uint32', true)}
${uniform(1)}
${kernel1d('p.n', '  out[i] = 0u;')}`;
  return { label: 'deformConv2d.zero', code, params: new ParamWriter().u32(n).finish(), workgroups: gridStride1d(n, device) };
}
