/**
 * The sampling kernels of deformable convolution on WebGPU (the GEMMs around them: ops/deform-conv2d-gpu.ts).
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
 *     samples by destination (several kernels, and a worst case — learned offsets converging on a few
 *     keypoints put thousands of samples on one pixel — that a per-bucket sort handles badly). Float atomics
 *     (torchvision's CUDA col2im; here a compare-exchange loop, WGSL having none) would make the sum's rounding
 *     depend on the order the adds land in, and so every training run on a GPU differ from the last. Instead
 *     the adds are exact: each value is scaled by a power of two and truncated to a 64-bit integer, and integer
 *     addition does not care about order. WGSL has no 64-bit atomics, so an accumulator is two u32 words, the
 *     low word's carry (its atomicAdd returns the old value) added to the high one.
 *
 * The fixed point's scale comes from two more passes around `backward`, per chunk:
 *   `bound`    max |mask · gcol| over the chunk (a corner weight is ≤ 1), each workgroup's maximum merged into one
 *              word with atomicMax on the float's bits (for non-negative floats their order as integers, so exact
 *              and order-free; NaN lands above +Inf);
 *   `resolve`  gx = acc / scale, or gx += for a chunk of rows after the image's first (chunks run in order).
 * With B the bound and at most T = 4·KH·KW·(chunk pixels) adds into one word (each sample reaches a pixel through
 * at most one corner; 4 is margin), scale = 2^(62 − ⌈log2 T⌉ − ⌈log2 B⌉) keeps every partial sum below 2^62 in
 * magnitude. The resolution, B·2^(⌈log2 T⌉ − 62), is 2^−48·B for the tiny model's P3 and 2^−43·B for r50 at 800
 * px: below float32's rounding of any value within 2^−19 of B. A non-finite bound (a NaN or ±Inf in the
 * upstream gradient) makes the chunk's input gradient NaN, rather than a silent zero.
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

/**
 * `qshift`, the fixed point's exponent budget: 62 − ⌈log2 T⌉ for at most T = 4·KH·KW·(chunk pixels) adds into one
 * accumulator (see above), so that one add stays below 2^qshift and their sum below 2^62.
 */
const fixedPointShift = (g: DeformConvGeometry, chunk: DeformChunk): number =>
  62 - Math.ceil(Math.log2(4 * g.kernelH * g.kernelW * chunk.rc * g.outW));

const PARAMS = `struct Params {
  total: u32, lc: u32, kk: u32, og: u32, cg: u32, cin: u32, h: u32, w: u32, kw: u32, oh: u32, ow: u32,
  n0: u32, r0: u32, sh: u32, sw: u32, dh: u32, dw: u32, ph: i32, pw: i32, qshift: i32,
}`;

