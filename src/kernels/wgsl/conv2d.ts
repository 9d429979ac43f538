/**
 * conv2d on WebGPU as three instances of the GEMM template (gemm.ts), with groups as its batch dimension z and
 * no im2col buffer: the operand loaders compute each element's address (and zero padding) on the fly.
 *   forward       y  = W · im2col(x):   M = Cout/g, N = batch·OH·OW (images folded into N, so that small feature
 *                                       maps still fill tiles), K = Cin/g·KH·KW; bias is added as C is stored, and
 *                                       a ReLU that follows the conv is applied there too (conv2dRelu): one pass
 *                                       over the output and one dispatch fewer than a separate relu.
 *   input grad    dx = Wᵀ ⋆ dy, a transposed convolution gathered per input pixel: M = Cin/g, N = batch·H·W,
 *                                       K = Cout/g·KH·KW; a tap contributes when (ih + ph − kh·dh) is a multiple of
 *                                       the stride that lands inside dy.
 *   weight grad   dw = dy · im2col(x)ᵀ: M = Cout/g, N = Cin/g·KH·KW, K = batch·OH·OW. The long reduction is
 *                                       split over workgroups (split-K) and the partials summed by the reduce kernel.
 *                                       The bias gradient, dy summed over batch and space, is one more column of
 *                                       the same GEMM (`withBias`): B's column N reads 1 and C's column N goes to db,
 *                                       so that it costs (N+1)/N of the pass instead of a reduction over dy of its own.
 * A per-output-channel factor s after the conv (a frozen batch norm's scale: y = conv(x, W)·s + bias) is applied
 * as the forward stores y, and to dy as the two gradients load it (the gradient through ×s is dy·s), so that
 * neither the scaled output nor the scaled gradient is ever written out. The products are the ones the separate
 * multiply would write, and the GEMMs consume them unchanged: the same bits as the conv followed by a mul.
 * The loaders name the geometry (CIN, OH, KW, …) in one of two forms (ProgramForm): 'specialised' writes it in as
 * constants, one pipeline per conv shape, whose index arithmetic divides by constants; 'general' makes the names
 * private variables filled from the uniform, one pipeline for convs of every size, so that an image of a new size
 * compiles nothing. A 1×1, stride-1, unpadded convolution is a plain GEMM over channels and loads without any of it.
 */
import type { ConvGeometry } from '../conv-geometry.js';
import { RELU_WGSL } from '../elementwise-ops.js';
import type { ProgramForm } from '../program.js';
import type { GemmOperands, GemmShape } from './gemm.js';

/** The names the loaders use for the geometry, and their values. */
function geometryNames(g: ConvGeometry): [string, number][] {
  return Object.entries({
    CIN: g.inChannels, COUT: g.outChannels, CING: g.inChannels / g.groups, COUTG: g.outChannels / g.groups, H: g.height, W: g.width, OH: g.outH, OW: g.outW,
    KH: g.kernelH, KW: g.kernelW, SH: g.strideH, SW: g.strideW, PH: g.padH, PW: g.padW, DH: g.dilationH, DW: g.dilationW,
  });
}

/** The geometry in the form asked for: the `decls`, `params` and `setup` of a GEMM instance. */
function geometry(g: ConvGeometry, form: ProgramForm): Pick<GemmOperands, 'decls' | 'params' | 'setup'> {
  const names = geometryNames(g);
  if (form === 'specialised') return { decls: names.map(([name, v]) => `const ${name} = ${v}u;`).join('\n') };
  return {
    decls: names.map(([name]) => `var<private> ${name}: u32;`).join('\n'),
    params: names,
    setup: names.map(([name]) => `  ${name} = p.${name};`).join('\n'),
  };
}

/** A plain GEMM over channels: no kernel window, no stride, no padding. */
const isPointwise = (g: ConvGeometry) =>
  g.kernelH === 1 && g.kernelW === 1 && g.strideH === 1 && g.strideW === 1 && g.padH === 0 && g.padW === 0;

/**
 * x[img, z·CING + ci, oh·SH − PH + kh·DH, ow·SW − PW + kw·DW], or 0 in the padding: one element of im2col(x),
 * shared by the forward pass (k = tap, col = output pixel) and the weight gradient (k = output pixel, col = tap).
 */
function im2colDecls(g: ConvGeometry): string {
  if (isPointwise(g)) {
    return `fn im2col(z: u32, tap: u32, pixel: u32) -> f32 {
  let img = pixel / (H * W);
  return x[(img * CIN + z * CING + tap) * H * W + pixel % (H * W)];
}`;
  }
  return `fn im2col(z: u32, tap: u32, pixel: u32) -> f32 {
  let img = pixel / (OH * OW);
  let oh = (pixel / OW) % OH;
  let ow = pixel % OW;
  let ci = tap / (KH * KW);
  let kh = (tap / KW) % KH;
  let kw = tap % KW;
  // Unsigned wrap-around turns "negative" into "too large": one comparison per axis checks both ends. A select
  // of a clamped load, not a branch: cheaper for SIMD lanes that disagree.
  let ih = oh * SH + kh * DH - PH;
  let iw = ow * SW + kw * DW - PW;
  let v = x[((img * CIN + z * CING + ci) * H + min(ih, H - 1u)) * W + min(iw, W - 1u)];
  return select(0.0, v, ih < H && iw < W);
}`;
}

/** What the forward pass fuses as C is stored: the factor, then the bias, then a ReLU. */
export interface ForwardFusion {
  scale: boolean;
  bias: boolean;
  relu: boolean;
}

