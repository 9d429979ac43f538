/**
 * conv2d's three passes on WebGPU, each one launch of a GEMM program (kernels/wgsl/conv2d.ts says how a
 * convolution is a GEMM); the weight gradient's split-K partials are summed by one more reduction.
 */
import { gpuDevice, launch } from '../backend/launch.js';
import { specialisedProgram } from '../backend/program-cache.js';
import { emptyGpu, webgpuBackend } from '../backend/webgpu-backend.js';
import type { ConvGeometry } from '../kernels/conv-geometry.js';
import { forwardOperands, forwardShape, inputGradOperands, inputGradShape, weightGradOperands, weightGradShape, type ForwardFusion } from '../kernels/wgsl/conv2d.js';
import { chooseTile, gemmKernel, gemmTarget, type GemmOperands, type GemmShape, type GemmTarget, type GemmTile } from '../kernels/wgsl/gemm.js';
import type { Program, ProgramForm } from '../kernels/program.js';
import type { Tensor } from '../tensor/tensor.js';
import { view } from './shape.js';

/** How a pass picks its tile: `canSplit` when its C may be split along k. */
export type TileChooser = (shape: GemmShape, canSplit: boolean) => GemmTile;

/** The chooser for a target: tests pass one to force a schedule, benchmarks a fixed tile to compare tiles. */
export const tilesFor = (target: GemmTarget): TileChooser => (shape, canSplit) => chooseTile(shape, canSplit, target);

/**
 * The program of a pass in both forms (kernels/wgsl/conv2d.ts): the general one for a shape's first uses, the one
 * with the geometry written in from the SPECIALISE_AFTER-th on (program-cache.ts).
 */
function passProgram(key: string, operands: (form: ProgramForm) => GemmOperands, shape: GemmShape, tile: GemmTile): Program {
  return specialisedProgram(gpuDevice(), key, () => gemmKernel(operands('general'), shape, tile), () => gemmKernel(operands('specialised'), shape, tile));
}

/** The cache key of a pass: everything of the geometry, the tile and the fusions (factor, bias, ReLU) that its WGSL depends on. */
function passKey(pass: string, g: ConvGeometry, t: GemmTile, fusion: Partial<ForwardFusion>): string {
  const geometry = [g.batch, g.inChannels, g.height, g.width, g.outChannels, g.kernelH, g.kernelW, g.outH, g.outW, g.strideH, g.strideW, g.padH, g.padW, g.dilationH, g.dilationW, g.groups];
  const fused = [fusion.scale && 'scale', fusion.bias && 'bias', fusion.relu && 'relu'].filter(Boolean).join('+');
  return `conv2d ${pass}|${geometry.join(',')}|${t.staging},${t.wx},${t.wy},${t.rm},${t.rn},${t.tk},${t.splits}|${fused}`;
}

const deviceTiles: TileChooser = (shape, canSplit) => chooseTile(shape, canSplit, gemmTarget(gpuDevice()));

/** What the forward pass fuses besides the bias: a factor [Cout] before it, a ReLU after it. */
export interface ForwardExtras {
  scale?: Tensor | null;
  relu?: boolean;
}

/** The forward pass: relu?(conv2d(x, w)·scale + bias). */
export function conv2dForwardGpu(x: Tensor, weight: Tensor, bias: Tensor | null, g: ConvGeometry, extras: ForwardExtras = {}, tiles = deviceTiles): Tensor {
  const scale = extras.scale ?? null;
  const fusion: ForwardFusion = { scale: scale !== null, bias: bias !== null, relu: extras.relu ?? false };
  const y = emptyGpu([g.batch, g.outChannels, g.outH, g.outW], x.dtype, fusion.relu ? 'conv2dRelu' : 'conv2d');
  const shape = forwardShape(g);
  const tile = tiles(shape, false);
  const program = passProgram(passKey('forward', g, tile, fusion), (form) => forwardOperands(g, fusion, form), shape, tile);
  launch(program, [x, weight, scale, bias, y].filter((t): t is Tensor => t !== null));
  return y;
}

/** dx for y = conv2d(x, w)·scale (or the conv alone). */
export function conv2dInputGradGpu(dy: Tensor, weight: Tensor, g: ConvGeometry, scale: Tensor | null = null, tiles = deviceTiles): Tensor {
  const dx = emptyGpu([g.batch, g.inChannels, g.height, g.width], dy.dtype, 'conv2d input grad');
  const shape = inputGradShape(g);
  const tile = tiles(shape, false);
  const scaled = scale !== null;
  const program = passProgram(passKey('input grad', g, tile, { scale: scaled }), (form) => inputGradOperands(g, scaled, form), shape, tile);
  launch(program, scale ? [dy, weight, scale, dx] : [dy, weight, dx]);
  return dx;
}

/** dw for y = conv2d(x, w)·scale (or the conv alone). */
export function conv2dWeightGradGpu(dy: Tensor, x: Tensor, g: ConvGeometry, scale: Tensor | null = null, tiles = deviceTiles): Tensor {
  return weightGradPass(dy, x, g, scale, false, tiles)[0];
}

/** dw and db for y = conv2d(x, w) + b, from one GEMM whose last column sums dy (kernels/wgsl/conv2d.ts). */
export function conv2dWeightBiasGradGpu(dy: Tensor, x: Tensor, g: ConvGeometry, tiles = deviceTiles): [Tensor, Tensor] {
  const [dw, db] = weightGradPass(dy, x, g, null, true, tiles);
  return [dw, db!];
}

function weightGradPass(dy: Tensor, x: Tensor, g: ConvGeometry, scale: Tensor | null, withBias: boolean, tiles: TileChooser): [Tensor, Tensor | null] {
  const shape = weightGradShape(g, withBias);
  const tile = tiles(shape, true);
  const wShape = [g.outChannels, g.inChannels / g.groups, g.kernelH, g.kernelW];
  const label = withBias ? 'conv2d weight+bias grad' : 'conv2d weight grad';
  // Split-K writes [splits, …] partials of each, which one sum over the first axis turns into the gradient.
  const output = (outShape: number[]) => emptyGpu(tile.splits > 1 ? [tile.splits, outShape.reduce((a, b) => a * b, 1)] : outShape, dy.dtype, label);
  const outputs = withBias ? [output(wShape), output([g.outChannels])] : [output(wShape)];
  const scaled = scale !== null;
  const program = passProgram(passKey('weight grad', g, tile, { scale: scaled, bias: withBias }), (form) => weightGradOperands(g, scaled, form, withBias), shape, tile);
  launch(program, [dy, x, ...(scale ? [scale] : []), ...outputs]);
  const [dw, db] = tile.splits === 1 ? outputs : outputs.map((partials, i) => {
    const summed = webgpuBackend.reduce('sum', partials, 0);
    partials.dispose();
    const total = view(summed, i === 0 ? wShape : [g.outChannels]);
    summed.dispose();
    return total;
  });
  return [dw!, db ?? null];
}