/** WGSL for one deformable-sampling pass; shapes travel in the params, so each variant compiles once. */
export function deformSamplingKernel(pass: DeformPass, hasMask: boolean, g: DeformConvGeometry, chunk: DeformChunk, device: DeviceInfo): Program {
  const taps = g.kernelH * g.kernelW;
  const lc = chunk.rc * g.outW;
  const total = chunk.nc * g.offsetGroups * taps * lc;
  const params = new ParamWriter()
    .u32(total, lc, taps, g.offsetGroups, g.inChannels / g.offsetGroups, g.inChannels, g.height, g.width, g.kernelW, g.outH, g.outW)
    .u32(chunk.n0, chunk.r0, g.strideH, g.strideW, g.dilationH, g.dilationW)
    .i32(g.padH, g.padW, fixedPointShift(g, chunk))
    .finish();
  const buffers = ['x', 'offset', ...(hasMask ? ['mask'] : []), ...(pass === 'im2col' ? ['col'] : ['gcol'])];
  const bindings = buffers.map((name, b) => storage(b, name, 'float32', name === 'col'));
  if (pass === 'backward') {
    bindings.push(storage(buffers.length, 'bound', 'uint32'));
    bindings.push(`@group(0) @binding(${buffers.length + 1}) var<storage, read_write> acc: array<atomic<u32>>;`);
    bindings.push(storage(buffers.length + 2, 'gOffset', 'float32', true));
    if (hasMask) bindings.push(storage(buffers.length + 3, 'gMask', 'float32', true));
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
${pass === 'backward' ? `${FIXED_POINT_SCALE}
${SCATTER_ADD}` : ''}
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
  let accBase = (nl * p.cin + grp * p.cg) * hw;
${pass === 'im2col' ? IM2COL_BODY : BACKWARD_BODY(hasMask)}`)}`;
  return { label: `deformConv2d.${pass}`, code, params, workgroups: gridStride1d(total, device) };
}

const IM2COL_BODY = `  for (var c = 0u; c < p.cg; c++) {
    col[colBase + c * colStep] = m * dot(wt, corners(xBase + c * hw, idx));
  }`;

const BACKWARD_BODY = (hasMask: boolean) => `  // Corner weights of the interpolation's derivative along y and along x (no cut-off, as torchvision).
  let dyw = vec4<f32>(-hx, -lx, hx, lx);
  let dxw = vec4<f32>(-hy, hy, -ly, ly);
  let mw = m * wt * fixedPointScale(bound[0]);
  var accY = 0.0;
  var accX = 0.0;${hasMask ? '\n  var accM = 0.0;' : ''}
  for (var c = 0u; c < p.cg; c++) {
    let gs = gcol[colBase + c * colStep];
    let base = xBase + c * hw;
    let v = corners(base, idx);
    accY += dot(dyw, v) * gs;
    accX += dot(dxw, v) * gs;${hasMask ? '\n    accM += dot(wt, v) * gs;' : ''}
    for (var k = 0u; k < 4u; k++) {
      if (wt[k] != 0.0 && idx[k] >= 0) { addFixedPoint(accBase + c * hw + u32(idx[k]), mw[k] * gs); }
    }
  }
  gOffset[offsetAt] = m * accY;
  gOffset[offsetAt + plane] = m * accX;${hasMask ? '\n  gMask[maskAt] = accM;' : ''}`;

/**
 * 2^e for the chunk's bound (u32 bits of a non-negative float): e = qshift − ⌈log2 bound⌉, within the range
 * where both 2^e and 2^−e are normal floats; 0 for a non-finite bound (the resolve pass then writes NaN).
 */
const FIXED_POINT_SCALE = `
fn fixedPointExponent(bound: u32) -> i32 {
  // bound < 2^(biased exponent − 126); a subnormal or zero bound is < 2^−126.
  return clamp(p.qshift - (max(i32(bound >> 23u), 1) - 126), -126, 126);
}
fn fixedPointScale(bound: u32) -> f32 {
  return select(0.0, bitcast<f32>(u32(fixedPointExponent(bound) + 127) << 23u), bound < 0x7f800000u);
}
/** −v for a 64-bit two's complement integer as (low, high) words. */
fn negate64(v: vec2<u32>) -> vec2<u32> {
  let low = ~v.x + 1u;
  return vec2<u32>(low, ~v.y + select(0u, 1u, low == 0u));
}`;

const SCATTER_ADD = `
/** acc[at] += trunc(value) as a 64-bit two's complement integer in two words (low, high). */
fn addFixedPoint(at: u32, value: f32) {
  // |value| < 2^62: its bits below 2^32 are exactly what is left after taking the high word, so both are exact.
  let mag = abs(value);
  let highF = floor(mag * 2.3283064365386963e-10);
  var q = vec2<u32>(u32(mag - highF * 4294967296.0), u32(highF));
  if (value < 0.0) { q = negate64(q); }
  let old = atomicAdd(&acc[2u * at], q.x);
  atomicAdd(&acc[2u * at + 1u], q.y + select(0u, 1u, old + q.x < old));
}`;

/**
 * The `bound` pass: max |mask · gcol| over the chunk into bound[0] (zeroed before), as the bits of a non-negative
 * float. One invocation per gcol element; a workgroup merges its invocations' maxima first, so that one atomic per
 * workgroup reaches the global word.
 */
export function deformGradBoundKernel(hasMask: boolean, g: DeformConvGeometry, chunk: DeformChunk, device: DeviceInfo): Program {
  const taps = g.kernelH * g.kernelW;
  const lc = chunk.rc * g.outW;
  const total = chunk.nc * g.inChannels * taps * lc;
  const params = new ParamWriter()
    .u32(total, lc, taps, g.inChannels, g.inChannels / g.offsetGroups, g.offsetGroups, g.outH * g.outW, chunk.n0, chunk.r0 * g.outW)
    .finish();
  const maskRead = hasMask
    ? `  let pix = i % p.lc;
  let tap = (i / p.lc) % p.kk;
  let ch = (i / (p.lc * p.kk)) % p.cin;
  let n = p.n0 + i / (p.lc * p.kk * p.cin);
  let m = mask[((n * p.og + ch / p.cg) * p.kk + tap) * p.plane + p.pix0 + pix];`
    : '  let m = 1.0;';
  const code = `
struct Params { total: u32, lc: u32, kk: u32, cin: u32, cg: u32, og: u32, plane: u32, n0: u32, pix0: u32 }
${storage(0, 'gcol', 'float32')}
${hasMask ? storage(1, 'mask', 'float32') : ''}
@group(0) @binding(${hasMask ? 2 : 1}) var<storage, read_write> bound: array<atomic<u32>>;
${uniform(hasMask ? 3 : 2)}
var<workgroup> workgroupMax: atomic<u32>;
${kernel1d('p.total', `${maskRead}
  largest = max(largest, bitcast<u32>(m * gcol[i]) & 0x7fffffffu);`, {
    before: '\n  var largest = 0u;',
    after: `
  atomicMax(&workgroupMax, largest);
  workgroupBarrier();
  if (lid == 0u) { atomicMax(&bound[0], atomicLoad(&workgroupMax)); }`,
  })}`;
  return { label: 'deformConv2d.gradBound', code, params, workgroups: gridStride1d(total, device) };
}

/**
 * The `resolve` pass: the chunk's input gradient from its fixed-point sums, gx = acc · 2^−e for the chunk's
 * images, added to what earlier chunks of rows of the same image wrote when `accumulate`.
 */
export function deformGradResolveKernel(g: DeformConvGeometry, chunk: DeformChunk, accumulate: boolean, device: DeviceInfo): Program {
  const total = chunk.nc * g.inChannels * g.height * g.width;
  const params = new ParamWriter()
    .u32(total, chunk.n0 * g.inChannels * g.height * g.width)
    .i32(fixedPointShift(g, chunk))
    .finish();
  const code = `
struct Params { total: u32, gx0: u32, qshift: i32 }
${storage(0, 'acc', 'uint32')}
${storage(1, 'bound', 'uint32')}
${storage(2, 'gx', 'float32', true)}
${uniform(3)}
${FIXED_POINT_SCALE}
${kernel1d('p.total', `  let sum = vec2<u32>(acc[2u * i], acc[2u * i + 1u]);
  let negative = sum.y >= 0x80000000u;
  let q = select(sum, negate64(sum), negative);
  let magnitude = (f32(q.y) * 4294967296.0 + f32(q.x)) * bitcast<f32>(u32(127 - e) << 23u);
  let value = select(nan, select(magnitude, -magnitude, negative), finite);
  gx[p.gx0 + i] = ${accumulate ? 'gx[p.gx0 + i] + value' : 'value'};`, {
    before: `
  let finite = bound[0] < 0x7f800000u;
  let nan = bitcast<f32>(bound[0] | 0x7fc00000u);  // a NaN whenever it is used (a literal NaN is a WGSL error)
  let e = fixedPointExponent(bound[0]);`,
  })}`;
  return { label: 'deformConv2d.gradResolve', code, params, workgroups: gridStride1d(total, device) };
}

/** Zeroes a buffer of n words: the fixed-point accumulators and the bound, before a chunk's passes. */
export function zeroFillKernel(n: number, device: DeviceInfo): Program {
  const code = `
struct Params { n: u32 }
${storage(0, 'out', 'uint32', true)}
${uniform(1)}
${kernel1d('p.n', '  out[i] = 0u;')}`;
  return { label: 'deformConv2d.zero', code, params: new ParamWriter().u32(n).finish(), workgroups: gridStride1d(n, device) };
}