/** A value of output channel `channel` (of y or dy) times its factor, or the value alone. */
const scaled = (value: string, channel: string, withScale: boolean) => (withScale ? `${value} * scale[${channel}]` : value);

/** The forward pass; `relu` applies the elementwise table's ReLU (NaN passed on) to each stored value. */
export function forwardOperands(g: ConvGeometry, fusion: ForwardFusion, form: ProgramForm): GemmOperands {
  const names = geometry(g, form);
  const value = fusion.bias ? `${scaled('v', 'co', fusion.scale)} + bias[co]` : scaled('v', 'co', fusion.scale);
  return {
    label: fusion.relu ? 'conv2d+relu' : 'conv2d',
    buffers: ['x', 'w', ...(fusion.scale ? ['scale'] : []), ...(fusion.bias ? ['bias'] : []), 'y'],
    ...names,
    decls: `${names.decls}\n${im2colDecls(g)}${fusion.relu ? `\n${RELU_WGSL}` : ''}`,
    loadA: '  return w[(z * COUTG + row) * CING * KH * KW + k];',
    loadB: '  return im2col(z, k, col);',
    storeC: `  let co = z * COUTG + row;
  y[((col / (OH * OW)) * COUT + co) * OH * OW + col % (OH * OW)] = ${fusion.relu ? `relu(${value})` : value};`,
    canonicalC: false,
  };
}

/** The input gradient of y = conv(x, W)·s (`scale`) or of the conv alone. */
export function inputGradOperands(g: ConvGeometry, scale: boolean, form: ProgramForm): GemmOperands {
  const loadB = isPointwise(g)
    ? `  let img = col / (H * W);
  return ${scaled('dy[(img * COUT + z * COUTG + k) * H * W + col % (H * W)]', 'z * COUTG + k', scale)};`
    : `  let img = col / (H * W);
  let ih = (col / W) % H;
  let iw = col % W;
  let co = k / (KH * KW);
  let kh = (k / KW) % KH;
  let kw = k % KW;
  // oh·SH = ih + PH − kh·DH (likewise for w); wrap-around again folds the negative case into the range check.
  let th = ih + PH - kh * DH;
  let tw = iw + PW - kw * DW;
  let oh = th / SH;
  let ow = tw / SW;
  let v = ${scaled('dy[((img * COUT + z * COUTG + co) * OH + min(oh, OH - 1u)) * OW + min(ow, OW - 1u)]', 'z * COUTG + co', scale)};
  return select(0.0, v, oh < OH && ow < OW && th % SH == 0u && tw % SW == 0u);`;
  return {
    label: 'conv2d input grad',
    buffers: ['dy', 'w', ...(scale ? ['scale'] : []), 'dx'],
    ...geometry(g, form),
    // Wᵀ: row = input channel within the group, k = (output channel, kh, kw).
    loadA: '  return w[((z * COUTG + k / (KH * KW)) * CING + row) * KH * KW + k % (KH * KW)];',
    loadB,
    storeC: '  dx[((col / (H * W)) * CIN + z * CING + row) * H * W + col % (H * W)] = v;',
    canonicalC: false,
  };
}

/**
 * The weight gradient of y = conv(x, W)·s (`scale`) or of the conv alone, and with `withBias` the bias gradient
 * as the GEMM's extra column (see the top; the shape is weightGradShape(g, true)). z counts splits × groups, so
 * that split-K partials of dw and of db each lie canonically in their own buffer.
 */
export function weightGradOperands(g: ConvGeometry, scale: boolean, form: ProgramForm, withBias = false): GemmOperands {
  const names = geometry(g, form);
  const taps = '(CING * KH * KW)'; // N without the bias column
  const dw = `  dw[(z * p.m + row) * ${withBias ? taps : 'p.n'} + col] = v;`;
  return {
    label: withBias ? 'conv2d weight+bias grad' : 'conv2d weight grad',
    buffers: ['dy', 'x', ...(scale ? ['scale'] : []), 'dw', ...(withBias ? ['db'] : [])],
    written: withBias ? 2 : 1,
    ...names,
    decls: `${names.decls}\n${im2colDecls(g)}`,
    loadA: `  return ${scaled('dy[((k / (OH * OW)) * COUT + z * COUTG + row) * OH * OW + k % (OH * OW)]', 'z * COUTG + row', scale)};`,
    // The bias column reads a tap that exists (min), which the select replaces with the 1 that sums dy.
    loadB: withBias ? `  return select(im2col(z, min(col, ${taps} - 1u), k), 1.0, col == ${taps});` : '  return im2col(z, col, k);',
    storeC: withBias ? `  if (col < ${taps}) {\n  ${dw}\n  } else {\n    db[z * p.m + row] = v;\n  }` : dw,
    canonicalC: true,
  };
}

export const forwardShape = (g: ConvGeometry): GemmShape =>
  ({ batch: g.groups, m: g.outChannels / g.groups, n: g.batch * g.outH * g.outW, k: (g.inChannels / g.groups) * g.kernelH * g.kernelW });
export const inputGradShape = (g: ConvGeometry): GemmShape =>
  ({ batch: g.groups, m: g.inChannels / g.groups, n: g.batch * g.height * g.width, k: (g.outChannels / g.groups) * g.kernelH * g.kernelW });
export const weightGradShape = (g: ConvGeometry, withBias = false): GemmShape =>
  ({ batch: g.groups, m: g.outChannels / g.groups, n: (g.inChannels / g.groups) * g.kernelH * g.kernelW + (withBias ? 1 : 0), k: g.batch * g.outH * g.outW });
